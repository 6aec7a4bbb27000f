using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Server.Stanzas;

/// <summary>COMPAT: the stanza-error helpers moved to Actors.Xmpp.Stanzas.StanzaErrors (shared with plugins);
/// this forwarder keeps existing server code unchanged.</summary>
public static class StanzaErrors
{
    public static string DefaultType(string condition) => Xmpp.Stanzas.StanzaErrors.DefaultType(condition);
    public static Element Error(string condition, string? text = null, string? type = null, string? by = null) =>
        Xmpp.Stanzas.StanzaErrors.Error(condition, text, type, by);
    public static Element? Reply(Element stanza, string condition, string? text = null, string? type = null) =>
        Xmpp.Stanzas.StanzaErrors.Reply(stanza, condition, text, type);
    public static Element IqResult(Element iq, Element? payload = null) => Xmpp.Stanzas.StanzaErrors.IqResult(iq, payload);
}
