using System.Collections.Concurrent;
using Actors.Xmpp.Server.Routing;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;

namespace Actors.Xmpp.Server.Cluster;

/// <summary>One bound resource as the session view sees it (a plugin's <c>OnlineSession</c>).</summary>
/// <param name="OnThisNode">The session lives on this node (its connection is here); false: on another member.</param>
public sealed record ViewSession(Jid Jid, IActorRef Session, bool Available, int Priority, bool OnThisNode);

/// <summary>
/// The bound sessions of the whole cluster, as plugins see them (<c>ISessions</c>): this node's own
/// <see cref="ISessionRegistry"/> (unchanged, node-local: routing, the resources entities' census and the operator
/// commands read it) plus a replica of every other member's sessions, with the flags plugins set on them
/// (<see cref="SetFlag"/>). ejabberd's model: each node keeps the whole table; a change on one node is one
/// message to each other member (after one hop it is seen there). A node publishes its registry's changes (bound,
/// presence, flags: <see cref="Changed"/>, the entry's whole state; ended: <see cref="Ended"/>) through its relay
/// (/user/session-view), sends its whole local table (<see cref="Snapshot"/>) to a member that comes up or becomes
/// reachable again, and drops a member's entries when the member is unreachable or removed (its sessions leave routing
/// then too, <see cref="UnreachableNodes"/>). On one node nothing is replicated: the view is the local registry plus
/// the flags, and no relay runs.
/// Cost in a cluster: one entry per session per node, one message per change per other member.
/// </summary>
public sealed class SessionView
{
    /// <summary>A session's state on its node, as it travels (a bind, a presence change, a flag change: the whole
    /// entry, so that the last message about a session is its state). Serialized by <see cref="RoutingSerializer"/>.</summary>
    public sealed record Changed(Jid Jid, IActorRef Session, bool Available, int Priority, IReadOnlyList<string> Flags);

    /// <summary>The session bound at <paramref name="Jid"/> ended on its node.</summary>
    public sealed record Ended(Jid Jid, IActorRef Session);

    /// <summary>Every session of the sending node (it replaces what the receiver held of that node); with
    /// <paramref name="Reply"/> the receiver answers with its own.</summary>
    public sealed record Snapshot(IReadOnlyList<Changed> Sessions, bool Reply);

    private static readonly Changed[] None = [];
    private static readonly string[] NoFlags = [];

    private readonly ISessionRegistry _local;
    // this node's sessions' flags, by full JID, with the session they were set on (a new session bound at the same
    // full JID starts with none)
    private readonly ConcurrentDictionary<Jid, LocalFlags> _flags = new();
    // the other members' sessions by bare JID (copy-on-write arrays; written by the relay only)
    private readonly ConcurrentDictionary<Jid, Changed[]> _remote = new();
    private int _remoteCount;
    // a local change and its publication happen under the account's stripe, so that the relay sends an entry's states
    // in the order they were made
    private readonly object[] _stripes = CreateStripes(64);
    private volatile IActorRef? _relay;

    private sealed class LocalFlags(IActorRef session)
    {
        public readonly IActorRef Session = session;
        public string[] Set = NoFlags;
    }

    public SessionView(ISessionRegistry local) => _local = local;

    /// <summary>This node's registry.</summary>
    public ISessionRegistry Local => _local;

    /// <summary>True once this node replicates (a clustered node whose relay started).</summary>
    public bool Replicating => _relay is not null;

    /// <summary>The registry the node's sessions register in on a clustered node: the local one, whose changes are also
    /// published to the other members.</summary>
    public ISessionRegistry Publishing() => new PublishingRegistry(this);

    // ---- reading ------------------------------------------------------------------------------------------------

    /// <summary>Sessions bound on every member (this node's and the replica's).</summary>
    public int Count => _local.Count + Volatile.Read(ref _remoteCount);

    /// <summary>The account's bound resources on every member; this node's first. A full JID bound on two members at
    /// once (a session moving, a conflict being resolved) is listed once, this node's or the first.</summary>
    public IReadOnlyList<ViewSession> Resources(Jid bare)
    {
        if (bare.Resource is not null) bare = bare.Bare;
        var local = _local.Resources(bare);
        _remote.TryGetValue(bare, out var remote);
        remote ??= None;
        if (local.Count == 0 && remote.Length == 0) return Array.Empty<ViewSession>();
        var list = new List<ViewSession>(local.Count + remote.Length);
        foreach (var e in local) list.Add(new ViewSession(e.Jid, e.Session, e.Available, e.Priority, OnThisNode: true));
        foreach (var e in remote)
            if (!Listed(list, e.Jid)) list.Add(new ViewSession(e.Jid, e.Session, e.Available, e.Priority, OnThisNode: false));
        return list;
    }

