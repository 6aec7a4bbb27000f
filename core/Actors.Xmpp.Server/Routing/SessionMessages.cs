using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Server.Routing;

/// <summary>What the router tells session actors. Stanzas are immutable once routed.</summary>
public static class SessionMessages
{
    /// <summary>Deliver this stanza to the client of the session. <paramref name="Trace"/>: the span of the actor that
    /// told it (<see cref="Diagnostics.XmppTracing"/>), none while untraced; never part of the stanza.</summary>
    public sealed record Deliver(Element Stanza, System.Diagnostics.ActivityContext Trace = default);
    /// <summary>
    /// Deliver these stanzas, in order, then answer the sender <see cref="PageWritten"/> with <paramref name="PageId"/>
    /// once the transport reports them written out to the connection (its write receipt), or not (no connection, lost
    /// first). Paced deliveries (the offline mailbox, <c>ISessionDelivery</c>) send the next page only then.
    /// </summary>
    public sealed record DeliverPage(IReadOnlyList<Element> Stanzas, long PageId);
    /// <summary>The answer to <see cref="DeliverPage"/>: written out to the connection or not. <paramref name="AwaitsAck"/>:
    /// the client enabled XEP-0198, so the page counts as delivered only at its <see cref="PageAcknowledged"/> (told
    /// to the same asker, before or after this answer), whatever the write gave (a detached session may still
    /// retransmit it on a resumed stream).</summary>
    public sealed record PageWritten(long PageId, bool Written, bool AwaitsAck = false);
    /// <summary>XEP-0198: the client acknowledged the last stanza of the page (true), or the session ended before it
    /// did (false: the page was not delivered, the asker delivers it again later).</summary>
    public sealed record PageAcknowledged(long PageId, bool Acknowledged);
    /// <summary>Another stream bound the same full JID (RFC 6120 §7.7.2.2): close this one with &lt;conflict/&gt;.</summary>
    public sealed record Replaced;
    public static readonly Replaced ReplacedInstance = new();
    /// <summary>From the account's resources entity to a session that told it ended: the entity routes nothing more to
    /// it, and whatever it routed before is already in the session's mailbox (one sender, one receiver: in order), so
    /// the session, which handed back what reached it meanwhile, stops now.</summary>
    public sealed record EndSeen;
    public static readonly EndSeen EndSeenInstance = new();
}
