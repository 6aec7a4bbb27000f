using Akka.Actor;

namespace Actors.Xmpp.Server;

/// <summary>
/// A hashed timer wheel that sleeps while nothing is due. Deadlines (a connection's negotiation, idle timeout or
/// keep-alive, a detached session's resumption window; Akka's own timers through <see cref="TimerWheelScheduler"/>)
/// are small entries in slots, and one one-shot thread-pool timer for the whole wheel is armed for the earliest slot
/// that holds something: with nothing due the process is not woken at all, however many deadlines wait further on.
/// Deadlines fire late by up to one tick (<see cref="TickMillis"/>: 500 ms by default), never early, in deadline order
/// (then in the order they were scheduled). Thread-safe; scheduling and <see cref="Timer.Cancel"/> are O(1), finding
/// the next wake-up is one pass over the slots' earliest deadlines. The clock is injected, and <see cref="Advance"/>
/// can be driven by hand, so that it can be tested deterministically.
/// </summary>
public sealed class TimerWheel : IDisposable
{
    /// <summary>One deadline in the wheel. The wheel's own kind is <see cref="Timer"/>; the Akka scheduler has its own.</summary>
    public abstract class Entry
    {
        internal long DueAt;           // clock units
        internal long DueTick;
        internal long Sequence;        // orders entries due at the same instant
        internal int Slot = -1;        // -1: not in the wheel (fired or cancelled)
        internal Entry? Previous, Next;

        /// <summary>Runs once the deadline passed, outside the wheel's lock, on the thread that advanced it.</summary>
        internal abstract void Fire();

        /// <summary>Cancelled from outside the wheel (Akka's <c>ICancelable</c>): dropped without firing when seen.</summary>
        internal virtual bool IsCancelled => false;
    }

    /// <summary>One scheduled message; cancel it when it is no longer wanted (so that no dead actor is told).</summary>
    public sealed class Timer : Entry
    {
        internal readonly TimerWheel Wheel;
        internal readonly IActorRef Target;
        internal readonly object Message;

        internal Timer(TimerWheel wheel, IActorRef target, object message)
        {
            Wheel = wheel;
            Target = target;
            Message = message;
        }

        /// <summary>Whether it is still waiting to fire.</summary>
        public bool IsPending
        {
            get { lock (Wheel._lock) return Slot >= 0; }
        }

        /// <summary>Removes it from the wheel; a no-op once it fired.</summary>
        public void Cancel() => Wheel.Remove(this);

        internal override void Fire() => Target.Tell(Message, ActorRefs.NoSender);
    }

    private const long Never = long.MaxValue;

    private readonly object _lock = new();
    private readonly Func<long> _clock;
    private readonly long _unitsPerTick;
    private readonly double _unitsPerTimeSpanTick;
    private readonly Entry?[] _slots;
    private readonly long[] _slotEarliest;  // per slot: at most the smallest DueTick in it (exact once visited); Never when empty
    private readonly System.Threading.Timer? _driver;
    private long _tick;             // the last tick processed
    private long _armedTick = Never; // the tick the driver is armed for
    private long _sequence;
    private int _count;
    private bool _disposed;

    /// <param name="clock">Milliseconds, monotonic (<see cref="Environment.TickCount64"/> in production).</param>
    /// <param name="tickMillis">The wheel's resolution.</param>
    /// <param name="slots">Slots per revolution; a deadline further away than a revolution waits in its slot for its round.</param>
    /// <param name="autoAdvance">Advance on a one-shot thread-pool timer armed for the next deadline (production);
    /// false: the caller calls <see cref="Advance"/> (tests).</param>
    public TimerWheel(Func<long> clock, long tickMillis = 500, int slots = 512, bool autoAdvance = true)
        : this(clock, 1000, tickMillis, slots, autoAdvance)
    {
    }

