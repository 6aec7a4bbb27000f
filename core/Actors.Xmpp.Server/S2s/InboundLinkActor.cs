using System.Net.Sockets;
using System.Security.Cryptography;
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
/// server does not host), offers dialback, and for each db:result asks the claimed domain's Authoritative Server
/// (through the outbound link to it, <see cref="S2sActor.Verify"/>) before answering valid or invalid; it answers the
/// db:verify requests of other servers about keys this server generated (XEP-0185). A stanza is accepted only when its
/// 'from' domain was authenticated for its 'to' domain on this stream: &lt;not-authorized/&gt; before any
/// authentication, &lt;invalid-from/&gt; for a 'from' not authenticated (§4.9.3.9), &lt;host-unknown/&gt; for a 'to' not
/// hosted here (§4.9.3.6); then it is routed as jabber:client like any other stanza.
/// </summary>
public sealed class InboundLinkActor : ReceiveActor, IWithTimers
{
    private const string SetupTimer = "setup", IdleTimer = "idle";

    private readonly Socket _socket;
    private readonly IMaterializer _materializer;
    private readonly S2sContext _context;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _streamId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
    private readonly HashSet<(string Remote, string Local)> _authenticated = new();
    private readonly HashSet<(string Remote, string Local)> _verifying = new();
    private StreamLink? _link;
    private string? _local;  // the 'to' of the peer's header
    private bool _headerSent, _closing;
    private long _lastStanza = Environment.TickCount64;

