using System.Runtime.CompilerServices;
using Akka.Actor;
using Akka.Event;

namespace Actors.Xmpp.Server.Cluster;

/// <summary>
/// Sends again what a shard region dropped at a shard hand-off. Akka.Cluster.Sharding delivers at most once: while a
/// shard moves (a node joins and takes shards from the others, or a node leaves), the region that hosted it buffers
/// what is sent to that shard from its own node between BeginHandOff and HandOff, then drops that buffer "to avoid
/// re-ordering" (it publishes each message as a <see cref="Dropped"/> dead letter). For this server those messages
/// are stanzas a client's session had already acknowledged (XEP-0198) and the one-shot session facts an account's
/// entity routes by (a resource bound, its presence, its end): losing one loses a message or misroutes the account.
/// This actor (one per clustered node) takes each such drop of a message type it was told about and tells it to that
/// type's region again, with its sender; the region then buffers it until the shard's new home is known.
/// <para>The order the drop protects is kept as far as it matters here: the dropped messages come back in their
/// order, after what this node sent to the shard in the few milliseconds since the drop (RFC 6120 §10.1 orders the
/// stanzas of one sender to one recipient; both would have to be sent within those milliseconds). A message is sent
/// again at most <see cref="MaxRedeliveries"/> times (each hand-off of its shard is one).</para>
/// </summary>
public sealed class HandOffRedelivery : ReceiveActor
{
    public const string Name = "hand-off-redelivery";

    /// <summary>The reason Akka.Cluster.Sharding's region gives for the drop at HandOff (ShardRegion, 1.5).</summary>
    public const string HandOffReason = "Avoiding reordering of buffered messages at shard handoff";

    public const int MaxRedeliveries = 5;

    /// <summary>Messages of <paramref name="MessageType"/> dropped at a hand-off go to <paramref name="Region"/> again.</summary>
    public sealed record Register(Type MessageType, IActorRef Region);

    /// <summary>Answered with how many dropped messages this actor has sent again (a long).</summary>
    public sealed record GetCount
    {
        public static readonly GetCount Instance = new();
    }

    private readonly Dictionary<Type, IActorRef> _regions = new();
    private readonly ConditionalWeakTable<object, StrongBox<int>> _redelivered = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private long _count;

    public HandOffRedelivery()
    {
        Receive<Register>(r => _regions[r.MessageType] = r.Region);
        Receive<DeadLetter>(d => Take(d.Message));
        Receive<Dropped>(Take);
        Receive<GetCount>(_ => Sender.Tell(_count));
    }

    /// <summary>Points the drops of <paramref name="messageType"/> at <paramref name="region"/> (this node's actor,
    /// started on first use).</summary>
    public static void Redeliver(ActorSystem system, Type messageType, IActorRef region) =>
        HandOffRedeliveryNode.Of(system).Actor.Tell(new Register(messageType, region));

    protected override void PreStart()
    {
        Context.System.EventStream.Subscribe(Self, typeof(DeadLetter));
        Context.System.EventStream.Subscribe(Self, typeof(Dropped)); // should a later Akka publish the drop directly
    }

    protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);

    private void Take(object message)
    {
        if (message is not Dropped { Reason: HandOffReason } dropped) return;
        if (!_regions.TryGetValue(dropped.Message.GetType(), out var region)) return;
        var times = _redelivered.GetOrCreateValue(dropped.Message);
        if (++times.Value > MaxRedeliveries)
        {
            _log.Warning("a {0} was dropped at {1} shard hand-offs in a row; not sent again", dropped.Message.GetType().Name, MaxRedeliveries);
            return;
        }
        _count++;
        var target = RegionToUse(region);
        _log.Info("sent a {0} dropped at a shard hand-off again (to {1})", dropped.Message.GetType().Name, target);
        target.Tell(dropped.Message, dropped.Sender);
    }

    /// <summary>This node's region, unless this node is leaving: its region then stops once its shards have moved
    /// (what it buffers then is lost), so the message goes to the same region on a member that stays.</summary>
    private ICanTell RegionToUse(IActorRef region)
    {
        var cluster = Akka.Cluster.Cluster.Get(Context.System);
        var leaving = CoordinatedShutdown.Get(Context.System).ShutdownReason is not null; // the regions hand off before the leave
        if (cluster.SelfMember.Status == Akka.Cluster.MemberStatus.Up && !leaving) return region;
        foreach (var member in cluster.State.Members)
        {
            if (member.Status != Akka.Cluster.MemberStatus.Up || member.Address.Equals(cluster.SelfAddress)) continue;
            return Context.ActorSelection(new RootActorPath(member.Address) / region.Path.Elements);
        }
        return region; // no other member: this one is the service
    }

    public static Props Props() => Akka.Actor.Props.Create(() => new HandOffRedelivery());
}

/// <summary>This node's <see cref="HandOffRedelivery"/> actor, started on first use.</summary>
internal sealed class HandOffRedeliveryNode(IActorRef actor) : IExtension
{
    public IActorRef Actor { get; } = actor;

    public static HandOffRedeliveryNode Of(ActorSystem system) => system.WithExtension<HandOffRedeliveryNode, Provider>();

    public sealed class Provider : ExtensionIdProvider<HandOffRedeliveryNode>
    {
        public override HandOffRedeliveryNode CreateExtension(ExtendedActorSystem system) =>
            new(system.ActorOf(HandOffRedelivery.Props(), HandOffRedelivery.Name));
    }
}
