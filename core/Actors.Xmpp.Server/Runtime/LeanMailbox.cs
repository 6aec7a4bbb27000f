using Akka.Actor;
using Akka.Dispatch;
using Akka.Dispatch.MessageQueues;

namespace Actors.Xmpp.Server;

/// <summary>
/// The server's default mailbox (akka.actor.default-mailbox): unbounded, like Akka's, but with a queue that costs
/// almost nothing while the actor is idle. Akka's unbounded mailbox is a <c>ConcurrentQueue</c> whose first segment
/// holds 32 slots (about 1 KiB per actor, allocated at creation); with three actors per online session that was the
/// largest single item of an idle session's memory (docs/benchmarks.md). This queue allocates 4 slots on the first
/// message, grows by doubling under a burst and goes back to 4 slots when a burst has drained.
/// </summary>
public sealed class LeanMailboxType(Settings settings, Akka.Configuration.Config config)
    : MailboxType(settings, config), IProducesMessageQueue<LeanMessageQueue>
{
    public override IMessageQueue Create(IActorRef? owner, ActorSystem? system) => new LeanMessageQueue();
}

/// <summary>
/// Multi-producer, single-consumer FIFO behind a lock (uncontended in the common case: one sender at a time). It is
/// also a deque (<see cref="EnqueueFirst"/>): actors with a stash — the persistent user actors — ask for one, and
/// unstashing puts messages back at the front.
/// </summary>
public sealed class LeanMessageQueue : IMessageQueue, IUnboundedDequeBasedMessageQueueSemantics
{
    private const int InitialSlots = 4;
    private const int KeepSlots = 16; // a drained queue larger than this shrinks back
    private Envelope[]? _slots;
    private int _head;
    private int _count;

    public bool HasMessages => Volatile.Read(ref _count) > 0;

    public int Count => Volatile.Read(ref _count);

    public void Enqueue(IActorRef receiver, Envelope envelope)
    {
        lock (this) // the queue is private to one mailbox: nothing else locks it
        {
            var slots = _slots ??= new Envelope[InitialSlots];
            if (_count == slots.Length) slots = Grow(slots);
            slots[(_head + _count) % slots.Length] = envelope;
            Volatile.Write(ref _count, _count + 1);
        }
    }

    public void EnqueueFirst(Envelope envelope)
    {
        lock (this)
        {
            var slots = _slots ??= new Envelope[InitialSlots];
            if (_count == slots.Length) slots = Grow(slots);
            _head = (_head - 1 + slots.Length) % slots.Length;
            slots[_head] = envelope;
            Volatile.Write(ref _count, _count + 1);
        }
    }

    public bool TryDequeue(out Envelope envelope)
    {
        if (Volatile.Read(ref _count) == 0)
        {
            envelope = default;
            return false;
        }
        lock (this)
        {
            if (_count == 0)
            {
                envelope = default;
                return false;
            }
            var slots = _slots!;
            envelope = slots[_head];
            slots[_head] = default; // do not keep the message alive
            _head = (_head + 1) % slots.Length;
            Volatile.Write(ref _count, _count - 1);
            if (_count == 0)
            {
                _head = 0;
                if (slots.Length > KeepSlots) _slots = new Envelope[InitialSlots];
            }
            return true;
        }
    }

    public void CleanUp(IActorRef owner, IMessageQueue deadletters)
    {
        while (TryDequeue(out var envelope)) deadletters.Enqueue(owner, envelope);
    }

    private Envelope[] Grow(Envelope[] slots)
    {
        var bigger = new Envelope[slots.Length * 2];
        for (var i = 0; i < _count; i++) bigger[i] = slots[(_head + i) % slots.Length];
        _head = 0;
        return _slots = bigger;
    }
}
