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
    public void Ten_thousand_idle_deadlines_cost_one_slot_visit_per_tick_and_fire_once_each()
    {
        using var wheel = Wheel(tickMillis: 500, slots: 512);
        var probe = CreateTestProbe();
        for (var i = 0; i < 10_000; i++) wheel.Schedule(probe, i, TimeSpan.FromSeconds(60 + i % 60));
        _now += 59_000;
        wheel.Advance();
        probe.ExpectNoMsg(Nothing);
        Assert.Equal(10_000, wheel.Count);
        _now += 62_000;
        wheel.Advance();
        var received = probe.ReceiveN(10_000, TimeSpan.FromSeconds(10));
        Assert.Equal(10_000, received.Distinct().Count());
        Assert.Equal(0, wheel.Count);
    }
}
