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
    private volatile Entry[] _fromClient = [];
    private volatile Entry[] _deliver = [];
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
    public bool Run(HookPoint point, Element stanza, Jid session)
    {
        var hooks = Get(point);
        if (hooks.Length == 0) return false;
        var e = new StanzaEvent(point, stanza, session);
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

    private Entry[] Get(HookPoint p) => p == HookPoint.FromClient ? _fromClient : _deliver;

    private void Set(HookPoint p, Entry[] value)
    {
        if (p == HookPoint.FromClient) _fromClient = value;
        else _deliver = value;
    }

    private sealed class Undo(Action undo) : IDisposable
    {
        private Action? _undo = undo;
        public void Dispose() => Interlocked.Exchange(ref _undo, null)?.Invoke();
    }
}
