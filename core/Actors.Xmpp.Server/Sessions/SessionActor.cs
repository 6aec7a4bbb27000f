using Actors.Xmpp.Server.Routing;
using System.Collections.Immutable;
using Actors.Xmpp.Server.Stanzas;
using Actors.Xmpp.Stanzas;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Transport.Connections;
using Actors.Xmpp.Xml;
using Akka.Actor;

namespace Actors.Xmpp.Server.Sessions;

/// <summary>
/// One bound resource (RFC 6120 §7): stamps and validates what its client sends and hands it to the router, keeps
/// the resource's presence (availability, priority, directed presence) and writes what the router delivers to the
/// client. A child of the <see cref="SessionsActor"/>, not of its connection: it knows its client only as an
/// <see cref="ITransportConnection"/> and a connection actor, and outlives them. Lifecycle (docs/architecture.md):
/// bound = attached; the connection lost = detached (closed at once unless <see cref="Settings.ResumptionWindow"/> is
/// set; while detached, what is delivered waits for the next connection); attached again, or closed at the end of the
/// window. Unavailable presence is broadcast only when it is really closed (PostStop).
/// </summary>
public sealed class SessionActor : UntypedActor
{
    /// <summary>A stanza from the client (already known to be message, presence or iq in jabber:client).</summary>
    public sealed record FromClient(Element Stanza);

    /// <summary>What the sessions supervisor gives every session.</summary>
    /// <param name="ResumptionWindow">How long a detached session waits for a new connection; zero closes it at once.</param>
    /// <param name="MaxDetachedStanzas">Stanzas kept while detached; one more closes the session.</param>
    /// <param name="Timers">The server's timer wheel (the resumption window's deadline).</param>
    public sealed record Settings(TimeSpan ResumptionWindow, int MaxDetachedStanzas, TimerWheel Timers);

    /// <summary>Attach to <paramref name="Connection"/> (a detached session, or one whose old connection is still
    /// open: that one is closed with &lt;conflict/&gt;). Only <paramref name="Account"/>'s own sessions attach. Answered
    /// with <see cref="Attached"/> or <see cref="SessionsActor.AttachFailed"/>.</summary>
    public sealed record Attach(Jid Account, ITransportConnection Client, IActorRef Connection);
    /// <summary>The session <paramref name="Session"/> of <paramref name="Jid"/> now writes to the new connection,
    /// starting with the <paramref name="Pending"/> stanzas that arrived while it was detached.</summary>
    public sealed record Attached(string SessionId, Jid Jid, IActorRef Session, int Pending);
    /// <summary>The connection <paramref name="Connection"/> is lost without a stream close: detach from it (ignored
    /// when the session is attached to another connection by then).</summary>
    public sealed record Detach(IActorRef Connection);
    /// <summary>The stream of <paramref name="Connection"/> was closed (client close, stream error, kick): end the
    /// session (ignored when the session is attached to another connection by then).</summary>
    public sealed record Close(IActorRef Connection);
    /// <summary>Asks for the <see cref="State"/> (tests, diagnostics).</summary>
    public sealed record GetState
    {
        public static readonly GetState Instance = new();
    }
    public enum State
    {
        Attached,
        Detached,
    }

    private sealed record ResumptionWindowElapsed
    {
        public static readonly ResumptionWindowElapsed Instance = new();
    }

    private readonly Jid _jid;
    private ITransportConnection? _client;   // null while detached
    private IActorRef? _connection;          // null while detached
    private readonly ISessionRegistry _registry;
    private readonly StanzaRouter _router;
    private readonly Settings _settings;
    private List<Element>? _detachedStanzas; // delivered while detached, for the next connection
    private TimerWheel.Timer? _resumptionDeadline;
    private bool _available;
    private int _priority;
    private HashSet<Jid>? _directedPresence;
    private Element? _lastPresence; // the last broadcast available presence, reported to a restarted user actor
    private bool _rosterRequested;

    public static Props Props(Jid jid, ITransportConnection client, IActorRef connection, ISessionRegistry registry, StanzaRouter router,
        Settings settings) =>
        ActorProps.Of(() => new SessionActor(jid, client, connection, registry, router, settings));

    public SessionActor(Jid jid, ITransportConnection client, IActorRef connection, ISessionRegistry registry, StanzaRouter router,
        Settings settings)
    {
        _jid = jid;
        _client = client;
        _connection = connection;
        _registry = registry;
        _router = router;
        _settings = settings;
    }

