using System.Runtime;
using System.Runtime.CompilerServices;
using Akka.Actor;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Actors.Xmpp.Server.Hosting;

/// <summary>
/// Gives memory back to the operating system after a burst (a login storm, a flood of presence) and after a wave of
/// passivations or logouts: the .NET GC only collects when something allocates, so once the server is quiet the
/// garbage the burst left — and the committed memory holding it — stays until the next burst. This service samples
/// the allocation rate; when the server has been idle for <see cref="XmppServerOptions.MemorySettings.IdleSeconds"/>
/// and either the managed heap (garbage included: <see cref="GC.GetTotalMemory"/>) grew by
/// <see cref="XmppServerOptions.MemorySettings.TrimGrowthMegabytes"/> since the last trim, or
/// <see cref="XmppServerOptions.MemorySettings.TrimReleasedActors"/> long-lived actors (connections, sessions, user
/// actors, plugin stores and entities: <see cref="Released"/>) stopped since then, it runs one blocking, compacting
/// collection that decommits what is free (<see cref="GCCollectionMode.Aggressive"/>), at most once per
/// <see cref="Policy.MinTrimInterval"/>. It is what Erlang's hibernation does for an idle ejabberd session, once for
/// the whole heap. At 10,000 idle sessions it returned about 12 KiB per session (docs/benchmarks.md). It samples
/// every second while the server works or a trim may come, and backs off (doubling, up to
/// <see cref="Policy.MaxInterval"/>) while the server is idle with nothing to trim, so that an idle server is not
/// woken every second for it (docs/benchmarks.md, "Idle CPU").
/// </summary>
public sealed class IdleHeapTrimmer : BackgroundService
{
    private sealed class ReleasedCount
    {
        public long Value;
    }

    // per actor system: several servers in one process (tests) each count their own
    private static readonly ConditionalWeakTable<ActorSystem, ReleasedCount> ReleasedBySystem = new();

    /// <summary>A long-lived actor of <paramref name="system"/> stopped (passivated or closed): what it held is
    /// garbage in the oldest generation, which only a full collection returns. Called from its PostStop.</summary>
    public static void Released(ActorSystem system) => Interlocked.Increment(ref ReleasedBySystem.GetValue(system, static _ => new()).Value);

    private static long ReleasedOf(ActorSystem? system) =>
        system is not null && ReleasedBySystem.TryGetValue(system, out var count) ? Volatile.Read(ref count.Value) : 0;

    // Environment.TickCount64 of this process's last trim (0: none yet)
    private static long _lastTrimAt;

    private readonly XmppServerOptions.MemorySettings _settings;
    private readonly ILogger<IdleHeapTrimmer> _log;
    private readonly IServiceProvider _services;
    private ActorSystem? _system;

    public IdleHeapTrimmer(XmppServerOptions options, ILogger<IdleHeapTrimmer> log, IServiceProvider services)
    {
        _settings = options.Memory;
        _log = log;
        _services = services;
    }

