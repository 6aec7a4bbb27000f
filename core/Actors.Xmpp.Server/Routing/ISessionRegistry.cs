using Akka.Actor;

namespace Actors.Xmpp.Server.Routing;

/// <summary>One bound resource: where its session actor is, and what the router needs to pick it.</summary>
public sealed record SessionEntry(Jid Jid, IActorRef Session, bool Available, int Priority, long BoundAt);

/// <summary>
/// Which sessions are bound, addressed by JID only. The single-node implementation is a concurrent map; the cluster
/// issue puts a sharded, per-user implementation behind this same interface (sessions are reached by IActorRef,
/// which is location-transparent).
/// </summary>
public interface ISessionRegistry
{
    /// <summary>Binds <paramref name="entry"/>; returns the session it replaces (same full JID), if any.</summary>
    SessionEntry? Register(SessionEntry entry);
    /// <summary>Removes the entry if it still belongs to <paramref name="session"/>.</summary>
    bool Unregister(Jid fullJid, IActorRef session);
    /// <summary>Updates availability and priority (from the session's presence).</summary>
    void UpdatePresence(Jid fullJid, IActorRef session, bool available, int priority);
    SessionEntry? Find(Jid fullJid);
    /// <summary>All bound resources of an account (a snapshot; empty if none).</summary>
    IReadOnlyList<SessionEntry> Resources(Jid bareJid);
    int Count { get; }
    IEnumerable<SessionEntry> All();
}