    // one switch rather than ReceiveActor's Receive<T> table, which each instance builds (a delegate per handler)
    // and keeps: there is a session per login
    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case SessionMessages.Deliver d:
                if (!_router.Hooks.Run(Plugins.HookPoint.Deliver, d.Stanza, _jid)) Deliver(d.Stanza);
                break;
            case SessionMessages.DeliverPage page:
                DeliverPage(page);
                break;
            case UserActor.ReportPresence:
                _router.Users?.Tell(_jid.Bare,
                    new UserActor.PresenceReport(_jid, Self, _available ? _lastPresence?.Clone() : null, _rosterRequested), Self);
                break;
            case C2s.C2sConnectionActor.CloseWithStreamError m:
                // an operator or plugin kick: the connection closes its stream, then tells Close
                if (_connection is not null) _connection.Tell(m);
                else Context.Stop(Self);
                break;
            case FromClient m:
                HandleFromClient(m.Stanza);
                break;
            case SessionMessages.Replaced:
                if (_connection is not null) _connection.Tell(C2s.C2sConnectionActor.CloseWithStreamError.Conflict);
                else Context.Stop(Self);
                break;
            case Close m:
                if (!m.Connection.Equals(_connection)) break; // a connection this session has left
                _connection = null;
                _client = null;
                Context.Stop(Self);
                break;
            case Detach m:
                if (m.Connection.Equals(_connection)) Detached();
                break;
            case Attach m:
                AttachTo(m);
                break;
            case ResumptionWindowElapsed:
                if (_connection is null) Context.Stop(Self); // an elapsed window raced with an attach: ignored
                break;
            case GetState:
                Sender.Tell(_connection is null ? State.Detached : State.Attached);
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void Detached()
    {
        _connection = null;
        _client = null;
        if (_settings.ResumptionWindow <= TimeSpan.Zero)
        {
            Context.Stop(Self);
            return;
        }
        _resumptionDeadline = _settings.Timers.Schedule(Self, ResumptionWindowElapsed.Instance, _settings.ResumptionWindow);
    }

    private void AttachTo(Attach m)
    {
        if (!m.Account.Equals(_jid.Bare))
        {
            Sender.Tell(new SessionsActor.AttachFailed(Self.Path.Name)); // another account's session
            return;
        }
        if (_connection is not null && !_connection.Equals(m.Connection))
            _connection.Tell(C2s.C2sConnectionActor.CloseWithStreamError.Conflict); // its Close is ignored: it is left
        _resumptionDeadline?.Cancel();
        _resumptionDeadline = null;
        _client = m.Client;
        _connection = m.Connection;
        var pending = _detachedStanzas;
        _detachedStanzas = null;
        Sender.Tell(new Attached(Self.Path.Name, _jid, Self, pending?.Count ?? 0));
        Lifecycle.ServerEvents.Of(Context.System).Raise(Plugins.ServerEventKind.SessionResumed, _jid);
        if (pending is null) return;
        for (var i = 0; i < pending.Count; i++) m.Client.Send(pending[i], Ns.Client);
    }

    // (SessionStarted is told by the sessions supervisor when it makes this actor, before the bind result leaves:
    // the account's resources entity knows the resource before anyone can address it)
    protected override void PreStart() => Lifecycle.ServerEvents.Of(Context.System).Raise(Plugins.ServerEventKind.SessionBound, _jid);

    private void Deliver(Element stanza)
    {
        if (_client is not null)
        {
            _client.Send(stanza, Ns.Client);
            return;
        }
        // detached: kept for the next connection, up to a bound
        var kept = _detachedStanzas ??= new List<Element>();
        kept.Add(stanza);
        if (kept.Count > _settings.MaxDetachedStanzas) Context.Stop(Self);
    }

    /// <summary>A page in order (each stanza through the Deliver hooks, as any delivered one), then the transport's write
    /// receipt piped to the asker: only a page written out counts as delivered (the offline mailbox deletes nothing
    /// else). Detached, the page is not kept with the live stanzas (a closing session would route it a second time):
    /// the asker learns at once that it was not written, and delivers it again later.</summary>
    private void DeliverPage(SessionMessages.DeliverPage page)
    {
        var asker = Sender;
        if (_client is null)
        {
            asker.Tell(new SessionMessages.PageWritten(page.PageId, false));
            return;
        }
        for (var i = 0; i < page.Stanzas.Count; i++)
        {
            var stanza = page.Stanzas[i];
            if (!_router.Hooks.Run(Plugins.HookPoint.Deliver, stanza, _jid)) Deliver(stanza);
        }
        var id = page.PageId;
        _client.WhenWritten().PipeTo(asker, success: written => new SessionMessages.PageWritten(id, written),
            failure: _ => new SessionMessages.PageWritten(id, false));
    }

