using System.Net.Sockets;
using Actors.Xmpp.Server.Routing;
using Akka.Actor;
using Akka.Streams;

namespace Actors.Xmpp.Server.S2s;

/// <summary>
/// Parent and supervisor of the server-to-server links (<c>/user/s2s</c>): one <see cref="OutboundLinkActor"/> per
/// (local domain, remote domain) pair, made on the first stanza or dialback verification for it, and one
/// <see cref="InboundLinkActor"/> per accepted connection. A failing link is stopped, never restarted (its socket is
/// gone with it). After a link to a domain failed, stanzas for it are bounced at once with the same condition for a
/// back-off that doubles with each consecutive failure (1 s up to 60 s) and is forgotten on the next success. An inbound
/// link on a bidirectional stream (XEP-0288) registers the pairs its peer authenticated (<see cref="BidiRoute"/>): a
/// stanza for such a pair goes to it when there is no outbound link for the pair (as Prosody does: an existing outbound
/// stream keeps its stanzas in order), so no second connection is made.
/// </summary>
public sealed class S2sActor : ReceiveActor
{
    public const string Name = "s2s";
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromSeconds(1), MaxBackoff = TimeSpan.FromSeconds(60);
    /// <summary>Remembered failing domain pairs past which expired ones are forgotten (their doubling starts again).</summary>
    private const int MaxBackoffEntries = 4096;

    /// <summary>A socket accepted on the s2s port (or the XEP-0368 direct TLS one: <paramref name="DirectTls"/>);
    /// <paramref name="Release"/> gives its listener slot back.</summary>
    public sealed record Accepted(Socket Socket, Action Release, bool DirectTls);

    /// <summary>An inbound link asks the Authoritative Server of <paramref name="Remote"/> whether <paramref name="Key"/>
    /// is the key it generated for (<paramref name="Local"/>, <paramref name="Remote"/>, <paramref name="StreamId"/>)
    /// (XEP-0220 §2.2); answered with <see cref="Verified"/> to <paramref name="ReplyTo"/>.</summary>
    public sealed record Verify(string Local, string Remote, string StreamId, string Key, IActorRef ReplyTo);

    /// <summary>The answer to <see cref="Verify"/>: valid, or not; <paramref name="ErrorCondition"/> when the
    /// Authoritative Server could not be asked (remote-server-not-found, remote-server-timeout).</summary>
    public sealed record Verified(string Local, string Remote, string StreamId, bool Valid, string? ErrorCondition);

    /// <summary>An outbound link stops taking stanzas (idle, closed by the peer): stanzas it still receives come back
    /// here, for a new link.</summary>
    internal sealed record LinkClosing(string Local, string Remote);

    /// <summary>An outbound link failed to connect or authenticate with <paramref name="Condition"/>.</summary>
    internal sealed record LinkFailed(string Local, string Remote, string Condition, string Reason);

    /// <summary>An inbound link received the answer to the XEP-0199 ping <paramref name="Id"/> of the outbound link
    /// (<paramref name="Local"/>, <paramref name="Remote"/>).</summary>
    internal sealed record PingAnswered(string Local, string Remote, string Id);

    /// <summary>The sending inbound link's peer authenticated <paramref name="Remote"/> for <paramref name="Local"/> on
    /// a bidirectional stream (XEP-0288 §2.2): stanzas from <paramref name="Local"/> to <paramref name="Remote"/> may go
    /// there.</summary>
    internal sealed record BidiRoute(string Local, string Remote);

    /// <summary>The sending inbound link stops taking stanzas: its routes are forgotten (stanzas it still receives come
    /// back here, for an outbound link).</summary>
    internal sealed record BidiClosing
    {
        public static readonly BidiClosing Instance = new();
    }

    /// <summary>An outbound link authenticated (the back-off is forgotten).</summary>
    internal sealed record LinkEstablished(string Local, string Remote);

    public sealed record ShutdownAll
    {
        public static readonly ShutdownAll Instance = new();
    }

    public sealed record AllClosed
    {
        public static readonly AllClosed Instance = new();
    }

    /// <summary>The server is stopping: close with &lt;system-shutdown/&gt; (RFC 6120 §4.9.3.17).</summary>
    internal sealed record SystemShutdown
    {
        public static readonly SystemShutdown Instance = new();
    }

    private sealed record Backoff(DateTime Until, TimeSpan Length, string Condition, string Reason);

    private readonly S2sContext _context;
    private readonly IMaterializer _materializer;
    private readonly Dictionary<(string Local, string Remote), IActorRef> _outbound = new();
    private readonly Dictionary<IActorRef, (string Local, string Remote)> _outboundKeys = new();
    private readonly Dictionary<IActorRef, Action> _inbound = new();
    private readonly Dictionary<(string Local, string Remote), Backoff> _backoff = new();
    private readonly Dictionary<(string Local, string Remote), IActorRef> _bidiRoutes = new();
    private readonly Dictionary<IActorRef, List<(string Local, string Remote)>> _bidiRoutesOf = new();
    private IActorRef? _shutdownRequester;

