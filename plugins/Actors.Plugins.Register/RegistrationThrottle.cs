namespace Actors.Plugins.Register;

/// <summary>
/// How many accounts each remote address created in the last period (XEP-0077 §3.1.1: a server MAY refuse
/// an entity that registers too many times; Prosody's registration_throttle_max per registration_throttle_period,
/// ejabberd's registration_timeout). An address that created <see cref="_max"/> accounts within the period is refused
/// until the oldest of them is a period old. Thread-safe (the handlers run on connection threads);
/// <see cref="DropExpired"/> runs from the plugin's timer.
/// </summary>
internal sealed class RegistrationThrottle(int max, TimeSpan period, Func<long> clockMs)
{
    private readonly int _max = max;
    private readonly long _periodMs = (long)period.TotalMilliseconds;
    private readonly Dictionary<string, Queue<long>> _created = new(StringComparer.Ordinal);

    /// <summary>Takes one of <paramref name="address"/>'s registrations of the period: false when it has none left, with
    /// how long until one is free again (0: no limit; an unknown address, from a transport without one, is not limited).
    /// Give it back with <see cref="Return"/> if the account is not created after all.</summary>
    public bool TryTake(string? address, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        if (_max <= 0 || address is null) return true;
        lock (_created)
        {
            if (!_created.TryGetValue(address, out var times)) _created[address] = times = new Queue<long>();
            var now = clockMs();
            Expire(times, now);
            if (times.Count >= _max)
            {
                retryAfter = TimeSpan.FromMilliseconds(Math.Max(0, times.Peek() + _periodMs - now));
                return false;
            }
            times.Enqueue(now);
            return true;
        }
    }

    /// <summary>Gives back a registration taken with <see cref="TryTake"/> (the account was not created).</summary>
    public void Return(string? address)
    {
        if (_max <= 0 || address is null) return;
        lock (_created)
        {
            if (!_created.TryGetValue(address, out var times) || times.Count == 0) return;
            // the newest is this one's (or one as new): drop it, keep the order of the others
            var kept = times.ToArray();
            times.Clear();
            for (var i = 0; i < kept.Length - 1; i++) times.Enqueue(kept[i]);
        }
    }

    /// <summary>Forgets addresses with no registration in the last period.</summary>
    public void DropExpired()
    {
        lock (_created)
        {
            var now = clockMs();
            List<string>? idle = null;
            foreach (var (address, times) in _created)
            {
                Expire(times, now);
                if (times.Count == 0) (idle ??= new List<string>()).Add(address);
            }
            if (idle is not null)
                foreach (var address in idle) _created.Remove(address);
        }
    }

    private void Expire(Queue<long> times, long now)
    {
        while (times.Count > 0 && now - times.Peek() >= _periodMs) times.Dequeue();
    }
}
