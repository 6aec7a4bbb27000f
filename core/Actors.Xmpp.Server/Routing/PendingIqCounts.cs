using System.Collections.Concurrent;

namespace Actors.Xmpp.Server.Routing;

/// <summary>
/// IQ requests under way per sender (a full JID) in handlers that answer later, for
/// <see cref="StanzaRouter.MaxPendingIqsPerSender"/>. A sender's requests arrive one at a time from its session actor, so
/// the check before a request and the count after it need no lock between them; an entry is removed when its count
/// returns to zero (a sender with nothing under way costs nothing).
/// </summary>
internal sealed class PendingIqCounts
{
    private readonly ConcurrentDictionary<Jid, int> _counts = new();

    /// <summary>The most requests one sender may have under way; 0: no cap.</summary>
    public int Max { get; set; }

    public bool IsFull(Jid sender) => Max > 0 && _counts.TryGetValue(sender, out var n) && n >= Max;

    public void Enter(Jid sender)
    {
        if (Max <= 0) return;
        _counts.AddOrUpdate(sender, 1, static (_, n) => n + 1);
    }

    public void Exit(Jid sender)
    {
        if (Max <= 0) return;
        while (_counts.TryGetValue(sender, out var n))
        {
            if (n <= 1)
            {
                if (_counts.TryRemove(new KeyValuePair<Jid, int>(sender, n))) return;
            }
            else if (_counts.TryUpdate(sender, n - 1, n)) return;
        }
    }

    /// <summary>Senders with requests under way (for tests and diagnostics).</summary>
    public int Senders => _counts.Count;
}
