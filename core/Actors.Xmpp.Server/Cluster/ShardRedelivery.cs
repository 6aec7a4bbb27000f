using System.Runtime.CompilerServices;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;

namespace Actors.Xmpp.Server.Cluster;

/// <summary>
/// Sends again what this node's shard regions dropped at a shard hand-off. Akka.Cluster.Sharding delivers at most
/// once: while a shard moves (a node joins and takes shards from the others, or a node leaves), the region that hosted
/// it buffers what reaches it for that shard between BeginHandOff and HandOff, then drops that buffer "to avoid
/// re-ordering" (it publishes each message as a <see cref="Dropped"/> dead letter with <see cref="HandOffReason"/>).
/// For this server the messages to the "users" and "plugin-stores" regions are stanzas a client's session had already
/// accepted (and, with XEP-0198, acknowledged) and the one-shot session facts an account's entity routes by (a
/// resource bound, its presence, its end): losing one loses a message or misroutes the account. This actor (one per
/// clustered node) tells each such message of a type it was told about to that type's region again, with its sender,
/// at once; the region buffers it until the shard's new home is known. A message goes through at most
/// <see cref="MaxHandOffs"/> hand-offs this way. On a leaving node (its regions stop once their shards have moved) it
/// goes to the same region on a member that stays.
/// <para>Order: the dropped messages come back in their order, behind only what this node sent to the same shard in
/// the milliseconds between the drop and this actor's send (RFC 6120 §10.1 orders one sender's stanzas to one
/// recipient: both would have to fall in that moment).</para>
/// <para>Not taken back: what a region sends to a node that crashed, until the node is downed (remoting refuses it, as
/// a plain dead letter without its recipient). Holding those and sending them after the removal was tried (the
/// commit before this file's last change): it saved them but delivered some out of order, which RFC 6120 §10.1
/// forbids (tests/harness/cluster-node-kill.sh: 1 of the last 3 runs with the final version tried, more with the
/// earlier ones).</para>
/// </summary>
public sealed class ShardRedelivery : ReceiveActor
{
    public const string Name = "shard-redelivery";

    /// <summary>The reason Akka.Cluster.Sharding's region gives for the drop at HandOff (ShardRegion, 1.5).</summary>
    public const string HandOffReason = "Avoiding reordering of buffered messages at shard handoff";

    /// <summary>How many hand-offs in a row one message is sent again through.</summary>
    public const int MaxHandOffs = 5;

    /// <summary>Messages of <paramref name="MessageType"/> that a region drops go to <paramref name="Region"/> again.</summary>
    public sealed record Register(Type MessageType, IActorRef Region);

    /// <summary>Answered with how many dropped messages this actor has sent again (a long).</summary>
    public sealed record GetCount
    {
        public static readonly GetCount Instance = new();
    }

    private readonly Dictionary<Type, IActorRef> _regions = new();
    private readonly ConditionalWeakTable<object, StrongBox<int>> _handOffs = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private long _count;

    public ShardRedelivery()
    {
        Receive<Register>(r => _regions[r.MessageType] = r.Region);
        Receive<DeadLetter>(d => { if (d.Message is Dropped dropped) Take(dropped); });
        Receive<Dropped>(Take);
        Receive<GetCount>(_ => Sender.Tell(_count));
    }

    /// <summary>Points what is dropped on the way to <paramref name="region"/> (messages of <paramref name="messageType"/>)
    /// back at it (this node's actor, started on first use).</summary>
    public static void Redeliver(ActorSystem system, Type messageType, IActorRef region) =>
        ShardRedeliveryNode.Of(system).Actor.Tell(new Register(messageType, region));

    protected override void PreStart()
    {
        Context.System.EventStream.Subscribe(Self, typeof(DeadLetter));
        Context.System.EventStream.Subscribe(Self, typeof(Dropped)); // should a later Akka publish the drop directly
    }

    protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);

    private void Take(Dropped dropped)
    {
        if (dropped.Reason != HandOffReason || !_regions.TryGetValue(dropped.Message.GetType(), out var region)) return;
        var times = _handOffs.GetOrCreateValue(dropped.Message);
        if (++times.Value > MaxHandOffs)
        {
            _log.Warning("a {0} was dropped at {1} shard hand-offs in a row; not sent again", dropped.Message.GetType().Name, MaxHandOffs);
            return;
        }
        _log.Warning("a {0} dropped at a shard hand-off is sent again", dropped.Message.GetType().Name);
        _count++;
        RegionToUse(region).Tell(dropped.Message, dropped.Sender);
    }

    /// <summary>False in an actor system without Akka.Cluster (the unit tests).</summary>
    private static bool Clustered => ((ExtendedActorSystem)Context.System).Provider is ClusterActorRefProvider;

    /// <summary>This node's region, unless this node is leaving: its region then stops once its shards have moved
    /// (what it buffers then is lost), so the message goes to the same region on a member that stays.</summary>
    private static ICanTell RegionToUse(IActorRef region)
    {
        if (!Clustered) return region;
        var cluster = Akka.Cluster.Cluster.Get(Context.System);
        // the regions hand their shards off before this node leaves the cluster: the shutdown says it first
        var leaving = CoordinatedShutdown.Get(Context.System).ShutdownReason is not null;
        if (cluster.SelfMember.Status == MemberStatus.Up && !leaving) return region;
        foreach (var member in cluster.State.Members)
        {
            if (member.Status != MemberStatus.Up || member.Address.Equals(cluster.SelfAddress)) continue;
            return Context.ActorSelection(new RootActorPath(member.Address) / region.Path.Elements);
        }
        return region; // no other member: this one is the service
    }

    public static Props Props() => Akka.Actor.Props.Create(() => new ShardRedelivery());
}

/// <summary>This node's <see cref="ShardRedelivery"/> actor, started on first use.</summary>
internal sealed class ShardRedeliveryNode(IActorRef actor) : IExtension
{
    public IActorRef Actor { get; } = actor;

    public static ShardRedeliveryNode Of(ActorSystem system) => system.WithExtension<ShardRedeliveryNode, Provider>();

    public sealed class Provider : ExtensionIdProvider<ShardRedeliveryNode>
    {
        public override ShardRedeliveryNode CreateExtension(ExtendedActorSystem system) =>
            new(system.ActorOf(ShardRedelivery.Props(), ShardRedelivery.Name));
    }
}
