using System.Net.Sockets;
using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Server.Stanzas;
using Actors.Xmpp.Transport.Connections;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Transport.Streams;
using Actors.Xmpp.Xml;
using Akka.Actor;
using Akka.Event;
using Akka.Streams;

namespace Actors.Xmpp.Server.S2s;

/// <summary>
/// The outbound server-to-server stream from <c>local</c> to <c>remote</c> (RFC 6120 §4, the Originating Server of
/// XEP-0220), fed by a <see cref="StreamLink"/> graph. It resolves and connects (<see cref="S2sResolver"/>; TLS from
/// the first byte for an XEP-0368 target), opens a jabber:server stream, negotiates STARTTLS whenever the peer offers it
/// (RFC 6120 §5; with <c>Xmpp:S2s:RequireTls</c> a peer that does not is given up), then authenticates with SASL
/// EXTERNAL (XEP-0178) when the peer offers it and its certificate verifies for <c>remote</c>, else with dialback
/// (db:result with an XEP-0185 key, answered valid or invalid by the peer after it asked this server's inbound side;
/// XEP-0344), then writes the stanzas it was given. While it is being set up it
/// queues at most <c>Xmpp:S2s:MaxQueuedStanzas</c> stanzas: one more is bounced with &lt;remote-server-timeout/&gt;
/// (§8.3.3.15), as is the whole queue when setting up takes longer than <c>ConnectTimeoutSeconds</c>; a domain that
/// cannot be resolved or connected, or refuses dialback, gets the queue bounced with &lt;remote-server-not-found/&gt;
/// (§8.3.3.14). The same stream carries this server's db:verify requests as the Receiving Server of <c>remote</c>'s
/// inbound streams (XEP-0220 §2.2): they go as soon as the peer's stream header arrived. With <c>Xmpp:S2s:Bidi</c>, when
/// the peer offers XEP-0288 bidirectional streams (after TLS), the link asks for one (&lt;bidi xmlns='urn:xmpp:bidi'/&gt;
/// before SASL or dialback, §2.2); once established, the peer's stanzas from <c>remote</c> to <c>local</c> (and from
/// pairs it authenticates later with dialback on this stream, answered here with XEP-0220 errors) arrive on it and are
/// checked and routed in as an inbound stream's are (<see cref="PeerDomains"/>: &lt;invalid-from/&gt;,
/// &lt;host-unknown/&gt;).
/// </summary>
public sealed class OutboundLinkActor : StreamLinkActor, IWithTimers
{
    private const string SetupTimer = "setup", IdleTimer = "idle", PingTimer = "ping";
    private const string RemoteServerNotFound = "remote-server-not-found", RemoteServerTimeout = "remote-server-timeout";

    private readonly string _local, _remote;
    private readonly IMaterializer _materializer;
    private readonly S2sContext _context;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Queue<Element> _queue = new();
    private readonly List<S2sActor.Verify> _verifiesToSend = new();
    private readonly Dictionary<string, List<S2sActor.Verify>> _verifiesSent = new(StringComparer.Ordinal); // by stream id
    private readonly CancellationTokenSource _connecting = new();
    private StreamLink? _link;
    private string? _streamId;     // the id of the stream the peer answered with (the dialback key is bound to it)
    private bool _headerReceived, _resultSent, _established, _closing;
    private bool _negotiated;      // TLS (and SASL) are done with: dialback requests and results may go
    private bool _secure, _tlsStarting, _saslSent, _saslDone;
    private bool _bidi;            // XEP-0288: asked for; the peer's stanzas come on this stream too
    private readonly PeerDomains _peers;
    private TlsUpgrade? _tls;
    private long _lastStanza;
    private long _lastHeard;       // when the peer last showed it is there (anything on this link, a ping answered)
    private string? _pingId;       // the XEP-0199 ping waiting for its answer
    private long _pingSentAt;
    private int _pings;

