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
    /// <param name="StreamResumptionWindow">XEP-0198: the longest a session that enabled resumption waits detached
    /// (its &lt;enabled max='…'/&gt;); zero: resumption is not offered.</param>
    /// <param name="ResumeLocation">XEP-0198 §3: where clients should reconnect to resume (&lt;enabled location='…'/&gt;),
    /// or null.</param>
    /// <param name="MaxDirectedPresenceTargets">Entities a session may have sent directed presence to (and owes an
    /// unavailable presence at its end); one more is refused with &lt;resource-constraint/&gt;. 0: no cap.</param>
    public sealed record Settings(TimeSpan ResumptionWindow, int MaxDetachedStanzas, TimerWheel Timers,
        TimeSpan StreamResumptionWindow = default, string? ResumeLocation = null, int MaxDirectedPresenceTargets = 0);

    /// <summary>An XEP-0198 element (urn:xmpp:sm:3) the client sent after binding: &lt;enable/&gt;, &lt;r/&gt;, &lt;a/&gt;, ...</summary>
    public sealed record StreamManagementElement(Element Element);

    /// <summary>XEP-0352: the client said it is &lt;active/&gt; or &lt;inactive/&gt;.</summary>
    public sealed record ClientState(bool Active)
    {
        public static readonly ClientState IsActive = new(true);
        public static readonly ClientState IsInactive = new(false);
    }

    /// <summary>XEP-0352: presence updates and chat states an inactive client's session holds at most; one more flushes
    /// them all (nothing is dropped, the client just wakes up sooner).</summary>
    public const int MaxHeldWhileInactive = 100;

    /// <summary>Attach to <paramref name="Connection"/> (a detached session, or one whose old connection is still
    /// open: that one is closed with &lt;conflict/&gt;). Only <paramref name="Account"/>'s own sessions attach. Answered
    /// with <see cref="Attached"/> or <see cref="SessionsActor.AttachFailed"/>.</summary>
    /// <param name="Handled">XEP-0198 resumption: the client's 'h' (what it received of this session); null for a plain
    /// attach. With it, only a session that enabled resumption attaches: it answers &lt;resumed/&gt; and retransmits
    /// what the client did not acknowledge.</param>
    public sealed record Attach(Jid Account, ITransportConnection Client, IActorRef Connection, uint? Handled = null);
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
    private StreamManagement? _sm;          // XEP-0198, once the client enabled it
    private bool _inactive;                 // XEP-0352: the client said <inactive/>
    private List<Element>? _heldWhileInactive;

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
                _sm?.CountHandled(); // XEP-0198 §4: every stanza received counts, whatever becomes of it
                HandleFromClient(m.Stanza);
                break;
            case StreamManagementElement m:
                OnStreamManagement(m.Element);
                break;
            case ClientState m:
                _inactive = !m.Active;
                if (m.Active) FlushHeld(); // XEP-0352 §4: what waited goes out now
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
        FlushHeld(); // into the unacknowledged queue or the detached list: kept for a resumption like the rest
        _connection = null;
        _client = null;
        // a session that enabled XEP-0198 resumption waits for its own window (what <enabled max/> told the client)
        var window = _sm is { Resumable: true } ? _sm.Window : _settings.ResumptionWindow;
        if (window <= TimeSpan.Zero)
        {
            Context.Stop(Self);
            return;
        }
        _resumptionDeadline = _settings.Timers.Schedule(Self, ResumptionWindowElapsed.Instance, window);
        Lifecycle.ServerEvents.Of(Context.System).Raise(Plugins.ServerEventKind.SessionDetached, _jid);
    }

    private void AttachTo(Attach m)
    {
        if (!m.Account.Equals(_jid.Bare) || m.Handled is not null && _sm is not { Resumable: true })
        {
            // another account's session, or a resumption of a session that did not enable it (XEP-0198 §5: item-not-found)
            Sender.Tell(new SessionsActor.AttachFailed(Self.Path.Name));
            return;
        }
        if (m.Handled is { } h && !_sm!.IsValidAck(h))
        {
            // XEP-0198 §4: the client acknowledges stanzas never sent; the session stays as it is
            Sender.Tell(new SessionsActor.AttachFailed(Self.Path.Name, new HandledCountTooHigh(h, _sm.Sent)));
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
        if (m.Handled is { } handled)
        {
            // XEP-0198 §5: <resumed/> with what we handled, then every stanza the client did not acknowledge, in order
            // (still counted as sent once: the client counts what it receives)
            var sm = _sm!;
            sm.Acknowledge(handled, AcknowledgedPage);
            m.Client.Send(new Element("resumed", Ns.StreamManagement).SetAttr("previd", Self.Path.Name)
                .SetAttr("h", Format(sm.Handled)), Ns.Client);
            var retransmitted = sm.UnackedCount;
            foreach (var item in sm) m.Client.Send(item.Stanza, Ns.Client);
            sm.AckRequested = false;
            RequestAckIfUnacked();
            Sender.Tell(new Attached(Self.Path.Name, _jid, Self, retransmitted));
        }
        else Sender.Tell(new Attached(Self.Path.Name, _jid, Self, pending?.Count ?? 0));
        Lifecycle.ServerEvents.Of(Context.System).Raise(Plugins.ServerEventKind.SessionResumed, _jid);
        _inactive = false; // XEP-0352: a new stream starts active
        if (pending is null) return;
        for (var i = 0; i < pending.Count; i++) Write(pending[i]);
    }

    /// <summary>Why a resumption was refused with a stream error rather than &lt;failed/&gt;: the client's 'h' counts
    /// more stanzas than were sent (XEP-0198 §4 &lt;handled-count-too-high/&gt;).</summary>
    public sealed record HandledCountTooHigh(uint H, uint SendCount);

    // ------------------------------------------------------------------ XEP-0198 stream management
    private void OnStreamManagement(Element e)
    {
        switch (e.Name)
        {
            case "enable":
                Enable(e);
                return;
            case "r" when _sm is not null:
                // §4: answer with what was handled so far
                Send(new Element("a", Ns.StreamManagement).SetAttr("h", Format(_sm.Handled)));
                return;
            case "a" when _sm is not null:
            {
                if (!StreamManagement.TryParseH(e.Attr("h"), out var h))
                {
                    CloseStream(new C2s.C2sConnectionActor.CloseWithStreamError(StreamErrors.InvalidXml, "<a/> needs an 'h' that is an unsigned 32-bit integer"));
                    return;
                }
                if (!_sm.IsValidAck(h))
                {
                    CloseStream(HandledCountTooHighError(h, _sm.Sent));
                    return;
                }
                _sm.Acknowledge(h, AcknowledgedPage);
                _sm.AckRequested = false;
                RequestAckIfUnacked();
                return;
            }
            case "r" or "a" or "resume":
                // §3: nothing to acknowledge before enable; §5: a bound stream cannot resume another session
                Send(Failed("unexpected-request"));
                return;
            default:
                CloseStream(new C2s.C2sConnectionActor.CloseWithStreamError(StreamErrors.UnsupportedStanzaType,
                    $"<{e.Name} xmlns='{Ns.StreamManagement}'/> is not a stream management element"));
                return;
        }
    }

    /// <summary>XEP-0198 §3: &lt;enable/&gt; once per stream, after binding (a second one is &lt;failed/&gt; with
    /// &lt;unexpected-request/&gt;); 'resume' asks for resumption, 'max' the client's preferred longest wait.</summary>
    private void Enable(Element e)
    {
        if (_sm is not null)
        {
            Send(Failed("unexpected-request"));
            return;
        }
        var resume = e.Attr("resume") is "true" or "1";
        var window = _settings.StreamResumptionWindow;
        if (resume && StreamManagement.TryParseH(e.Attr("max"), out var max) && max > 0 && TimeSpan.FromSeconds(max) < window)
            window = TimeSpan.FromSeconds(max); // the client's preference, when shorter than the server's
        var resumable = resume && window > TimeSpan.Zero;
        var enabled = new Element("enabled", Ns.StreamManagement);
        if (resumable)
        {
            // the session id is the resumption id (unguessable, 128 random bits)
            enabled.SetAttr("id", Self.Path.Name).SetAttr("resume", "true")
                .SetAttr("max", Format((uint)Math.Max(1, (long)window.TotalSeconds)));
            if (_settings.ResumeLocation is { } location) enabled.SetAttr("location", location);
        }
        Send(enabled); // not counted: counting starts after it
        _sm = new StreamManagement(resumable, resumable ? window : TimeSpan.Zero);
    }

    private static Element Failed(string condition) =>
        new Element("failed", Ns.StreamManagement).Add(new Element(condition, Ns.StanzaErrors));

    internal static C2s.C2sConnectionActor.CloseWithStreamError HandledCountTooHighError(uint h, uint sent) =>
        new(StreamErrors.UndefinedCondition, $"you acknowledged {h} stanzas, but only {sent} were sent",
            new Element("handled-count-too-high", Ns.StreamManagement).SetAttr("h", Format(h)).SetAttr("send-count", Format(sent)));

    private static string Format(uint n) => n.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>One &lt;r/&gt; outstanding at a time, sent as soon as something is unacknowledged: acknowledgements
    /// come back promptly, so a session that ends hands back (to offline storage, or bounced) only what the client
    /// really may not have.</summary>
    private void RequestAckIfUnacked()
    {
        if (_sm is null || _sm.AckRequested || _sm.UnackedCount == 0 || _client is null) return;
        _sm.AckRequested = true;
        _client.Send(new Element("r", Ns.StreamManagement), Ns.Client);
    }

    private static void AcknowledgedPage(StreamManagement.PageReceipt receipt) =>
        receipt.Asker.Tell(new SessionMessages.PageAcknowledged(receipt.PageId, true));

    /// <summary>A nonza or stanza to the client, not counted (XEP-0198 elements, or before enable).</summary>
    private void Send(Element element) => _client?.Send(element, Ns.Client);

    private void CloseStream(C2s.C2sConnectionActor.CloseWithStreamError error)
    {
        if (_connection is not null) _connection.Tell(error);
        else Context.Stop(Self);
    }

    /// <summary>A stanza to the client: with stream management, counted and kept until acknowledged (while detached
    /// too, for the resumption to retransmit); without it, written, or kept for the next connection while detached.</summary>
    private void Write(Element stanza, StreamManagement.PageReceipt? receipt = null)
    {
        if (_sm is null)
        {
            if (_client is not null)
            {
                _client.Send(stanza, Ns.Client);
                Diagnostics.XmppMetrics.Stanza(stanza.Name, fromClient: false);
            }
            else KeepDetached(stanza);
            return;
        }
        _sm.Sending(stanza, receipt);
        if (_sm.UnackedCount > _settings.MaxDetachedStanzas)
        {
            // a client that does not acknowledge (or a detached session that fills up): the session ends, and what it
            // holds goes back to the router
            CloseStream(new C2s.C2sConnectionActor.CloseWithStreamError(StreamErrors.ResourceConstraint, "too many unacknowledged stanzas"));
            return;
        }
        if (_client is null) return;
        _client.Send(stanza, Ns.Client);
        Diagnostics.XmppMetrics.Stanza(stanza.Name, fromClient: false);
        RequestAckIfUnacked();
    }

    // (SessionStarted is told by the sessions supervisor when it makes this actor, before the bind result leaves:
    // the account's resources entity knows the resource before anyone can address it)
    protected override void PreStart() => Lifecycle.ServerEvents.Of(Context.System).Raise(Plugins.ServerEventKind.SessionBound, _jid);

    private void Deliver(Element stanza)
    {
        if (_inactive && _client is not null)
        {
            if (!IsImportant(stanza))
            {
                Hold(stanza);
                return;
            }
            FlushHeld(); // XEP-0352 §4: an important stanza goes out at once, after what waited (in order)
        }
        Write(stanza);
    }

    /// <summary>
    /// XEP-0352 §4 (what a server may hold while the client is inactive): presence updates (not subscription
    /// requests or answers, not errors) and messages that carry nothing but XEP-0085 chat states. Everything else is
    /// important: IQs, messages with a body or anything else, presence subscriptions.
    /// </summary>
    public static bool IsImportant(Element stanza)
    {
        switch (stanza.Name)
        {
            case "presence":
                return stanza.Type is not (null or "unavailable");
            case "message":
                if (stanza.Type == "error") return true;
                var chatState = false;
                foreach (var child in stanza.Elements())
                {
                    if (child.Namespace == Ns.ChatStates) chatState = true;
                    else if (child.Namespace == Ns.Client && child.Name == "thread") continue;
                    else if (child.Namespace == Ns.Delay) continue;
                    else return true; // a body, a subject, a receipt, an encrypted payload, ...
                }
                return !chatState;
            default:
                return true;
        }
    }

    /// <summary>Held until the client is active again or something important comes; a presence replaces the one from the
    /// same sender held before it (only the latest matters); past <see cref="MaxHeldWhileInactive"/> everything goes out.</summary>
    private void Hold(Element stanza)
    {
        var held = _heldWhileInactive ??= new List<Element>();
        if (stanza.Name == "presence")
        {
            var from = stanza.From;
            for (var i = 0; i < held.Count; i++)
            {
                if (held[i].Name != "presence" || held[i].From != from) continue;
                held.RemoveAt(i);
                break;
            }
        }
        held.Add(stanza);
        if (held.Count > MaxHeldWhileInactive) FlushHeld();
    }

    private void FlushHeld()
    {
        var held = _heldWhileInactive;
        if (held is null || held.Count == 0) return;
        _heldWhileInactive = null;
        for (var i = 0; i < held.Count; i++) Write(held[i]);
    }

    private void KeepDetached(Element stanza)
    {
        // detached: kept for the next connection, up to a bound
        var kept = _detachedStanzas ??= new List<Element>();
        kept.Add(stanza);
        if (kept.Count > _settings.MaxDetachedStanzas) Context.Stop(Self);
    }

    /// <summary>A page in order (each stanza through the Deliver hooks, as any delivered one), then the transport's write
    /// receipt piped to the asker: only a page written out counts as delivered (the offline mailbox deletes nothing
    /// else), and with XEP-0198 only once acknowledged (<see cref="SessionMessages.PageAcknowledged"/>, told to the
    /// asker apart, so that it can write its next page meanwhile). Detached, the page is not kept with the live
    /// stanzas (a closing session would route it a second time): the asker learns at once that it was not written,
    /// and delivers it again later.</summary>
    private void DeliverPage(SessionMessages.DeliverPage page)
    {
        var asker = Sender;
        if (_client is null)
        {
            asker.Tell(new SessionMessages.PageWritten(page.PageId, false));
            return;
        }
        var id = page.PageId;
        // XEP-0198: written out is not enough, the page counts as delivered once the client acknowledged its last
        // stanza (the offline mailbox deletes it only then); if the session ends first, it was not
        var receipt = _sm is null ? null : new StreamManagement.PageReceipt(id, asker);
        FlushHeld(); // a page is important (stored messages): what waited goes first
        for (var i = 0; i < page.Stanzas.Count; i++)
        {
            var stanza = page.Stanzas[i];
            if (!_router.Hooks.Run(Plugins.HookPoint.Deliver, stanza, _jid)) Write(stanza, receipt);
        }
        var awaitsAck = receipt is not null;
        if (awaitsAck && !_sm!.EndPage(receipt!)) asker.Tell(new SessionMessages.PageAcknowledged(id, true)); // nothing left to acknowledge
        // the write receipt paces the asker's next page; with XEP-0198 the acknowledgement follows on its own
        _client.WhenWritten().PipeTo(asker, success: written => new SessionMessages.PageWritten(id, written, awaitsAck),
            failure: _ => new SessionMessages.PageWritten(id, false, awaitsAck));
    }

    private void HandleFromClient(Element stanza)
    {
        if (stanza.Name == "iq" && stanza.Type == "set" && stanza.To is null && stanza.FirstChild() is { } payload)
        {
            if (payload.Is("session", Ns.Session))
            {
                // RFC 3921 §3 session establishment, kept for old clients: a no-op that succeeds
                Write(StanzaErrors.IqResult(new Element("iq", Ns.Client).SetAttr("id", stanza.Id)).SetAttr("from", null).SetAttr("to", null));
                return;
            }
            if (payload.Is("bind", Ns.Bind))
            {
                Reply(StanzaErrors.Reply(stanza, "not-allowed", "a resource is bound already"));
                return;
            }
        }
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

        Diagnostics.XmppMetrics.Stanza(stanza.Name, fromClient: true);
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
            if (type is null)
            {
                _directedPresence ??= new HashSet<Jid>();
                if (_settings.MaxDirectedPresenceTargets > 0 && _directedPresence.Count >= _settings.MaxDirectedPresenceTargets
                    && !_directedPresence.Contains(to))
                {
                    // each target is remembered for the unavailable presence the session owes it at its end
                    Reply(StanzaErrors.Reply(stanza, "resource-constraint",
                        $"directed presence was sent to {_settings.MaxDirectedPresenceTargets} entities already, the most a session may have"));
                    return;
                }
                _directedPresence.Add(to);
            }
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
        if (reply is not null) Write(reply);
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
        ReturnUnacknowledged();
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
        for (var i = 0; i < kept.Count; i++) Return(kept[i]);
    }

    /// <summary>
    /// XEP-0198 §4 (a session that ends with stanzas unacknowledged): they are treated as not delivered, as above
    /// (messages to another resource, offline storage or bounced; IQ requests answered with an error), except the
    /// stanzas of a paced page, which its asker still holds: it learns the page was not delivered, and delivers it
    /// again later (the offline mailbox keeps it), so nothing is handed back twice.
    /// </summary>
    private void ReturnUnacknowledged()
    {
        if (_sm is null) return;
        var unacked = _sm.TakeAll();
        for (var i = 0; i < unacked.Length; i++)
        {
            var item = unacked[i];
            if (item.Page is null) Return(item.Stanza);
            else if (item.EndsPage) item.Page.Asker.Tell(new SessionMessages.PageAcknowledged(item.Page.PageId, false));
        }
    }

    private void Return(Element stanza)
    {
        if (stanza.Name == "message" && stanza.Type != "error" && Jid.TryParse(stanza.From, out var from) && from is not null
            && Jid.TryParse(stanza.To, out var to) && to is not null)
            _router.Route(stanza, from, to);
        else if (stanza.Name == "iq" && stanza.Type is "get" or "set")
            _router.Bounce(stanza, "service-unavailable");
    }
}