    private void HandleFromClient(Element stanza)
    {
        // RFC 6120 §8.1.2.1: the server stamps 'from' with the full JID; a different 'from' is an error
        var claimedFrom = stanza.From;
        if (claimedFrom is not null)
        {
            if (!Jid.TryParse(claimedFrom, out var claimed) || claimed is null || !(claimed.Equals(_jid) || claimed.Equals(_jid.Bare)))
            {
                _connection?.Tell(new C2s.C2sConnectionActor.CloseWithStreamError(StreamErrors.InvalidFrom, "'from' does not match the bound JID"));
                return;
            }
        }
        stanza.From = _jid.ToString();

        Jid? to = null;
        var toAttr = stanza.To;
        if (toAttr is not null)
        {
            if (!Jid.TryParse(toAttr, out to) || to is null)
            {
                Reply(StanzaErrors.Reply(stanza, "jid-malformed", "the 'to' address is not a valid JID"));
                return;
            }
            stanza.To = to.ToString();
        }

        if (_router.Hooks.Run(Plugins.HookPoint.FromClient, stanza, _jid)) return; // a plugin handled it

        switch (stanza.Name)
        {
            case "message": Message(stanza, to); break;
            case "presence": Presence(stanza, to); break;
            case "iq": Iq(stanza, to); break;
        }
    }

    private void Message(Element stanza, Jid? to)
    {
        if (to is null)
        {
            // RFC 6120 §10.3: no 'to' means the account itself
            to = _jid.Bare;
            stanza.To = to.ToString();
        }
        _router.Route(stanza, _jid, to);
    }

    private void Iq(Element stanza, Jid? to)
    {
        var type = stanza.Type;
        if (type is not ("get" or "set" or "result" or "error") || stanza.Id is null)
        {
            // RFC 6120 §8.2.3: an IQ needs an id and one of the four types
            Reply(StanzaErrors.Reply(stanza, "bad-request", "an IQ needs an 'id' and a valid 'type'"));
            return;
        }
        if (type is "get" or "set" && stanza.ElementCount != 1)
        {
            Reply(StanzaErrors.Reply(stanza, "bad-request", "an IQ get or set must contain exactly one child element"));
            return;
        }
        if (to is null)
        {
            // RFC 6120 §10.3.3: an IQ without 'to' is handled by the server on behalf of the account
            to = _jid.Bare;
            stanza.To = to.ToString();
        }
        if (to.Equals(_jid.Bare) && stanza.FirstChild() is { } payload)
        {
            // what the user actor knows only in memory (roster interest), for a restarted one
            if (payload.Is("query", Ns.Roster)) _rosterRequested = true;
        }
        _router.Route(stanza, _jid, to);
    }

    private void Presence(Element stanza, Jid? to)
    {
        var type = stanza.Type;
        if (type is not (null or "unavailable" or "subscribe" or "subscribed" or "unsubscribe" or "unsubscribed" or "probe" or "error"))
        {
            Reply(StanzaErrors.Reply(stanza, "bad-request", $"unknown presence type '{type}'"));
            return;
        }
        if (to is not null)
        {
            // directed presence (RFC 6121 §4.6); remember it so that unavailable reaches it at session end
            if (type is null) (_directedPresence ??= new HashSet<Jid>()).Add(to);
            else if (type == "unavailable") _directedPresence?.Remove(to);
            if (type is "subscribe" or "subscribed" or "unsubscribe" or "unsubscribed")
            {
                // RFC 6121 §3.1.2, §3.2.2, §3.3.2, §3.4.2: subscription stanzas leave stamped with the bare JID
                stanza.From = _jid.Bare.ToString();
                if (_router.Users is { } users) users.Tell(_jid.Bare, new UserActor.OutboundSubscription(stanza, to));
                else _router.Route(stanza, _jid.Bare, to);
                return;
            }
            _router.Route(stanza, _jid, to);
            return;
        }
        if (type is not (null or "unavailable")) return; // subscription requests and probes need a 'to'

        var wasDeliverable = _available && _priority >= 0;
        if (type is null)
        {
            _available = true;
            _priority = ParsePriority(stanza);
            _lastPresence = stanza.Clone();
        }
        else
        {
            _available = false;
            _lastPresence = null;
        }
        _registry.UpdatePresence(_jid, Self, _available, _priority); // the operator's view
        if (_router.Hooks.Run(Plugins.HookPoint.PresenceBroadcast, stanza, _jid, _jid))
        {
            // a plugin took the broadcast; the account's resources entity still learns availability and priority
            _router.Users?.Tell(_jid.Bare, new AccountResourcesActor.OwnPresence(_jid, Self, _available, _priority, null), Self);
        }
        else
        {
            // RFC 6121 §4.2.2 / §4.5.2: broadcast to the account's own available resources, this one included: to
            // itself through its own mailbox first (before anything the user actor sends it for this presence), to the
            // others by the account's resources entity, which knows them
            var own = stanza.Clone();
            own.To = _jid.ToString();
            Self.Tell(new SessionMessages.Deliver(own));
            _router.Users?.Tell(_jid.Bare, new AccountResourcesActor.OwnPresence(_jid, Self, _available, _priority, stanza), Self);
            // §4.2.2 / §4.4.2 / §4.5.2: the user actor broadcasts to the contacts (it knows the roster), probes, and
            // hands over pending subscription requests
            _router.Users?.Tell(_jid.Bare, new UserActor.ResourcePresence(_jid, Self, stanza.Clone(), _available, _priority), Self);
            if (type == "unavailable") SendUnavailableToDirected();
        }
        // §8.5.2.1.1: from now on it takes messages to the bare JID; what waited for the account may come (XEP-0160:
        // the offline plugin delivers its mailbox on this event)
        if (_available && _priority >= 0 && !wasDeliverable)
            Lifecycle.ServerEvents.Of(Context.System).Raise(Plugins.ServerEventKind.ResourceAvailable, _jid);
    }

