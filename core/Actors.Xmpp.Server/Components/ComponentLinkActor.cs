using System.Buffers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
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

namespace Actors.Xmpp.Server.Components;

/// <summary>
/// One XEP-0114 component connection (jabber:component:accept), fed by a <see cref="StreamLink"/> graph. It answers the
/// component's stream header with its own (a new stream id, 'from' the component's domain), checks the
/// &lt;handshake/&gt; (hex SHA-1 of the stream id and the domain's secret: &lt;not-authorized/&gt; when wrong), takes the
/// domain's route (&lt;conflict/&gt; when another connection holds it), then routes what the component sends through
/// the <see cref="StanzaRouter"/> (its 'from' must be at the component's domain: &lt;invalid-from/&gt;) and writes what
/// the router delivers to the domain (<see cref="ComponentRoutes.Deliver"/>). Stanzas cross between jabber:client and
/// jabber:component:accept here, so the rest of the server only sees jabber:client.
/// </summary>
public sealed class ComponentLinkActor : StreamLinkActor, IWithTimers
{
    /// <summary>Queued writes a component may leave unread before its link is closed.</summary>
    public const int MaxQueuedWrites = 4096;
    private const string HandshakeTimer = "handshake";
    private const string Handshake = "handshake";

    private readonly Socket _socket;
    private readonly IMaterializer _materializer;
    private readonly ServerContext _server;
    private readonly IReadOnlyDictionary<string, string> _secrets;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _streamId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
    private StreamLink? _link;
    private string? _domain;       // the domain the component asked for (its header's 'to')
    private bool _headerSent, _authenticated, _closing;

    public ComponentLinkActor(Socket socket, IMaterializer materializer, ServerContext server, IReadOnlyDictionary<string, string> secrets)
    {
        _socket = socket;
        _materializer = materializer;
        _server = server;
        _secrets = secrets;
        // ConnectionLost (the peer closed, or our own close completed) stops the actor: what is queued outbound is
        // still written by the graph, which the parent's materializer runs, not this actor
        Receive<ComponentRoutes.Deliver>(m => ToComponent(m.Stanza));
        Receive<SystemShutdown>(_ => CloseStream(StreamErrors.SystemShutdown, null));
        Receive<HandshakeTimedOut>(_ => { if (!_authenticated) CloseStream(StreamErrors.ConnectionTimeout, "no handshake in time"); });
    }

    protected override void OnPeerClosedStream() => CloseStream(null);

