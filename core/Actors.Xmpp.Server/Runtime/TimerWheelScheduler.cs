using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;
using Akka.Event;

namespace Actors.Xmpp.Server;

/// <summary>
/// Akka's scheduler (<c>akka.scheduler.implementation</c>) on a <see cref="TimerWheel"/>: what Akka schedules (ask
/// timeouts, <c>IWithTimers</c> timers, receive timeouts, backoff, the persistence plugins' timers) waits in the wheel,
/// and the process is woken only when something is due. Akka's <c>HashedWheelTimerScheduler</c> instead wakes every
/// <c>akka.scheduler.tick-duration</c> whether or not anything is due (100 times a second at its default 10 ms): on an
/// idle server with 10,000 sessions that periodic tick was most of the CPU it used (docs/benchmarks.md).
/// <para>Same contract as Akka's: <c>tick-duration</c> is the resolution (a task runs at the first tick at or after
/// its deadline, never early), <c>ticks-per-wheel</c> the slots; tasks due together run in deadline order, then in the
/// order they were scheduled; a repeated task keeps its rate (its next deadline is its last one plus the interval);
/// a task that throws is logged and not repeated; cancelled tasks never run; on shutdown the tasks still waiting run
/// once (as Akka's do) and scheduling more throws <see cref="SchedulerException"/>. A scheduled message is told to its
/// receiver as it is, like any <c>Tell</c>.</para>
/// </summary>
public sealed class TimerWheelScheduler : SchedulerBase, IDateTimeOffsetNowTimeProvider, IDisposable
{
    /// <summary>The HOCON line that makes an actor system use it.</summary>
    public static string Config =>
        $"akka.scheduler.implementation = \"{typeof(TimerWheelScheduler).FullName}, {typeof(TimerWheelScheduler).Assembly.GetName().Name}\"";

    private readonly TimerWheel _wheel;
    private volatile bool _stopped;

    public TimerWheelScheduler(Config scheduler, ILoggingAdapter log) : base(scheduler, log)
    {
        var tick = scheduler.GetTimeSpan("akka.scheduler.tick-duration", TimeSpan.FromMilliseconds(10));
        if (tick < TimeSpan.FromMilliseconds(1))
            throw new ConfigurationException($"akka.scheduler.tick-duration must be at least 1 ms (it is {tick})");
        var slots = scheduler.GetInt("akka.scheduler.ticks-per-wheel", 512);
        if (slots <= 0)
            throw new ConfigurationException($"akka.scheduler.ticks-per-wheel must be greater than 0 (it is {slots})");
        var tickUnits = (long)Math.Ceiling(tick.Ticks * (Stopwatch.Frequency / (double)TimeSpan.TicksPerSecond));
        _wheel = new TimerWheel(Stopwatch.GetTimestamp, Stopwatch.Frequency, tickUnits, slots, autoAdvance: true);
    }

    /// <summary>Tasks waiting (cancelled ones included until the wheel sees them).</summary>
    public int Pending => _wheel.Count;

    /// <summary>When the scheduler will next wake the process (null: nothing is waiting).</summary>
    public TimeSpan? NextWakeUp => _wheel.NextWakeUp;

    /// <summary>How many times it woke the process.</summary>
    public long WakeUps => _wheel.WakeUps;

    /// <summary>What is waiting, earliest first, with its delay from now (diagnostics).</summary>
    public IReadOnlyList<string> Describe()
    {
        var now = Stopwatch.GetTimestamp();
        var list = new List<string>();
        foreach (var e in _wheel.Waiting())
            list.Add($"{(e.DueAt - now) * 1000.0 / Stopwatch.Frequency:0} ms: {e}");
        return list;
    }

    protected override DateTimeOffset TimeNow => DateTimeOffset.UtcNow;

    // Akka's own monotonic clock (internal to Akka; its time provider is the public way to it), so that what the
    // system measures with it stays comparable with what Akka measures directly
#pragma warning disable CS0618 // obsolete in favour of IScheduler, which is what this class is
    public override TimeSpan MonotonicClock => DateTimeOffsetNowTimeProvider.Instance.MonotonicClock;