    public OutboundLinkActor(string local, string remote, IMaterializer materializer, S2sContext context)
    {
        _local = local;
        _remote = remote;
        _materializer = materializer;
        _context = context;
        _peers = new PeerDomains(context);
        Receive<S2sRoutes.Outbound>(m => OnStanza(m));
        Receive<S2sActor.Verified>(m =>
        {
            // a dialback request of the peer on this bidirectional stream (XEP-0288 §2.2), answered by its Authoritative Server
            if (m.StreamId == _streamId && !_closing && _link is not null && _peers.OnVerified(m, _link))
                _log.Info("s2s {0} → {1} authenticated on the bidirectional stream to it (dialback)", m.Remote, m.Local);
        });
        Receive<S2sActor.Verify>(OnVerifyRequest);
        Receive<Connected>(m => OnConnected(m.Connection));
        Receive<ConnectFailed>(m => Fail(RemoteServerNotFound, m.Reason));
        Receive<SetupTimedOut>(_ => { if (!_established) Fail(RemoteServerTimeout, $"{_remote} was not reached in time"); });
        Receive<IdleCheck>(_ => OnIdleCheck());
        Receive<PingCheck>(_ => OnPingCheck());
        Receive<S2sActor.PingAnswered>(m => OnPingAnswered(m.Id));
        Receive<S2sActor.SystemShutdown>(_ => Close(StreamErrors.SystemShutdown, null, RemoteServerTimeout, "the server is shutting down"));
    }

    protected override void OnPeerClosedStream() =>
        Close(null, null, _established ? RemoteServerTimeout : RemoteServerNotFound, $"{_remote} closed the stream");

    protected override void OnFramingFailed(FramerErrorCondition condition, string text) =>
        Close(StreamErrors.ForFraming(condition), text, RemoteServerNotFound, $"{_remote} sent bad XML");

    /// <summary>RFC 6120 §5.4.3.2: the link has terminated the TCP connection; the stream the handshake replaced is
    /// not closed (no &lt;/stream&gt;, no stream error: <see cref="Close"/> only completes the link while
    /// <c>_tlsStarting</c>), and what was queued bounces with &lt;remote-server-not-found/&gt;.</summary>
    protected override void OnTlsFailed(string reason) => Fail(RemoteServerNotFound, $"TLS with {_remote} failed: {reason}");

    protected override void OnConnectionLost()
    {
        Close(null, null, _established ? RemoteServerTimeout : RemoteServerNotFound, $"the connection to {_remote} was lost");
        base.OnConnectionLost();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string local, string remote, IMaterializer materializer, S2sContext context) =>
        ActorProps.Of(() => new OutboundLinkActor(local, remote, materializer, context));

    private sealed record Connected(S2sConnection Connection);
    private sealed record ConnectFailed(string Reason);

    private sealed record SetupTimedOut
    {
        public static readonly SetupTimedOut Instance = new();
    }

    private sealed record IdleCheck
    {
        public static readonly IdleCheck Instance = new();
    }

    private sealed record PingCheck
    {
        public static readonly PingCheck Instance = new();
    }

    protected override void PreStart()
    {
        var settings = _context.Settings;
        Timers.StartSingleTimer(SetupTimer, SetupTimedOut.Instance, TimeSpan.FromSeconds(Math.Max(1, settings.ConnectTimeoutSeconds)));
        _context.Resolver.ConnectAsync(_remote, _connecting.Token).PipeTo(Self,
            success: connection => new Connected(connection),
            failure: ex => new ConnectFailed(ex is S2sUnreachableException or OperationCanceledException ? ex.Message : $"{_remote}: {ex.Message}"));
    }

    protected override void PostStop()
    {
        _connecting.Cancel();
        _connecting.Dispose();
        BounceQueue(RemoteServerTimeout, $"the link to {_remote} stopped");
        AnswerVerifies(false, RemoteServerTimeout);
        base.PostStop();
    }

    private void OnStanza(S2sRoutes.Outbound m)
    {
        if (_closing)
        {
            Context.Parent.Tell(m); // for the next link (LinkClosing went first)
            return;
        }
        if (_established)
        {
            Write(m.Stanza);
            return;
        }
        if (_queue.Count >= _context.Settings.MaxQueuedStanzas)
        {
            _context.Router.Bounce(m.Stanza, RemoteServerTimeout, $"too many stanzas wait for {_remote}"); // §8.3.3.15
            return;
        }
        _queue.Enqueue(m.Stanza);
    }

    private void Write(Element stanza)
    {
        _lastStanza = Environment.TickCount64;
        _link!.Send(stanza.Namespace == Ns.Client ? stanza.CloneIn(Ns.Client, Ns.Server) : stanza, Ns.Server);
    }

    private void OnPingAnswered(string id)
    {
        if (id != _pingId) return;
        _pingId = null;
        _lastHeard = Environment.TickCount64;
    }

    private void OnVerifyRequest(S2sActor.Verify m)
    {
        if (_closing)
        {
            Context.Parent.Forward(m);
            return;
        }
        if (_negotiated) SendVerify(m);
        else _verifiesToSend.Add(m);
    }

