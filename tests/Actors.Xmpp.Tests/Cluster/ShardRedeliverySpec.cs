using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using Actors.Xmpp.Server.Cluster;
using Actors.Xmpp.Server.Users;
using Akka.Actor;

namespace Actors.Xmpp.Tests.Cluster;

/// <summary>
/// <see cref="ShardRedelivery"/>: what a shard region drops at a hand-off goes to that region again. The drop is
/// made here the way ShardRegion makes it (each buffered message told to the dead letters as a Dropped with the
/// hand-off reason); the rolling restart under traffic: tests/harness/cluster-rolling-restart.sh.
/// </summary>
public sealed class ShardRedeliverySpec : Akka.TestKit.Xunit2.TestKit
{
    private static readonly Jid Alice = Jid.Parse("alice@localhost");

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
        Sys.DeadLetters.Tell(new UsersActor.Envelope(Alice, "to a crashed node"), TestActor); // a plain dead letter

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