    /// <summary>Every bound session on every member.</summary>
    public IEnumerable<ViewSession> All()
    {
        foreach (var e in _local.All()) yield return new ViewSession(e.Jid, e.Session, e.Available, e.Priority, OnThisNode: true);
        foreach (var (_, entries) in _remote)
            foreach (var e in entries)
                if (_local.Find(e.Jid) is null) yield return new ViewSession(e.Jid, e.Session, e.Available, e.Priority, OnThisNode: false);
    }

    /// <summary>The session bound at <paramref name="fullJid"/> on any member (this node's first).</summary>
    public ViewSession? Find(Jid fullJid)
    {
        if (_local.Find(fullJid) is { } e) return new ViewSession(e.Jid, e.Session, e.Available, e.Priority, OnThisNode: true);
        return FindRemote(fullJid) is { } r ? new ViewSession(r.Jid, r.Session, r.Available, r.Priority, OnThisNode: false) : null;
    }

    private Changed? FindRemote(Jid fullJid)
    {
        if (!_remote.TryGetValue(fullJid.Bare, out var entries)) return null;
        foreach (var e in entries)
            if (e.Jid.Equals(fullJid)) return e;
        return null;
    }

    private static bool Listed(List<ViewSession> list, Jid jid)
    {
        foreach (var s in list)
            if (s.Jid.Equals(jid)) return true;
        return false;
    }

    // ---- flags ----------------------------------------------------------------------------------------------------

    /// <summary>Sets or clears <paramref name="flag"/> on the session bound at <paramref name="fullJid"/> on this node
    /// (published to the other members with the session's entry). False when no session is bound here at that JID.</summary>
    public bool SetFlag(Jid fullJid, string flag, bool on)
    {
        ArgumentException.ThrowIfNullOrEmpty(flag);
        lock (Stripe(fullJid))
        {
            var entry = _local.Find(fullJid);
            if (entry is null) return false;
            if (!_flags.TryGetValue(fullJid, out var flags) || !flags.Session.Equals(entry.Session))
                _flags[fullJid] = flags = new LocalFlags(entry.Session); // none, or an ended session's
            var has = Array.IndexOf(flags.Set, flag) >= 0;
            if (on == has) return true;
            flags.Set = on ? [.. flags.Set, flag] : Array.FindAll(flags.Set, f => f != flag);
            Publish(new Changed(entry.Jid, entry.Session, entry.Available, entry.Priority, flags.Set));
            return true;
        }
    }

    /// <summary>Whether the session bound at <paramref name="fullJid"/>, on this node or another member, has
    /// <paramref name="flag"/> set.</summary>
    public bool HasFlag(Jid fullJid, string flag)
    {
        if (_local.Find(fullJid) is { } entry)
            return _flags.TryGetValue(fullJid, out var flags) && flags.Session.Equals(entry.Session) && Array.IndexOf(flags.Set, flag) >= 0;
        return FindRemote(fullJid) is { } remote && Contains(remote.Flags, flag);
    }

    /// <summary>Whether any bound resource of <paramref name="bare"/>, on any member, has <paramref name="flag"/> set
    /// (allocates nothing: the question a hook asks of every stanza).</summary>
    public bool AnyHasFlag(Jid bare, string flag)
    {
        if (bare.Resource is not null) bare = bare.Bare;
        // lock-free reads only (ConcurrentDictionary.IsEmpty would take every lock when empty), indexed (no enumerator)
        var local = _local.Resources(bare);
        for (var i = 0; i < local.Count; i++)
        {
            var e = local[i];
            if (_flags.TryGetValue(e.Jid, out var flags) && flags.Session.Equals(e.Session) && Array.IndexOf(flags.Set, flag) >= 0) return true;
        }
        if (_remote.TryGetValue(bare, out var remote))
            foreach (var e in remote)
                if (Contains(e.Flags, flag) && _local.Find(e.Jid) is null) return true;
        return false;
    }

    private static bool Contains(IReadOnlyList<string> flags, string flag)
    {
        for (var i = 0; i < flags.Count; i++)
            if (flags[i] == flag) return true;
        return false;
    }

    /// <summary>The session bound at <paramref name="fullJid"/> on this node closed: its flags go (unless a new
    /// session is bound there).</summary>
    public void SessionClosed(Jid fullJid)
    {
        lock (Stripe(fullJid))
        {
            if (!_flags.TryGetValue(fullJid, out var flags)) return;
            if (_local.Find(fullJid) is { } entry && entry.Session.Equals(flags.Session)) return;
            _flags.TryRemove(new KeyValuePair<Jid, LocalFlags>(fullJid, flags));
        }
    }

    // ---- this node's changes ----------------------------------------------------------------------------------------

