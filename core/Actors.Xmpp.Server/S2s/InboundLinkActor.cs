using System.Net.Sockets;
using System.Security.Cryptography;
using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Server.Stanzas;
using Actors.Xmpp.Stanzas;
using Actors.Xmpp.Transport.Connections;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Transport.Streams;
using Actors.Xmpp.Xml;
using Akka.Actor;
using Akka.Event;
using Akka.Streams;

namespace Actors.Xmpp.Server.S2s;

/// <summary>
/// One inbound server-to-server stream (RFC 6120 §4, the Receiving Server of XEP-0220), fed by a
/// <see cref="StreamLink"/> graph. It answers the peer's jabber:server header (&lt;host-unknown/&gt; for a 'to' this
/// server does not host) and offers STARTTLS (RFC 6120 §5; &lt;required/&gt; with <c>Xmpp:S2s:RequireTls</c>, and then
/// anything else before TLS is closed with &lt;policy-violation/&gt;), or takes TLS from the first byte on the XEP-0368
/// port. Over TLS it offers SASL EXTERNAL (RFC 6120 §6, XEP-0178) when the peer's certificate verifies for the domain
/// of its header's 'from' (<see cref="Transport.Tls.PeerCertificateVerifier"/>), and dialback in any case (XEP-0344:
/// a self-signed or otherwise unverifiable certificate falls back to dialback). For each db:result asks the claimed domain's Authoritative Server
/// (through the outbound link to it, <see cref="S2sActor.Verify"/>) before answering valid or invalid; it answers the
/// db:verify requests of other servers about keys this server generated (XEP-0185). A stanza is accepted only when its
/// 'from' domain was authenticated for its 'to' domain on this stream: &lt;not-authorized/&gt; before any
/// authentication, &lt;invalid-from/&gt; for a 'from' not authenticated (§4.9.3.9), &lt;host-unknown/&gt; for a 'to' not
/// hosted here (§4.9.3.6); then it is routed as jabber:client like any other stanza. With <c>Xmpp:S2s:Bidi</c> it offers
/// XEP-0288 bidirectional streams (after TLS when TLS is required, with the authentication features); a peer that asks
/// with &lt;bidi xmlns='urn:xmpp:bidi'/&gt; gets each domain pair it authenticates registered with <see cref="S2sActor"/>
/// as this server's way back to it (<see cref="S2sActor.BidiRoute"/>): stanzas from the local domain to the peer's
/// domain of an authenticated pair (for SASL the stream's 'to' to its 'from', for dialback the inverse of the
/// db:result's pair, XEP-0288 §2.2) are written on this stream instead of a second connection.
/// </summary>
public sealed class InboundLinkActor : StreamLinkActor, IWithTimers
{
    private const string SetupTimer = "setup", IdleTimer = "idle";

    private readonly Socket _socket;
    private readonly bool _directTls;
    private readonly IMaterializer _materializer;
    private readonly S2sContext _context;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly PeerDomains _peers;
    private StreamLink? _link;
    private string _streamId = NewStreamId(); // a new one for each stream header (RFC 6120 §4.7.3; restarts too)
    private string? _local;  // the 'to' of the peer's header
    private string? _peer;   // the 'from' of the peer's header
    private bool _headerSent, _closing;
    private bool _secure, _tlsStarting, _saslDone, _saslChallenged;
    private bool _bidi;            // XEP-0288: the peer asked for a bidirectional stream
    private bool _bidiRoutes;      // and the parent routes some of this server's stanzas here
    private TlsUpgrade? _tls;
    private (string Domain, string? Error)? _certificateVerdict;
    private long _lastStanza = Environment.TickCount64;

    public InboundLinkActor(Socket socket, bool directTls, IMaterializer materializer, S2sContext context)
    {
        _socket = socket;
        _directTls = directTls;
        _materializer = materializer;
        _context = context;
        _peers = new PeerDomains(context);
        Receive<S2sActor.Verified>(OnVerified);
        Receive<S2sRoutes.Outbound>(OnOutbound);
        Receive<S2sActor.SystemShutdown>(_ => CloseStream(StreamErrors.SystemShutdown));
        Receive<SetupTimedOut>(_ => { if (_peers.Count == 0) CloseStream(StreamErrors.ConnectionTimeout, "not authenticated in time"); });
        Receive<IdleCheck>(_ =>
        {
            if (_peers.Verifying == 0 && Environment.TickCount64 - _lastStanza >= _context.Settings.IdleTimeoutSeconds * 1000L)
                CloseStream(StreamErrors.ConnectionTimeout, "idle");
        });
    }

