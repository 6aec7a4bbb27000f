using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Server.Routing;

/// <summary>
/// Stanza hooks by point, highest priority first; a hook returning true stops the chain and the server's own
/// processing (Prosody's "return true", ejabberd's {stop, Acc}). Copy-on-write arrays: lookups take no lock.
/// </summary>
public sealed class StanzaHooks
{
    private readonly object _lock = new();
    private const int PointCount = (int)HookPoint.PresenceBroadcast + 1;
    private readonly Entry[][] _byPoint = NewTable(); // replaced whole per point (copy-on-write), read without a lock
    private long _seq;

    private sealed record Entry(int Priority, long Seq, StanzaHook Handler);

    /// <summary>Called with the exception of a hook that threw (the chain goes on).</summary>
    public Action<Exception>? Failed { get; set; }

    public IDisposable Add(HookPoint point, int priority, StanzaHook handler)
    {
        Entry entry;
        lock (_lock)
        {
            entry = new Entry(priority, ++_seq, handler);
            Set(point, Get(point).Append(entry).OrderByDescending(e => e.Priority).ThenBy(e => e.Seq).ToArray());
        }
        return new Undo(() =>
        {
            lock (_lock) Set(point, Get(point).Where(e => !ReferenceEquals(e, entry)).ToArray());
        });
    }

    /// <summary>True when a hook handled the stanza.</summary>
    public bool Run(HookPoint point, Element stanza, Jid session) => Run(point, stanza, session, null);

    /// <summary>True when a hook handled the stanza; <paramref name="from"/> is the stanza's validated sender.</summary>
    public bool Run(HookPoint point, Element stanza, Jid session, Jid? from)
    {
        var hooks = Get(point);
        if (hooks.Length == 0) return false;
        var e = new StanzaEvent(point, stanza, session) { From = from };
        foreach (var h in hooks)
        {
            try
            {
                if (h.Handler(e)) return true;
            }
            catch (Exception ex) // a failing plugin hook must not take the session down
            {
                Failed?.Invoke(ex);
            }
        }
        return false;
    }

    /// <summary>True when some hook is registered at <paramref name="point"/> (callers skip building arguments otherwise).</summary>
    public bool Any(HookPoint point) => Get(point).Length != 0;

    private static Entry[][] NewTable()
    {
        var table = new Entry[PointCount][];
        for (var i = 0; i < table.Length; i++) table[i] = [];
        return table;
    }

    private Entry[] Get(HookPoint p) => Volatile.Read(ref _byPoint[Index(p)]);

    private void Set(HookPoint p, Entry[] value) => Volatile.Write(ref _byPoint[Index(p)], value);

    private static int Index(HookPoint p) =>
        (uint)p < PointCount ? (int)p : throw new ArgumentOutOfRangeException(nameof(p), p, "unknown hook point");

    private sealed class Undo(Action undo) : IDisposable
    {
        private Action? _undo = undo;
        public void Dispose() => Interlocked.Exchange(ref _undo, null)?.Invoke();
    }
}
