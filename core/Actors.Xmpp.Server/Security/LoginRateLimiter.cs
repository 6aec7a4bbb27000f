using System.Net;
using Actors.Xmpp.Transport.Admission;

namespace Actors.Xmpp.Server.Security;

/// <summary>
/// Login throttling per address group (an IPv4 address, an IPv6 /64: <see cref="AddressGroup"/>), thread-safe.
/// <list type="bullet">
/// <item>An attempt counts from its &lt;auth/&gt; (<see cref="Begin"/>), not from its failure one round trip later: a
/// client opening many streams at once gets no more guesses than one stream would. A success, or an exchange that
/// ended without checking a password (aborted, a mechanism probe), gives it back; a failed check keeps it.</item>
/// <item>At most <see cref="LoginLimits.MaxFailuresPerMinute"/> attempts per minute; reaching it bans the group for
/// <see cref="LoginLimits.BanSeconds"/> once that many have failed (every &lt;auth/&gt; meanwhile gets &lt;temporary-auth-failure/&gt; with the
/// seconds left, RFC 6120 §6.5.11).</item>
/// <item>At most <see cref="LoginLimits.MaxConcurrentExchanges"/> SASL exchanges under way at once.</item>
/// </list>
/// </summary>
public sealed class LoginRateLimiter
{
    private readonly LoginLimits _limits;
    private readonly Dictionary<AddressGroup, Window> _windows = new();
    private readonly object _lock = new();
    private int _sweepAt = 1024;

    public LoginRateLimiter(int maxFailuresPerMinute) : this(new LoginLimits(maxFailuresPerMinute)) { }

    public LoginRateLimiter(LoginLimits limits) => _limits = limits;

    /// <summary>What <see cref="Begin"/> decided.</summary>
    /// <param name="Refusal">Null: the exchange may start (pair it with one <see cref="End"/>); else the text of the
    /// &lt;temporary-auth-failure/&gt;.</param>
    public readonly record struct Verdict(string? Refusal)
    {
        public bool Allowed => Refusal is null;
    }

    /// <summary>A SASL exchange starts (&lt;auth/&gt;): counted now, against the minute's attempts and the exchanges under way.</summary>
    public Verdict Begin(EndPoint? remote)
    {
        if (AddressGroup.Of(remote) is not { } group) return default;
        var exempt = Exempt(remote);
        if (_limits.MaxFailuresPerMinute <= 0 && (_limits.MaxConcurrentExchanges <= 0 || exempt)) return default;
        var now = Environment.TickCount64;
        lock (_lock)
        {
            if (!_windows.TryGetValue(group, out var w))
            {
                if (_windows.Count >= _sweepAt) Sweep(now);
                _windows.Add(group, w = new Window());
            }
            if (w.BannedUntil > now)
                return new($"too many failed logins from your address; try again in {(w.BannedUntil - now + 999) / 1000} seconds");
            if (_limits.MaxConcurrentExchanges > 0 && !exempt && w.UnderWay >= _limits.MaxConcurrentExchanges)
                return new("too many authentication exchanges under way from your address; finish one first");
            if (_limits.MaxFailuresPerMinute > 0)
            {
                // attempts under way count too (that is what stops parallel guessing), but only failures ban
                if (w.Count(now) >= _limits.MaxFailuresPerMinute)
                    return new($"too many login attempts from your address; try again in {(w.Attempts.Peek() + 60_000 - now + 999) / 1000} seconds");
                if (!exempt) w.Attempts.Enqueue(now); // an exempt (loopback) attempt counts once it failed
            }
            w.UnderWay++;
            return default;
        }
    }

    /// <summary>The exchange <see cref="Begin"/> allowed is over: <paramref name="failedCheck"/> when a password (or
    /// other credential) was checked and was wrong; otherwise its attempt is given back.</summary>
    public void End(EndPoint? remote, bool failedCheck)
    {
        if (AddressGroup.Of(remote) is not { } group) return;
        var now = Environment.TickCount64;
        lock (_lock)
        {
            if (!_windows.TryGetValue(group, out var w)) return;
            if (w.UnderWay > 0) w.UnderWay--;
            if (_limits.MaxFailuresPerMinute <= 0) return;
            var exempt = Exempt(remote);
            if (!failedCheck)
            {
                if (!exempt) w.GiveBack();
                return;
            }
            if (exempt) w.Attempts.Enqueue(now);
            w.Failures.Enqueue(now);
            if (w.FailureCount(now) >= _limits.MaxFailuresPerMinute) Ban(w, now);
        }
    }

    /// <summary>True while <paramref name="remote"/>'s group is banned (tests, diagnostics).</summary>
    public bool Banned(EndPoint? remote)
    {
        if (AddressGroup.Of(remote) is not { } group) return false;
        lock (_lock) return _windows.TryGetValue(group, out var w) && w.BannedUntil > Environment.TickCount64;
    }

    private bool Exempt(EndPoint? remote) => _limits.ExemptLoopback && remote is IPEndPoint ip && IPAddress.IsLoopback(ip.Address);

    private void Ban(Window w, long now)
    {
        if (_limits.BanSeconds > 0) w.BannedUntil = Math.Max(w.BannedUntil, now + _limits.BanSeconds * 1000L);
    }

    private void Sweep(long now)
    {
        List<AddressGroup>? idle = null;
        foreach (var (group, w) in _windows)
            if (w.UnderWay == 0 && w.BannedUntil <= now && w.Count(now) == 0 && w.FailureCount(now) == 0) (idle ??= new()).Add(group);
        if (idle is not null) foreach (var g in idle) _windows.Remove(g);
        _sweepAt = Math.Max(1024, _windows.Count * 2);
    }

    private sealed class Window
    {
        public readonly Queue<long> Attempts = new(); // under way or failed, this minute
        public readonly Queue<long> Failures = new(); // failed, this minute
        public int UnderWay;
        public long BannedUntil;

        public int Count(long now)
        {
            while (Attempts.Count > 0 && now - Attempts.Peek() > 60_000) Attempts.Dequeue();
            return Attempts.Count;
        }

        public int FailureCount(long now)
        {
            while (Failures.Count > 0 && now - Failures.Peek() > 60_000) Failures.Dequeue();
            return Failures.Count;
        }

        /// <summary>Drops the latest attempt (the one being given back; an older one may have expired already).</summary>
        public void GiveBack()
        {
            if (Attempts.Count == 0) return;
            // a Queue has no "remove last": rotate it (the queue holds at most the minute's limit)
            var n = Attempts.Count - 1;
            for (var i = 0; i < n; i++) Attempts.Enqueue(Attempts.Dequeue());
            Attempts.Dequeue();
        }
    }
}

/// <param name="MaxFailuresPerMinute">Login attempts per address group per minute that may fail; 0: unlimited.</param>
/// <param name="BanSeconds">How long an address group that reached <paramref name="MaxFailuresPerMinute"/> is refused.</param>
/// <param name="MaxConcurrentExchanges">SASL exchanges under way at once per address group; 0: unlimited.</param>
/// <param name="ExemptLoopback">Loopback addresses (local load tests, a reverse proxy on the host) are not capped by
/// exchanges under way: neither the concurrency cap nor counting at &lt;auth/&gt; applies to them; their failed logins
/// count when they fail, and ban as any.</param>
public sealed record LoginLimits(int MaxFailuresPerMinute = 10, int BanSeconds = 300, int MaxConcurrentExchanges = 16, bool ExemptLoopback = true);
