using System.Diagnostics;
using Actors.Xmpp.Server;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;

namespace Actors.Xmpp.Tests.Runtime;

/// <summary>Akka's scheduler on the timer wheel (the server's <c>akka.scheduler.implementation</c>): what Akka's
/// scheduler contract promises (once, repeatedly, cancelled, in order, never early; asks, IWithTimers and receive
/// timeouts on top of it), and that it sleeps when nothing is due.</summary>
public sealed class TimerWheelSchedulerSpec() : Akka.TestKit.Xunit2.TestKit(TimerWheelScheduler.Config)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    private TimerWheelScheduler Scheduler => (TimerWheelScheduler)Sys.Scheduler;

    [Fact]
    public void The_actor_system_runs_on_it()
    {
        Assert.IsType<TimerWheelScheduler>(Sys.Scheduler);
    }

    [Fact]
    public void A_tell_scheduled_once_arrives_after_its_delay_never_before()
    {
        var started = Stopwatch.StartNew();
        Sys.Scheduler.ScheduleTellOnce(TimeSpan.FromMilliseconds(300), TestActor, "once", ActorRefs.NoSender);
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        ExpectMsg("once", Wait);
        Assert.True(started.Elapsed >= TimeSpan.FromMilliseconds(300), $"arrived after {started.Elapsed.TotalMilliseconds} ms");
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void Tells_arrive_in_deadline_order_and_those_due_together_in_the_order_scheduled()
    {
        Sys.Scheduler.ScheduleTellOnce(TimeSpan.FromMilliseconds(400), TestActor, "last", ActorRefs.NoSender);
        for (var i = 0; i < 50; i++) Sys.Scheduler.ScheduleTellOnce(TimeSpan.FromMilliseconds(200), TestActor, i, ActorRefs.NoSender);
        Sys.Scheduler.ScheduleTellOnce(TimeSpan.FromMilliseconds(100), TestActor, "first", ActorRefs.NoSender);
        ExpectMsg("first", Wait);
        for (var i = 0; i < 50; i++) ExpectMsg(i, Wait);
        ExpectMsg("last", Wait);
    }

    [Fact]
    public void A_cancelled_tell_never_arrives()
    {
        var cancelable = Sys.Scheduler.ScheduleTellOnceCancelable(TimeSpan.FromMilliseconds(200), TestActor, "cancelled", ActorRefs.NoSender);
        Sys.Scheduler.ScheduleTellOnce(TimeSpan.FromMilliseconds(300), TestActor, "kept", ActorRefs.NoSender);
        cancelable.Cancel();
        ExpectMsg("kept", Wait);
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void A_repeated_tell_keeps_its_rate_until_cancelled()
    {
        var started = Stopwatch.StartNew();
        var cancelable = Sys.Scheduler.ScheduleTellRepeatedlyCancelable(TimeSpan.FromMilliseconds(50),
            TimeSpan.FromMilliseconds(100), TestActor, "tick", ActorRefs.NoSender);
        for (var i = 0; i < 5; i++) ExpectMsg("tick", Wait);
        // fixed rate: the fifth is due at 50 + 4 x 100 ms
        Assert.True(started.Elapsed >= TimeSpan.FromMilliseconds(450), $"five ticks after {started.Elapsed.TotalMilliseconds} ms");
        cancelable.Cancel();
        ReceiveWhile<object>(TimeSpan.FromMilliseconds(150), m => m); // one that was under way as it was cancelled
        ExpectNoMsg(TimeSpan.FromMilliseconds(400));
    }

    [Fact]
    public void Actions_run_once_or_repeatedly_and_a_failing_one_is_not_repeated()
    {
        var once = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Sys.Scheduler.Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(50), () => once.SetResult());
        Assert.True(once.Task.Wait(Wait));

        var failures = 0;
        EventFilter.Exception<InvalidOperationException>().ExpectOne(() =>
            Sys.Scheduler.Advanced.ScheduleRepeatedly(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(20), () =>
            {
                Interlocked.Increment(ref failures);
                throw new InvalidOperationException("scheduled failure");
            }));
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Assert.Equal(1, Volatile.Read(ref failures));
    }

    [Fact]
    public async Task An_ask_still_times_out()
    {
        // Akka.NET 1.5 times an ask out with a CancellationTokenSource (a .NET timer, not the scheduler): the check is
        // that asks keep working with the scheduler replaced. Its exact moment is .NET's (its coarse clock can fire a
        // millisecond before a Stopwatch says 200 ms), so it is not asserted here; "never early" is the scheduler's
        // own test above.
        var silent = Sys.ActorOf(Props.Create(() => new Silent()));
        await Assert.ThrowsAsync<AskTimeoutException>(() => silent.Ask<object>("anyone?", TimeSpan.FromMilliseconds(200)));
    }

    [Fact]
    public void Timers_and_receive_timeouts_of_actors_run_on_it()
    {
        Sys.ActorOf(Props.Create(() => new TimedActor(TestActor)));
        ExpectMsg("periodic", Wait);
        ExpectMsg("periodic", Wait);
        ExpectMsg("single", Wait);
        ExpectMsg<ReceiveTimeout>(Wait);
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void With_nothing_scheduled_it_does_not_wake_and_a_far_deadline_is_one_wake_up()
    {
        // what the test kit scheduled while starting has run or been cancelled; cancelled tasks leave when seen
        AwaitAssert(() => Assert.Null(Scheduler.NextWakeUp), Wait);
        var cancelable = Sys.Scheduler.ScheduleTellOnceCancelable(TimeSpan.FromMinutes(10), TestActor, "far", ActorRefs.NoSender);
        var wakeUp = Scheduler.NextWakeUp;
        Assert.NotNull(wakeUp);
        Assert.InRange(wakeUp.Value, TimeSpan.FromMinutes(9.9), TimeSpan.FromMinutes(10.1));
        cancelable.Cancel();
    }

    [Fact]
    public void Cancelled_tasks_do_not_wake_it_each_at_its_own_deadline()
    {
        // Akka cancels a recovery timeout for every persistent actor that recovered, a receive timeout on every message
        using var scheduler = new TimerWheelScheduler(ConfigurationFactory.ParseString("akka.scheduler.tick-duration = 10ms"), Sys.Log);
        IScheduler asScheduler = scheduler;
        var cancelables = new List<ICancelable>();
        for (var i = 0; i < 100; i++) // spread over ten ticks
            cancelables.Add(asScheduler.ScheduleTellOnceCancelable(TimeSpan.FromMilliseconds(200 + i), TestActor, "cancelled", ActorRefs.NoSender));
        asScheduler.ScheduleTellOnce(TimeSpan.FromMilliseconds(600), TestActor, "live", ActorRefs.NoSender);
        foreach (var c in cancelables) c.Cancel();
        ExpectMsg("live", Wait);
        // one wake-up for the first cancelled deadline (it was armed before the cancellations), which drops them all,
        // then the live one: not one per tick of cancelled deadlines (ten). A loaded machine can add a wake-up or two
        // (a timer that fires before its tick has begun finds nothing and re-arms), hence the margin below ten.
        Assert.InRange(scheduler.WakeUps, 1, 4);
        Assert.Equal(0, scheduler.Pending);
    }

    [Fact]
    public void Once_disposed_it_runs_what_was_waiting_once_and_refuses_more()
    {
        var scheduler = new TimerWheelScheduler(ConfigurationFactory.ParseString("akka.scheduler.tick-duration = 10ms"), Sys.Log);
        IScheduler asScheduler = scheduler;
        var ran = 0;
        asScheduler.Advanced.ScheduleOnce(TimeSpan.FromMinutes(5), () => ran++);
        var cancelled = new Cancelable(asScheduler);
        asScheduler.Advanced.ScheduleOnce(TimeSpan.FromMinutes(5), () => ran += 100, cancelled);
        cancelled.Cancel();
        scheduler.Dispose();
        Assert.Equal(1, ran);
        Assert.Throws<SchedulerException>(() => asScheduler.ScheduleTellOnce(TimeSpan.Zero, TestActor, "late", ActorRefs.NoSender));
    }

    private sealed class Silent : ReceiveActor
    {
        public Silent() => ReceiveAny(_ => { });
    }

    private sealed class TimedActor : ReceiveActor, IWithTimers
    {
        private int _periodic;

        public TimedActor(IActorRef probe)
        {
            Receive<string>(m => m == "periodic", m =>
            {
                probe.Tell(m);
                if (++_periodic == 2)
                {
                    Timers.Cancel("periodic");
                    Timers.StartSingleTimer("single", "single", TimeSpan.FromMilliseconds(50));
                }
            });
            Receive<string>(m => m == "single", m =>
            {
                probe.Tell(m);
                Context.SetReceiveTimeout(TimeSpan.FromMilliseconds(100));
            });
            Receive<ReceiveTimeout>(m =>
            {
                probe.Tell(m);
                Context.SetReceiveTimeout(null);
            });
        }

        public ITimerScheduler Timers { get; set; } = null!;

        protected override void PreStart() => Timers.StartPeriodicTimer("periodic", "periodic", TimeSpan.FromMilliseconds(50));
    }
}