    private void SendVerify(S2sActor.Verify m)
    {
        // XEP-0220 §2.2: from the Receiving Server (local), to the Authoritative Server (remote), the stream id of the
        // inbound stream the key came on
        _link!.Send(S2sStreams.Prefixed(S2sStreams.Dialback(S2sStreams.Verify, m.Local, m.Remote, id: m.StreamId, key: m.Key)));
        if (!_verifiesSent.TryGetValue(m.StreamId, out var waiting)) _verifiesSent[m.StreamId] = waiting = new List<S2sActor.Verify>(1);
        waiting.Add(m);
    }

    private void OnConnected(S2sConnection connection)
    {
        if (_closing)
        {
            connection.Socket.Dispose();
            return;
        }
        var o = _context.Server.Options;
        _link = RunLink(connection.Socket, _materializer, new FramerLimits(o.Limits.MaxStanzaBytes, o.Limits.MaxDepth),
            Math.Max(64, _context.Settings.MaxQueuedStanzas * 2));
        if (connection.DirectTls) StartTls(); // XEP-0368: TLS first, then the stream
        else _link.Send(S2sStreams.Header(_local, _remote, id: null)); // RFC 6120 §4.7: from and to, no id
    }

    /// <summary>RFC 6120 §5.4.3.1 as the initiating entity: SNI and the certificate check name <c>remote</c>; this
    /// server's certificate for <c>local</c> goes along for SASL EXTERNAL (XEP-0178).</summary>
    private void StartTls()
    {
        _tlsStarting = true;
        _tls = TlsUpgrade.AsClient(_remote, _context.Certificates.Select(_local).Context, _context.TlsHandshakeTimeout);
        StartTls(_tls);
    }

    protected override void OnTlsEstablished()
    {
        if (_closing) return;
        _tlsStarting = false;
        _secure = true;
        // RFC 6120 §5.4.3.3: a new stream over TLS
        _headerReceived = false;
        _link!.Send(S2sStreams.Header(_local, _remote, id: null));
        ResumeAfterTls();
    }

    /// <summary>Null when the peer's certificate verifies for <c>remote</c> (RFC 6125), else why not.</summary>
    private string? CertificateError() =>
        _tls is null ? "no TLS" : _context.PeerCertificates.Verify(_tls.PeerCertificate, _tls.PeerIntermediates, _remote);

    protected override void OnStreamOpened(StreamHeader header)
    {
        if (_closing) return;
        if (_headerReceived)
        {
            // restarts (after TLS, after SASL success) reset _headerReceived before the peer's new header
            Close(StreamErrors.NotWellFormed, "a second stream header", RemoteServerNotFound, $"{_remote} restarted the stream");
            return;
        }
        _headerReceived = true;
        if (header.Name != "stream" || header.Namespace != Ns.Streams || header.DefaultNamespace != Ns.Server)
        {
            Close(StreamErrors.InvalidNamespace, "a server stream's content namespace is " + Ns.Server, RemoteServerNotFound, $"{_remote} is not an XMPP server");
            return;
        }
        _streamId = header.Attr("id");
        if (string.IsNullOrEmpty(_streamId))
        {
            // XEP-0220 needs the stream id for the key (RFC 6120 §4.7.3: the receiving entity MUST send one)
            Close(StreamErrors.InvalidXml, "the stream header has no id", RemoteServerNotFound, $"{_remote} sent no stream id");
            return;
        }
        if (!S2sStreams.SupportsFeatures(header))
        {
            // a pre-1.0 peer sends no features and knows no STARTTLS: dialback straight away, unless TLS is required
            if (_context.Settings.RequireTls && !_secure)
                Close(null, null, RemoteServerNotFound, $"{_remote} cannot negotiate TLS (pre-1.0 stream), which this server requires");
            else SendResult();
        }
    }

