using Actors.Xmpp.Server;
using Akka.Actor;
using Akka.Dispatch.MessageQueues;
using Xunit;

namespace Actors.Xmpp.Tests.Runtime;

/// <summary>The server's default mailbox queue: FIFO, unbounded, lock-free for many senders and one reader.</summary>
public sealed class LeanMailboxSpec
{
    private static Envelope E(int i) => new(i, ActorRefs.NoSender);

    [Fact]
    public void Messages_come_out_in_the_order_they_went_in_across_growth_and_wrap_around()
    {
        var q = new LeanMessageQueue();
        Assert.False(q.HasMessages);
        Assert.False(q.TryDequeue(out _));
        var next = 0;
        var expected = 0;
        // interleave so that the ring wraps around before and after it grows
        for (var round = 0; round < 50; round++)
        {
            for (var i = 0; i < round % 7 + 1; i++) q.Enqueue(ActorRefs.Nobody, E(next++));
            for (var i = 0; i < round % 5; i++)
            {
                if (!q.TryDequeue(out var e)) break;
                Assert.Equal(expected++, (int)e.Message);
            }
        }
        Assert.Equal(next - expected, q.Count);
        while (q.TryDequeue(out var e)) Assert.Equal(expected++, (int)e.Message);
        Assert.Equal(next, expected);
        Assert.False(q.HasMessages);
        Assert.Equal(0, q.Count);
    }

    [Fact]
    public void A_burst_of_thousands_is_kept_whole_and_the_queue_keeps_working_after_it()
    {
        var q = new LeanMessageQueue();
        for (var i = 0; i < 5000; i++) q.Enqueue(ActorRefs.Nobody, E(i));
        Assert.Equal(5000, q.Count);
        for (var i = 0; i < 5000; i++)
        {
            Assert.True(q.TryDequeue(out var e));
            Assert.Equal(i, (int)e.Message);
        }
        q.Enqueue(ActorRefs.Nobody, E(42));
        Assert.True(q.TryDequeue(out var last));
        Assert.Equal(42, (int)last.Message);
    }

    [Fact]
    public void Concurrent_senders_lose_nothing_and_each_senders_order_is_kept()
    {
        const int senders = 4, each = 50_000;
        var q = new LeanMessageQueue();
        var lastSeen = new int[senders];
        Array.Fill(lastSeen, -1);
        var received = 0;
        var producers = Enumerable.Range(0, senders).Select(s => Task.Run(() =>
        {
            for (var i = 0; i < each; i++) q.Enqueue(ActorRefs.Nobody, new Envelope((s, i), ActorRefs.NoSender));
        })).ToArray();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (received < senders * each && DateTime.UtcNow < deadline)
        {
            if (!q.TryDequeue(out var e)) { Thread.Yield(); continue; }
            var (s, i) = ((int, int))e.Message;
            Assert.Equal(lastSeen[s] + 1, i);
            lastSeen[s] = i;
            received++;
        }
        Task.WaitAll(producers);
        Assert.Equal(senders * each, received);
        Assert.False(q.HasMessages);
    }

    [Fact]
    public void Clean_up_hands_what_is_left_to_dead_letters_in_order()
    {
        var q = new LeanMessageQueue();
        for (var i = 0; i < 3; i++) q.Enqueue(ActorRefs.Nobody, E(i));
        var dead = new LeanMessageQueue();
        q.CleanUp(ActorRefs.Nobody, dead);
        Assert.False(q.HasMessages);
        for (var i = 0; i < 3; i++)
        {
            Assert.True(dead.TryDequeue(out var e));
            Assert.Equal(i, (int)e.Message);
        }
    }

    [Fact]
    public void The_deque_queue_gives_what_was_put_back_first_then_the_rest_in_order()
    {
        var q = new LeanDequeMessageQueue();
        for (var i = 0; i < 3; i++) q.Enqueue(ActorRefs.Nobody, E(i));
        Assert.True(q.TryDequeue(out var first));
        Assert.Equal(0, (int)first.Message);
        // an unstash puts messages back in front, last first (Akka's UnstashAll prepends in reverse)
        q.EnqueueFirst(E(-1));
        q.EnqueueFirst(E(-2));
        Assert.Equal(4, q.Count);
        var order = new List<int>();
        while (q.TryDequeue(out var e)) order.Add((int)e.Message);
        Assert.Equal([-2, -1, 1, 2], order);
        Assert.False(q.HasMessages);
    }

    private sealed class Stasher : UntypedActor, IWithUnboundedStash
    {
        public IStash Stash { get; set; } = null!;

        protected override void OnReceive(object message)
        {
            switch (message)
            {
                case "queue":
                    Sender.Tell(((ActorCell)Context).Mailbox.MessageQueue.GetType());
                    break;
                case "open":
                    Stash.UnstashAll();
                    Become(m => Sender.Tell(m));
                    break;
                default:
                    Stash.Stash();
                    break;
            }
        }
    }

    [Fact]
    public async Task An_actor_with_a_stash_gets_the_lean_deque_queue_and_its_stash_keeps_the_order()
    {
        using var system = ActorSystem.Create("lean-deque", LeanDequeMailboxType.Hocon);
        var actor = system.ActorOf(Props.Create(() => new Stasher()));
        Assert.Equal(typeof(LeanDequeMessageQueue), await actor.Ask<Type>("queue", TimeSpan.FromSeconds(5)));
        var probe = new List<object>();
        var inbox = Inbox.Create(system);
        for (var i = 0; i < 5; i++) inbox.Send(actor, i);
        inbox.Send(actor, "open");
        inbox.Send(actor, 5);
        for (var i = 0; i < 6; i++) probe.Add(inbox.Receive(TimeSpan.FromSeconds(5)));
        Assert.Equal([0, 1, 2, 3, 4, 5], probe);
    }
}
