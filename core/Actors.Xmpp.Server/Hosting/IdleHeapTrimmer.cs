using System.Runtime;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Actors.Xmpp.Server.Hosting;

/// <summary>
/// Gives memory back to the operating system after a burst (a login storm, a flood of presence): the .NET GC only
/// collects when something allocates, so after the burst the garbage it left — and the committed memory holding it —
/// stays until the next burst. Once a second this service looks at the allocation rate; when the server has been idle
/// for <see cref="XmppServerOptions.MemorySettings.IdleSeconds"/> and the committed heap grew by
/// <see cref="XmppServerOptions.MemorySettings.TrimGrowthMegabytes"/> since the last trim, it runs one blocking,
/// compacting collection that decommits what is free (<see cref="GCCollectionMode.Aggressive"/>). It is what Erlang's
/// hibernation does for an idle ejabberd session, once for the whole heap. At 10,000 idle sessions it returned about
/// 12 KiB per session (docs/benchmarks.md).
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
    public sealed class Policy(int idleTicks, long idleBytesPerTick, long growthBytes)
    {
        private long _lastAllocated = -1;
        private int _idleTicks;
        private long _committedAfterTrim;

        /// <summary>Starts from the current state (nothing to trim yet).</summary>
        public void Reset(long allocatedBytes, long committedBytes)
        {
            _lastAllocated = allocatedBytes;
            _idleTicks = 0;
            _committedAfterTrim = committedBytes;
        }

        /// <summary>One sample: total bytes allocated so far and the committed heap. True: trim now.</summary>
        public bool Tick(long allocatedBytes, long committedBytes)
        {
            var delta = _lastAllocated < 0 ? long.MaxValue : allocatedBytes - _lastAllocated;
            _lastAllocated = allocatedBytes;
            _idleTicks = delta <= idleBytesPerTick ? _idleTicks + 1 : 0;
            if (committedBytes < _committedAfterTrim) _committedAfterTrim = committedBytes; // the GC gave some back itself
            return _idleTicks >= idleTicks && committedBytes - _committedAfterTrim >= growthBytes;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_settings.TrimWhenIdle) return;
        var policy = new Policy(Math.Max(1, _settings.IdleSeconds), (long)(_settings.IdleAllocationMegabytesPerSecond * 1024 * 1024),
            (long)_settings.TrimGrowthMegabytes * 1024 * 1024);
        policy.Reset(GC.GetTotalAllocatedBytes(), GC.GetGCMemoryInfo().TotalCommittedBytes);
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
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
