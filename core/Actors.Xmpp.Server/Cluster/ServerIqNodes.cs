using Actors.Xmpp.Server.Routing;
using Akka.Actor;
using Akka.Cluster;

namespace Actors.Xmpp.Server.Cluster;

/// <summary>
/// Teaches this node's <see cref="PendingServerIqs"/> the tags of the other members' pending-IQ actors, so that a
/// client's answer to an IQ the server sent from another node (its id carries that node's tag) is handed to that node,
/// whichever node the client is connected to (RFC 6120 §8.2.3: the answer goes back to the entity that asked). It asks
/// each member that comes up for its tag (again every second until it answers: that node's actor may not have started
/// yet) and forgets the tags of members that are removed.
/// </summary>
public sealed class ServerIqNodes : ReceiveActor, IWithTimers
{
    public const string Name = "server-iq-nodes";

    private sealed record AskAgain
    {
        public static readonly AskAgain Instance = new();
    }

    private readonly PendingServerIqs _pending;
    private readonly HashSet<Address> _unknown = new();
    private readonly Address _self;

    public ITimerScheduler Timers { get; set; } = null!;

    public ServerIqNodes(PendingServerIqs pending)
    {
        _pending = pending;
        _self = Akka.Cluster.Cluster.Get(Context.System).SelfAddress;
        Receive<ClusterEvent.CurrentClusterState>(s =>
        {
            foreach (var m in s.Members)
                if (m.Status == MemberStatus.Up) Learn(m.Address);
        });
        Receive<ClusterEvent.MemberUp>(e => Learn(e.Member.Address));
        Receive<ClusterEvent.MemberRemoved>(e =>
        {
            _unknown.Remove(e.Member.Address);
            _pending.RemoveNode(e.Member.Address);
        });
        Receive<PendingServerIqActor.NodeTag>(t =>
        {
            if (!_unknown.Remove(Sender.Path.Address)) return; // a member that left meanwhile, or known already
            _pending.AddNode(t.Tag, Sender);
        });
        Receive<AskAgain>(_ =>
        {
            foreach (var address in _unknown) Ask(address);
            if (_unknown.Count == 0) Timers.Cancel(AskAgain.Instance);
        });
    }

    private void Learn(Address address)
    {
        if (address.Equals(_self) || !_unknown.Add(address)) return;
        Ask(address);
        if (!Timers.IsTimerActive(AskAgain.Instance)) Timers.StartPeriodicTimer(AskAgain.Instance, AskAgain.Instance, TimeSpan.FromSeconds(1));
    }

    private void Ask(Address address) =>
        Context.ActorSelection(new RootActorPath(address) / "user" / PendingServerIqs.ActorName).Tell(PendingServerIqActor.WhatTag.Instance);

    protected override void PreStart() =>
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot,
            typeof(ClusterEvent.MemberUp), typeof(ClusterEvent.MemberRemoved));

    protected override void PostStop() => Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
}
