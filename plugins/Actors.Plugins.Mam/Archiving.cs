using System.Runtime.CompilerServices;
using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Mam;

/// <summary>
/// Which messages a user archive holds (XEP-0313 §6.1.1, XEP-0334): messages of type chat or normal (or none) with a
/// &lt;body/&gt;, or with a &lt;store/&gt; hint; never errors, groupchat or headline messages, a message with a
/// &lt;no-store/&gt; or &lt;no-permanent-store/&gt; hint, a carbon copy (the original is archived: §6.1.1 stores a
/// stanza once however many copies there are) or a message of this server's own making without a body (MAM results,
/// chat states, receipts).
/// </summary>
public static class ArchiveRules
{
    public static bool IsArchivable(Element message)
    {
        if (message.Name != "message" || message.Namespace != Ns.Client) return false;
        if (message.Type is not (null or "chat" or "normal")) return false;
        var body = false;
        var store = false;
        foreach (var child in message.Elements())
        {
            switch (child.Namespace)
            {
                case Ns.Client when child.Name == "body":
                    body = true;
                    break;
                case MamNs.Hints when child.Name is "no-store" or "no-permanent-store":
                    return false;
                case MamNs.Hints when child.Name == "store":
                    store = true;
                    break;
                case MamNs.Carbons when child.Name is "sent" or "received":
                    return false;
            }
        }
        return body || store;
    }
}

/// <summary>The hooks that archive: a message an account's client sends (outgoing, in the sender's archive) and a message
/// routed to an account (incoming, in the recipient's archive, marked with its &lt;stanza-id/&gt;).</summary>
internal sealed class Archiving(IMessageArchive archive, IAccounts accounts, Preferences preferences)
{
    // the messages this plugin marked: a message routed to an unbound full JID and then to the bare JID passes both
    // inbound hooks, and is archived once
    private readonly ConditionalWeakTable<Element, string> _archived = new();

    // the <stanza-id/> an outgoing message carries from Sent (archived) to Unmark (before it is routed)
    private readonly ConditionalWeakTable<Element, Element> _marked = new();

    /// <summary>Outgoing (XEP-0313 §3: "sent", the remote party is the 'to'; XEP-0441, Outgoing messages). A message to the account
    /// itself is archived once, when it arrives. Every &lt;stanza-id/&gt; claiming the account's archive is removed
    /// (XEP-0359 §4: the client cannot make one); an archived message gets the archive's, so that the &lt;sent/&gt;
    /// carbon copies made after this hook carry it (XEP-0280 §8 copies the message as routed, XEP-0313 §3.5), and
    /// <see cref="Unmark"/> takes it off again before the message is routed: the contact's copy carries no
    /// &lt;stanza-id/&gt; of this archive (§3.5: not to JIDs that cannot read it).</summary>
    public bool Sent(StanzaEvent e)
    {
        var message = e.Stanza;
        if (message.Name != "message") return false;
        var account = e.Session.Bare;
        if (message.To is not { } toText || !Jid.TryParse(toText, out var to) || to is null || to.Bare.Equals(account)) return false;
        var by = account.ToString();
        RemoveClaims(message, by);
        if (!ArchiveRules.IsArchivable(message) || !preferences.Archives(account, to)) return false;
        var id = archive.Append(MamPlugin.ArchiveKind, account, to, message);
        var stanzaId = new Element("stanza-id", MamNs.StanzaIds).SetAttr("by", by).SetAttr("id", id);
        message.Add(stanzaId);
        _marked.AddOrUpdate(message, stanzaId);
        return false;
    }

    /// <summary>After the carbons plugin copied an outgoing message (priority <see cref="MamPlugin.UnmarkPriority"/>):
    /// the &lt;stanza-id/&gt; <see cref="Sent"/> added leaves it before it goes to the contact.</summary>
    public bool Unmark(StanzaEvent e)
    {
        if (e.Stanza.Name == "message" && _marked.TryGetValue(e.Stanza, out var stanzaId))
        {
            e.Stanza.Remove(stanzaId);
            _marked.Remove(e.Stanza);
        }
        return false;
    }

    /// <summary>
    /// Incoming (XEP-0441, Incoming messages: the remote party is the 'from'). Every &lt;stanza-id/&gt; that claims this account's
    /// archive ('by' is the account's bare JID) is removed first, whether or not the message is archived (XEP-0359 §4: the
    /// generating entity overrides such an id, and a client must be able to trust one as its archive's); an archived message gets the server's (XEP-0313 §3.5) before it is delivered, copied
    /// to carbons or stored offline.
    /// </summary>
    public bool Received(StanzaEvent e)
    {
        var message = e.Stanza;
        if (message.Name != "message" || _archived.TryGetValue(message, out _)) return false;
        var account = e.Session.Bare;
        var by = account.ToString();
        RemoveClaims(message, by);
        if (e.From is not { } from || !ArchiveRules.IsArchivable(message) || !accounts.Exists(account)) return false;
        if (!preferences.Archives(account, from)) return false;
        var id = archive.Append(MamPlugin.ArchiveKind, account, from, message);
        message.Add(new Element("stanza-id", MamNs.StanzaIds).SetAttr("by", by).SetAttr("id", id));
        _archived.AddOrUpdate(message, id);
        return false;
    }

    private static void RemoveClaims(Element message, string by)
    {
        List<Element>? claims = null;
        foreach (var child in message.Elements())
            if (child.Name == "stanza-id" && child.Namespace == MamNs.StanzaIds && SameJid(child.Attr("by"), by)) (claims ??= []).Add(child);
        if (claims is null) return;
        foreach (var claim in claims) message.Remove(claim);
    }

    private static bool SameJid(string? text, string bare) =>
        text is not null && (text == bare || Jid.TryParse(text, out var jid) && jid is not null && jid.ToString() == bare);
}