    /// <summary>The server's actors stopped so far (0 until its actor system is up).</summary>
    private long ReleasedSoFar()
    {
        if (_system is null)
        {
            try { _system = _services.GetService<ActorSystem>(); }
            catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException) { } // not started yet
        }
        return ReleasedOf(_system);
    }

    /// <summary>The decision, kept apart from the clock and the GC so that it can be tested.</summary>
    /// <param name="idleSeconds">Seconds of allocation below the idle rate before a trim.</param>
    /// <param name="idleBytesPerSecond">Below this allocation rate the server counts as idle.</param>
    /// <param name="growthBytes">Heap growth since the last trim that makes a trim worth it.</param>
    /// <param name="releasedActors">Actors stopped since the last trim that make a trim worth it.</param>
    public sealed class Policy(int idleSeconds, long idleBytesPerSecond, long growthBytes, long releasedActors = long.MaxValue)
    {
        /// <summary>The longest wait between two samples while idle with nothing to trim.</summary>
        public static readonly TimeSpan MaxInterval = TimeSpan.FromSeconds(32);

        /// <summary>The shortest time between two trims (each is a blocking collection of the whole heap).</summary>
        public static readonly TimeSpan MinTrimInterval = TimeSpan.FromSeconds(30);

        private long _lastAllocated = -1;
        private double _idleSeconds;
        private double _sinceTrim;
        private long _heapAfterTrim;
        private long _releasedAtTrim;

        /// <summary>How long to wait before the next sample.</summary>
        public TimeSpan Interval { get; private set; } = TimeSpan.FromSeconds(1);

        /// <summary>Starts from the current state (nothing to trim yet): at start (<paramref name="afterTrim"/> false:
        /// the first trim need not wait) or after a trim.</summary>
        public void Reset(long allocatedBytes, long heapBytes, long released = 0, bool afterTrim = true)
        {
            _lastAllocated = allocatedBytes;
            _idleSeconds = 0;
            _sinceTrim = afterTrim ? 0 : MinTrimInterval.TotalSeconds;
            _heapAfterTrim = heapBytes;
            _releasedAtTrim = released;
            Interval = TimeSpan.FromSeconds(1);
        }

        /// <summary>One sample, <see cref="Interval"/> after the last one: total bytes allocated so far, the heap's
        /// size now (garbage included) and the actors released so far. True: trim now.</summary>
        public bool Tick(long allocatedBytes, long heapBytes, long released = 0)
        {
            var seconds = Interval.TotalSeconds;
            _sinceTrim += seconds;
            var delta = _lastAllocated < 0 ? long.MaxValue : allocatedBytes - _lastAllocated;
            _lastAllocated = allocatedBytes;
            var idle = delta <= idleBytesPerSecond * seconds;
            _idleSeconds = idle ? _idleSeconds + seconds : 0;
            if (heapBytes < _heapAfterTrim) _heapAfterTrim = heapBytes; // the GC gave some back itself
            var worth = heapBytes - _heapAfterTrim >= growthBytes || released - _releasedAtTrim >= releasedActors;
            // idle with nothing to trim: nothing can change until the server allocates again (or actors stop), so
            // look less often; otherwise every second (a burst under way, or a trim due once it has been idle long
            // enough)
            Interval = idle && !worth
                ? TimeSpan.FromSeconds(Math.Min(seconds * 2, MaxInterval.TotalSeconds))
                : TimeSpan.FromSeconds(1);
            return _idleSeconds >= idleSeconds && worth && _sinceTrim >= MinTrimInterval.TotalSeconds;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_settings.TrimWhenIdle) return;
        var policy = new Policy(Math.Max(1, _settings.IdleSeconds), (long)(_settings.IdleAllocationMegabytesPerSecond * 1024 * 1024),
            (long)_settings.TrimGrowthMegabytes * 1024 * 1024, _settings.TrimReleasedActors > 0 ? _settings.TrimReleasedActors : long.MaxValue);
        policy.Reset(GC.GetTotalAllocatedBytes(), GC.GetTotalMemory(false), ReleasedSoFar(), afterTrim: false);
        try
        {
            while (true)
            {
                await Task.Delay(policy.Interval, stoppingToken);
                if (!policy.Tick(GC.GetTotalAllocatedBytes(), GC.GetTotalMemory(false), ReleasedSoFar())) continue;
                // a collection is the whole process's: when another server in it (tests) trimmed within the interval,
                // that trim was this one's too
                var now = Environment.TickCount64;
                var last = Interlocked.Read(ref _lastTrimAt);
                if ((last != 0 && now - last < (long)Policy.MinTrimInterval.TotalMilliseconds)
                    || Interlocked.CompareExchange(ref _lastTrimAt, now, last) != last)
                {
                    policy.Reset(GC.GetTotalAllocatedBytes(), GC.GetTotalMemory(false), ReleasedSoFar());
                    continue;
                }
                var before = Environment.WorkingSet;
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                policy.Reset(GC.GetTotalAllocatedBytes(), GC.GetTotalMemory(false), ReleasedSoFar());
                _log.LogInformation("idle heap trim: working set {Before} -> {After} MiB in {Ms:0} ms", before >> 20,
                    Environment.WorkingSet >> 20, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }
}