    /// <param name="clock">Monotonic, in units of <paramref name="clockFrequency"/> per second.</param>
    /// <param name="clockFrequency">Clock units per second (1000 for milliseconds, <see cref="System.Diagnostics.Stopwatch.Frequency"/>).</param>
    /// <param name="tickUnits">The wheel's resolution, in clock units.</param>
    /// <param name="slots">Slots per revolution.</param>
    /// <param name="autoAdvance">Advance on the one-shot timer (production), or by hand (tests).</param>
    internal TimerWheel(Func<long> clock, long clockFrequency, long tickUnits, int slots, bool autoAdvance)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(clockFrequency, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(tickUnits, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(slots, 1);
        _clock = clock;
        ClockFrequency = clockFrequency;
        _unitsPerTick = tickUnits;
        _unitsPerTimeSpanTick = clockFrequency / (double)TimeSpan.TicksPerSecond;
        _slots = new Entry?[slots];
        _slotEarliest = new long[slots];
        Array.Fill(_slotEarliest, Never);
        _tick = clock() / tickUnits;
        if (autoAdvance)
            _driver = new System.Threading.Timer(static s => ((TimerWheel)s!).OnDriverFired(), this,
                Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>The process's wheel for servers built without one (tests that construct a ServerContext by hand).</summary>
    public static TimerWheel Default { get; } = new(static () => Environment.TickCount64);

    public long TickMillis => _unitsPerTick * 1000 / ClockFrequency;

    internal long ClockFrequency { get; }

    /// <summary>Deadlines waiting.</summary>
    public int Count
    {
        get { lock (_lock) return _count; }
    }

    /// <summary>When the wheel will next wake up, from now (null: nothing is waiting, it sleeps until something is
    /// scheduled). Exact when it was armed; a deadline cancelled since can make it wake for nothing once.</summary>
    public TimeSpan? NextWakeUp
    {
        get
        {
            lock (_lock)
            {
                if (_armedTick == Never) return null;
                var units = Math.Max(0, _armedTick * _unitsPerTick - _clock());
                return TimeSpan.FromTicks((long)Math.Round(units / _unitsPerTimeSpanTick));
            }
        }
    }

    /// <summary>Tells <paramref name="target"/> <paramref name="message"/> once <paramref name="delay"/> has passed.</summary>
    public Timer Schedule(IActorRef target, object message, TimeSpan delay)
    {
        var timer = new Timer(this, target, message);
        lock (_lock) Insert(timer, _clock() + Units(delay));
        return timer;
    }

    /// <summary>Puts <paramref name="entry"/> (not in the wheel) in, due <paramref name="delay"/> from now.</summary>
    internal void Schedule(Entry entry, TimeSpan delay)
    {
        lock (_lock) Insert(entry, _clock() + Units(delay));
    }

    /// <summary>Puts <paramref name="entry"/> back in, due <paramref name="interval"/> after its last deadline (fixed
    /// rate), or at the next tick when that already passed.</summary>
    internal void Reschedule(Entry entry, TimeSpan interval)
    {
        lock (_lock) Insert(entry, Math.Max(entry.DueAt + Units(interval), _clock()));
    }

    /// <summary>Fires every deadline up to the clock's now (the driver calls it when armed; tests call it by hand).</summary>
    public void Advance()
    {
        List<Entry>? due = null;
        lock (_lock)
        {
            var now = _clock() / _unitsPerTick;
            if (now > _tick)
            {
                if (_count > 0)
                {
                    // at most one revolution to visit: further ticks would only visit the same slots again
                    var last = Math.Min(now, _tick + _slots.Length);
                    for (var t = _tick + 1; t <= last; t++)
                    {
                        var slot = (int)(t % _slots.Length);
                        var earliest = Never;
                        var entry = _slots[slot];
                        while (entry is not null)
                        {
                            var next = entry.Next;
                            if (entry.IsCancelled) Unlink(entry);
                            else if (entry.DueTick <= now)
                            {
                                Unlink(entry);
                                (due ??= new List<Entry>()).Add(entry);
                            }
                            else if (entry.DueTick < earliest) earliest = entry.DueTick;
                            entry = next;
                        }
                        _slotEarliest[slot] = earliest;
                    }
                }
                _tick = now;
            }
            Arm(Earliest());
        }
        if (due is null) return;
        // in deadline order, then in the order scheduled, fired outside the lock
        if (due.Count > 1)
            due.Sort(static (a, b) => a.DueAt != b.DueAt ? a.DueAt.CompareTo(b.DueAt) : a.Sequence.CompareTo(b.Sequence));
        foreach (var entry in due) entry.Fire();
    }

    /// <summary>Stops the driver and hands back what was still waiting (not cancelled), in deadline order.</summary>
    internal List<Entry> Stop()
    {
        var left = new List<Entry>();
        lock (_lock)
        {
            _disposed = true;
            _driver?.Dispose();
            for (var slot = 0; slot < _slots.Length; slot++)
            {
                while (_slots[slot] is { } entry)
                {
                    Unlink(entry);
                    if (!entry.IsCancelled) left.Add(entry);
                }
            }
            _armedTick = Never;
        }
        left.Sort(static (a, b) => a.DueAt != b.DueAt ? a.DueAt.CompareTo(b.DueAt) : a.Sequence.CompareTo(b.Sequence));
        return left;
    }

    private long Units(TimeSpan delay)
    {
        if (delay <= TimeSpan.Zero) return 0;
        // capped at about a century of clock units (an "infinite" delay must not overflow the tick arithmetic)
        var units = Math.Ceiling(delay.Ticks * _unitsPerTimeSpanTick);
        var cap = 100.0 * 365 * 24 * 3600 * ClockFrequency;
        return (long)Math.Min(units, cap);
    }

    // under _lock
    private void Insert(Entry entry, long dueAt)
    {
        // the first tick at or after the deadline: never early
        var due = (dueAt + _unitsPerTick - 1) / _unitsPerTick;
        if (due <= _tick) due = _tick + 1;
        entry.DueAt = dueAt;
        entry.DueTick = due;
        entry.Sequence = ++_sequence;
        var slot = (int)(due % _slots.Length);
        entry.Slot = slot;
        entry.Previous = null;
        entry.Next = _slots[slot];
        if (entry.Next is not null) entry.Next.Previous = entry;
        _slots[slot] = entry;
        if (due < _slotEarliest[slot]) _slotEarliest[slot] = due;
        _count++;
        if (due < _armedTick) Arm(due);
    }

    /// <summary>Moves <paramref name="entry"/> (in the wheel or not) to <paramref name="delay"/> from now.</summary>
    internal void Move(Entry entry, TimeSpan delay)
    {
        lock (_lock)
        {
            if (entry.Slot >= 0) Unlink(entry);
            Insert(entry, _clock() + Units(delay));
        }
    }

    internal void Remove(Entry entry)
    {
        lock (_lock)
        {
            if (entry.Slot >= 0) Unlink(entry);
        }
    }

    // under _lock
    private void Unlink(Entry entry)
    {
        if (entry.Previous is not null) entry.Previous.Next = entry.Next;
        else if ((_slots[entry.Slot] = entry.Next) is null) _slotEarliest[entry.Slot] = Never;
        if (entry.Next is not null) entry.Next.Previous = entry.Previous;
        entry.Previous = entry.Next = null;
        entry.Slot = -1;
        _count--;
    }

    // under _lock: the earliest live deadline's tick. A slot's bound may be stale (an entry cancelled since, or one
    // cancelled through its ICancelable, which the wheel only sees when it looks): the earliest slot is walked, its
    // cancelled entries dropped and its bound made exact, until the earliest bound is a live entry's. So cancelled
    // entries (Akka cancels a recovery or receive timeout for every actor that recovers or receives) are dropped when
    // the wheel arms, and do not wake it for nothing.
    private long Earliest()
    {
        while (true)
        {
            var earliest = Never;
            var slot = -1;
            for (var i = 0; i < _slotEarliest.Length; i++)
            {
                if (_slotEarliest[i] < earliest)
                {
                    earliest = _slotEarliest[i];
                    slot = i;
                }
            }
            if (slot < 0) return Never;
            var exact = Never;
            var entry = _slots[slot];
            while (entry is not null)
            {
                var next = entry.Next;
                if (entry.IsCancelled) Unlink(entry);
                else if (entry.DueTick < exact) exact = entry.DueTick;
                entry = next;
            }
            _slotEarliest[slot] = exact;
            if (exact == earliest) return earliest;
        }
    }

    // under _lock: the driver fires once, at the start of tick (or never)
    private void Arm(long tick)
    {
        if (tick == _armedTick || _disposed) return;
        _armedTick = tick;
        if (_driver is null) return;
        if (tick == Never)
        {
            _driver.Change(Timeout.Infinite, Timeout.Infinite);
            return;
        }
        var units = tick * _unitsPerTick - _clock();
        var millis = units <= 0 ? 0 : (long)Math.Ceiling(units * 1000.0 / ClockFrequency);
        _driver.Change(Math.Min(millis, 0xfffffffe), Timeout.Infinite);
    }

    private void OnDriverFired()
    {
        lock (_lock)
        {
            _armedTick = Never; // it fired: whatever Advance finds next must arm it again
            WakeUps++;
        }
        Advance();
    }

    /// <summary>How many times its timer woke the process (diagnostics, and tests that an idle server sleeps).</summary>
    public long WakeUps { get; private set; }

    /// <summary>What is waiting, earliest first (diagnostics).</summary>
    internal List<Entry> Waiting()
    {
        var all = new List<Entry>();
        lock (_lock)
        {
            foreach (var head in _slots)
                for (var e = head; e is not null; e = e.Next) all.Add(e);
        }
        all.Sort(static (a, b) => a.DueAt.CompareTo(b.DueAt));
        return all;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            _driver?.Dispose();
        }
    }
}
