using Akka.Actor;

namespace Actors.Xmpp.Server;

/// <summary>
/// One hashed timer wheel for every connection's and session's deadlines (stream negotiation, idle timeout,
/// whitespace keep-alive, a detached session's resumption window), in place of an Akka timer per actor: a deadline
/// is one small entry in a slot, and one periodic tick for the whole server (<see cref="TickMillis"/>, coarse: 500 ms
/// by default) tells each actor whose deadline passed its message. An idle connection therefore costs no wake-up
/// until its own deadline, and no timer scheduler object. Deadlines fire late by up to one tick, never early.
/// Thread-safe; <see cref="Schedule"/> and <see cref="Timer.Cancel"/> are O(1). The clock is injected, and
/// <see cref="Advance"/> can be driven by hand, so that it can be tested deterministically.
/// </summary>
public sealed class TimerWheel : IDisposable
{
    /// <summary>One scheduled message; cancel it when it is no longer wanted (so that no dead actor is told).</summary>
    public sealed class Timer
    {
        internal readonly TimerWheel Wheel;
        internal readonly IActorRef Target;
        internal readonly object Message;
        internal long DueTick;
        internal int Slot = -1;        // -1: not in the wheel (fired or cancelled)
        internal Timer? Previous, Next;

        internal Timer(TimerWheel wheel, IActorRef target, object message, long dueTick)
        {
            Wheel = wheel;
            Target = target;
            Message = message;
            DueTick = dueTick;
        }

        /// <summary>Whether it is still waiting to fire.</summary>
        public bool IsPending
        {
            get { lock (Wheel._lock) return Slot >= 0; }
        }

        /// <summary>Removes it from the wheel; a no-op once it fired.</summary>
        public void Cancel() => Wheel.Remove(this);
    }

    private readonly object _lock = new();
    private readonly Func<long> _clock;
    private readonly Timer?[] _slots;
    private readonly System.Threading.Timer? _driver;
    private long _tick;           // the last tick processed
    private int _count;

    /// <param name="clock">Milliseconds, monotonic (<see cref="Environment.TickCount64"/> in production).</param>
    /// <param name="tickMillis">The wheel's resolution.</param>
    /// <param name="slots">Slots per revolution; a deadline further away than a revolution waits in its slot for its round.</param>
    /// <param name="autoAdvance">Advance on a thread-pool timer every tick (production); false: the caller calls <see cref="Advance"/> (tests).</param>
    public TimerWheel(Func<long> clock, long tickMillis = 500, int slots = 512, bool autoAdvance = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tickMillis, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(slots, 1);
        _clock = clock;
        TickMillis = tickMillis;
        _slots = new Timer?[slots];
        _tick = clock() / tickMillis;
        if (autoAdvance)
            _driver = new System.Threading.Timer(static s => ((TimerWheel)s!).Advance(), this,
                TimeSpan.FromMilliseconds(tickMillis), TimeSpan.FromMilliseconds(tickMillis));
    }

    /// <summary>The process's wheel for servers built without one (tests that construct a ServerContext by hand).</summary>
    public static TimerWheel Default { get; } = new(static () => Environment.TickCount64);

    public long TickMillis { get; }

    /// <summary>Deadlines waiting.</summary>
    public int Count
    {
        get { lock (_lock) return _count; }
    }

    /// <summary>Tells <paramref name="target"/> <paramref name="message"/> once <paramref name="delay"/> has passed.</summary>
    public Timer Schedule(IActorRef target, object message, TimeSpan delay)
    {
        var delayMillis = Math.Max(0L, (long)delay.TotalMilliseconds);
        lock (_lock)
        {
            // the first tick at or after now + delay: never early
            var due = (_clock() + delayMillis + TickMillis - 1) / TickMillis;
            if (due <= _tick) due = _tick + 1;
            var timer = new Timer(this, target, message, due);
            Insert(timer);
            return timer;
        }
    }

    /// <summary>Fires every deadline up to the clock's now (the periodic driver calls it; tests call it by hand).</summary>
    public void Advance()
    {
        List<Timer>? due = null;
        lock (_lock)
        {
            var now = _clock() / TickMillis;
            if (now <= _tick) return;
            if (_count > 0)
            {
                // at most one revolution to visit: further ticks would only visit the same slots again
                var last = Math.Min(now, _tick + _slots.Length);
                for (var t = _tick + 1; t <= last; t++)
                {
                    var slot = (int)(t % _slots.Length);
                    var timer = _slots[slot];
                    while (timer is not null)
                    {
                        var next = timer.Next;
                        if (timer.DueTick <= now)
                        {
                            Unlink(timer);
                            (due ??= new List<Timer>()).Add(timer);
                        }
                        timer = next;
                    }
                }
            }
            _tick = now;
        }
        if (due is null) return;
        // in deadline order, told outside the lock
        due.Sort(static (a, b) => a.DueTick.CompareTo(b.DueTick));
        foreach (var timer in due) timer.Target.Tell(timer.Message, ActorRefs.NoSender);
    }

    private void Insert(Timer timer)
    {
        var slot = (int)(timer.DueTick % _slots.Length);
        timer.Slot = slot;
        timer.Previous = null;
        timer.Next = _slots[slot];
        if (timer.Next is not null) timer.Next.Previous = timer;
        _slots[slot] = timer;
        _count++;
    }

    private void Remove(Timer timer)
    {
        lock (_lock)
        {
            if (timer.Slot >= 0) Unlink(timer);
        }
    }

    // under _lock
    private void Unlink(Timer timer)
    {
        if (timer.Previous is not null) timer.Previous.Next = timer.Next;
        else _slots[timer.Slot] = timer.Next;
        if (timer.Next is not null) timer.Next.Previous = timer.Previous;
        timer.Previous = timer.Next = null;
        timer.Slot = -1;
        _count--;
    }

    public void Dispose() => _driver?.Dispose();
}
