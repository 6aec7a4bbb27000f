using System.Runtime.CompilerServices;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;

namespace Actors.Xmpp.Server.Cluster;

/// <summary>
/// Sends again what this node's shard regions lost on the way to a shard that was moving or whose node was gone.
/// Akka.Cluster.Sharding delivers at most once; for this server the messages to the "users" and "plugin-stores"
/// regions are stanzas a client's session had already accepted (and, with XEP-0198, acknowledged) and the one-shot
/// session facts an account's entity routes by (a resource bound, its presence, its end): losing one loses a message
/// or misroutes the account. Two losses are taken back, each published as a dead letter with the message itself:
/// <list type="bullet">
/// <item>A hand-off (a node joins and takes shards from the others, or a node leaves): the region that hosted the
/// shard buffers what reaches it for that shard between BeginHandOff and HandOff, then drops that buffer "to avoid
/// re-ordering" (<see cref="Dropped"/>, <see cref="HandOffReason"/>). Sent again at once (at most
/// <see cref="MaxHandOffs"/> times): the region buffers it until the shard's new home is known.</item>
/// <item>A crashed or unreachable node: until the split-brain resolver downs it and the coordinator gives its shards
/// new homes, the regions still send to it and remoting turns those messages into dead letters (the address is
/// gated). They are held here, in their order, and sent again once no member is unreachable: when the gone member is
/// removed or becomes reachable again (or, with no membership change to explain the loss, once they and the membership
/// have been quiet for <see cref="QuietAfter"/>: a killed node's messages are refused before its failure detector
/// speaks); never while the route is still broken, or they would come back behind newer messages. One
/// lost just after such a change (the regions are learning the new homes) is sent back at once. Given up after
/// <see cref="GiveUpAfter"/> (logged).</item>
/// </list>
/// The order of one sender's messages to one account (RFC 6120 §10.1) is kept but for a race of milliseconds: what
/// comes back goes in its order, behind only what was sent to the same shard in the moment between the region
/// learning the new home and this actor sending again. On a leaving node (its regions stop once their shards have
/// moved) the messages go to the same region on a member that stays.
/// </summary>
public sealed class ShardRedelivery : ReceiveActor, IWithTimers
{
    public const string Name = "shard-redelivery";

    /// <summary>The reason Akka.Cluster.Sharding's region gives for the drop at HandOff (ShardRegion, 1.5).</summary>
    public const string HandOffReason = "Avoiding reordering of buffered messages at shard handoff";

    /// <summary>How many hand-offs in a row one message is sent again through.</summary>
    public const int MaxHandOffs = 5;

    /// <summary>Held messages are sent again this often (besides at each removal or reachability change).</summary>
    public static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(2);

    /// <summary>A message not delivered this long after it was first lost is given up (a cluster that never heals).</summary>
    public static readonly TimeSpan GiveUpAfter = TimeSpan.FromMinutes(2);

    /// <summary>How many times in a row a message lost just after a member was removed (or became reachable) is sent
    /// back at once (then held).</summary>
    public const int MaxBounces = 20;

    /// <summary>How long after a member was removed or became reachable a lost message is sent back at once; and how
    /// long without such a change held messages wait when no member is unreachable (the failure detector has not
    /// spoken yet: sent now, they would come back behind newer ones).</summary>
    public static readonly TimeSpan QuietAfter = TimeSpan.FromSeconds(10);

    /// <summary>At most this many held messages (the oldest given up first).</summary>
    public const int MaxHeld = 100_000;

    /// <summary>Messages of <paramref name="MessageType"/> that a region loses go to <paramref name="Region"/> again.</summary>
    public sealed record Register(Type MessageType, IActorRef Region);

    /// <summary>Answered with how many lost messages this actor has sent again (a long).</summary>
    public sealed record GetCount
    {
        public static readonly GetCount Instance = new();
    }

    /// <summary>A member became unreachable (from the cluster's events).</summary>
    public sealed record MemberUnreachable(Address Member);