    private object Stripe(Jid jid) => _stripes[(jid.Bare.GetHashCode() & int.MaxValue) % _stripes.Length];

    private static object[] CreateStripes(int count)
    {
        var stripes = new object[count];
        for (var i = 0; i < count; i++) stripes[i] = new object();
        return stripes;
    }

    private string[] FlagsOf(SessionEntry entry) =>
        _flags.TryGetValue(entry.Jid, out var flags) && flags.Session.Equals(entry.Session) ? flags.Set : NoFlags;

    private void Publish(object change) => _relay?.Tell(new Relay.Publish(change), ActorRefs.NoSender);

    /// <summary>This node's sessions with their flags (the snapshot a member that comes up or back receives).</summary>
    internal List<Changed> LocalSnapshot()
    {
        var list = new List<Changed>(_local.Count);
        foreach (var e in _local.All())
            lock (Stripe(e.Jid))
                list.Add(new Changed(e.Jid, e.Session, e.Available, e.Priority, FlagsOf(e)));
        return list;
    }

    /// <summary>The local registry, with each change published (a clustered node's <see cref="ISessionRegistry"/>).</summary>
    private sealed class PublishingRegistry(SessionView view) : ISessionRegistry
    {
        private readonly ISessionRegistry _inner = view._local;

        public SessionEntry? Register(SessionEntry entry)
        {
            lock (view.Stripe(entry.Jid))
            {
                var replaced = _inner.Register(entry);
                view.Publish(new Changed(entry.Jid, entry.Session, entry.Available, entry.Priority, view.FlagsOf(entry)));
                return replaced;
            }
        }

        public bool Unregister(Jid fullJid, IActorRef session)
        {
            lock (view.Stripe(fullJid))
            {
                if (!_inner.Unregister(fullJid, session)) return false;
                if (view._flags.TryGetValue(fullJid, out var flags) && flags.Session.Equals(session))
                    view._flags.TryRemove(new KeyValuePair<Jid, LocalFlags>(fullJid, flags));
                view.Publish(new Ended(fullJid, session));
                return true;
            }
        }

        public void UpdatePresence(Jid fullJid, IActorRef session, bool available, int priority)
        {
            lock (view.Stripe(fullJid))
            {
                _inner.UpdatePresence(fullJid, session, available, priority);
                if (_inner.Find(fullJid) is { } e && e.Session.Equals(session))
                    view.Publish(new Changed(e.Jid, e.Session, e.Available, e.Priority, view.FlagsOf(e)));
            }
        }

        public SessionEntry? Find(Jid fullJid) => _inner.Find(fullJid);
        public IReadOnlyList<SessionEntry> Resources(Jid bareJid) => _inner.Resources(bareJid);
        public int Count => _inner.Count;
        public IEnumerable<SessionEntry> All() => _inner.All();
    }

    // ---- the other members' sessions (the relay's thread only) ------------------------------------------------------

    internal void ApplyChanged(Changed m)
    {
        var bare = m.Jid.Bare;
        var node = m.Session.Path.Address;
        var current = _remote.TryGetValue(bare, out var found) ? found : None;
        // one entry per full JID and member: a new bind there, or its new state
        for (var i = 0; i < current.Length; i++)
        {
            if (!current[i].Jid.Equals(m.Jid) || !current[i].Session.Path.Address.Equals(node)) continue;
            var next = (Changed[])current.Clone();
            next[i] = m;
            _remote[bare] = next;
            return;
        }
        _remote[bare] = [.. current, m];
        Interlocked.Increment(ref _remoteCount);
    }

    internal void ApplyEnded(Ended m)
    {
        var bare = m.Jid.Bare;
        if (!_remote.TryGetValue(bare, out var current)) return;
        var index = Array.FindIndex(current, e => e.Jid.Equals(m.Jid) && e.Session.Equals(m.Session));
        if (index < 0) return;
        Remove(bare, current, index);
    }

    private void Remove(Jid bare, Changed[] current, int index)
    {
        if (current.Length == 1) _remote.TryRemove(bare, out _);
        else
        {
            var next = new Changed[current.Length - 1];
            for (int i = 0, j = 0; i < current.Length; i++)
                if (i != index) next[j++] = current[i];
            _remote[bare] = next;
        }
        Interlocked.Decrement(ref _remoteCount);
    }

    /// <summary>Forgets every session of the member at <paramref name="node"/> (unreachable, removed, or about to be
    /// replaced by its snapshot).</summary>
    internal void DropNode(Address node)
    {
        foreach (var (bare, entries) in _remote)
        {
            var kept = Array.FindAll(entries, e => !e.Session.Path.Address.Equals(node));
            if (kept.Length == entries.Length) continue;
            if (kept.Length == 0) _remote.TryRemove(bare, out _);
            else _remote[bare] = kept;
            Interlocked.Add(ref _remoteCount, kept.Length - entries.Length);
        }
    }

