using Actors.Xmpp.Server.Hosting;
using Xunit;

namespace Actors.Xmpp.Tests.Runtime;

/// <summary>When the server gives memory back: only after a burst (heap growth) or a wave of stopped actors, once it
/// is idle (no allocation), at most once per <see cref="IdleHeapTrimmer.Policy.MinTrimInterval"/>.</summary>
public sealed class IdleHeapTrimmerSpec
{
    private const long MiB = 1024 * 1024;

    private static IdleHeapTrimmer.Policy Policy()
    {
        var p = new IdleHeapTrimmer.Policy(idleSeconds: 2, idleBytesPerSecond: 1 * MiB, growthBytes: 32 * MiB, releasedActors: 1000);
        p.Reset(allocatedBytes: 0, heapBytes: 100 * MiB, afterTrim: false);
        return p;
    }

    [Fact]
    public void Trims_after_a_burst_once_allocation_stopped_for_the_idle_ticks()
    {
        var p = Policy();
        Assert.False(p.Tick(500 * MiB, 180 * MiB)); // the burst: allocating fast, heap grew
        Assert.False(p.Tick(900 * MiB, 200 * MiB));
        Assert.False(p.Tick(900 * MiB + 1000, 200 * MiB)); // idle for one tick
        Assert.True(p.Tick(900 * MiB + 2000, 200 * MiB)); // idle for two: trim
    }

    [Fact]
    public void Does_not_trim_while_allocating_nor_when_the_heap_did_not_grow()
    {
        var p = Policy();
        long allocated = 0;
        for (var i = 0; i < 10; i++) Assert.False(p.Tick(allocated += 50 * MiB, 300 * MiB)); // busy
        for (var i = 0; i < 10; i++) Assert.False(p.Tick(allocated += 10, 110 * MiB)); // idle, grew 10 MiB only
    }

    [Fact]
    public void After_a_trim_the_next_one_needs_new_growth()
    {
        var p = Policy();
        Assert.False(p.Tick(10, 200 * MiB));
        Assert.True(p.Tick(20, 200 * MiB));
        p.Reset(20, 120 * MiB); // what the trim left
        for (var i = 0; i < 5; i++) Assert.False(p.Tick(30 + i, 130 * MiB));
        Assert.False(p.Tick(400 * MiB, 160 * MiB)); // a new burst
        Assert.False(p.Tick(400 * MiB, 160 * MiB));
        Assert.True(p.Tick(400 * MiB, 160 * MiB));
    }

    [Fact]
    public void A_second_trim_waits_for_the_minimum_interval_after_the_first()
    {
        var p = Policy();
        Assert.False(p.Tick(10, 200 * MiB));
        Assert.True(p.Tick(20, 200 * MiB));
        p.Reset(20, 120 * MiB);
        Assert.False(p.Tick(400 * MiB, 200 * MiB)); // a burst right after the trim
        var seconds = 1.0;
        var trimmed = false;
        for (var i = 0; i < 60 && !trimmed; i++)
        {
            trimmed = p.Tick(400 * MiB, 200 * MiB); // idle, grown
            seconds += p.Interval.TotalSeconds;
        }
        Assert.True(trimmed);
        Assert.InRange(seconds, IdleHeapTrimmer.Policy.MinTrimInterval.TotalSeconds, IdleHeapTrimmer.Policy.MinTrimInterval.TotalSeconds + 2);
    }

    [Fact]
    public void Trims_once_enough_long_lived_actors_stopped_even_though_the_heap_did_not_grow()
    {
        // passivated entities and ended sessions leave their memory as garbage in the oldest generation, without
        // allocating anything that would make the heap grow
        var p = Policy();
        Assert.False(p.Tick(10, 100 * MiB, released: 999));
        Assert.False(p.Tick(20, 100 * MiB, released: 999));
        Assert.True(p.Tick(30, 100 * MiB, released: 1000)); // enough now, and idle for more than 2 s
        p.Reset(30, 90 * MiB, released: 1000);
        for (var i = 0; i < 40; i++) Assert.False(p.Tick(50 + i, 90 * MiB, released: 1500)); // 500 more: not enough
    }

    [Fact]
    public void Idle_with_nothing_to_trim_it_samples_less_and_less_often_and_a_burst_brings_it_back_to_every_second()
    {
        var p = Policy();
        var waits = new List<double>();
        for (var i = 0; i < 8; i++)
        {
            Assert.False(p.Tick(i, 100 * MiB)); // idle, the heap as after the last trim
            waits.Add(p.Interval.TotalSeconds);
        }
        Assert.Equal([2, 4, 8, 16, 32, 32, 32, 32], waits);
        Assert.Equal(IdleHeapTrimmer.Policy.MaxInterval, p.Interval);
        // a burst while it waited: found at the next sample, then every second until the trim
        Assert.False(p.Tick(2000 * MiB, 300 * MiB));
        Assert.Equal(TimeSpan.FromSeconds(1), p.Interval);
        Assert.False(p.Tick(2000 * MiB, 300 * MiB));
        Assert.Equal(TimeSpan.FromSeconds(1), p.Interval);
        Assert.True(p.Tick(2000 * MiB, 300 * MiB));
    }

    [Fact]
    public void A_slow_trickle_over_a_long_wait_counts_as_idle_by_its_rate_not_its_total()
    {
        var p = Policy();
        for (var i = 0; i < 5; i++) p.Tick(0, 100 * MiB);
        Assert.Equal(TimeSpan.FromSeconds(32), p.Interval);
        Assert.False(p.Tick(20 * MiB, 100 * MiB)); // 20 MiB in 32 s: below 1 MiB/s, still idle
        Assert.Equal(TimeSpan.FromSeconds(32), p.Interval);
        Assert.False(p.Tick(20 * MiB + 40 * MiB, 100 * MiB)); // 40 MiB in 32 s: busy
        Assert.Equal(TimeSpan.FromSeconds(1), p.Interval);
    }
}
