using System.Net;

namespace Actors.Xmpp.Transport.Admission;

/// <summary>What <see cref="ConnectionAdmission"/> enforces per <see cref="AddressGroup"/> (XEP-0205 §3).</summary>
/// <param name="MaxConnectionsPerAddress">Connections open at once from one address group; 0: no cap.</param>
/// <param name="NewConnectionsPerSecond">New connections per second one address group may open, on average; 0: no cap.</param>
/// <param name="NewConnectionsBurst">New connections one address group may open at once before the rate applies.</param>
/// <param name="ExemptLoopback">Loopback addresses (local load tests, a reverse proxy on the same host) are not capped.</param>
public sealed record AdmissionLimits(int MaxConnectionsPerAddress = 100, double NewConnectionsPerSecond = 5, int NewConnectionsBurst = 30,
    bool ExemptLoopback = true);

/// <summary>
/// Per-address connection caps and connection-rate caps, checked as each connection is accepted (thread-safe). A
/// refused connection never takes one of the listener's global slots, so one address filling its own cap cannot
/// freeze accepts for everyone else. The rate is a token bucket per address group: <see cref="AdmissionLimits.NewConnectionsBurst"/>
/// connections at once, then <see cref="AdmissionLimits.NewConnectionsPerSecond"/>.
/// </summary>
public sealed class ConnectionAdmission
{
    /// <summary>Why a connection was refused (the text of the stream error it gets).</summary>
    public const string TooManyConnections = "too many connections from your address";
    public const string TooFast = "connecting too fast from your address; slow down";

    private readonly AdmissionLimits _limits;
    private readonly Dictionary<AddressGroup, Entry> _entries = new();
    private readonly object _lock = new();
    private int _sweepAt = 1024;

    public ConnectionAdmission(AdmissionLimits limits) => _limits = limits;

    public AdmissionLimits Limits => _limits;

    /// <summary>Connections counted open for <paramref name="address"/>'s group (tests, diagnostics).</summary>
    public int OpenConnections(IPAddress address)
    {
        lock (_lock) return _entries.TryGetValue(AddressGroup.Of(address), out var e) ? e.Open : 0;
    }

    /// <summary>Admits a new connection from <paramref name="address"/> and counts it open (pair with
    /// <see cref="Release"/>), or returns why not (null: admitted).</summary>
    public string? TryAdmit(IPAddress address)
    {
        if (_limits.ExemptLoopback && IPAddress.IsLoopback(address)) return null;
        if (_limits.MaxConnectionsPerAddress <= 0 && _limits.NewConnectionsPerSecond <= 0) return null;
        var group = AddressGroup.Of(address);
        var now = Environment.TickCount64;
        lock (_lock)
        {
            if (!_entries.TryGetValue(group, out var e))
            {
                if (_entries.Count >= _sweepAt) Sweep(now);
                e = new Entry { Tokens = _limits.NewConnectionsBurst, Refilled = now };
                _entries.Add(group, e);
            }
            if (_limits.MaxConnectionsPerAddress > 0 && e.Open >= _limits.MaxConnectionsPerAddress) return TooManyConnections;
            if (_limits.NewConnectionsPerSecond > 0)
            {
                e.Refill(now, _limits);
                if (e.Tokens < 1) return TooFast;
                e.Tokens -= 1;
            }
            e.Open++;
            return null;
        }
    }

    /// <summary>A connection <see cref="TryAdmit"/> admitted has closed.</summary>
    public void Release(IPAddress address)
    {
        if (_limits.ExemptLoopback && IPAddress.IsLoopback(address)) return;
        if (_limits.MaxConnectionsPerAddress <= 0 && _limits.NewConnectionsPerSecond <= 0) return;
        lock (_lock)
            if (_entries.TryGetValue(AddressGroup.Of(address), out var e) && e.Open > 0) e.Open--;
    }

    // entries with no open connection and a full bucket carry no information: dropped once the table has grown
    private void Sweep(long now)
    {
        List<AddressGroup>? idle = null;
        foreach (var (group, e) in _entries)
        {
            e.Refill(now, _limits);
            if (e.Open == 0 && e.Tokens >= _limits.NewConnectionsBurst) (idle ??= new()).Add(group);
        }
        if (idle is not null) foreach (var g in idle) _entries.Remove(g);
        _sweepAt = Math.Max(1024, _entries.Count * 2);
    }

    private sealed class Entry
    {
        public int Open;
        public double Tokens;
        public long Refilled;

        public void Refill(long now, AdmissionLimits limits)
        {
            if (limits.NewConnectionsPerSecond <= 0) return;
            Tokens = Math.Min(limits.NewConnectionsBurst, Tokens + (now - Refilled) * limits.NewConnectionsPerSecond / 1000.0);
            Refilled = now;
        }
    }
}