    /// <summary>How many sessions of other members the view holds (tests, operators).</summary>
    public int RemoteCount => Volatile.Read(ref _remoteCount);

    /// <summary>Starts this node's relay (/user/session-view): from now on this node's changes go to the other members
    /// and theirs come here.</summary>
    internal void Start(ActorSystem system)
    {
        if (_relay is not null) return;
        _relay = system.ActorOf(Props.Create(() => new Relay(this)), Relay.Name);
    }

    /// <summary>
    /// Fans this node's changes out to the other members that are up, keeps the replica of theirs, and follows the
    /// membership: a member that comes up or becomes reachable again gets this node's snapshot (and answers with its
    /// own); one that becomes unreachable or is removed loses its entries here. What a node this relay has not seen up,
    /// or cannot reach now, tells is ignored: when that node comes up or back here, this relay asks for its snapshot
    /// (both sides ask, so whichever sees the other first, each ends with the other's table).
    /// </summary>
    internal sealed class Relay : ReceiveActor
    {
        public const string Name = "session-view";

        /// <summary>A change of this node's (a <see cref="Changed"/> or an <see cref="Ended"/>) to fan out; never
        /// leaves the node.</summary>
        public sealed record Publish(object Change);

        private readonly SessionView _view;
        private readonly Akka.Cluster.Cluster _cluster;
        private readonly ILoggingAdapter _log = Context.GetLogger();
        private readonly Dictionary<Address, ActorSelection> _peers = new();
        private readonly HashSet<Address> _unreachable = new();

        public Relay(SessionView view)
        {
            _view = view;
            _cluster = Akka.Cluster.Cluster.Get(Context.System);
            Receive<Publish>(p => Fan(p.Change));
            // the other members' (told by their relays)
            Receive<Changed>(m =>
            {
                if (FromMember(m.Session.Path.Address)) _view.ApplyChanged(m);
            });
            Receive<Ended>(m =>
            {
                if (FromMember(m.Session.Path.Address)) _view.ApplyEnded(m);
            });
            Receive<Snapshot>(m =>
            {
                var node = Sender.Path.Address;
                if (!FromMember(node)) return; // a member this relay has not seen up yet: its snapshot follows our own
                _view.DropNode(node);
                foreach (var s in m.Sessions)
                    if (s.Session.Path.Address.Equals(node)) _view.ApplyChanged(s);
                if (m.Reply) Sender.Tell(new Snapshot(_view.LocalSnapshot(), Reply: false), Self);
            });
            Receive<ClusterEvent.MemberUp>(e => Up(e.Member));
            Receive<ClusterEvent.MemberWeaklyUp>(e => Up(e.Member));
            Receive<ClusterEvent.ReachableMember>(e =>
            {
                _unreachable.Remove(e.Member.Address);
                if (_peers.TryGetValue(e.Member.Address, out var peer)) peer.Tell(new Snapshot(_view.LocalSnapshot(), Reply: true), Self);
            });
            Receive<ClusterEvent.UnreachableMember>(e =>
            {
                if (e.Member.Address.Equals(_cluster.SelfAddress)) return;
                _unreachable.Add(e.Member.Address);
                _view.DropNode(e.Member.Address);
            });
            Receive<ClusterEvent.MemberRemoved>(e =>
            {
                _peers.Remove(e.Member.Address);
                _unreachable.Remove(e.Member.Address);
                _view.DropNode(e.Member.Address);
            });
            Receive<ClusterEvent.IMemberEvent>(_ => { }); // joining, leaving, exiting: the sessions end on their own
        }

        /// <summary>A member that is up in this relay's view and reachable now: what another node (a removed one's late
        /// message, one not seen up yet, one unreachable now) tells is not taken; the snapshot exchanged when it comes
        /// up or back covers it.</summary>
        private bool FromMember(Address node) => _peers.ContainsKey(node) && !_unreachable.Contains(node);

        private void Up(Member member)
        {
            if (member.Address.Equals(_cluster.SelfAddress) || _peers.ContainsKey(member.Address)) return;
            var peer = Context.ActorSelection(new RootActorPath(member.Address) / "user" / Name);
            _peers[member.Address] = peer;
            peer.Tell(new Snapshot(_view.LocalSnapshot(), Reply: true), Self);
            _log.Debug("session view: {0} is up, sent {1} sessions", member.Address, _view.Local.Count);
        }

        private void Fan(object change)
        {
            foreach (var (_, peer) in _peers) peer.Tell(change, Self);
        }

        protected override void PreStart() =>
            _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
                typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));

        protected override void PostStop() => _cluster.Unsubscribe(Self);
    }
}
