using Actors.Xmpp.Plugins;
using Akka.Actor;
using Akka.Event;

namespace Actors.Xmpp.Server.Lifecycle;

/// <summary>
/// The lifecycle events of the server (<see cref="ServerEventKind"/>): sessions bound, resumed and closed, accounts
/// created, re-keyed and removed. Raised by the actor where the fact happens (the accounts actor after the event is
/// journaled, the session actor at bind and at its end) and handed to the handlers registered for the kind, higher
/// priority first, on the raising actor's thread. One instance per actor system (an Akka extension), so the raising
/// actors need no extra constructor parameter.
/// </summary>
public sealed class ServerEvents : IExtension
{
    private readonly ILoggingAdapter _log;
    private readonly object _lock = new();
    // copy-on-write arrays per kind: raising reads without a lock
    private readonly Registration[][] _handlers;
    private long _order;

    private sealed record Registration(ServerEventHandler Handler, int Priority, long Order);

    public ServerEvents(ExtendedActorSystem system)
    {
        _log = Logging.GetLogger(system, typeof(ServerEvents));
        _handlers = new Registration[Enum.GetValues<ServerEventKind>().Length][];
        for (var i = 0; i < _handlers.Length; i++) _handlers[i] = [];
    }

    public static ServerEvents Of(ActorSystem system) => system.WithExtension<ServerEvents, ServerEventsProvider>();

    /// <summary>Registers a handler; disposing the result removes it.</summary>
    public IDisposable On(ServerEventKind kind, ServerEventHandler handler, int priority = 0)
    {
        var registration = new Registration(handler, priority, Interlocked.Increment(ref _order));
        lock (_lock)
        {
            var list = new List<Registration>(_handlers[(int)kind]) { registration };
            // higher priority first, then in registration order
            list.Sort((a, b) => a.Priority != b.Priority ? b.Priority.CompareTo(a.Priority) : a.Order.CompareTo(b.Order));
            _handlers[(int)kind] = list.ToArray();
        }
        return new Removal(this, kind, registration);
    }

    /// <summary>Hands the event to every handler of its kind. Never throws: failures are logged.</summary>
    public void Raise(ServerEventKind kind, Jid jid)
    {
        var handlers = Volatile.Read(ref _handlers[(int)kind]);
        if (handlers.Length == 0) return;
        var e = new ServerEvent(kind, jid);
        foreach (var r in handlers)
        {
            try
            {
                var pending = r.Handler(e);
                if (!pending.IsCompletedSuccessfully) _ = Observe(pending, e);
            }
            catch (Exception ex)
            {
                _log.Error(ex, "a {0} handler failed for {1}", kind, jid);
            }
        }
    }

    /// <summary>How many handlers are registered for the kind.</summary>
    public int Count(ServerEventKind kind) => Volatile.Read(ref _handlers[(int)kind]).Length;

    /// <summary>An account event: the JID is made only if someone listens (bulk account creation raises thousands).</summary>
    public void RaiseForAccount(ServerEventKind kind, string user, string domain)
    {
        if (Volatile.Read(ref _handlers[(int)kind]).Length > 0) Raise(kind, Jid.Parse(user + "@" + domain));
    }

    private async Task Observe(ValueTask pending, ServerEvent e)
    {
        try { await pending.ConfigureAwait(false); }
        catch (Exception ex) { _log.Error(ex, "a {0} handler failed for {1}", e.Kind, e.Jid); }
    }

    private void Remove(ServerEventKind kind, Registration registration)
    {
        lock (_lock)
        {
            var list = new List<Registration>(_handlers[(int)kind]);
            list.Remove(registration);
            _handlers[(int)kind] = list.ToArray();
        }
    }

    private sealed class Removal(ServerEvents owner, ServerEventKind kind, Registration registration) : IDisposable
    {
        private int _done;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) owner.Remove(kind, registration);
        }
    }
}

public sealed class ServerEventsProvider : ExtensionIdProvider<ServerEvents>
{
    public override ServerEvents CreateExtension(ExtendedActorSystem system) => new(system);
}