    /// <summary>A member was removed or became reachable again (from the cluster's events).</summary>
    public sealed record MemberHealed(Address Member);

    private sealed record Retry
    {
        public static readonly Retry Instance = new();
    }

    private sealed class Lost
    {
        public int HandOffs;
        public int Bounces; // sent back at once and lost again (the region had not learnt the new home yet)
        public long FirstLost = Environment.TickCount64;
    }

    private readonly Dictionary<Type, IActorRef> _regions = new();
    private readonly ConditionalWeakTable<object, Lost> _lost = new();
    private readonly Queue<(object Message, IActorRef Sender, IActorRef Region)> _held = new();
    private readonly HashSet<Address> _unreachable = new();
    private long _lastChange = Environment.TickCount64 - (long)QuietAfter.TotalMilliseconds;
    private long _heldSince; // when the first of the messages held now was held
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private long _count;

    public ITimerScheduler Timers { get; set; } = null!;

    public ShardRedelivery()
    {
        Receive<Register>(r => _regions[r.MessageType] = r.Region);
        Receive<DeadLetter>(d =>
        {
            if (d.Message is Dropped dropped) TakeDropped(dropped);
            else TakeUndelivered(d.Message, d.Sender);
        });
        Receive<Dropped>(TakeDropped);
        // the unreachable members as this actor's events say (the read view's copy may lag behind them)
        Receive<ClusterEvent.CurrentClusterState>(state =>
        {
            _unreachable.Clear();
            foreach (var m in state.Unreachable) _unreachable.Add(m.Address);
        });
        Receive<ClusterEvent.UnreachableMember>(e => Self.Tell(new MemberUnreachable(e.Member.Address)));
        Receive<ClusterEvent.ReachableMember>(e => Self.Tell(new MemberHealed(e.Member.Address)));
        Receive<ClusterEvent.MemberRemoved>(e => Self.Tell(new MemberHealed(e.Member.Address)));
        Receive<MemberUnreachable>(e =>
        {
            _unreachable.Add(e.Member);
            _lastChange = Environment.TickCount64;
        });
        Receive<MemberHealed>(e => Healed(e.Member));
        Receive<ClusterEvent.IMemberEvent>(_ => { });
        Receive<Retry>(_ =>
        {
            // a loss no membership change explains (none unreachable, none recent, held a while): sent again
            var now = Environment.TickCount64;
            var quiet = (long)QuietAfter.TotalMilliseconds;
            if (now - _lastChange > quiet && now - _heldSince > quiet) SendHeldIfReachable();
            else DropExpired();
        });
        Receive<GetCount>(_ => Sender.Tell(_count));
    }

    /// <summary>Points what is lost on the way to <paramref name="region"/> (messages of <paramref name="messageType"/>)
    /// back at it (this node's actor, started on first use).</summary>
    public static void Redeliver(ActorSystem system, Type messageType, IActorRef region) =>
        ShardRedeliveryNode.Of(system).Actor.Tell(new Register(messageType, region));