    public S2sActor(S2sContext context)
    {
        _context = context;
        _materializer = Context.Materializer(namePrefix: "s2s"); // the links' graphs, stopped with this actor
        Receive<S2sRoutes.Outbound>(OnOutbound);
        Receive<Verify>(m =>
        {
            if (_shutdownRequester is not null)
            {
                m.ReplyTo.Tell(new Verified(m.Local, m.Remote, m.StreamId, false, "remote-server-timeout"));
                return;
            }
            OutboundLink(m.Local, m.Remote).Forward(m);
        });
        Receive<Accepted>(m =>
        {
            if (_shutdownRequester is not null)
            {
                m.Socket.Dispose();
                m.Release();
                return;
            }
            var link = Context.ActorOf(InboundLinkActor.Props(m.Socket, m.DirectTls, _materializer, _context));
            _inbound[link] = m.Release;
            Context.Watch(link);
        });
        Receive<LinkClosing>(m => Forget(m.Local, m.Remote, Sender));
        Receive<LinkFailed>(m =>
        {
            Forget(m.Local, m.Remote, Sender);
            var length = _backoff.TryGetValue((m.Local, m.Remote), out var previous)
                ? TimeSpan.FromTicks(Math.Min(previous.Length.Ticks * 2, MaxBackoff.Ticks))
                : FirstBackoff;
            var now = DateTime.UtcNow;
            if (_backoff.Count >= MaxBackoffEntries) PruneBackoff(now); // many failing domains: keep only live entries
            _backoff[(m.Local, m.Remote)] = new Backoff(now + length, length, m.Condition, m.Reason);
        });
        Receive<LinkEstablished>(m => { _backoff.Remove((m.Local, m.Remote)); });
        Receive<BidiRoute>(m =>
        {
            if (!_inbound.ContainsKey(Sender) || !_bidiRoutes.TryAdd((m.Local, m.Remote), Sender)) return; // the first stream keeps it
            if (!_bidiRoutesOf.TryGetValue(Sender, out var pairs)) _bidiRoutesOf[Sender] = pairs = new List<(string, string)>(1);
            pairs.Add((m.Local, m.Remote));
            _backoff.Remove((m.Local, m.Remote)); // the peer is reachable: it just authenticated
        });
        Receive<BidiClosing>(_ => ForgetBidiRoutes(Sender));
        Receive<PingAnswered>(m => { if (_outbound.TryGetValue((m.Local, m.Remote), out var link)) link.Tell(m); });
        Receive<Terminated>(m =>
        {
            if (_inbound.Remove(m.ActorRef, out var release))
            {
                release();
                ForgetBidiRoutes(m.ActorRef);
            }
            else if (_outboundKeys.TryGetValue(m.ActorRef, out var key)) Forget(key.Local, key.Remote, m.ActorRef);
            if (_shutdownRequester is not null && _inbound.Count == 0 && _outbound.Count == 0) _shutdownRequester.Tell(AllClosed.Instance);
        });
        Receive<ShutdownAll>(_ =>
        {
            _shutdownRequester = Sender;
            if (_inbound.Count == 0 && _outbound.Count == 0) Sender.Tell(AllClosed.Instance);
            foreach (var link in _inbound.Keys) link.Tell(SystemShutdown.Instance);
            foreach (var link in _outbound.Values) link.Tell(SystemShutdown.Instance);
        });
    }

    public static Props Props(S2sContext context) => ActorProps.Of(() => new S2sActor(context));

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);

    private void OnOutbound(S2sRoutes.Outbound m)
    {
        if (_shutdownRequester is not null)
        {
            _context.Router.Bounce(m.Stanza, "remote-server-timeout", "the server is shutting down");
            return;
        }
        if (!_outbound.ContainsKey((m.Local, m.Remote)) && _bidiRoutes.TryGetValue((m.Local, m.Remote), out var bidi))
        {
            bidi.Tell(m); // XEP-0288: the peer's own stream carries it back
            return;
        }
        if (!_outbound.ContainsKey((m.Local, m.Remote)) && _backoff.TryGetValue((m.Local, m.Remote), out var backoff))
        {
            if (DateTime.UtcNow < backoff.Until)
            {
                _context.Router.Bounce(m.Stanza, backoff.Condition, backoff.Reason); // RFC 6120 §8.3.3.14 / §8.3.3.15
                return;
            }
        }
        OutboundLink(m.Local, m.Remote).Tell(m);
    }

    private void PruneBackoff(DateTime now)
    {
        List<(string, string)>? expired = null;
        foreach (var (key, b) in _backoff)
            if (b.Until + MaxBackoff < now) (expired ??= new List<(string, string)>()).Add(key);
        if (expired is not null)
            foreach (var key in expired) _backoff.Remove(key);
    }

    private IActorRef OutboundLink(string local, string remote)
    {
        if (_outbound.TryGetValue((local, remote), out var link)) return link;
        link = Context.ActorOf(OutboundLinkActor.Props(local, remote, _materializer, _context));
        _outbound[(local, remote)] = link;
        _outboundKeys[link] = (local, remote);
        Context.Watch(link);
        return link;
    }

    private void ForgetBidiRoutes(IActorRef link)
    {
        if (!_bidiRoutesOf.Remove(link, out var pairs)) return;
        foreach (var pair in pairs)
            if (_bidiRoutes.TryGetValue(pair, out var current) && current.Equals(link)) _bidiRoutes.Remove(pair);
    }

    private void Forget(string local, string remote, IActorRef link)
    {
        if (_outbound.TryGetValue((local, remote), out var current) && current.Equals(link)) _outbound.Remove((local, remote));
        _outboundKeys.Remove(link);
    }
}

/// <summary>What every s2s link needs: the server, the dialback keys, the peers' resolver, this server's certificates
/// and the verifier of the peers' ones, and the settings.</summary>
public sealed record S2sContext(ServerContext Server, DialbackKeys Keys, S2sResolver Resolver,
    Actors.Xmpp.Transport.Tls.ServerCertificates Certificates, Actors.Xmpp.Transport.Tls.PeerCertificateVerifier PeerCertificates)
{
    /// <summary>How long a TLS handshake may take.</summary>
    public TimeSpan TlsHandshakeTimeout => TimeSpan.FromSeconds(Math.Max(1, Settings.ConnectTimeoutSeconds));

    public StanzaRouter Router => Server.Router;
    public XmppServerOptions.S2sSettings Settings => Server.Options.S2s;
}
