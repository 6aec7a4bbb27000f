using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Stanzas;

/// <summary>RFC 6120 §8.3 stanza errors.</summary>
public static class StanzaErrors
{
    /// <summary>The error type RFC 6120 §8.3.3 recommends for each defined condition.</summary>
    public static string DefaultType(string condition) => condition switch
    {
        "bad-request" or "jid-malformed" or "not-acceptable" or "policy-violation" or "unexpected-request" => "modify",
        "resource-constraint" or "remote-server-timeout" => "wait",
        "forbidden" or "not-authorized" or "registration-required" or "subscription-required" => "auth",
        _ => "cancel", // conflict, feature-not-implemented, gone, internal-server-error, item-not-found, not-allowed,
                       // recipient-unavailable, remote-server-not-found, service-unavailable, undefined-condition
    };

    public static Element Error(string condition, string? text = null, string? type = null, string? by = null)
    {
        var error = new Element("error", Ns.Client).SetAttr("type", type ?? DefaultType(condition)).SetAttr("by", by);
        error.Add(new Element(condition, Ns.StanzaErrors));
        if (text is not null) error.Add(new Element("text", Ns.StanzaErrors).SetAttr("xml:lang", "en").AddText(text));
        return error;
    }

    /// <summary>
    /// The error reply to a stanza: to/from swapped, type='error', the original payload kept (RFC 6120 §8.3.1).
    /// Returns null for stanzas that must never be answered with an error (an error itself).
    /// </summary>
    public static Element? Reply(Element stanza, string condition, string? text = null, string? type = null)
    {
        if (stanza.Type == "error") return null;
        var reply = new Element(stanza.Name, Ns.Client);
        reply.SetAttr("from", stanza.To).SetAttr("to", stanza.From).SetAttr("id", stanza.Id).SetAttr("type", "error");
        reply.SetAttr("xml:lang", stanza.Lang);
        foreach (var node in stanza.Nodes)
        {
            if (node is Element child)
            {
                if (child.Name == "error" && child.Namespace == Ns.Client) continue;
                reply.Add(child.Clone());
            }
        }
        reply.Add(Error(condition, text, type));
        return reply;
    }

    public static Element IqResult(Element iq, Element? payload = null)
    {
        var result = new Element("iq", Ns.Client).SetAttr("from", iq.To).SetAttr("to", iq.From)
            .SetAttr("id", iq.Id).SetAttr("type", "result");
        if (payload is not null) result.Add(payload);
        return result;
    }
}