    protected override void PreStart()
    {
        Context.System.EventStream.Subscribe(Self, typeof(DeadLetter));
        Context.System.EventStream.Subscribe(Self, typeof(Dropped)); // should a later Akka publish the drop directly
        if (Clustered)
            Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot,
                typeof(ClusterEvent.MemberRemoved), typeof(ClusterEvent.IReachabilityEvent));
    }

    protected override void PostStop()
    {
        Context.System.EventStream.Unsubscribe(Self);
        if (Clustered) Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
    }

    private void TakeDropped(Dropped dropped)
    {
        if (dropped.Reason != HandOffReason || !_regions.TryGetValue(dropped.Message.GetType(), out var region)) return;
        var lost = _lost.GetOrCreateValue(dropped.Message);
        if (++lost.HandOffs > MaxHandOffs)
        {
            _log.Warning("a {0} was dropped at {1} shard hand-offs in a row; not sent again", dropped.Message.GetType().Name, MaxHandOffs);
            return;
        }
        _log.Warning("a {0} dropped at a shard hand-off is sent again", dropped.Message.GetType().Name);
        Send(dropped.Message, dropped.Sender, region);
    }

    /// <summary>A message of a registered type that reached no actor: its region sent it to a node that is gone or
    /// cannot be reached (this node's own regions take every such message), or this node's region has stopped.</summary>
    private void TakeUndelivered(object message, IActorRef sender)
    {
        if (!_regions.TryGetValue(message.GetType(), out var region)) return;
        var lost = _lost.GetOrCreateValue(message);
        if (Expired(lost))
        {
            _log.Warning("a {0} could not be delivered to its shard for {1}; given up", message.GetType().Name, GiveUpAfter);
            return;
        }
        if (Leaving)
        {
            Send(message, sender, region); // to a member that stays
            return;
        }
        // a member was just removed (or came back) and none is unreachable: the regions are learning the new homes (in
        // milliseconds), so the message goes back now, ahead of what its sender sends next
        if (_unreachable.Count == 0 && Environment.TickCount64 - _lastChange < (long)QuietAfter.TotalMilliseconds && ++lost.Bounces <= MaxBounces)
        {
            Send(message, sender, region);
            return;
        }
        if (_held.Count >= MaxHeld)
        {
            var (oldest, _, _) = _held.Dequeue();
            _log.Warning("more than {0} messages held for unreachable shards; a {1} given up", MaxHeld, oldest.GetType().Name);
        }
        if (_held.Count == 0)
        {
            Timers.StartPeriodicTimer(Retry.Instance, Retry.Instance, RetryInterval);
            _heldSince = Environment.TickCount64;
        }
        _held.Enqueue((message, sender, region));
    }

    /// <summary>Once no member is unreachable (the gone node was removed, or came back), what is held goes back in its
    /// order. Not before: sent to a node still unreachable it would come back behind newer messages.</summary>
    private void Healed(Address member)
    {
        _unreachable.Remove(member);
        _lastChange = Environment.TickCount64;
        SendHeldIfReachable();
    }

    private void SendHeldIfReachable()
    {
        if (_held.Count == 0) return;
        if (_unreachable.Count > 0)
        {
            DropExpired();
            return;
        }
        Timers.Cancel(Retry.Instance);
        _log.Warning("sending {0} messages again that could not reach their shards", _held.Count);
        while (_held.Count > 0)
        {
            var (message, sender, region) = _held.Dequeue();
            Send(message, sender, region);
        }
    }

    private void DropExpired()
    {
        while (_held.Count > 0 && _lost.TryGetValue(_held.Peek().Message, out var oldest) && Expired(oldest))
            _log.Warning("a {0} could not be delivered to its shard for {1}; given up", _held.Dequeue().Message.GetType().Name, GiveUpAfter);
        if (_held.Count == 0) Timers.Cancel(Retry.Instance);
    }

    private static bool Expired(Lost lost) => Environment.TickCount64 - lost.FirstLost > (long)GiveUpAfter.TotalMilliseconds;

    private void Send(object message, IActorRef sender, IActorRef region)
    {
        _count++;
        RegionToUse(region).Tell(message, sender);
    }

    /// <summary>False in an actor system without Akka.Cluster (the unit tests).</summary>
    private static bool Clustered => ((ExtendedActorSystem)Context.System).Provider is ClusterActorRefProvider;

    private static bool Leaving => CoordinatedShutdown.Get(Context.System).ShutdownReason is not null;

    /// <summary>This node's region, unless this node is leaving: its region then stops once its shards have moved
    /// (what it buffers then is lost), so the message goes to the same region on a member that stays.</summary>
    private ICanTell RegionToUse(IActorRef region)
    {
        if (!Clustered) return region;
        var cluster = Akka.Cluster.Cluster.Get(Context.System);
        // the regions hand their shards off before this node leaves the cluster: the shutdown says it first
        if (cluster.SelfMember.Status == MemberStatus.Up && !Leaving) return region;
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
