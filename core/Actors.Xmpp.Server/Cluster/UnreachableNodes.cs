using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster;

namespace Actors.Xmpp.Server.Cluster;

/// <summary>
/// The nodes this node cannot reach now (Akka.Cluster's failure detector), read by every account's resources entity on
/// each delivery decision: a session on such a node leaves the routing view at once, so stanzas to it go offline or
/// bounce as for an ended session (RFC 6121 §8.5.2.2, §8.5.3.2) instead of being sent into a dead link until the
/// split-brain resolver downs the node (then the entity's watch ends those sessions for good). A node that becomes
/// reachable again puts its sessions back. Empty on a single node: the check is one volatile read of an empty set.
/// </summary>
public sealed class UnreachableNodes : IExtension
{
    private volatile ImmutableHashSet<Address> _addresses = ImmutableHashSet<Address>.Empty;

    public static UnreachableNodes Of(ActorSystem system) => system.WithExtension<UnreachableNodes, Provider>();

    /// <summary>True when <paramref name="actor"/> lives on a node this node cannot reach now.</summary>
    public bool Holds(IActorRef actor)
    {
        var addresses = _addresses;
        return addresses.Count != 0 && addresses.Contains(actor.Path.Address);
    }

    public IReadOnlyCollection<Address> Addresses => _addresses;

    internal void Set(ImmutableHashSet<Address> addresses) => _addresses = addresses;

    public sealed class Provider : ExtensionIdProvider<UnreachableNodes>
    {
        public override UnreachableNodes CreateExtension(ExtendedActorSystem system) => new();
    }

    /// <summary>Keeps <see cref="UnreachableNodes"/> from the cluster's reachability events (one per clustered node).</summary>
    public sealed class Tracker : ReceiveActor
    {
        public const string Name = "unreachable-nodes";

        private readonly UnreachableNodes _nodes;

        public Tracker()
        {
            _nodes = Of(Context.System);
            Receive<ClusterEvent.CurrentClusterState>(s =>
            {
                var set = ImmutableHashSet<Address>.Empty;
                foreach (var m in s.Unreachable) set = set.Add(m.Address);
                _nodes.Set(set);
            });
            Receive<ClusterEvent.UnreachableMember>(e => _nodes.Set(_nodes._addresses.Add(e.Member.Address)));
            Receive<ClusterEvent.ReachableMember>(e => _nodes.Set(_nodes._addresses.Remove(e.Member.Address)));
            // a removed node's sessions were ended through the entities' watch; a node that joins at that address is a
            // new incarnation whose sessions are reachable
            Receive<ClusterEvent.MemberRemoved>(e => _nodes.Set(_nodes._addresses.Remove(e.Member.Address)));
            Receive<ClusterEvent.MemberJoined>(e => _nodes.Set(_nodes._addresses.Remove(e.Member.Address)));
        }

        protected override void PreStart() =>
            Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot,
                typeof(ClusterEvent.IReachabilityEvent), typeof(ClusterEvent.MemberRemoved), typeof(ClusterEvent.MemberJoined));

        protected override void PostStop() => Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
    }
}
