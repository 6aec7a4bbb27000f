using System.Net;

namespace Actors.Xmpp.Transport.Admission;

/// <summary>What a <see cref="ReadShaper"/> allows one connection (ejabberd's shapers, Prosody's mod_limits).</summary>
/// <param name="BytesPerSecond">Bytes per second read from one connection, on average; 0: bytes not shaped.</param>
/// <param name="BurstBytes">Bytes read at once before the rate applies (a login, a roster, a large stanza).</param>
/// <param name="ExemptLoopback">Loopback clients (local load tests, a reverse proxy on the host) are not shaped.</param>
/// <param name="StanzasPerSecond">Stanzas per second taken from one connection, on average; 0: stanzas not shaped.</param>
/// <param name="BurstStanzas">Stanzas taken at once before <paramref name="StanzasPerSecond"/> applies.</param>
public sealed record ShaperLimits(int BytesPerSecond = 0, int BurstBytes = 512 * 1024, bool ExemptLoopback = true,
    int StanzasPerSecond = 0, int BurstStanzas = 1000)
{
    /// <summary>Nothing shaped.</summary>
    public static readonly ShaperLimits None = new();

    public bool Shapes => BytesPerSecond > 0 || StanzasPerSecond > 0;

    /// <summary>A shaper for a connection from <paramref name="remote"/>, or null when it is not shaped.</summary>
    public ReadShaper? For(EndPoint? remote) =>
        !Shapes || (ExemptLoopback && remote is IPEndPoint ip && IPAddress.IsLoopback(ip.Address)) ? null : new ReadShaper(this);
}

/// <summary>
/// Token buckets over the bytes and the stanzas one connection reads: after each read the transport asks how long to
/// wait before the next one. A flooding client is slowed where it costs nothing (its bytes wait in its own socket
/// buffer and then in its TCP window, not in the server's memory) instead of being read, parsed and routed at line
/// rate; a client inside its rates never waits. One per connection, used by its read loop only (not thread-safe).
/// </summary>
public sealed class ReadShaper
{
    private readonly ShaperLimits _limits;
    private double _byteTokens, _stanzaTokens;
    private long _refilled;

    public ReadShaper(ShaperLimits limits) : this(limits, Environment.TickCount64) { }

    internal ReadShaper(ShaperLimits limits, long now)
    {
        _limits = limits;
        _byteTokens = Math.Max(1, limits.BurstBytes);
        _stanzaTokens = Math.Max(1, limits.BurstStanzas);
        _refilled = now;
    }

    public ShaperLimits Limits => _limits;

    /// <summary>Counts <paramref name="bytes"/> just read (and the <paramref name="stanzas"/> they completed); returns how
    /// long to wait before reading again (zero: at once).</summary>
    public TimeSpan Consume(int bytes, int stanzas = 0) => Consume(bytes, stanzas, Environment.TickCount64);

    internal TimeSpan Consume(int bytes, long now) => Consume(bytes, 0, now);

    internal TimeSpan Consume(int bytes, int stanzas, long now)
    {
        var elapsed = now - _refilled;
        _refilled = now;
        var wait = 0.0;
        if (_limits.BytesPerSecond > 0)
            wait = Take(ref _byteTokens, bytes, elapsed, _limits.BytesPerSecond, _limits.BurstBytes);
        if (_limits.StanzasPerSecond > 0)
            wait = Math.Max(wait, Take(ref _stanzaTokens, stanzas, elapsed, _limits.StanzasPerSecond, _limits.BurstStanzas));
        return wait <= 0 ? TimeSpan.Zero : TimeSpan.FromMilliseconds(Math.Ceiling(wait));
    }

    /// <summary>Refills one bucket for <paramref name="elapsedMs"/>, takes <paramref name="amount"/>; the milliseconds
    /// until it is back at zero (0 when it is not in debt).</summary>
    private static double Take(ref double tokens, int amount, long elapsedMs, int perSecond, int burst)
    {
        tokens = Math.Min(Math.Max(1, burst), tokens + elapsedMs * (double)perSecond / 1000.0);
        tokens -= amount;
        return tokens >= 0 ? 0 : -tokens * 1000.0 / perSecond;
    }
}
