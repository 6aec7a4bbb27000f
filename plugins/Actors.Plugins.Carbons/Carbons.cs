using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Carbons;

/// <summary>Which messages are copied (XEP-0280 §6, the suggested rules, and XEP-0353, XEP-0334).</summary>
public static class Eligibility
{
    /// <summary>
    /// Type chat; type normal with a body; a message carrying a payload typically used in IM (§6: XEP-0085 chat states,
    /// XEP-0184 receipts, XEP-0333 chat markers) or a XEP-0353 Jingle message initiation, of any type but error,
    /// groupchat or headline. Never: a message with &lt;private/&gt; (§7) or a XEP-0334 &lt;no-copy/&gt; hint; groupchat and
    /// headline; errors (§6 would copy only errors answering an eligible message, which needs correlation this server
    /// does not keep); a carbon copy itself. <paramref name="from"/> is the sender when the message is received: one
    /// sent by a MUC room or another service (no localpart, or a MUC &lt;x/&gt;: private messages from room
    /// occupants) is not copied.
    /// </summary>
    public static bool IsEligible(Element message, Jid? from)
    {
        if (message.Name != "message" || message.Namespace != CarbonsNs.Client) return false;
        var type = message.Type;
        if (type is "groupchat" or "headline" or "error") return false;
        var hasBody = false;
        var imPayload = false;
        foreach (var child in message.Elements())
        {
            switch (child.Namespace)
            {
                case CarbonsNs.Carbons: // <private/>, or a copy (<sent/>, <received/>)
                    return false;
                case CarbonsNs.Hints when child.Name == "no-copy":
                    return false;
                case CarbonsNs.MucUser when from is not null:
                    return false;
                case CarbonsNs.JingleMessage or CarbonsNs.ChatStates or CarbonsNs.Receipts or CarbonsNs.ChatMarkers:
                    imPayload = true;
                    break;
                case CarbonsNs.Client when child.Name == CarbonsNs.Body:
                    hasBody = true;
                    break;
            }
        }
        if (from is not null && from.Local is null) return false; // from a service (a domain or component JID)
        return type == "chat" || (type is null or "normal") && hasBody || imPayload;
    }

    /// <summary>A copy this plugin made: &lt;sent/&gt; or &lt;received/&gt; from the account's bare JID.</summary>
    public static bool IsCarbonCopy(Element message) =>
        message.Child("sent", CarbonsNs.Carbons) is not null || message.Child("received", CarbonsNs.Carbons) is not null;
}

/// <summary>The hooks that copy. Which resources enabled carbons is a flag the host keeps with each session
/// (<see cref="ISessions.SetFlag"/>: it survives a reload of this plugin, ends with the session and, in a cluster,
/// travels with the session's entry to the other members), so a message handled on any node is copied to the enabled
/// resources on every node.</summary>
internal sealed class Carbons(ISessions sessions, IRouter router)
{
    /// <summary>§4, §5: enable or disable for the requesting resource; repeated requests are answered with a result
    /// (§9.1). Only the account itself, addressing its bare JID or the server: another's is &lt;not-allowed/&gt;.</summary>
    public ValueTask<Element> Set(IqRequest r, bool enabled)
    {
        if (r.From.Resource is null || !(r.To.IsDomain && r.To.Domain == r.From.Domain || r.To.Equals(r.From.Bare)))
            return r.Fail("not-allowed", "carbons are set by a client of this account for itself");
        sessions.SetFlag(r.From, CarbonsNs.Carbons, enabled);
        return r.Ok();
    }

    private bool Enabled(Jid resource) => sessions.HasFlag(resource, CarbonsNs.Carbons);

    /// <summary>§8: a client sent an eligible message: a &lt;sent/&gt; copy to each other carbons-enabled resource of
    /// its account (whether or not the sender enabled carbons).</summary>
    public bool Sent(StanzaEvent e)
    {
        var account = e.Session.Bare;
        if (e.Stanza.Name != "message" || !sessions.AnyResourceHasFlag(account, CarbonsNs.Carbons) || !Eligibility.IsEligible(e.Stanza, null))
            return false;
        foreach (var resource in sessions.Resources(account))
        {
            if (resource.Jid.Equals(e.Session) || !Enabled(resource.Jid)) continue;
            router.Send(Copy("sent", e.Stanza, account, resource.Jid));
        }
        return false;
    }

    /// <summary>
    /// §7: an eligible message for a local account: delivered by RFC 6121 §8.5, and a &lt;received/&gt; copy goes to each
    /// carbons-enabled resource of the account that does not receive it that way: for a full JID that is bound, all
    /// but that one; for a bare JID (or a full JID no longer bound, handled as the bare JID, §8.5.3.2.1), all but the
    /// available resources of the highest non-negative priority. A &lt;private/&gt; message is not copied, and its
    /// &lt;private/&gt; element is removed before delivery (§7).
    /// </summary>
    public bool Received(StanzaEvent e)
    {
        var stanza = e.Stanza;
        if (stanza.Name != "message") return false;
        var privateElement = stanza.Child("private", CarbonsNs.Carbons);
        if (privateElement is not null)
        {
            stanza.Remove(privateElement);
            return false;
        }
        var account = e.Session.Bare;
        if (!sessions.AnyResourceHasFlag(account, CarbonsNs.Carbons) || !Eligibility.IsEligible(stanza, e.From)) return false;
        if (e.From is not null && e.From.Bare.Equals(account)) return false; // between the account's resources: its <sent/> copies cover them
        var resources = sessions.Resources(account);
        Jid? addressed = null;
        if (e.Session.Resource is not null)
            foreach (var r in resources)
                if (r.Jid.Equals(e.Session)) addressed = r.Jid;
        var top = int.MinValue;
        if (addressed is null)
            foreach (var r in resources)
                if (r.Available && r.Priority >= 0 && r.Priority > top) top = r.Priority;
        foreach (var r in resources)
        {
            if (!Enabled(r.Jid)) continue;
            var receivesOriginal = addressed is not null ? r.Jid.Equals(addressed) : r.Available && r.Priority == top;
            if (receivesOriginal) continue;
            router.Send(Copy("received", stanza, account, r.Jid));
        }
        return false;
    }

    /// <summary>A copy reaches only the resource it names: one routed to a resource that went away meanwhile would be
    /// handed to another resource (RFC 6121 §8.5.3.2.1), which has its own copy or the original; it is dropped.</summary>
    public bool Deliver(StanzaEvent e) =>
        e.Stanza.Name == "message" && Eligibility.IsCarbonCopy(e.Stanza) && e.Stanza.From == e.Session.Bare.ToString()
        && e.Stanza.To != e.Session.ToString();

    /// <summary>§9.3: a copy that cannot be delivered is neither stored offline nor bounced to the account.</summary>
    public bool Undeliverable(StanzaEvent e) =>
        e.Stanza.Name == "message" && Eligibility.IsCarbonCopy(e.Stanza) && e.Stanza.From == e.Session.Bare.ToString();

    /// <summary>§7, §8: the wrapper keeps the type, is from the account's bare JID to the resource, and holds the
    /// original in XEP-0297 &lt;forwarded/&gt;.</summary>
    private static Element Copy(string direction, Element original, Jid account, Jid resource)
    {
        var copy = new Element("message", CarbonsNs.Client).SetAttr("from", account.ToString()).SetAttr("to", resource.ToString());
        if (original.Type is { } type) copy.SetAttr("type", type);
        copy.Add(new Element(direction, CarbonsNs.Carbons).Add(new Element("forwarded", CarbonsNs.Forward).Add(original.Clone())));
        return copy;
    }
}
