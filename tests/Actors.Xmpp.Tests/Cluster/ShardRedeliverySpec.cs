using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using Actors.Xmpp.Server.Cluster;
using Actors.Xmpp.Server.Users;
using Akka.Actor;

namespace Actors.Xmpp.Tests.Cluster;

/// <summary>
/// <see cref="ShardRedelivery"/>: what a shard region drops at a hand-off goes to that region again; what it sent to a
/// node that is gone (a dead letter) is held and sent again. The drop is
/// made here the way ShardRegion makes it (each buffered message told to the dead letters as a Dropped with the
/// hand-off reason); the rolling restart under traffic: tests/harness/cluster-rolling-restart.sh.
/// </summary>
public sealed class ShardRedeliverySpec : Akka.TestKit.Xunit2.TestKit
{
    private static readonly Jid Alice = Jid.Parse("alice@localhost");
    private static readonly Address NodeC = new("akka.tcp", "actors", "10.0.0.3", 4053);

    [Fact]
    public void Messages_dropped_at_a_hand_off_go_to_their_region_again_in_order_with_their_sender()
    {
        var region = CreateTestProbe();
        var sender = CreateTestProbe();
        ShardRedelivery.Redeliver(Sys, typeof(UsersActor.Envelope), region.Ref);
        AwaitRegistered();
        var first = new UsersActor.Envelope(Alice, "first");
        var second = new UsersActor.Envelope(Alice, "second");
        Drop(first, sender.Ref, ShardRedelivery.HandOffReason);
        Drop(second, sender.Ref, ShardRedelivery.HandOffReason);

        Assert.Same(first, region.ExpectMsg<UsersActor.Envelope>());
        Assert.Equal(sender.Ref, region.LastSender);
        Assert.Same(second, region.ExpectMsg<UsersActor.Envelope>());
        Assert.Equal(sender.Ref, region.LastSender);
    }

