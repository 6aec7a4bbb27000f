using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Server.Routing;

/// <summary>What the router tells session actors. Stanzas are immutable once routed.</summary>
public static class SessionMessages
{
    /// <summary>Deliver this stanza to the client of the session.</summary>
    public sealed record Deliver(Element Stanza);
    /// <summary>Another stream bound the same full JID (RFC 6120 §7.7.2.2): close this one with &lt;conflict/&gt;.</summary>
    public sealed record Replaced;
    public static readonly Replaced ReplacedInstance = new();
}