    protected override void OnElement(Element element)
    {
        if (_closing) return;
        _lastHeard = Environment.TickCount64;
        if (S2sStreams.IsStreamFeatures(element))
        {
            OnFeatures(element);
            return;
        }
        if (element.Namespace == Ns.Tls)
        {
            if (element.Name == S2sStreams.Proceed && !_secure && !_tlsStarting) StartTls(); // RFC 6120 §5.4.2.3
            else Fail(RemoteServerNotFound, $"{_remote} refused TLS"); // §5.4.2.2 <failure/>: it closes the stream
            return;
        }
        if (element.Namespace == Ns.Sasl && _saslSent)
        {
            OnSasl(element);
            return;
        }
        if (element.Is(S2sStreams.Result, Ns.Dialback))
        {
            if (element.Type is null && _bidi) OnPeerResultRequest(element);
            else OnResult(element);
            return;
        }
        if (element.Is(S2sStreams.Verify, Ns.Dialback))
        {
            if (element.Type is null && _bidi)
            {
                if (_peers.OnVerifyRequest(element, _local, _link!) is { } error)
                    Close(StreamErrors.InvalidXml, error, RemoteServerTimeout, $"{_remote} broke the stream");
            }
            else OnVerifyAnswer(element);
            return;
        }
        if (S2sStreams.IsStreamError(element))
        {
            var condition = element.Nodes.OfType<Element>().FirstOrDefault(e => e.Namespace == Ns.StreamErrors)?.Name ?? StreamErrors.UndefinedCondition;
            _log.Info("s2s {0} → {1}: stream error {2}", _local, _remote, condition);
            Close(null, null, RemoteServerNotFound, $"{_remote} closed the stream with <{condition}/>");
            return;
        }
        if (_bidi && S2sStreams.IsStanza(element))
        {
            OnPeerStanza(element);
            return;
        }
        // an outbound stream carries no stanzas from the peer (RFC 6120 §4.1: unidirectional without XEP-0288)
        Close(StreamErrors.UnsupportedStanzaType, "this stream is outbound only", RemoteServerTimeout, $"{_remote} broke the stream");
    }

    /// <summary>XEP-0288 §2.2: a stanza of the peer on this bidirectional stream, checked as on an inbound stream. The
    /// receiving server MUST NOT send any before it is authenticated: &lt;not-authorized/&gt; (RFC 6120 §4.9.3.12).</summary>
    private void OnPeerStanza(Element received)
    {
        if (!_established)
        {
            Close(StreamErrors.NotAuthorized, "no stanza before the stream is authenticated", RemoteServerNotFound, $"{_remote} sent a stanza too early");
            return;
        }
        if (_peers.CheckAddresses(received, out var from, out var to) is { } refused)
        {
            Close(refused.Condition, refused.Text, RemoteServerTimeout, $"{_remote} sent a stanza it may not send");
            return;
        }
        if (from is null || to is null) return; // answered <jid-malformed/>
        if (S2sStreams.IsPingAnswer(received, from, to))
        {
            // XEP-0199 §4.2: the answer to this link's ping comes back on the same stream; another link's goes to it
            if (from.Domain == _remote && to.Domain == _local) OnPingAnswered(received.Id!);
            else Context.Parent.Tell(new S2sActor.PingAnswered(to.Domain, from.Domain, received.Id!));
            return;
        }
        _lastStanza = Environment.TickCount64;
        _peers.Deliver(received, from, to);
    }

    /// <summary>XEP-0288 §2.2: the peer (the receiving server of this stream) asks with dialback for another domain pair
    /// on it; this server asks that domain's Authoritative Server (never on this stream) and answers with XEP-0220
    /// errors where needed. The stream's own pair, reversed, is authenticated with the stream.</summary>
    private void OnPeerResultRequest(Element result)
    {
        if (result.From is { } f && Jid.NormalizeDomain(f) == _remote && result.To is { } t && Jid.NormalizeDomain(t) == _local)
        {
            if (_established)
                _link!.Send(S2sStreams.Prefixed(S2sStreams.Dialback(S2sStreams.Result, _local, _remote, S2sStreams.Valid)));
            return;
        }
        if (_peers.OnResultRequest(result, _streamId!, _local, _link!, Self, Context.Parent) is { } error)
            Close(StreamErrors.InvalidFrom, error, RemoteServerTimeout, $"{_remote} broke the stream");
    }