    [Fact]
    public void Other_drops_and_unregistered_types_are_not_sent_again()
    {
        var region = CreateTestProbe();
        ShardRedelivery.Redeliver(Sys, typeof(UsersActor.Envelope), region.Ref);
        AwaitRegistered();
        Drop(new UsersActor.Envelope(Alice, "full"), TestActor, "Buffer for [1] is full"); // sending again would refill it
        Drop("not an envelope", TestActor, ShardRedelivery.HandOffReason);

        region.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void A_message_is_sent_again_at_most_MaxHandOffs_times()
    {
        var region = CreateTestProbe();
        ShardRedelivery.Redeliver(Sys, typeof(UsersActor.Envelope), region.Ref);
        AwaitRegistered();
        var message = new UsersActor.Envelope(Alice, "moving");
        for (var i = 0; i <= ShardRedelivery.MaxHandOffs; i++)
        {
            Drop(message, TestActor, ShardRedelivery.HandOffReason);
        }

        for (var i = 0; i < ShardRedelivery.MaxHandOffs; i++) region.ExpectMsg<UsersActor.Envelope>();
        region.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void A_message_sent_to_a_node_that_is_unreachable_is_held_then_sent_again_in_order()
    {
        var region = CreateTestProbe();
        var sender = CreateTestProbe();
        var redelivery = Sys.ActorOf(ShardRedelivery.Props());
        redelivery.Tell(new ShardRedelivery.Register(typeof(UsersActor.Envelope), region.Ref));
        redelivery.Tell(new ShardRedelivery.MemberUnreachable(NodeC)); // the cluster's event: node C's failure detector spoke
        redelivery.Ask<long>(ShardRedelivery.GetCount.Instance, TimeSpan.FromSeconds(3)).Wait();
        var first = new UsersActor.Envelope(Alice, "first");
        var second = new UsersActor.Envelope(Alice, "second");
        // what remoting does with a message to a gated address (RemoteDeadLetterActorRef: the message, its sender)
        Sys.DeadLetters.Tell(first, sender.Ref);
        Sys.DeadLetters.Tell(second, sender.Ref);
        Sys.DeadLetters.Tell("not an envelope", sender.Ref);

        // held while the member is unreachable: sent now, it would only come back behind newer messages
        region.ExpectNoMsg(ShardRedelivery.RetryInterval + TimeSpan.FromMilliseconds(500));
        redelivery.Tell(new ShardRedelivery.MemberHealed(NodeC)); // downed and removed: its shards get new homes
        Assert.Same(first, region.ExpectMsg<UsersActor.Envelope>(TimeSpan.FromMilliseconds(500)));
        Assert.Equal(sender.Ref, region.LastSender);
        Assert.Same(second, region.ExpectMsg<UsersActor.Envelope>());
        region.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void A_message_lost_once_the_gone_node_is_removed_is_sent_again_at_once()
    {
        var region = CreateTestProbe();
        var redelivery = Sys.ActorOf(ShardRedelivery.Props());
        redelivery.Tell(new ShardRedelivery.Register(typeof(UsersActor.Envelope), region.Ref));
        redelivery.Tell(new ShardRedelivery.MemberUnreachable(NodeC));
        redelivery.Tell(new ShardRedelivery.MemberHealed(NodeC));
        redelivery.Ask<long>(ShardRedelivery.GetCount.Instance, TimeSpan.FromSeconds(3)).Wait();
        var message = new UsersActor.Envelope(Alice, "after the removal");

        Sys.DeadLetters.Tell(message, TestActor);

        Assert.Same(message, region.ExpectMsg<UsersActor.Envelope>(TimeSpan.FromMilliseconds(500)));
        Assert.Equal(TestActor, region.LastSender);
    }

    [Fact]
    public void A_message_lost_again_and_again_after_a_removal_is_sent_back_MaxBounces_times_then_held()
    {
        var region = CreateTestProbe();
        var redelivery = Sys.ActorOf(ShardRedelivery.Props());
        redelivery.Tell(new ShardRedelivery.Register(typeof(UsersActor.Envelope), region.Ref));
        redelivery.Tell(new ShardRedelivery.MemberUnreachable(NodeC));
        redelivery.Tell(new ShardRedelivery.MemberHealed(NodeC));
        redelivery.Ask<long>(ShardRedelivery.GetCount.Instance, TimeSpan.FromSeconds(3)).Wait();
        // the regions have not learnt the new home yet: each send comes back
        var message = new UsersActor.Envelope(Alice, "bouncing");
        for (var i = 0; i <= ShardRedelivery.MaxBounces; i++) Sys.DeadLetters.Tell(message, TestActor); // sent back at once each time

        for (var i = 0; i < ShardRedelivery.MaxBounces; i++) region.ExpectMsg<UsersActor.Envelope>();
        region.ExpectNoMsg(ShardRedelivery.RetryInterval + TimeSpan.FromMilliseconds(500)); // then held
    }

    /// <summary>The reason is matched as text: the Akka.Cluster.Sharding this server runs must still give it.</summary>
    [Fact]
    public void The_hand_off_reason_is_the_one_the_sharding_assembly_gives()
    {
        var assembly = typeof(Akka.Cluster.Sharding.ClusterSharding).Assembly.Location;
        using var pe = new PEReader(File.OpenRead(assembly));
        var metadata = pe.GetMetadataReader();
        var found = false;
        for (var handle = MetadataTokens.UserStringHandle(1); !handle.IsNil; handle = metadata.GetNextHandle(handle))
            if (metadata.GetUserString(handle) == ShardRedelivery.HandOffReason) found = true;
        Assert.True(found, "Akka.Cluster.Sharding no longer drops with this reason: ShardRedelivery must follow it");
    }

    /// <summary>What ShardRegion's buffer does with each message it drops (Akka.Util.MessageBufferMap.Drop).</summary>
    private void Drop(object message, IActorRef sender, string reason) =>
        Sys.DeadLetters.Tell(new Akka.Event.Dropped(message, reason, sender, ActorRefs.NoSender));

    /// <summary>The registration is a message to the node's actor: it is in once that actor answers.</summary>
    private void AwaitRegistered() =>
        Sys.ActorSelection("/user/" + ShardRedelivery.Name).Ask<long>(ShardRedelivery.GetCount.Instance, TimeSpan.FromSeconds(3)).Wait();
}
