using System.Collections.Concurrent;
using Akka.Actor;

namespace Actors.Xmpp.Server.Routing;

/// <summary>Single-node <see cref="ISessionRegistry"/>: bare JID → copy-on-write array of resources.</summary>
public sealed class LocalSessionRegistry : ISessionRegistry
{
    private readonly ConcurrentDictionary<Jid, SessionEntry[]> _byBare = new();
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public SessionEntry? Register(SessionEntry entry)
    {
        SessionEntry? replaced = null;
        var bare = entry.Jid.Bare;
        while (true)
        {
            if (!_byBare.TryGetValue(bare, out var current))
            {
                if (_byBare.TryAdd(bare, [entry])) break;
                continue;
            }
            var index = IndexOf(current, entry.Jid);
            SessionEntry[] next;
            if (index >= 0)
            {
                replaced = current[index];
                next = (SessionEntry[])current.Clone();
                next[index] = entry;
            }
            else
            {
                replaced = null;
                next = new SessionEntry[current.Length + 1];
                current.CopyTo(next, 0);
                next[^1] = entry;
            }
            if (_byBare.TryUpdate(bare, next, current)) break;
        }
        if (replaced is null) Interlocked.Increment(ref _count);
        return replaced;
    }

    public bool Unregister(Jid fullJid, IActorRef session)
    {
        var bare = fullJid.Bare;
        while (true)
        {
            if (!_byBare.TryGetValue(bare, out var current)) return false;
            var index = IndexOf(current, fullJid);
            if (index < 0 || !current[index].Session.Equals(session)) return false;
            if (current.Length == 1)
            {
                if (!_byBare.TryRemove(new KeyValuePair<Jid, SessionEntry[]>(bare, current))) continue;
            }
            else
            {
                var next = new SessionEntry[current.Length - 1];
                for (int i = 0, j = 0; i < current.Length; i++)
                    if (i != index) next[j++] = current[i];
                if (!_byBare.TryUpdate(bare, next, current)) continue;
            }
            Interlocked.Decrement(ref _count);
            return true;
        }
    }

    public void UpdatePresence(Jid fullJid, IActorRef session, bool available, int priority)
    {
        var bare = fullJid.Bare;
        while (true)
        {
            if (!_byBare.TryGetValue(bare, out var current)) return;
            var index = IndexOf(current, fullJid);
            if (index < 0 || !current[index].Session.Equals(session)) return;
            var next = (SessionEntry[])current.Clone();
            next[index] = current[index] with { Available = available, Priority = priority };
            if (_byBare.TryUpdate(bare, next, current)) return;
        }
    }

    public SessionEntry? Find(Jid fullJid)
    {
        if (!_byBare.TryGetValue(fullJid.Bare, out var current)) return null;
        var index = IndexOf(current, fullJid);
        return index >= 0 ? current[index] : null;
    }

    public IReadOnlyList<SessionEntry> Resources(Jid bareJid) =>
        _byBare.TryGetValue(bareJid.IsBare ? bareJid : bareJid.Bare, out var current) ? current : Array.Empty<SessionEntry>();

    public IEnumerable<SessionEntry> All()
    {
        foreach (var kv in _byBare)
            foreach (var e in kv.Value)
                yield return e;
    }

    private static int IndexOf(SessionEntry[] entries, Jid fullJid)
    {
        for (var i = 0; i < entries.Length; i++)
            if (entries[i].Jid.Equals(fullJid)) return i;
        return -1;
    }
}