    protected override void OnFramingFailed(FramerErrorCondition condition, string text) => CloseStream(StreamErrors.ForFraming(condition), text);

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="materializer">Runs the link's graph; it must outlive this actor (the parent's), so that the
    /// last writes (a stream error, the stream close) leave after the actor has stopped.</param>
    public static Props Props(Socket socket, IMaterializer materializer, ServerContext server, IReadOnlyDictionary<string, string> secrets) =>
        ActorProps.Of(() => new ComponentLinkActor(socket, materializer, server, secrets));

    /// <summary>The server is stopping: close with &lt;system-shutdown/&gt; (RFC 6120 §4.9.3.17).</summary>
    public sealed record SystemShutdown
    {
        public static readonly SystemShutdown Instance = new();
    }

    private sealed record HandshakeTimedOut
    {
        public static readonly HandshakeTimedOut Instance = new();
    }

    protected override void PreStart()
    {
        var o = _server.Options;
        _link = RunLink(_socket, _materializer, Hosting.XmppServerService.Framer(o.Limits), MaxQueuedWrites);
        Timers.StartSingleTimer(HandshakeTimer, HandshakeTimedOut.Instance, TimeSpan.FromSeconds(Math.Max(1, o.Limits.NegotiationTimeoutSeconds)));
    }

    protected override void PostStop()
    {
        if (_authenticated && _domain is not null) _server.Router.Components.Detach(_domain, Self);
        base.PostStop();
    }

    /// <summary>XEP-0114 §3: the component opens with 'to' its domain in jabber:component:accept.</summary>
    protected override void OnStreamOpened(StreamHeader header)
    {
        if (_closing) return;
        if (_headerSent)
        {
            CloseStream(StreamErrors.NotWellFormed, "a second stream header"); // no stream restarts on a component stream
            return;
        }
        var to = header.Attr("to") is { } t ? Jid.NormalizeDomain(t) : null;
        _domain = to is not null && _secrets.ContainsKey(to) ? to : null;
        SendHeader(_domain ?? _server.Domains[0]);
        if (header.Name != "stream" || header.Namespace != Ns.Streams)
            CloseStream(StreamErrors.InvalidNamespace, "the stream namespace must be " + Ns.Streams); // RFC 6120 §4.9.3.10
        else if (header.DefaultNamespace != Ns.ComponentAccept)
            CloseStream(StreamErrors.InvalidNamespace, "a component stream's content namespace is " + Ns.ComponentAccept);
        else if (_domain is null)
            CloseStream(StreamErrors.HostUnknown, "no component is configured for that domain"); // RFC 6120 §4.9.3.6
    }

    protected override void OnElement(Element element)
    {
        if (_closing) return;
        if (!_authenticated)
        {
            if (element.Is(Handshake, Ns.ComponentAccept)) OnHandshake(element.Text);
            else CloseStream(StreamErrors.NotAuthorized, "the handshake comes first"); // RFC 6120 §4.9.3.12
            return;
        }
        if (element.Namespace != Ns.ComponentAccept || element.Name is not ("message" or "presence" or "iq"))
        {
            CloseStream(StreamErrors.UnsupportedStanzaType, null); // RFC 6120 §4.9.3.21
            return;
        }
        FromComponent(element);
    }

    /// <summary>XEP-0114 §3: the handshake is the hex SHA-1 of the stream id concatenated with the shared secret.</summary>
    private void OnHandshake(string proof)
    {
        var secret = _secrets[_domain!];
        var expected = Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(_streamId + secret)));
        var given = proof.Trim().ToLowerInvariant();
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(given)))
        {
            _log.Info("component {0}: wrong handshake", _domain);
            CloseStream(StreamErrors.NotAuthorized, "wrong handshake");
            return;
        }
        if (!_server.Router.Components.TryAttach(_domain!, Self))
        {
            _log.Info("component {0}: refused a second connection", _domain);
            CloseStream(StreamErrors.Conflict, "the component is connected already");
            return;
        }
        _authenticated = true;
        Timers.Cancel(HandshakeTimer);
        _link!.Send("<handshake/>"u8);
        _log.Info("component {0} connected", _domain);
    }

    private void FromComponent(Element received)
    {
        // RFC 6120 §4.9.3.7 / §8.1.1.1 and §8.1.2.1: between servers (and a component is one) every stanza names both
        // its addresses; its 'from' must be at the domain this stream authenticated
        var fromAttr = received.From;
        var toAttr = received.To;
        if (fromAttr is null || toAttr is null)
        {
            CloseStream(StreamErrors.ImproperAddressing, "a component's stanza needs 'from' and 'to'");
            return;
        }
        if (!Jid.TryParse(fromAttr, out var from) || from is null || from.Domain != _domain)
        {
            CloseStream(StreamErrors.InvalidFrom, $"'from' must be at {_domain}");
            return;
        }
        var stanza = received.CloneIn(Ns.ComponentAccept, Ns.Client);
        stanza.From = from.ToString();
        if (!Jid.TryParse(toAttr, out var to) || to is null)
        {
            // RFC 6120 §8.3.3.8, straight back (as a client's session does: the router cannot address the malformed JID)
            if (StanzaErrors.Reply(stanza, "jid-malformed", "the 'to' address is not a valid JID") is { } reply) ToComponent(reply);
            return;
        }
        stanza.To = to.ToString();
        _server.Router.Route(stanza, from, to);
    }

    private void ToComponent(Element stanza)
    {
        if (!_authenticated || _closing)
        {
            _server.Router.Bounce(stanza, "service-unavailable", $"the component {_domain} is disconnecting"); // §8.3.3.19
            return;
        }
        var copy = stanza.Namespace == Ns.ComponentAccept ? stanza : stanza.CloneIn(stanza.Namespace, Ns.ComponentAccept);
        _link!.Send(copy, Ns.ComponentAccept);
    }

    private void SendHeader(string from)
    {
        // XEP-0114 §3: the component stream's header has an id and no version
        var header = new ArrayBufferWriter<byte>(256);
        TcpStreamFraming.WriteHeader(header, new StreamOpening(Ns.ComponentAccept, from, _streamId, To: null, Version: null, Lang: null));
        _link!.Send(header.WrittenSpan);
        _headerSent = true;
    }

    /// <summary>Ends the stream (RFC 6120 §4.4), after a stream error when <paramref name="condition"/> is given (§4.9):
    /// what is queued is written, then the socket closes and ConnectionLost stops the actor.</summary>
    private void CloseStream(string? condition, string? text = null)
    {
        if (_closing) return;
        _closing = true;
        // the route goes before the close leaves: a component that reconnects once it has seen the close finds it free
        if (_authenticated && _domain is not null) _server.Router.Components.Detach(_domain, Self);
        if (!_headerSent) SendHeader(_domain ?? _server.Domains[0]);
        var bytes = new ArrayBufferWriter<byte>(256);
        if (condition is not null) TcpStreamFraming.WriteStreamElement(bytes, StreamErrors.Create(condition, text), Ns.ComponentAccept);
        XmlSerializer.Raw(bytes, TcpStreamFraming.Close);
        _link!.Send(bytes.WrittenSpan);
        _link.Complete();
    }
}
