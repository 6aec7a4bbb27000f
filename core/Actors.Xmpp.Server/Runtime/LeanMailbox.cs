using Akka.Actor;
using Akka.Dispatch;
using Akka.Dispatch.MessageQueues;

namespace Actors.Xmpp.Server;

/// <summary>
/// The server's default mailbox (akka.actor.default-mailbox): unbounded, like Akka's, but with a queue that costs
/// almost nothing while the actor is idle. Akka's unbounded mailbox is a <c>ConcurrentQueue</c> whose first segment
/// holds 32 slots (about 1 KiB per actor, allocated at creation); with the connection and session actors of every
/// online session that was one of the largest items of an idle session's memory (docs/benchmarks.md).
/// </summary>
public sealed class LeanMailboxType(Settings settings, Akka.Configuration.Config config)
    : MailboxType(settings, config), IProducesMessageQueue<LeanMessageQueue>
{
    public override IMessageQueue Create(IActorRef? owner, ActorSystem? system) => new LeanMessageQueue();
}

/// <summary>
/// The mailbox of actors with a stash (akka.actor.mailbox.unbounded-deque-based: the persistent user actors, plugin
/// stores and entities, which Akka.Persistence requires to have one): <see cref="LeanMessageQueue"/> with Akka's
/// prepend buffer for what is unstashed. Akka's own wraps the <c>ConcurrentQueue</c> of its unbounded mailbox, about
/// 1 KiB per actor whether or not anything waits (2.1 KiB of the 16.4 KiB an idle connected device left on the heap,
/// docs/benchmarks.md).
/// </summary>
public sealed class LeanDequeMailboxType(Settings settings, Akka.Configuration.Config config)
    : MailboxType(settings, config), IProducesMessageQueue<LeanDequeMessageQueue>
{
    /// <summary>The HOCON that makes it the mailbox of actors that require deque semantics.</summary>
    public static string Hocon =>
        $"akka.actor.mailbox.unbounded-deque-based.mailbox-type = \"{typeof(LeanDequeMailboxType).FullName}, {typeof(LeanDequeMailboxType).Assembly.GetName().Name}\"";

    public override IMessageQueue Create(IActorRef? owner, ActorSystem? system) => new LeanDequeMessageQueue();
}

/// <summary><see cref="LeanMessageQueue"/> behind Akka's prepend buffer (<c>EnqueueFirst</c>, called by the actor
/// itself when it unstashes). Akka.Persistence casts the queue to the unbounded deque semantics.</summary>
public sealed class LeanDequeMessageQueue() : DequeWrapperMessageQueue(new LeanMessageQueue()), IUnboundedDequeBasedMessageQueueSemantics;

/// <summary>
/// A lock-free multi-producer, single-consumer FIFO (D. Vyukov's linked queue): a producer swaps its node in as the
/// head and then links it from the previous one; the consumer follows the links from a stub node. Idle, it is the
/// queue object and one stub node (≈80 bytes); each message costs one small node. It is lock-free on purpose: a lock
/// (tried first) let a sender preempted inside it stall every other sender to that actor for a scheduler quantum,
/// and the p99 of chat messages at 2,000/s went from 1.5 to 6–9 ms on this 2-core machine.
/// </summary>
public sealed class LeanMessageQueue : IMessageQueue, IUnboundedMessageQueueSemantics
{
    private sealed class Node
    {
        public Envelope Value;
        public Node? Next;
    }

    private Node _head; // the newest node; producers swap themselves in here
    private Node _tail; // the consumer's stub: its Next is the oldest message
    private int _count;

    public LeanMessageQueue() => _head = _tail = new Node();

    /// <summary>True once an enqueue has linked its node (a message in the middle of being enqueued is not seen yet;
    /// its producer schedules the mailbox after linking, so nothing is left behind).</summary>
    public bool HasMessages => Volatile.Read(ref Volatile.Read(ref _tail).Next) is not null;

    public int Count => Math.Max(0, Volatile.Read(ref _count));

    public void Enqueue(IActorRef receiver, Envelope envelope)
    {
        var node = new Node { Value = envelope };
        Interlocked.Increment(ref _count);
        var previous = Interlocked.Exchange(ref _head, node);
        Volatile.Write(ref previous.Next, node);
    }

    public bool TryDequeue(out Envelope envelope)
    {
        var tail = _tail;
        var next = Volatile.Read(ref tail.Next);
        if (next is null)
        {
            envelope = default;
            return false;
        }
        envelope = next.Value;
        next.Value = default; // next becomes the stub: do not keep the message alive
        Volatile.Write(ref _tail, next);
        Interlocked.Decrement(ref _count);
        return true;
    }

    public void CleanUp(IActorRef owner, IMessageQueue deadletters)
    {
        while (TryDequeue(out var envelope)) deadletters.Enqueue(owner, envelope);
    }
}