    public override TimeSpan HighResMonotonicClock => DateTimeOffsetNowTimeProvider.Instance.HighResMonotonicClock;
#pragma warning restore CS0618

    protected override void InternalScheduleTellOnce(TimeSpan delay, ICanTell receiver, object message, IActorRef sender,
        ICancelable cancelable) =>
        Schedule(new ScheduledTell(this, receiver, message, sender, cancelable, TimeSpan.Zero), delay);

    protected override void InternalScheduleTellRepeatedly(TimeSpan initialDelay, TimeSpan interval, ICanTell receiver,
        object message, IActorRef sender, ICancelable cancelable) =>
        Schedule(new ScheduledTell(this, receiver, message, sender, cancelable, interval), initialDelay);

    protected override void InternalScheduleOnce(TimeSpan delay, Action action, ICancelable cancelable) =>
        Schedule(new ScheduledRun(this, new ActionRunnable(action), cancelable, TimeSpan.Zero), delay);

    protected override void InternalScheduleOnce(TimeSpan delay, IRunnable action, ICancelable cancelable) =>
        Schedule(new ScheduledRun(this, action, cancelable, TimeSpan.Zero), delay);

    protected override void InternalScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, Action action,
        ICancelable cancelable) =>
        Schedule(new ScheduledRun(this, new ActionRunnable(action), cancelable, interval), initialDelay);

    protected override void InternalScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, IRunnable action,
        ICancelable cancelable) =>
        Schedule(new ScheduledRun(this, action, cancelable, interval), initialDelay);

    private void Schedule(ScheduledTask task, TimeSpan delay)
    {
        if (_stopped) throw new SchedulerException("cannot enqueue after timer shutdown");
        _wheel.Schedule(task, delay);
    }

    /// <summary>One task in the wheel: runs once, or again every interval until cancelled.</summary>
    private abstract class ScheduledTask(TimerWheelScheduler scheduler, ICancelable? cancelable, TimeSpan interval) : TimerWheel.Entry
    {
        internal override bool IsCancelled => cancelable is { IsCancellationRequested: true };

        protected abstract void Run();

        internal override void Fire()
        {
            if (IsCancelled) return; // cancelled after the wheel took it out
            try
            {
                Run();
            }
            catch (Exception ex)
            {
                try
                {
                    scheduler.Log.Error(ex, "Error while executing scheduled task {0}", this);
                }
                catch
                {
                    // logging failed too (the system is shutting down): nothing more to do
                }
                return; // a failed task is not repeated
            }
            if (interval > TimeSpan.Zero && !IsCancelled && !scheduler._stopped) scheduler._wheel.Reschedule(this, interval);
        }

        internal void RunOnShutdown()
        {
            if (IsCancelled) return;
            try
            {
                Run();
            }
            catch (SchedulerException)
            {
                // from terminated actors
            }
            catch (Exception ex)
            {
                scheduler.Log.Error(ex, "Exception while executing timer task.");
            }
        }
    }

    private sealed class ScheduledTell(TimerWheelScheduler scheduler, ICanTell receiver, object message, IActorRef sender,
        ICancelable? cancelable, TimeSpan interval) : ScheduledTask(scheduler, cancelable, interval)
    {
        protected override void Run() => receiver.Tell(message, sender);

        public override string ToString() => $"[{receiver}.Tell({message}, {sender})]";
    }

    private sealed class ScheduledRun(TimerWheelScheduler scheduler, IRunnable action, ICancelable? cancelable, TimeSpan interval)
        : ScheduledTask(scheduler, cancelable, interval)
    {
        protected override void Run() => action.Run();

        public override string ToString() => action.ToString() ?? nameof(ScheduledRun);
    }

    public void Dispose()
    {
        if (_stopped) return;
        _stopped = true;
        foreach (var task in _wheel.Stop()) ((ScheduledTask)task).RunOnShutdown();
    }
}
