using System.Collections.Concurrent;
using System.Net;

namespace Actors.Xmpp.Server.Security;

/// <summary>Counts failed logins per remote address in a sliding one-minute window (thread-safe).</summary>
public sealed class LoginRateLimiter
{
    private readonly int _maxPerMinute;
    private readonly ConcurrentDictionary<IPAddress, Window> _windows = new();

    public LoginRateLimiter(int maxFailuresPerMinute) => _maxPerMinute = maxFailuresPerMinute;

    /// <summary>True if this address may try to log in now.</summary>
    public bool Allowed(EndPoint? remote)
    {
        if (_maxPerMinute <= 0 || remote is not IPEndPoint ip) return true;
        if (!_windows.TryGetValue(ip.Address, out var w)) return true;
        lock (w) return w.Count(Environment.TickCount64) < _maxPerMinute;
    }

    public void Failed(EndPoint? remote)
    {
        if (_maxPerMinute <= 0 || remote is not IPEndPoint ip) return;
        var w = _windows.GetOrAdd(ip.Address, _ => new Window());
        lock (w) w.Add(Environment.TickCount64);
        if (_windows.Count > 100_000) Sweep();
    }

    private void Sweep()
    {
        var now = Environment.TickCount64;
        foreach (var kv in _windows)
            lock (kv.Value)
                if (kv.Value.Count(now) == 0) _windows.TryRemove(kv.Key, out _);
    }

    private sealed class Window
    {
        private readonly Queue<long> _failures = new();

        public void Add(long now)
        {
            Count(now);
            _failures.Enqueue(now);
        }

        public int Count(long now)
        {
            while (_failures.Count > 0 && now - _failures.Peek() > 60_000) _failures.Dequeue();
            return _failures.Count;
        }
    }
}
