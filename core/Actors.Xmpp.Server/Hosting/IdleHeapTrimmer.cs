using System.Runtime;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Actors.Xmpp.Server.Hosting;

/// <summary>
/// Gives memory back to the operating system after a burst (a login storm, a flood of presence): the .NET GC only
/// collects when something allocates, so after the burst the garbage it left — and the committed memory holding it —
/// stays until the next burst. This service samples the allocation rate; when the server has been idle for
/// <see cref="XmppServerOptions.MemorySettings.IdleSeconds"/> and the committed heap grew by
/// <see cref="XmppServerOptions.MemorySettings.TrimGrowthMegabytes"/> since the last trim, it runs one blocking,
/// compacting collection that decommits what is free (<see cref="GCCollectionMode.Aggressive"/>). It is what Erlang's
/// hibernation does for an idle ejabberd session, once for the whole heap. At 10,000 idle sessions it returned about
/// 12 KiB per session (docs/benchmarks.md). It samples every second while the server works or a trim may come, and
/// backs off (doubling, up to <see cref="Policy.MaxInterval"/>) while the server is idle with nothing to trim, so that
/// an idle server is not woken every second for it (docs/benchmarks.md, "Idle CPU").
/// </summary>
public sealed class IdleHeapTrimmer : BackgroundService
{
    private readonly XmppServerOptions.MemorySettings _settings;
    private readonly ILogger<IdleHeapTrimmer> _log;

    public IdleHeapTrimmer(XmppServerOptions options, ILogger<IdleHeapTrimmer> log)
    {
        _settings = options.Memory;
        _log = log;
    }

    /// <summary>The decision, kept apart from the clock and the GC so that it can be tested.</summary>
    /// <param name="idleSeconds">Seconds of allocation below the idle rate before a trim.</param>
    /// <param name="idleBytesPerSecond">Below this allocation rate the server counts as idle.</param>
    /// <param name="growthBytes">Committed heap growth since the last trim that makes a trim worth it.</param>
    public sealed class Policy(int idleSeconds, long idleBytesPerSecond, long growthBytes)
    {
        /// <summary>The longest wait between two samples while idle with nothing to trim.</summary>
        public static readonly TimeSpan MaxInterval = TimeSpan.FromSeconds(32);

        private long _lastAllocated = -1;
        private double _idleSeconds;
        private long _committedAfterTrim;

        /// <summary>How long to wait before the next sample.</summary>
        public TimeSpan Interval { get; private set; } = TimeSpan.FromSeconds(1);

        /// <summary>Starts from the current state (nothing to trim yet).</summary>
        public void Reset(long allocatedBytes, long committedBytes)
        {
            _lastAllocated = allocatedBytes;
            _idleSeconds = 0;
            _committedAfterTrim = committedBytes;
            Interval = TimeSpan.FromSeconds(1);
        }

        /// <summary>One sample, <see cref="Interval"/> after the last one: total bytes allocated so far and the
        /// committed heap. True: trim now.</summary>
        public bool Tick(long allocatedBytes, long committedBytes)
        {
            var seconds = Interval.TotalSeconds;
            var delta = _lastAllocated < 0 ? long.MaxValue : allocatedBytes - _lastAllocated;
            _lastAllocated = allocatedBytes;
            var idle = delta <= idleBytesPerSecond * seconds;
            _idleSeconds = idle ? _idleSeconds + seconds : 0;
            if (committedBytes < _committedAfterTrim) _committedAfterTrim = committedBytes; // the GC gave some back itself
            var grown = committedBytes - _committedAfterTrim >= growthBytes;
            // idle with nothing to trim: nothing can change until the server allocates again, so look less often;
            // otherwise every second (a burst under way, or a trim due once it has been idle long enough)
            Interval = idle && !grown
                ? TimeSpan.FromSeconds(Math.Min(seconds * 2, MaxInterval.TotalSeconds))
                : TimeSpan.FromSeconds(1);
            return _idleSeconds >= idleSeconds && grown;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_settings.TrimWhenIdle) return;
        var policy = new Policy(Math.Max(1, _settings.IdleSeconds), (long)(_settings.IdleAllocationMegabytesPerSecond * 1024 * 1024),
            (long)_settings.TrimGrowthMegabytes * 1024 * 1024);
        policy.Reset(GC.GetTotalAllocatedBytes(), GC.GetGCMemoryInfo().TotalCommittedBytes);
        try
        {
            while (true)
            {
                await Task.Delay(policy.Interval, stoppingToken);
                if (!policy.Tick(GC.GetTotalAllocatedBytes(), GC.GetGCMemoryInfo().TotalCommittedBytes)) continue;
                var before = Environment.WorkingSet;
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                policy.Reset(GC.GetTotalAllocatedBytes(), GC.GetGCMemoryInfo().TotalCommittedBytes);
                _log.LogInformation("idle heap trim: working set {Before} -> {After} MiB in {Ms:0} ms", before >> 20,
                    Environment.WorkingSet >> 20, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }
}
