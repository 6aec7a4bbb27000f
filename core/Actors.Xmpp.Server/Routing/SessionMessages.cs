using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Server.Routing;

/// <summary>What the router tells session actors. Stanzas are immutable once routed.</summary>
public static class SessionMessages
{
    /// <summary>Deliver this stanza to the client of the session.</summary>
    public sealed record Deliver(Element Stanza);
    /// <summary>
    /// Deliver these stanzas, in order, then answer the sender <see cref="PageWritten"/> with <paramref name="PageId"/>
    /// once the transport reports them written out to the connection (its write receipt), or not (no connection, lost
    /// first). Paced deliveries (the offline mailbox, <c>ISessionDelivery</c>) send the next page only then.
    /// </summary>
    public sealed record DeliverPage(IReadOnlyList<Element> Stanzas, long PageId);
    /// <summary>The answer to <see cref="DeliverPage"/>.</summary>
    public sealed record PageWritten(long PageId, bool Written);
    /// <summary>Another stream bound the same full JID (RFC 6120 §7.7.2.2): close this one with &lt;conflict/&gt;.</summary>
    public sealed record Replaced;
    public static readonly Replaced ReplacedInstance = new();
}
