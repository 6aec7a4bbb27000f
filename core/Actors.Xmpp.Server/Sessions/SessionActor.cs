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
    /// <summary>A stanza from the client (already known to be message, presence or iq in jabber:client);
    /// <paramref name="Trace"/>: the connection's span (<see cref="Diagnostics.XmppTracing"/>), none while untraced;
    /// <paramref name="Transport"/>: told the stanza is processed once it is routed (read back-pressure reaches through
    /// the session), none when the sender acknowledged it itself.</summary>
    public sealed record FromClient(Element Stanza, System.Diagnostics.ActivityContext Trace = default,
        Transport.Connections.ITransportConnection? Transport = null);

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
        TimeSpan StreamResumptionWindow = default, string? ResumeLocation = null, int MaxDirectedPresenceTargets = 0,
        int BounceAboveQueuedBytes = 0);

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
        /// <summary>Handed over to another node (XEP-0198 resumption there): it only relays what still reaches it.</summary>
        HandedOver,
        /// <summary>Ended: it waits for its account's resources entity to confirm (<see cref="SessionMessages.EndSeen"/>)
        /// and hands back what still reaches it meanwhile.</summary>
        Ending,
    }

    /// <summary>End now (the server stops): as a detached session whose window elapsed.</summary>
    public sealed record End
    {
        public static readonly End Instance = new();
    }

    /// <summary>How long an ended session waits for its account's resources entity to confirm the end before it stops
    /// anyway (the entity is unreachable, or gone with its node).</summary>
    public static readonly TimeSpan EndingTimeout = TimeSpan.FromSeconds(3);

    private sealed record EndingTimedOut
    {
        public static readonly EndingTimedOut Instance = new();
    }

    // ------------------------------------------------------------------ XEP-0198 resumption on another cluster node
    /// <summary>A resumption of this session arrived on another node: hand the session over. From the account's
    /// resources entity, with that node's sessions supervisor as the sender, which gets <see cref="HandedOver"/>, or
    /// <see cref="SessionsActor.AttachFailed"/> exactly where a resumption on this node would fail (another account's
    /// session, one that did not enable resumption, an 'h' above what was sent).</summary>
    public sealed record HandOver(Jid Account, uint Handled);

    /// <summary>A stanza sent and not acknowledged, handed over; <paramref name="Asker"/> (with <paramref name="PageId"/>)
    /// when it belongs to a paced page whose asker waits for its acknowledgement.</summary>
    public sealed record HandedOverStanza(Element Stanza, long PageId, IActorRef? Asker, bool EndsPage);

    /// <summary>What a session is, handed to the node where its client resumed: the bound JID, XEP-0198's counters
    /// (after the resumption's 'h' was applied) and unacknowledged stanzas, its presence and what the user actor keeps
    /// of it in memory only (roster interest, the last broadcast presence). The sender is the old session.</summary>
    public sealed record HandedOver(string SessionId, Jid Jid, TimeSpan Window, uint Handled, uint Sent, uint Acknowledged,
        IReadOnlyList<HandedOverStanza> Unacked, bool Available, int Priority, Element? LastPresence,
        IReadOnlyList<Jid> DirectedPresence, bool RosterRequested);

    /// <summary>From the account's resources entity once it routes to <paramref name="Successor"/>: what reached the
    /// old session since the hand-over (and for a short while after) goes there, with its original sender.</summary>
    public sealed record MovedTo(IActorRef Successor);

    /// <summary>How long a session handed over waits for <see cref="MovedTo"/> before it ends here after all.</summary>
    public static readonly TimeSpan HandOverTimeout = TimeSpan.FromSeconds(30);
    /// <summary>How long a session that moved keeps relaying what senders that have not learnt it yet still send it.</summary>
    public static readonly TimeSpan RelayGrace = TimeSpan.FromSeconds(5);

    private sealed record RelayEnded
    {
        public static readonly RelayEnded Instance = new();
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
    private HandedOver? _adopted;           // made from a session handed over by another node, until PreStart
    private bool _handedOver;               // handed over to another node: it relays, then stops
    private IActorRef? _successor;
    private List<(object Message, IActorRef Sender)>? _relayHeld; // reached it before it knew its successor
    private TimerWheel.Timer? _relayDeadline;
    private bool _ending;                   // ended here: waits for the entity's EndSeen, handing back what arrives
    private TimerWheel.Timer? _endingDeadline;

    public static Props Props(Jid jid, ITransportConnection client, IActorRef connection, ISessionRegistry registry, StanzaRouter router,
        Settings settings) =>
        ActorProps.Of(() => new SessionActor(jid, client, connection, registry, router, settings));

    /// <summary>The session handed over by another node (<paramref name="state"/>), attached to
    /// <paramref name="connection"/>, where it writes &lt;resumed/&gt; and retransmits what is unacknowledged; null when
    /// that connection is gone already (it starts detached, for its window).</summary>
    public static Props Adopted(HandedOver state, ITransportConnection? client, IActorRef? connection, ISessionRegistry registry,
        StanzaRouter router, Settings settings) =>
        ActorProps.Of(() => new SessionActor(state, client, connection, registry, router, settings));

    private SessionActor(HandedOver state, ITransportConnection? client, IActorRef? connection, ISessionRegistry registry,
        StanzaRouter router, Settings settings) : this(state.Jid, client!, connection!, registry, router, settings)
    {
        _adopted = state;
        _available = state.Available;
        _priority = state.Priority;
        _lastPresence = state.LastPresence;
        _rosterRequested = state.RosterRequested;
        if (state.DirectedPresence.Count > 0) _directedPresence = new HashSet<Jid>(state.DirectedPresence);
        var unacked = new StreamManagement.Unacked[state.Unacked.Count];
        for (var i = 0; i < unacked.Length; i++)
        {
            var u = state.Unacked[i];
            unacked[i] = new StreamManagement.Unacked(u.Stanza, u.Asker is null ? null : new StreamManagement.PageReceipt(u.PageId, u.Asker), u.EndsPage);
        }
        _sm = StreamManagement.Restore(true, state.Window, state.Handled, state.Sent, state.Acknowledged, unacked);
    }

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
        if (_handedOver)
        {
            WhileHandedOver(message);
            return;
        }
        if (_ending)
        {
            WhileEnding(message);
            return;
        }
        switch (message)
        {
            case HandOver m:
                HandOverTo(m, Sender);
                break;
            case SessionMessages.Deliver d:
            {
                using var span = Diagnostics.XmppTracing.Start(Diagnostics.XmppTracing.Spans.SessionDeliver,
                    System.Diagnostics.ActivityKind.Consumer, d.Trace, d.Stanza);
                if (!_router.Hooks.Run(Plugins.HookPoint.Deliver, d.Stanza, _jid)) Deliver(d.Stanza);
                break;
            }
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
                else EndHere();
                break;
            case FromClient m:
            {
                _sm?.CountHandled(); // XEP-0198 §4: every stanza received counts, whatever becomes of it
                // the span the router runs in: what it tells on carries this span's context (XmppTracing.Current)
                using var span = Diagnostics.XmppTracing.Start(Diagnostics.XmppTracing.Spans.SessionRoute,
                    System.Diagnostics.ActivityKind.Internal, m.Trace, m.Stanza);
                try { HandleFromClient(m.Stanza); }
                finally { m.Transport?.Processed(); }
                break;
            }
            case StreamManagementElement m:
                OnStreamManagement(m.Element);
                break;
            case ClientState m:
                _inactive = !m.Active;
                if (m.Active) FlushHeld(); // XEP-0352 §4: what waited goes out now
                break;
            case SessionMessages.Replaced:
                if (_connection is not null) _connection.Tell(C2s.C2sConnectionActor.CloseWithStreamError.Conflict);
                else EndHere();
                break;
            case Close m:
                if (!m.Connection.Equals(_connection)) break; // a connection this session has left
                _connection = null;
                _client = null;
                EndHere();
                break;
            case End:
                EndHere();
                break;
            case Detach m:
                if (m.Connection.Equals(_connection)) Detached();
                break;
            case Attach m:
                AttachTo(m);
                break;
            case ResumptionWindowElapsed:
                if (_connection is null) EndHere(); // an elapsed window raced with an attach: ignored
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
            EndHere();
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
            _sm!.Acknowledge(handled, AcknowledgedPage);
            Sender.Tell(new Attached(Self.Path.Name, _jid, Self, Resumed(m.Client)));
        }
        else Sender.Tell(new Attached(Self.Path.Name, _jid, Self, pending?.Count ?? 0));
        Lifecycle.ServerEvents.Of(Context.System).Raise(Plugins.ServerEventKind.SessionResumed, _jid);
        _inactive = false; // XEP-0352: a new stream starts active
        if (pending is null) return;
        for (var i = 0; i < pending.Count; i++) Write(pending[i]);
    }

    /// <summary>XEP-0198 §5: &lt;resumed/&gt; with what was handled, then every stanza the client did not acknowledge, in
    /// order (still counted as sent once: the client counts what it receives). Returns how many were retransmitted.</summary>
    private int Resumed(ITransportConnection client)
    {
        var sm = _sm!;
        client.Send(new Element("resumed", Ns.StreamManagement).SetAttr("previd", Self.Path.Name)
            .SetAttr("h", Format(sm.Handled)), Ns.Client);
        var retransmitted = sm.UnackedCount;
        foreach (var item in sm) client.Send(item.Stanza, Ns.Client);
        sm.AckRequested = false;
        RequestAckIfUnacked();
        return retransmitted;
    }

    /// <summary>
    /// The client resumes on another node: its sessions supervisor (<paramref name="requester"/>) gets this session's
    /// state and makes its successor there; the old connection, if still open, gets &lt;conflict/&gt; as on one node.
    /// Refused exactly as a resumption here would be. The account's resources entity holds what it routes to this
    /// resource from the moment it asked (everything it sent before is in this mailbox, so in the state), until the
    /// successor registers (<see cref="MovedTo"/>); what others send meanwhile is relayed then.
    /// </summary>
    private void HandOverTo(HandOver m, IActorRef requester)
    {
        var id = Self.Path.Name;
        if (!m.Account.Equals(_jid.Bare) || _sm is not { Resumable: true } || !_sm.IsValidAck(m.Handled))
        {
            requester.Tell(_sm is { Resumable: true } sm && m.Account.Equals(_jid.Bare)
                ? new SessionsActor.AttachFailed(id, new HandledCountTooHigh(m.Handled, sm.Sent))
                : new SessionsActor.AttachFailed(id));
            _router.Users?.Tell(_jid.Bare, new AccountResourcesActor.HandOverRefused(_jid, Self), Self); // the entity routes here again
            return;
        }
        FlushHeld(); // into the unacknowledged queue: handed over with the rest
        _connection?.Tell(C2s.C2sConnectionActor.CloseWithStreamError.Conflict); // its Close is ignored from now on
        _connection = null;
        _client = null;
        _resumptionDeadline?.Cancel();
        _resumptionDeadline = null;
        _sm.Acknowledge(m.Handled, AcknowledgedPage); // the pages the client's 'h' covers are acknowledged here
        var unacked = _sm.TakeAll();
        var stanzas = new HandedOverStanza[unacked.Length];
        for (var i = 0; i < unacked.Length; i++)
        {
            var u = unacked[i];
            stanzas[i] = new HandedOverStanza(u.Stanza, u.Page?.PageId ?? 0, u.Page?.Asker, u.EndsPage);
        }
        var directed = _directedPresence is null ? (IReadOnlyList<Jid>)[] : [.. _directedPresence];
        requester.Tell(new HandedOver(id, _jid, _sm.Window, _sm.Handled, _sm.Sent, _sm.Acknowledged, stanzas, _available,
            _priority, _lastPresence, directed, _rosterRequested));
        _handedOver = true;
        _registry.Unregister(_jid, Self); // this node's operator view: the session is the other node's now
        _relayDeadline = _settings.Timers.Schedule(Self, RelayEnded.Instance, HandOverTimeout);
    }

    /// <summary>Handed over: what still reaches this actor goes to the successor, with its original sender (held until
    /// the successor is known); the old connection's stanzas and closes are dropped (that stream got &lt;conflict/&gt;).</summary>
    private void WhileHandedOver(object message)
    {
        switch (message)
        {
            case MovedTo m:
                _successor = m.Successor;
                var held = _relayHeld;
                _relayHeld = null;
                if (held is not null)
                    for (var i = 0; i < held.Count; i++) m.Successor.Tell(held[i].Message, held[i].Sender);
                _relayDeadline?.Cancel();
                _relayDeadline = _settings.Timers.Schedule(Self, RelayEnded.Instance, RelayGrace);
                break;
            case RelayEnded or End:
                Context.Stop(Self);
                break;
            case SessionMessages.Deliver or SessionMessages.DeliverPage or UserActor.ReportPresence or SessionMessages.Replaced
                or C2s.C2sConnectionActor.CloseWithStreamError:
                if (_successor is not null) _successor.Tell(message, Sender);
                else (_relayHeld ??= new List<(object, IActorRef)>()).Add((message, Sender));
                break;
            case Attach m:
                // a resumption on this node after the session moved away: resumed where the session is now
                if (m.Handled is null) Sender.Tell(new SessionsActor.AttachFailed(Self.Path.Name));
                else Context.Parent.Tell(new SessionsActor.ResumeElsewhere(
                    new SessionsActor.Attach(Self.Path.Name, m.Account, m.Client, m.Connection, m.Handled), Sender));
                break;
            case GetState:
                Sender.Tell(State.HandedOver);
                break;
            case FromClient m:
                m.Transport?.Processed(); // (from a connection this session had already left: not routed, as before)
                break;
        }
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
        else EndHere();
    }

    /// <summary>A stanza to the client: with stream management, counted and kept until acknowledged (while detached
    /// too, for the resumption to retransmit); without it, written, or kept for the next connection while detached.</summary>
    private void Write(Element stanza, StreamManagement.PageReceipt? receipt = null)
    {
        if (_ending)
        {
            // ended by an earlier stanza of the same handler (a bound exceeded): handed back as the rest was (a paced
            // page's stanza is not: its asker learnt the page was not delivered)
            if (receipt is null) Return(stanza);
            return;
        }
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
        if (_sm.UnpacedUnackedCount > _settings.MaxDetachedStanzas)
        {
            // a client that does not acknowledge (or a detached session that fills up): the session ends, and what it
            // holds goes back to the router. A paced page's stanzas do not count: their asker bounds them, and an
            // offline mailbox larger than the bound written out at login faster than the client's first <a/> came
            // back closed every such login at the bound (found by the soak: docs/reliability.md)
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
    // A session handed over by another node was bound there: here it resumes (or waits detached for its window)
    protected override void PreStart()
    {
        if (_adopted is null)
        {
            Lifecycle.ServerEvents.Of(Context.System).Raise(Plugins.ServerEventKind.SessionBound, _jid);
            return;
        }
        _adopted = null;
        if (_client is null)
        {
            Detached();
            return;
        }
        Resumed(_client);
        Lifecycle.ServerEvents.Of(Context.System).Raise(Plugins.ServerEventKind.SessionResumed, _jid);
    }

    private void Deliver(Element stanza)
    {
        if (_client is not null && _settings.BounceAboveQueuedBytes > 0 && IsBouncedWhileBehind(stanza)
            && _client.QueuedOutboundBytes > _settings.BounceAboveQueuedBytes)
        {
            // end-to-end back-pressure: a client that does not read what it is sent is not sent more conversation; the
            // senders learn it (RFC 6120 §8.3.3.18) instead of the client being dropped at the transport's bound with
            // everything queued for it, and the flood stops costing this server memory
            Diagnostics.XmppMetrics.BouncedRecipientBehind.Add(1);
            _router.Bounce(stanza, "resource-constraint", "the recipient is not reading what it is sent; try again later");
            return;
        }
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

    /// <summary>What a recipient that does not keep up gets bounced instead of queued: messages of a conversation
    /// (chat, normal) and IQ requests, whose senders get the error. Presence, groupchat (an error would take the
    /// occupant out of the room), headlines (notifications of services), errors and IQ answers are queued: past the
    /// transport's bound the client is dropped, as before.</summary>
    private static bool IsBouncedWhileBehind(Element stanza) => stanza.Name switch
    {
        "message" => stanza.Type is null or "chat" or "normal",
        "iq" => stanza.Type is "get" or "set",
        _ => false,
    };

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
        if (kept.Count > _settings.MaxDetachedStanzas) EndHere();
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
        Hosting.IdleHeapTrimmer.Released(Context.System);
        _relayDeadline?.Cancel();
        _endingDeadline?.Cancel();
        if (_ending) return; // ended before it stopped
        if (_handedOver)
        {
            if (_successor is not null) return; // the session lives on at its successor: nothing ends
            // never adopted (the other node did not answer in time): it ends here after all; its unacknowledged stanzas
            // went with the hand-over, what reached it since is handed back as a closing session's
            ReturnRelayHeld();
        }
        Ended();
    }

    /// <summary>
    /// The session ends (its stream closed, its window elapsed, a bound was exceeded, the server stops): everything
    /// an ended session does happens now, and it stays, handing back what still reaches it, until its account's
    /// resources entity confirms the end (<see cref="SessionMessages.EndSeen"/>, or <see cref="EndingTimeout"/>).
    /// Without that wait a stanza the entity routed here just before it learnt the end would reach a stopped actor and
    /// be lost (a rolling restart of a cluster lost an acknowledged message that way).
    /// </summary>
    private void EndHere()
    {
        if (_ending) return;
        Ended();
        _ending = true;
        if (_router.Users is null)
        {
            Context.Stop(Self);
            return;
        }
        _endingDeadline = _settings.Timers.Schedule(Self, EndingTimedOut.Instance, EndingTimeout);
    }

    /// <summary>Ended, until the entity's confirmation: what is routed here goes back to the router as a gone resource's
    /// (messages to another resource, offline storage or an error; IQ requests answered with an error), a paced page
    /// is not written, a resumption finds nothing.</summary>
    private void WhileEnding(object message)
    {
        switch (message)
        {
            case SessionMessages.EndSeen or EndingTimedOut:
                Context.Stop(Self);
                break;
            case SessionMessages.Deliver d:
                Return(d.Stanza);
                break;
            case SessionMessages.DeliverPage page:
                Sender.Tell(new SessionMessages.PageWritten(page.PageId, false));
                break;
            case FromClient m:
                m.Transport?.Processed(); // (from a connection this session has left: not routed)
                break;
            case Attach:
                Sender.Tell(new SessionsActor.AttachFailed(Self.Path.Name)); // XEP-0198 §5: item-not-found
                break;
            case HandOver:
                Sender.Tell(new SessionsActor.AttachFailed(Self.Path.Name));
                _router.Users?.Tell(_jid.Bare, new AccountResourcesActor.HandOverRefused(_jid, Self), Self);
                break;
            case GetState:
                Sender.Tell(State.Ending);
                break;
        }
    }

    /// <summary>What ending does: unavailable presence, unregistration, the entity told, what is held handed back.</summary>
    private void Ended()
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
        _connection = null;
        _client = null;
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

    private void ReturnRelayHeld()
    {
        var held = _relayHeld;
        _relayHeld = null;
        if (held is null) return;
        for (var i = 0; i < held.Count; i++)
        {
            if (held[i].Message is SessionMessages.Deliver d) Return(d.Stanza);
            else if (held[i].Message is SessionMessages.DeliverPage page) held[i].Sender.Tell(new SessionMessages.PageWritten(page.PageId, false));
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
