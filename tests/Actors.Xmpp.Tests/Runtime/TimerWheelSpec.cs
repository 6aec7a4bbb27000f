using Actors.Xmpp.Server;
using Akka.Actor;

namespace Actors.Xmpp.Tests.Runtime;

/// <summary>The shared timer wheel, driven by hand over an injected clock (no real time passes).</summary>
public sealed class TimerWheelSpec : Akka.TestKit.Xunit2.TestKit
{
    private long _now = 1_000_000;

    private TimerWheel Wheel(long tickMillis = 500, int slots = 8) => new(() => _now, tickMillis, slots, autoAdvance: false);

    private static readonly TimeSpan Nothing = TimeSpan.FromMilliseconds(100);

    [Fact]
    public void A_deadline_fires_at_the_first_tick_at_or_after_it_never_before()
    {
        using var wheel = Wheel();
        var probe = CreateTestProbe();
        wheel.Schedule(probe, "due", TimeSpan.FromMilliseconds(1200));
        _now += 1000;
        wheel.Advance();
        probe.ExpectNoMsg(Nothing);
        _now += 199;
        wheel.Advance();
        probe.ExpectNoMsg(Nothing);
        _now += 301; // 1500 ms: the first tick after the deadline (1200 ms)
        wheel.Advance();
        probe.ExpectMsg("due");
        Assert.Equal(0, wheel.Count);
    }

    [Fact]
    public void A_cancelled_deadline_never_fires_and_leaves_the_wheel()
    {
        using var wheel = Wheel();
        var probe = CreateTestProbe();
        var timer = wheel.Schedule(probe, "cancelled", TimeSpan.FromSeconds(1));
        wheel.Schedule(probe, "kept", TimeSpan.FromSeconds(1));
        Assert.Equal(2, wheel.Count);
        timer.Cancel();
        Assert.False(timer.IsPending);
        Assert.Equal(1, wheel.Count);
        _now += 5000;
        wheel.Advance();
        probe.ExpectMsg("kept");
        probe.ExpectNoMsg(Nothing);
    }

    [Fact]
    public void A_deadline_further_than_one_revolution_waits_for_its_round()
    {
        using var wheel = Wheel(tickMillis: 500, slots: 8); // a revolution is 4 s
        var probe = CreateTestProbe();
        wheel.Schedule(probe, "far", TimeSpan.FromSeconds(10));
        for (var i = 0; i < 19; i++) // 9.5 s, tick by tick: its slot comes round twice before it is due
        {
            _now += 500;
            wheel.Advance();
        }
        probe.ExpectNoMsg(Nothing);
        _now += 500;
        wheel.Advance();
        probe.ExpectMsg("far");
    }

    [Fact]
    public void A_clock_that_jumps_past_many_revolutions_fires_everything_due_in_deadline_order()
    {
        using var wheel = Wheel(tickMillis: 500, slots: 8);
        var probe = CreateTestProbe();
        wheel.Schedule(probe, "third", TimeSpan.FromSeconds(30));
        wheel.Schedule(probe, "first", TimeSpan.FromSeconds(1));
        wheel.Schedule(probe, "second", TimeSpan.FromSeconds(7));
        wheel.Schedule(probe, "later", TimeSpan.FromSeconds(120));
        _now += 60_000;
        wheel.Advance();
        probe.ExpectMsg("first");
        probe.ExpectMsg("second");
        probe.ExpectMsg("third");
        probe.ExpectNoMsg(Nothing);
        Assert.Equal(1, wheel.Count);
    }

    [Fact]
    public void A_zero_delay_fires_at_the_next_tick_and_cancelling_after_firing_is_a_no_op()
    {
        using var wheel = Wheel();
        var probe = CreateTestProbe();
        var timer = wheel.Schedule(probe, "now", TimeSpan.Zero);
        wheel.Advance(); // same tick: not yet
        probe.ExpectNoMsg(Nothing);
        _now += 500;
        wheel.Advance();
        probe.ExpectMsg("now");
        timer.Cancel();
        Assert.Equal(0, wheel.Count);
    }

