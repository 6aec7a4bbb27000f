using System.Net;

namespace Actors.Xmpp.Transport.Admission;

/// <summary>What a <see cref="ReadShaper"/> allows one connection (ejabberd's shapers, Prosody's mod_limits).</summary>
/// <param name="BytesPerSecond">Bytes per second read from one connection, on average; 0: not shaped.</param>
/// <param name="BurstBytes">Bytes read at once before the rate applies (a login, a roster, a large stanza).</param>
/// <param name="ExemptLoopback">Loopback clients (local load tests, a reverse proxy on the host) are not shaped.</param>
public sealed record ShaperLimits(int BytesPerSecond = 0, int BurstBytes = 512 * 1024, bool ExemptLoopback = true)
{
    /// <summary>A shaper for a connection from <paramref name="remote"/>, or null when it is not shaped.</summary>
    public ReadShaper? For(EndPoint? remote) =>
        BytesPerSecond <= 0 || (ExemptLoopback && remote is IPEndPoint ip && IPAddress.IsLoopback(ip.Address)) ? null : new ReadShaper(this);
}

/// <summary>
/// A token bucket over the bytes one connection reads: after each read the transport asks how long to wait before the
/// next one. A flooding client is slowed where it costs nothing (its bytes wait in its own socket buffer and then in
/// its TCP window, not in the server's memory) instead of being read, parsed and routed at line rate; a client inside
/// its rate never waits. One per connection, used by its read loop only (not thread-safe).
/// </summary>
public sealed class ReadShaper
{
    private readonly ShaperLimits _limits;
    private double _tokens;
    private long _refilled;

    public ReadShaper(ShaperLimits limits) : this(limits, Environment.TickCount64) { }

    internal ReadShaper(ShaperLimits limits, long now)
    {
        _limits = limits;
        _tokens = Math.Max(1, limits.BurstBytes);
        _refilled = now;
    }

    /// <summary>Counts <paramref name="bytes"/> just read; returns how long to wait before reading again (zero: at once).</summary>
    public TimeSpan Consume(int bytes) => Consume(bytes, Environment.TickCount64);

    internal TimeSpan Consume(int bytes, long now)
    {
        _tokens = Math.Min(Math.Max(1, _limits.BurstBytes), _tokens + (now - _refilled) * (double)_limits.BytesPerSecond / 1000.0);
        _refilled = now;
        _tokens -= bytes;
        if (_tokens >= 0) return TimeSpan.Zero;
        return TimeSpan.FromMilliseconds(Math.Ceiling(-_tokens * 1000.0 / _limits.BytesPerSecond));
    }
}
