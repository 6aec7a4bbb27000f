using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;

namespace Actors.Xmpp.Server.Cluster;

/// <summary>
/// Facts one node tells the others so that what they keep in memory follows: a plugin's cache of an account's data
/// (its block list, its archiving preferences, its avatar hash) changed through this node, or a host event that
/// plugins on every node listen to (<see cref="Plugins.ServerEventKind.RosterChanged"/>). A signal names its source
/// (a plugin id, or <see cref="HostSource"/>), a name and the JID it is about; the handlers registered on the other
/// nodes for that source and name run on the relay actor's thread (quick: forget an entry, start a read). On one node,
/// and before the relay starts, telling does nothing: the node that changed something updates itself.
/// At most once, like any remote message: a handler's cache must also expire on its own (they all do: idle accounts
/// are dropped), so that a signal lost while a node was unreachable is not stale forever.
/// One instance per actor system (an Akka extension).
/// </summary>
public sealed class ClusterSignals : IExtension
{
    /// <summary>The source of the host's own signals (plugin ids never start with '_').</summary>
    public const string HostSource = "_host";

    /// <summary>The host's signal that an account's roster changed (raised as <see cref="Plugins.ServerEventKind.RosterChanged"/>
    /// on the other nodes).</summary>
    public const string RosterChanged = "roster-changed";

    /// <summary>A signal, as it travels between nodes (serialized by <see cref="RoutingSerializer"/>).</summary>
    public sealed record Signal(string Source, string Name, Jid About);

    private readonly object _lock = new();
    private ImmutableDictionary<(string Source, string Name), ImmutableArray<Action<Jid>>> _handlers =
        ImmutableDictionary<(string, string), ImmutableArray<Action<Jid>>>.Empty;
    private volatile IActorRef? _relay;

    public static ClusterSignals Of(ActorSystem system) => system.WithExtension<ClusterSignals, ClusterSignalsProvider>();

    /// <summary>Tells the other nodes (nothing on one node).</summary>
    public void Tell(string source, string name, Jid about) => _relay?.Tell(new Relay.Publish(new Signal(source, name, about)));

    /// <summary>Runs <paramref name="handler"/> for each signal of this source and name from another node.</summary>
    public IDisposable On(string source, string name, Action<Jid> handler)
    {
        var key = (source, name);
        lock (_lock) _handlers = _handlers.SetItem(key, _handlers.GetValueOrDefault(key, ImmutableArray<Action<Jid>>.Empty).Add(handler));
        return new Registration(this, key, handler);
    }

    private sealed class Registration(ClusterSignals owner, (string, string) key, Action<Jid> handler) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
            lock (owner._lock)
            {
                var rest = owner._handlers.GetValueOrDefault(key, ImmutableArray<Action<Jid>>.Empty).Remove(handler);
                owner._handlers = rest.IsEmpty ? owner._handlers.Remove(key) : owner._handlers.SetItem(key, rest);
            }
        }
    }

    /// <summary>How many handlers are registered for the source and name (tests).</summary>
    public int Count(string source, string name) => _handlers.GetValueOrDefault((source, name), ImmutableArray<Action<Jid>>.Empty).Length;

    /// <summary>Starts this node's relay (/user/cluster-signals): from now on signals go to the other members and
    /// theirs come here.</summary>
    internal void Start(ActorSystem system)
    {
        if (_relay is not null) return;
        _relay = system.ActorOf(Props.Create(() => new Relay(this)), Relay.Name);
    }

    private void Dispatch(Signal signal, Akka.Event.ILoggingAdapter log)
    {
        if (!_handlers.TryGetValue((signal.Source, signal.Name), out var handlers)) return;
        foreach (var handler in handlers)
        {
            try { handler(signal.About); }
            catch (Exception ex) { log.Error(ex, "a handler of signal {0}/{1} failed for {2}", signal.Source, signal.Name, signal.About); }
        }
    }

    /// <summary>Fans this node's signals out to the other members that are up, and hands theirs to the handlers.</summary>
    internal sealed class Relay : ReceiveActor
    {
        public const string Name = "cluster-signals";

        public sealed record Publish(Signal Signal);

        public Relay(ClusterSignals signals)
        {
            var cluster = Akka.Cluster.Cluster.Get(Context.System);
            var log = Context.GetLogger();
            Receive<Publish>(p =>
            {
                foreach (var member in cluster.State.Members)
                {
                    if (member.Address.Equals(cluster.SelfAddress) || member.Status is not (MemberStatus.Up or MemberStatus.WeaklyUp)) continue;
                    Context.ActorSelection(new RootActorPath(member.Address) / "user" / Name).Tell(p.Signal);
                }
            });
            Receive<Signal>(s => signals.Dispatch(s, log));
        }
    }
}

/// <summary>The Akka extension id of <see cref="ClusterSignals"/>.</summary>
public sealed class ClusterSignalsProvider : ExtensionIdProvider<ClusterSignals>
{
    public override ClusterSignals CreateExtension(ExtendedActorSystem system) => new();
}