    [Fact]
    public void Ten_thousand_idle_deadlines_wake_the_wheel_only_when_the_first_is_due_and_fire_once_each()
    {
        using var wheel = Wheel(tickMillis: 500, slots: 512);
        var probe = CreateTestProbe();
        for (var i = 0; i < 10_000; i++) wheel.Schedule(probe, i, TimeSpan.FromSeconds(60 + i % 60));
        Assert.Equal(TimeSpan.FromSeconds(60), wheel.NextWakeUp); // not the next tick: nothing is due before 60 s
        _now += 59_000;
        wheel.Advance();
        probe.ExpectNoMsg(Nothing);
        Assert.Equal(10_000, wheel.Count);
        Assert.Equal(TimeSpan.FromSeconds(1), wheel.NextWakeUp);
        _now += 62_000;
        wheel.Advance();
        var received = probe.ReceiveN(10_000, TimeSpan.FromSeconds(10));
        Assert.Equal(10_000, received.Distinct().Count());
        Assert.Equal(0, wheel.Count);
        Assert.Null(wheel.NextWakeUp);
    }

    [Fact]
    public void An_empty_wheel_sleeps_until_something_is_scheduled()
    {
        using var wheel = Wheel(tickMillis: 500, slots: 8);
        Assert.Null(wheel.NextWakeUp);
        var probe = CreateTestProbe();
        var timer = wheel.Schedule(probe, "in ten minutes", TimeSpan.FromMinutes(10));
        Assert.Equal(TimeSpan.FromMinutes(10), wheel.NextWakeUp); // further than a revolution (4 s): still one wake-up
        timer.Cancel();
        wheel.Advance();
        Assert.Null(wheel.NextWakeUp);
    }

    [Fact]
    public void After_firing_the_wheel_sleeps_until_the_next_deadline_and_an_earlier_one_wakes_it_sooner()
    {
        using var wheel = Wheel(tickMillis: 500, slots: 8);
        var probe = CreateTestProbe();
        wheel.Schedule(probe, "first", TimeSpan.FromSeconds(1));
        wheel.Schedule(probe, "second", TimeSpan.FromSeconds(30));
        Assert.Equal(TimeSpan.FromSeconds(1), wheel.NextWakeUp);
        _now += 1000;
        wheel.Advance();
        probe.ExpectMsg("first");
        Assert.Equal(TimeSpan.FromSeconds(29), wheel.NextWakeUp);
        wheel.Schedule(probe, "sooner", TimeSpan.FromSeconds(2));
        Assert.Equal(TimeSpan.FromSeconds(2), wheel.NextWakeUp);
    }

    [Fact]
    public void Deadlines_due_at_the_same_instant_fire_in_the_order_they_were_scheduled()
    {
        using var wheel = Wheel(tickMillis: 500, slots: 8);
        var probe = CreateTestProbe();
        for (var i = 0; i < 20; i++) wheel.Schedule(probe, i, TimeSpan.FromSeconds(2));
        wheel.Schedule(probe, "earlier in the same tick", TimeSpan.FromMilliseconds(1600));
        _now += 2000;
        wheel.Advance();
        probe.ExpectMsg("earlier in the same tick");
        for (var i = 0; i < 20; i++) probe.ExpectMsg(i);
    }

    [Fact]
    public void Driven_by_its_own_timer_it_fires_each_deadline_once_never_early()
    {
        using var wheel = new TimerWheel(static () => Environment.TickCount64, tickMillis: 20, slots: 64);
        var probe = CreateTestProbe();
        var started = System.Diagnostics.Stopwatch.StartNew();
        wheel.Schedule(probe, "late", TimeSpan.FromMilliseconds(700));
        wheel.Schedule(probe, "soon", TimeSpan.FromMilliseconds(300));
        probe.ExpectMsg("soon", TimeSpan.FromSeconds(5));
        Assert.True(started.ElapsedMilliseconds >= 290, $"fired after {started.ElapsedMilliseconds} ms"); // the clock's granularity
        probe.ExpectMsg("late", TimeSpan.FromSeconds(5));
        Assert.True(started.ElapsedMilliseconds >= 690, $"fired after {started.ElapsedMilliseconds} ms");
        probe.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Assert.Equal(0, wheel.Count);
        Assert.Null(wheel.NextWakeUp);
    }
}