    private void SendUnavailableToDirected()
    {
        if (_directedPresence is null) return;
        foreach (var target in _directedPresence)
        {
            var unavailable = new Element("presence", Ns.Client).SetAttr("from", _jid.ToString())
                .SetAttr("to", target.ToString()).SetAttr("type", "unavailable");
            _router.Route(unavailable, _jid, target);
        }
        _directedPresence = null;
    }

    private static int ParsePriority(Element presence)
    {
        var text = presence.ChildText("priority", Ns.Client);
        if (text is null || !int.TryParse(text.Trim(), System.Globalization.NumberStyles.AllowLeadingSign,
                System.Globalization.CultureInfo.InvariantCulture, out var p)) return 0;
        return Math.Clamp(p, -128, 127); // RFC 6121 §4.7.2.3
    }

    private void Reply(Element? reply)
    {
        if (reply is not null) _client?.Send(reply, Ns.Client);
    }

    protected override void PostStop()
    {
        // RFC 6121 §4.5.2: a session that ends without unavailable presence gets one generated by the server
        if (_available)
        {
            _available = false;
            _registry.UpdatePresence(_jid, Self, false, _priority);
            var unavailable = new Element("presence", Ns.Client).SetAttr("from", _jid.ToString()).SetAttr("type", "unavailable");
            // to the account's other available resources, through its resources entity
            _router.Users?.Tell(_jid.Bare, new AccountResourcesActor.OwnPresence(_jid, Self, false, _priority, unavailable.Clone()));
            _router.Users?.Tell(_jid.Bare, new UserActor.ResourcePresence(_jid, Self, unavailable, false, _priority));
        }
        SendUnavailableToDirected();
        _registry.Unregister(_jid, Self); // the operator's view
        _router.Users?.Tell(_jid.Bare, new UserActor.SessionEnded(_jid, Self)); // the resources entity and the user actor
        Lifecycle.ServerEvents.Of(Context.System).Raise(Plugins.ServerEventKind.SessionClosed, _jid);
        _resumptionDeadline?.Cancel();
        ReturnDetachedStanzas();
        // stopped while attached (it failed, or the server stops): the stream has no session any more
        _connection?.Tell(new C2s.C2sConnectionActor.CloseWithStreamError(StreamErrors.InternalServerError, "the session ended"));
    }

    /// <summary>
    /// What was delivered while detached and never written goes back to the router now that this resource is
    /// unregistered: a message to the full JID is then handled as RFC 6121 §8.5.3.2 says for a resource that is gone
    /// (another resource, offline storage or an error), an IQ request is answered &lt;service-unavailable/&gt;
    /// (§8.5.3.1) and presence is dropped.
    /// </summary>
    private void ReturnDetachedStanzas()
    {
        var kept = _detachedStanzas;
        _detachedStanzas = null;
        if (kept is null) return;
        for (var i = 0; i < kept.Count; i++)
        {
            var stanza = kept[i];
            if (stanza.Name == "message" && Jid.TryParse(stanza.From, out var from) && from is not null
                && Jid.TryParse(stanza.To, out var to) && to is not null)
                _router.Route(stanza, from, to);
            else if (stanza.Name == "iq" && stanza.Type is "get" or "set")
                _router.Bounce(stanza, "service-unavailable");
        }
    }
}