    public InboundLinkActor(Socket socket, IMaterializer materializer, S2sContext context)
    {
        _socket = socket;
        _materializer = materializer;
        _context = context;
        Receive<TransportEvents.StreamOpened>(m => { OnStreamOpened(m.Header); Sender.Tell(StreamLink.Ack); });
        Receive<TransportEvents.StanzaReceived>(m => { OnElement(m.Element); Sender.Tell(StreamLink.Ack); });
        Receive<TransportEvents.StreamClosed>(_ => { CloseStream(null); Sender.Tell(StreamLink.Ack); });
        Receive<TransportEvents.FramingFailed>(m => { CloseStream(StreamErrors.ForFraming(m.Condition), m.Text); Sender.Tell(StreamLink.Ack); });
        Receive<TransportEvents.ConnectionLost>(_ => Context.Stop(Self));
        Receive<S2sActor.Verified>(OnVerified);
        Receive<S2sActor.SystemShutdown>(_ => CloseStream(StreamErrors.SystemShutdown));
        Receive<SetupTimedOut>(_ => { if (_authenticated.Count == 0) CloseStream(StreamErrors.ConnectionTimeout, "not authenticated in time"); });
        Receive<IdleCheck>(_ =>
        {
            if (_verifying.Count == 0 && Environment.TickCount64 - _lastStanza >= _context.Settings.IdleTimeoutSeconds * 1000L)
                CloseStream(StreamErrors.ConnectionTimeout, "idle");
        });
        ReceiveAny(m =>
        {
            if (ReferenceEquals(m, StreamLink.Init)) Sender.Tell(StreamLink.Ack);
            else Unhandled(m);
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(Socket socket, IMaterializer materializer, S2sContext context) =>
        ActorProps.Of(() => new InboundLinkActor(socket, materializer, context));

    private sealed record SetupTimedOut
    {
        public static readonly SetupTimedOut Instance = new();
    }

    private sealed record IdleCheck
    {
        public static readonly IdleCheck Instance = new();
    }

    protected override void PreStart()
    {
        var o = _context.Server.Options;
        _link = StreamLink.Run(_socket, Self, _materializer, new FramerLimits(o.Limits.MaxStanzaBytes, o.Limits.MaxDepth), 4096);
        Timers.StartSingleTimer(SetupTimer, SetupTimedOut.Instance, TimeSpan.FromSeconds(Math.Max(1, _context.Settings.ConnectTimeoutSeconds)));
        var idle = TimeSpan.FromSeconds(Math.Max(1, _context.Settings.IdleTimeoutSeconds));
        Timers.StartPeriodicTimer(IdleTimer, IdleCheck.Instance, idle / 2);
    }

    protected override void PostStop() => _link?.Complete();

    private void OnStreamOpened(StreamHeader header)
    {
        if (_closing) return;
        if (_headerSent)
        {
            CloseStream(StreamErrors.NotWellFormed, "a second stream header"); // no TLS or SASL here: no restart
            return;
        }
        var to = header.Attr("to") is { } t ? Jid.NormalizeDomain(t) : null;
        _local = to is not null && _context.Router.IsHostedDomain(to) ? to : null;
        var peer = header.Attr("from") is { } f ? Jid.NormalizeDomain(f) : null;
        _link!.Send(S2sStreams.Header(_local ?? _context.Server.Domains[0], peer, _streamId));
        _headerSent = true;
        if (header.Name != "stream" || header.Namespace != Ns.Streams)
            CloseStream(StreamErrors.InvalidNamespace, "the stream namespace must be " + Ns.Streams); // RFC 6120 §4.9.3.10
        else if (header.DefaultNamespace != Ns.Server)
            CloseStream(StreamErrors.InvalidNamespace, "a server stream's content namespace is " + Ns.Server);
        else if (_local is null)
            CloseStream(StreamErrors.HostUnknown, "that domain is not served here"); // RFC 6120 §4.9.3.6
        else if (S2sStreams.SupportsFeatures(header))
            _link.Send(S2sStreams.FeaturesWithDialback()); // RFC 6120 §4.7.5 / XEP-0220 §2.1
    }

    private void OnElement(Element element)
    {
        if (_closing) return;
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

    /// <summary>XEP-0220 §2.1.2: the Originating Server claims a domain with a key; ask its Authoritative Server.</summary>
    private void OnResult(Element result)
    {
        var to = result.To is { } t ? Jid.NormalizeDomain(t) : null;
        var from = result.From is { } f ? Jid.NormalizeDomain(f) : null;
        if (from is null)
        {
            CloseStream(StreamErrors.InvalidFrom, "db:result needs a valid 'from' domain"); // XEP-0220 §2.4
            return;
        }
        if (to is null || !_context.Router.IsHostedDomain(to))
        {
            // XEP-0220 §2.4 (dialback errors announced): the target domain is not hosted here
            _link!.Send(S2sStreams.DialbackError(S2sStreams.Result, result.To ?? _local!, from, "item-not-found"), Ns.Server);
            return;
        }
        var key = result.Text;
        if (key.Length == 0)
        {
            _link!.Send(S2sStreams.DialbackError(S2sStreams.Result, to, from, "bad-request"), Ns.Server);
            return;
        }
        if (_authenticated.Contains((from, to)) || !_verifying.Add((from, to))) return; // asked already
        Context.Parent.Tell(new S2sActor.Verify(to, from, _streamId, key, Self));
    }

    private void OnVerified(S2sActor.Verified m)
    {
        if (m.StreamId != _streamId || !_verifying.Remove((m.Remote, m.Local)) || _closing) return;
        if (m.ErrorCondition is { } condition)
        {
            // XEP-0220 §2.4: the Authoritative Server could not be asked (remote-server-not-found / -timeout)
            _link!.Send(S2sStreams.DialbackError(S2sStreams.Result, m.Local, m.Remote, condition), Ns.Server);
            return;
        }
        _link!.Send(S2sStreams.Dialback(S2sStreams.Result, m.Local, m.Remote, m.Valid ? S2sStreams.Valid : S2sStreams.Invalid), Ns.Server);
        if (!m.Valid)
        {
            _log.Info("s2s inbound: dialback key of {0} for {1} is invalid", m.Remote, m.Local);
            return; // XEP-0220 §2.4: other domains may still authenticate on this stream
        }
        _authenticated.Add((m.Remote, m.Local));
        Timers.Cancel(SetupTimer);
        _lastStanza = Environment.TickCount64;
    }

    /// <summary>XEP-0220 §2.3: this server is the Authoritative Server of the db:verify's 'to'; the key is valid when
    /// it is the one this server generated for the Receiving Server ('from') and that stream id.</summary>
    private void OnVerifyRequest(Element verify)
    {
        var receiving = verify.From is { } f ? Jid.NormalizeDomain(f) : null;
        var originating = verify.To is { } t ? Jid.NormalizeDomain(t) : null;
        var id = verify.Id;
        if (receiving is null || string.IsNullOrEmpty(id))
        {
            CloseStream(StreamErrors.InvalidXml, "db:verify needs 'from' and 'id'");
            return;
        }
        if (originating is null || !_context.Router.IsHostedDomain(originating))
        {
            _link!.Send(S2sStreams.DialbackError(S2sStreams.Verify, verify.To ?? _local!, receiving, "item-not-found", id), Ns.Server);
            return;
        }
        var valid = _context.Keys.Verify(receiving, originating, id, verify.Text);
        _link!.Send(S2sStreams.Dialback(S2sStreams.Verify, originating, receiving, valid ? S2sStreams.Valid : S2sStreams.Invalid, id), Ns.Server);
    }

    private void OnStanza(Element received)
    {
        if (_authenticated.Count == 0)
        {
            CloseStream(StreamErrors.NotAuthorized, "dialback comes first"); // RFC 6120 §4.9.3.12
            return;
        }
        // RFC 6120 §8.1.1.1 / §8.1.2.1: a server-to-server stanza names both addresses
        if (received.From is not { } fromAttr || received.To is not { } toAttr)
        {
            CloseStream(StreamErrors.ImproperAddressing, "a server's stanza needs 'from' and 'to'"); // §4.9.3.7
            return;
        }
        if (!Jid.TryParse(fromAttr, out var from) || from is null)
        {
            CloseStream(StreamErrors.InvalidFrom, "'from' is not a valid JID"); // §4.9.3.9
            return;
        }
        if (!Jid.TryParse(toAttr, out var to) || to is null)
        {
            var stanza0 = received.CloneIn(Ns.Server, Ns.Client);
            if (StanzaErrors.Reply(stanza0, "jid-malformed", "the 'to' address is not a valid JID") is { } reply) Back(reply);
            return;
        }
        if (!_authenticated.Contains((from.Domain, to.Domain)))
        {
            if (!IsAuthenticatedTarget(to.Domain))
                CloseStream(StreamErrors.HostUnknown, $"{to.Domain} was not authenticated on this stream"); // §4.9.3.6
            else
                CloseStream(StreamErrors.InvalidFrom, $"{from.Domain} was not authenticated on this stream"); // §4.9.3.9
            return;
        }
        _lastStanza = Environment.TickCount64;
        var stanza = received.CloneIn(Ns.Server, Ns.Client);
        stanza.From = from.ToString();
        stanza.To = to.ToString();
        _context.Router.Route(stanza, from, to);
    }

    private bool IsAuthenticatedTarget(string domain)
    {
        foreach (var pair in _authenticated)
            if (pair.Local == domain) return true;
        return false;
    }

    /// <summary>An error for the peer's entity goes back through the router (and this server's outbound link).</summary>
    private void Back(Element reply)
    {
        if (Jid.TryParse(reply.To, out var to) && to is not null && Jid.TryParse(reply.From, out var from) && from is not null)
            _context.Router.Route(reply, from, to);
    }

    /// <summary>Ends the stream (RFC 6120 §4.4), after a stream error when <paramref name="condition"/> is given.</summary>
    private void CloseStream(string? condition, string? text = null)
    {
        if (_closing) return;
        _closing = true;
        Timers.CancelAll();
        if (!_headerSent)
        {
            _link!.Send(S2sStreams.Header(_local ?? _context.Server.Domains[0], null, _streamId));
            _headerSent = true;
        }
        _link!.Send(S2sStreams.Close(condition, text));
        _link.Complete();
    }
}