    /// <summary>RFC 6120 §4.3.2: the peer's features after each (re)start of the stream.</summary>
    private void OnFeatures(Element features)
    {
        if (_resultSent || _established || _saslSent && !_saslDone) return;
        if (_saslDone)
        {
            Establish(); // §6.4.6: the restarted stream after SASL success is authenticated
            return;
        }
        if (!_secure)
        {
            if (features.Child(S2sStreams.StartTls, Ns.Tls) is not null)
            {
                _link!.Send(new Element(S2sStreams.StartTls, Ns.Tls), Ns.Server); // §5.4.2.1
                return;
            }
            if (_context.Settings.RequireTls)
            {
                Close(StreamErrors.PolicyViolation, "this server requires TLS on server-to-server streams", RemoteServerNotFound,
                    $"{_remote} does not offer TLS, which this server requires");
                return;
            }
        }
        if (!_bidi && _context.Settings.Bidi && features.Child(S2sStreams.Bidi, Ns.BidiFeature) is not null)
        {
            // XEP-0288 §2.2: after TLS (§2.1), before SASL or dialback
            _bidi = true;
            _link!.Send(new Element(S2sStreams.Bidi, Ns.Bidi), Ns.Server);
        }
        if (_secure && S2sStreams.OffersExternal(features) && CertificateError() is null)
        {
            // XEP-0178 §3: EXTERNAL with this server's domain as the authorization identity
            _saslSent = true;
            _link!.Send(new Element(S2sStreams.Auth, Ns.Sasl).SetAttr("mechanism", S2sStreams.External)
                .AddText(Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(_local))), Ns.Server);
            return;
        }
        SendResult(); // XEP-0220 §2.1 (also when the peer does not announce the feature: older servers do not)
    }

    private void OnSasl(Element element)
    {
        switch (element.Name)
        {
            case S2sStreams.Success:
                // RFC 6120 §6.4.6: restart the stream; its features then end the negotiation
                _saslDone = true;
                _link!.RestartStream();
                _headerReceived = false;
                _link.Send(S2sStreams.Header(_local, _remote, id: null));
                return;
            case S2sStreams.Challenge:
                _link!.Send(new Element(S2sStreams.Response, Ns.Sasl).AddText("="), Ns.Server); // an empty response
                return;
            default:
                // §6.4.5 failure: dialback instead on the same stream (XEP-0344), if the peer still takes it
                _saslSent = false;
                _log.Info("s2s {0} → {1}: SASL EXTERNAL refused, trying dialback", _local, _remote);
                SendResult();
                return;
        }
    }

    private void SendPendingVerifies()
    {
        _negotiated = true;
        foreach (var v in _verifiesToSend) SendVerify(v);
        _verifiesToSend.Clear();
    }

    private void SendResult()
    {
        SendPendingVerifies();
        _resultSent = true;
        var key = _context.Keys.Generate(_remote, _local, _streamId!);
        _link!.Send(S2sStreams.Prefixed(S2sStreams.Dialback(S2sStreams.Result, _local, _remote, key: key)));
    }

    /// <summary>XEP-0220 §2.4: the Receiving Server's verdict on this stream's key.</summary>
    private void OnResult(Element result)
    {
        if (result.From != _remote || result.To != _local) return; // not about this stream's pair
        switch (result.Type)
        {
            case S2sStreams.Valid:
                Establish();
                break;
            case S2sStreams.Invalid:
                Fail(RemoteServerNotFound, $"{_remote} refused this server's dialback key");
                break;
            default:
                var condition = S2sStreams.ErrorCondition(result) ?? "undefined-condition";
                Fail(RemoteServerNotFound, $"{_remote} refused dialback: {condition}");
                break;
        }
    }

    private void Establish()
    {
        if (_established) return;
        SendPendingVerifies();
        _established = true;
        // XEP-0288 §2.2: the peer may now send from the stream's 'to' (SASL), the inverse of the dialback pair
        if (_bidi) _peers.Add(_remote, _local);
        Timers.Cancel(SetupTimer);
        Context.Parent.Tell(new S2sActor.LinkEstablished(_local, _remote));
        _log.Info("s2s {0} → {1} established ({2}{3})", _local, _remote, _saslDone ? "SASL EXTERNAL" : _secure ? "dialback over TLS" : "dialback",
            _bidi ? ", bidirectional" : "");
        while (_queue.Count > 0) Write(_queue.Dequeue());
        _lastStanza = Environment.TickCount64;
        var idle = TimeSpan.FromSeconds(Math.Max(1, _context.Settings.IdleTimeoutSeconds));
        Timers.StartPeriodicTimer(IdleTimer, IdleCheck.Instance, idle / 2);
        _lastHeard = Environment.TickCount64;
        var settings = _context.Settings;
        if (settings.PingIntervalSeconds > 0)
        {
            // checked at half the shorter of the two periods: a ping leaves at most that late, a dead peer is found
            // at most that late after its timeout
            var period = TimeSpan.FromSeconds(Math.Min(settings.PingIntervalSeconds, Math.Max(1, settings.PingTimeoutSeconds)) / 2.0);
            Timers.StartPeriodicTimer(PingTimer, PingCheck.Instance, period);
        }
    }

    /// <summary>XEP-0199 §4.2 on an established link: a ping when the peer has been silent for PingIntervalSeconds;
    /// one left unanswered for PingTimeoutSeconds closes the link with &lt;connection-timeout/&gt; (RFC 6120
    /// §4.9.3.4: the peer is taken to have lost the ability to communicate).</summary>
    private void OnPingCheck()
    {
        if (_closing) return;
        var now = Environment.TickCount64;
        var settings = _context.Settings;
        if (_pingId is not null)
        {
            if (now - _pingSentAt >= Math.Max(1, settings.PingTimeoutSeconds) * 1000L)
                Close(StreamErrors.ConnectionTimeout, "no answer to a ping", RemoteServerTimeout, $"{_remote} did not answer a ping");
            return;
        }
        if (now - _lastHeard < settings.PingIntervalSeconds * 1000L) return;
        _pingId = S2sStreams.PingIdPrefix + (++_pings).ToString(System.Globalization.CultureInfo.InvariantCulture);
        _pingSentAt = now;
        _link!.Send(S2sStreams.PingRequest(_local, _remote, _pingId), Ns.Server);
    }

    /// <summary>XEP-0220 §2.3: the Authoritative Server's answer to a db:verify this link sent.</summary>
    private void OnVerifyAnswer(Element answer)
    {
        if (answer.Id is not { } id || !_verifiesSent.Remove(id, out var waiting)) return;
        var valid = answer.Type == S2sStreams.Valid && answer.From == _remote && answer.To == _local;
        var error = answer.Type == S2sStreams.Error ? S2sStreams.ErrorCondition(answer) ?? "undefined-condition" : null;
        foreach (var v in waiting) v.ReplyTo.Tell(new S2sActor.Verified(v.Local, v.Remote, v.StreamId, valid, error));
    }

    private void OnIdleCheck()
    {
        if (_closing || _verifiesSent.Count > 0 || _peers.Verifying > 0) return;
        if (Environment.TickCount64 - _lastStanza >= _context.Settings.IdleTimeoutSeconds * 1000L)
            Close(null, null, RemoteServerTimeout, "idle"); // RFC 6120 §4.4: an idle stream is closed without error
    }

    /// <summary>Setting up failed: the queue is bounced with <paramref name="condition"/> and the parent backs off.</summary>
    private void Fail(string condition, string reason)
    {
        if (_closing) return;
        _log.Info("s2s {0} → {1}: {2}", _local, _remote, reason);
        Context.Parent.Tell(new S2sActor.LinkFailed(_local, _remote, condition, reason));
        Close(null, null, condition, reason);
    }

    /// <summary>Ends the link: the parent stops routing here, the queue is bounced, pending verifications fail, and
    /// the stream closes (after a stream error when <paramref name="streamError"/> is given).</summary>
    private void Close(string? streamError, string? text, string bounceCondition, string reason)
    {
        if (_closing) return;
        _closing = true;
        Context.Parent.Tell(new S2sActor.LinkClosing(_local, _remote));
        Timers.CancelAll();
        _connecting.Cancel();
        BounceQueue(bounceCondition, reason);
        AnswerVerifies(false, bounceCondition);
        if (_link is null)
        {
            Context.Stop(Self);
            return;
        }
        if (_tlsStarting)
        {
            _link.Complete(); // no stream during the handshake (RFC 6120 §5.4.3.2)
            return;
        }
        if (!_headerReceived && streamError is null)
        {
            _link.Send(TcpStreamFraming.Close);
        }
        else _link.Send(S2sStreams.Close(streamError, text));
        _link.Complete(); // ConnectionLost follows and stops the actor
    }

    private void BounceQueue(string condition, string reason)
    {
        while (_queue.Count > 0) _context.Router.Bounce(_queue.Dequeue(), condition, reason);
    }

    private void AnswerVerifies(bool valid, string condition)
    {
        foreach (var v in _verifiesToSend) v.ReplyTo.Tell(new S2sActor.Verified(v.Local, v.Remote, v.StreamId, valid, condition));
        _verifiesToSend.Clear();
        foreach (var waiting in _verifiesSent.Values)
            foreach (var v in waiting) v.ReplyTo.Tell(new S2sActor.Verified(v.Local, v.Remote, v.StreamId, valid, condition));
        _verifiesSent.Clear();
    }
}