    protected override void OnPeerClosedStream() => CloseStream(null);

    protected override void OnFramingFailed(FramerErrorCondition condition, string text) => CloseStream(StreamErrors.ForFraming(condition), text);

    protected override void OnTlsFailed(string reason)
    {
        // RFC 6120 §5.4.3.2: the receiving entity MUST terminate the TCP connection (the link closed it) and MUST NOT
        // send </stream> first: the stream the handshake replaced is gone, so nothing is written
        _log.Info("s2s inbound: TLS failed ({0})", reason);
        _closing = true;
        Timers.CancelAll();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(Socket socket, bool directTls, IMaterializer materializer, S2sContext context) =>
        ActorProps.Of(() => new InboundLinkActor(socket, directTls, materializer, context));

    private static string NewStreamId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));



    private sealed record SetupTimedOut
    {
        public static readonly SetupTimedOut Instance = new();
    }

    private sealed record IdleCheck
    {
        public static readonly IdleCheck Instance = new();
    }

    /// <summary>The shaper of an inbound stream (Xmpp:S2s:Inbound*), or null: rates of 0, or a loopback peer while the
    /// per-address limits exempt loopback.</summary>
    internal static LinkShaping? Shaping(XmppServerOptions o, Socket socket)
    {
        var s2s = o.S2s;
        if (s2s.InboundBytesPerSecond <= 0 && s2s.InboundStanzasPerSecond <= 0) return null;
        if (o.Limits.ExemptLoopback && socket.RemoteEndPoint is System.Net.IPEndPoint ip && System.Net.IPAddress.IsLoopback(ip.Address)) return null;
        return new LinkShaping(Math.Max(0, s2s.InboundBytesPerSecond), Math.Max(s2s.InboundBurstBytes, o.Limits.MaxStanzaBytes),
            Math.Max(0, s2s.InboundStanzasPerSecond), Math.Max(1, s2s.InboundBurstStanzas));
    }

    protected override void PreStart()
    {
        var o = _context.Server.Options;
        _link = RunLink(_socket, _materializer, new FramerLimits(o.Limits.MaxStanzaBytes, o.Limits.MaxDepth), 4096, Shaping(o, _socket));
        if (_directTls) StartTls(); // XEP-0368: TLS from the first byte, then the stream
        Timers.StartSingleTimer(SetupTimer, SetupTimedOut.Instance, TimeSpan.FromSeconds(Math.Max(1, _context.Settings.ConnectTimeoutSeconds)));
        var idle = TimeSpan.FromSeconds(Math.Max(1, _context.Settings.IdleTimeoutSeconds));
        Timers.StartPeriodicTimer(IdleTimer, IdleCheck.Instance, idle / 2);
    }


    protected override void OnStreamOpened(StreamHeader header)
    {
        if (_closing) return;
        if (_headerSent)
        {
            // a restart comes only after TLS or SASL success, which reset _headerSent (RFC 6120 §5.4.3.3, §6.4.6)
            CloseStream(StreamErrors.NotWellFormed, "a second stream header");
            return;
        }
        _streamId = NewStreamId();
        var to = header.Attr("to") is { } t ? Jid.NormalizeDomain(t) : null;
        var local = to is not null && _context.Router.IsHostedDomain(to) ? to : null;
        var peer = header.Attr("from") is { } f ? Jid.NormalizeDomain(f) : null;
        if ((_secure || _saslDone) && (local != _local || peer != _peer) && _local is not null)
        {
            // the restarted stream is the same stream: the same domains (RFC 6120 §4.3.3)
            _link!.Send(S2sStreams.Header(_local, _peer, _streamId));
            _headerSent = true;
            CloseStream(StreamErrors.InvalidFrom, "the restarted stream names other domains");
            return;
        }
        _local = local;
        _peer = peer;
        _link!.Send(S2sStreams.Header(_local ?? _context.Server.Domains[0], peer, _streamId));
        _headerSent = true;
        if (header.Name != "stream" || header.Namespace != Ns.Streams)
            CloseStream(StreamErrors.InvalidNamespace, "the stream namespace must be " + Ns.Streams); // RFC 6120 §4.9.3.10
        else if (header.DefaultNamespace != Ns.Server)
            CloseStream(StreamErrors.InvalidNamespace, "a server stream's content namespace is " + Ns.Server);
        else if (_local is null)
            CloseStream(StreamErrors.HostUnknown, "that domain is not served here"); // RFC 6120 §4.9.3.6
        else if (!S2sStreams.SupportsFeatures(header))
        {
            // a pre-1.0 peer knows neither STARTTLS nor SASL (RFC 6120 §4.7.5): only dialback in the clear
            if (_context.Settings.RequireTls && !_secure)
                CloseStream(StreamErrors.PolicyViolation, "TLS is required and a pre-1.0 stream cannot negotiate it");
        }
        else
        {
            // RFC 6120 §4.7.5 / §5.4.1 / XEP-0178 / XEP-0220 §2.1
            var offerExternal = _secure && !_saslDone && peer is not null && CertificateError(peer) is null;
            // XEP-0288 §2.1: bidi with the authentication features; after SASL the restarted stream offers nothing more
            var offerBidi = _context.Settings.Bidi && !_saslDone && !_bidi;
            _link.Send(S2sStreams.StreamFeatures(offerTls: !_secure, tlsRequired: _context.Settings.RequireTls, offerExternal, offerBidi));
        }
    }

    /// <summary>Null when the peer's TLS certificate verifies for <paramref name="domain"/>, else why not.</summary>
    private string? CertificateError(string domain)
    {
        if (_certificateVerdict is { } verdict && verdict.Domain == domain) return verdict.Error;
        var error = _tls is null ? "no TLS" : _context.PeerCertificates.Verify(_tls.PeerCertificate, _tls.PeerIntermediates, domain);
        _certificateVerdict = (domain, error);
        return error;
    }

    /// <summary>RFC 6120 §5.4.2.3: &lt;proceed/&gt; (or, on the XEP-0368 port, nothing), then the handshake; the framing
    /// stage reads nothing more until it is done.</summary>
    private void StartTls()
    {
        _tlsStarting = true;
        _tls = TlsUpgrade.AsServer(_context.Certificates, _context.TlsHandshakeTimeout);
        StartTls(_tls);
    }

    protected override void OnTlsEstablished()
    {
        if (_closing) return;
        _tlsStarting = false;
        _secure = true;
        // RFC 6120 §5.4.3.3: the stream restarts; what was learned before TLS is forgotten (a bidi request too: XEP-0288
        // §2.1, STARTTLS comes before bidirectionality)
        _peers.Clear();
        _bidi = false;
        _headerSent = false;
        ResumeAfterTls();
    }

    protected override void OnElement(Element element)
    {
        if (_closing) return;
        if (element.Is(S2sStreams.StartTls, Ns.Tls))
        {
            if (_secure || _tlsStarting)
            {
                // RFC 6120 §5.4.2.2: failure, then the stream and the connection close
                _link!.Send(new Element(S2sStreams.Failure, Ns.Tls), Ns.Server);
                CloseStream(null);
                return;
            }
            _link!.Send(new Element(S2sStreams.Proceed, Ns.Tls), Ns.Server);
            StartTls();
            return;
        }
        if (!_secure && _context.Settings.RequireTls)
        {
            // RFC 6120 §5.3.1: TLS is mandatory-to-negotiate here
            CloseStream(StreamErrors.PolicyViolation, "STARTTLS is required before anything else on this server's streams");
            return;
        }
        if (element.Namespace == Ns.Sasl)
        {
            OnSasl(element);
            return;
        }
        if (element.Is(S2sStreams.Bidi, Ns.Bidi) && _context.Settings.Bidi)
        {
            OnBidiRequest();
            return;
        }
        if (element.Is(S2sStreams.Result, Ns.Dialback))
        {
            OnResult(element);
            return;
        }
        if (element.Is(S2sStreams.Verify, Ns.Dialback))
        {
            OnVerifyRequest(element);
            return;
        }
        if (!S2sStreams.IsStanza(element))
        {
            CloseStream(StreamErrors.UnsupportedStanzaType, null); // RFC 6120 §4.9.3.21
            return;
        }
        OnStanza(element);
    }

    /// <summary>RFC 6120 §6.4 with the EXTERNAL mechanism (XEP-0178): the peer is the domain of its stream header's
    /// 'from', proven by its certificate; an authorization identity, when given, must be that domain.</summary>
    private void OnSasl(Element element)
    {
        switch (element.Name)
        {
            case S2sStreams.Auth:
                if (_saslDone)
                {
                    CloseStream(StreamErrors.PolicyViolation, "the stream is already authenticated"); // one SASL authentication per stream (RFC 6120 §6.4)
                    return;
                }
                if (element.Attr("mechanism") != S2sStreams.External)
                {
                    _link!.Send(S2sStreams.SaslFailure("invalid-mechanism"), Ns.Server); // §6.5.6
                    return;
                }
                if (element.Text.Length == 0)
                {
                    _saslChallenged = true; // §6.4.2: no initial response: an empty challenge asks for it
                    _link!.Send(new Element(S2sStreams.Challenge, Ns.Sasl), Ns.Server);
                    return;
                }
                CompleteExternal(element.Text);
                return;
            case S2sStreams.Response when _saslChallenged:
                _saslChallenged = false;
                CompleteExternal(element.Text.Length == 0 ? "=" : element.Text);
                return;
            case S2sStreams.Abort:
                _saslChallenged = false;
                _link!.Send(S2sStreams.SaslFailure("aborted"), Ns.Server); // §6.4.4
                return;
            default:
                CloseStream(StreamErrors.UnsupportedStanzaType, $"<{element.Name}/> is not expected here");
                return;
        }
    }

    private void CompleteExternal(string response)
    {
        string authzid;
        if (response.Trim() == "=") authzid = "";
        else
        {
            try
            {
                authzid = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(response.Trim()));
            }
            catch (FormatException)
            {
                _link!.Send(S2sStreams.SaslFailure("incorrect-encoding"), Ns.Server); // §6.5.2
                return;
            }
        }
        var refused = _peer is null ? "the stream header has no 'from'" : CertificateError(_peer);
        if (refused is not null)
        {
            _log.Info("s2s inbound: SASL EXTERNAL refused for {0}: {1}", _peer ?? "?", refused);
            _link!.Send(S2sStreams.SaslFailure("not-authorized"), Ns.Server); // §6.5.10; dialback remains
            return;
        }
        if (authzid.Length > 0 && Jid.NormalizeDomain(authzid) != _peer)
        {
            _link!.Send(S2sStreams.SaslFailure("invalid-authzid"), Ns.Server); // §6.5.7
            return;
        }
        _link!.Send(new Element(S2sStreams.Success, Ns.Sasl), Ns.Server);
        _saslDone = true;
        _peers.Add(_peer!, _local!);
        _log.Info("s2s {0} → {1} authenticated (SASL EXTERNAL{2})", _peer, _local, _bidi ? ", bidirectional" : "");
        if (_bidi) RegisterRoute(_peer!, _local!); // XEP-0288 §2.2: the stream's 'to' to its 'from'
        Timers.Cancel(SetupTimer);
        _lastStanza = Environment.TickCount64;
        // §6.4.6: the peer restarts the stream; the next bytes are its new header
        _link.RestartStream();
        _headerSent = false;
    }

    /// <summary>XEP-0220 §2.1.2: the Originating Server claims a domain with a key; ask its Authoritative Server. A
    /// db:result with a 'type' answers a request this server never made on this stream: nothing is authenticated by it
    /// (XEP-0288 §4: no stanza goes to its 'from' without proof).</summary>
    private void OnResult(Element result)
    {
        if (result.Type is not null)
        {
            _log.Info("s2s inbound: ignored an unrequested db:result type='{0}' from {1}", result.Type, result.From ?? "?");
            return;
        }
        if (_peers.OnResultRequest(result, _streamId, _local!, _link!, Self, Context.Parent) is { } error)
            CloseStream(StreamErrors.InvalidFrom, error);
    }

    private void OnVerified(S2sActor.Verified m)
    {
        if (m.StreamId != _streamId || _closing) return;
        if (!_peers.OnVerified(m, _link!))
        {
            if (m.ErrorCondition is null && !m.Valid) _log.Info("s2s inbound: dialback key of {0} for {1} is invalid", m.Remote, m.Local);
            return;
        }
        _log.Info("s2s {0} → {1} authenticated (dialback{2}{3})", m.Remote, m.Local, _secure ? " over TLS" : "", _bidi ? ", bidirectional" : "");
        Timers.Cancel(SetupTimer);
        _lastStanza = Environment.TickCount64;
        if (_bidi) RegisterRoute(m.Remote, m.Local); // XEP-0288 §2.2: the inverse of the db:result's pair
    }

    /// <summary>XEP-0220 §2.3: this server is the Authoritative Server of the db:verify's 'to'.</summary>
    private void OnVerifyRequest(Element verify)
    {
        if (_peers.OnVerifyRequest(verify, _local!, _link!) is { } error) CloseStream(StreamErrors.InvalidXml, error);
    }

    /// <summary>XEP-0288 §2.2: the peer asks for a bidirectional stream (no answer is defined). Pairs it authenticated
    /// already (it should ask before, a SHOULD) become routes now.</summary>
    private void OnBidiRequest()
    {
        if (_bidi) return;
        _bidi = true;
        _log.Debug("s2s inbound from {0}: bidirectional stream requested (XEP-0288)", _peer ?? "?");
        foreach (var (remote, local) in _peers.Pairs) RegisterRoute(remote, local);
    }

    /// <summary>The peer proved <paramref name="remote"/> for <paramref name="local"/> on this bidirectional stream: this
    /// server may send from <paramref name="local"/> to <paramref name="remote"/> on it (XEP-0288 §2.2).</summary>
    private void RegisterRoute(string remote, string local)
    {
        _bidiRoutes = true;
        Context.Parent.Tell(new S2sActor.BidiRoute(local, remote));
    }

    /// <summary>A stanza of this server for the peer, on this bidirectional stream: written only for a pair the peer
    /// authenticated (XEP-0288 §2.2: the receiving server MUST only send stanzas for which it has been authenticated).</summary>
    private void OnOutbound(S2sRoutes.Outbound m)
    {
        if (_closing)
        {
            Context.Parent.Tell(m); // for a new outbound link (BidiClosing went first)
            return;
        }
        if (!_bidi || !_peers.Contains(m.Remote, m.Local))
        {
            _context.Router.Bounce(m.Stanza, "remote-server-not-found", $"{m.Remote} is not authenticated on this stream");
            return;
        }
        _lastStanza = Environment.TickCount64;
        var stanza = m.Stanza;
        _link!.Send(stanza.Namespace == Ns.Client ? stanza.CloneIn(Ns.Client, Ns.Server) : stanza, Ns.Server);
    }

    private void OnStanza(Element received)
    {
        if (_peers.Count == 0)
        {
            CloseStream(StreamErrors.NotAuthorized, "dialback comes first"); // RFC 6120 §4.9.3.12
            return;
        }
        if (_peers.CheckAddresses(received, out var from, out var to) is { } refused)
        {
            CloseStream(refused.Condition, refused.Text);
            return;
        }
        if (from is null || to is null) return; // answered <jid-malformed/>
        if (S2sStreams.IsPingAnswer(received, from, to))
        {
            Context.Parent.Tell(new S2sActor.PingAnswered(to.Domain, from.Domain, received.Id!)); // XEP-0199 §4.2
            return;
        }
        _lastStanza = Environment.TickCount64;
        _peers.Deliver(received, from, to);
    }

    /// <summary>Ends the stream (RFC 6120 §4.4), after a stream error when <paramref name="condition"/> is given.</summary>
    private void CloseStream(string? condition, string? text = null)
    {
        if (_closing) return;
        _closing = true;
        Timers.CancelAll();
        if (_bidiRoutes) Context.Parent.Tell(S2sActor.BidiClosing.Instance); // before any stanza it sends back
        if (_tlsStarting)
        {
            // during the TLS handshake there is no stream to put an error on (RFC 6120 §5.4.3.2)
            _link!.Complete();
            return;
        }
        if (!_headerSent)
        {
            _link!.Send(S2sStreams.Header(_local ?? _context.Server.Domains[0], null, _streamId));
            _headerSent = true;
        }
        _link!.Send(S2sStreams.Close(condition, text));
        _link.Complete();
    }
}
