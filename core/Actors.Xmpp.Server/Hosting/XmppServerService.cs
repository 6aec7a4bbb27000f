using System.Net;
using Actors.Xmpp.Transport.Tls;
using Actors.Xmpp.Server.Accounts;
using Actors.Xmpp.Server.C2s;
using Actors.Xmpp.Server.Sessions;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Transport.Admission;
using Actors.Xmpp.Transport.Connections;
using Actors.Xmpp.Transport.Framing;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Actors.Xmpp.Server.Hosting;

/// <summary>
/// Starts the client listeners once the actor system is up, and on shutdown stops accepting, sends
/// &lt;system-shutdown/&gt; to every client and waits (bounded) for the streams to close.
/// </summary>
public sealed class XmppServerService : IHostedService
{
    private readonly ActorSystem _system;
    private readonly ServerContext _server;
    private readonly ServerCertificates _certificates;
    private readonly ILogger<XmppServerService> _log;
    private readonly ILoggerFactory _loggers;
    private Http.XmppHttpHost? _http;
    private readonly List<SocketListener> _listeners = new();
    private IActorRef _connections = ActorRefs.Nobody;
    private IActorRef _sessions = ActorRefs.Nobody;

    private readonly IServiceProvider? _services;

    /// <param name="services">Where the HTTP host finds the web admin page when Xmpp:Http:Admin:Enabled.</param>
    public XmppServerService(ActorSystem system, ServerContext server, ServerCertificates certificates, ILogger<XmppServerService> log,
        ILoggerFactory loggers, IServiceProvider? services = null)
    {
        _services = services;
        _loggers = loggers;
        _system = system;
        _server = server;
        _certificates = certificates;
        _log = log;
    }

    public IPEndPoint? C2sEndPoint { get; private set; }
    public IPEndPoint? DirectTlsEndPoint { get; private set; }
    /// <summary>The XEP-0114 component listener's endpoint (null when <c>Xmpp:Components:Port</c> is -1).</summary>
    public IPEndPoint? ComponentEndPoint { get; private set; }
    private Transport.Streams.LinkListener? _componentListener;
    private IActorRef _components = ActorRefs.Nobody;
    /// <summary>The server-to-server listener's endpoint (null when <c>Xmpp:S2s:Port</c> is -1: federation off).</summary>
    public IPEndPoint? S2sEndPoint { get; private set; }
    private Transport.Streams.LinkListener? _s2sListener;
    /// <summary>The XEP-0368 direct TLS server-to-server listener's endpoint (null when <c>Xmpp:S2s:TlsPort</c> is -1).</summary>
    public IPEndPoint? S2sTlsEndPoint { get; private set; }
    private Transport.Streams.LinkListener? _s2sTlsListener;
    private IActorRef _s2s = ActorRefs.Nobody;
    public IActorRef Connections => _connections;
    /// <summary>The HTTP host (WebSocket, BOSH, host-meta) when Xmpp:Http enables it.</summary>
    public Http.XmppHttpHost? Http => _http;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (Precis.IcuRequirement is { } icu) throw new InvalidOperationException(icu);
        var o = _server.Options;
        // accept clients only once their accounts can be read: a login that arrived during the directory's
        // recovery waited on it, and enough of them starved the thread pool the recovery needs
        if (_server.Accounts is JournalAccountStore journalAccounts)
            await journalAccounts.WaitReadyAsync().WaitAsync(cancellationToken);
        var router = _server.Router;
        var settings = new UserActor.Settings(Math.Max(1, o.Users.SnapshotEvery),
            PassivateAfter: o.Users.PassivateAfterSeconds > 0 ? TimeSpan.FromSeconds(o.Users.PassivateAfterSeconds) : null,
            MaxRosterItems: Math.Max(0, o.Limits.MaxRosterItems));
        // the accounts' resources entities passivate like the user actors (after the default when those never do)
        var resources = settings.PassivateAfter is { } idle ? new Routing.AccountResourcesActor.Settings(idle) : null;
        if (router.Users is LocalUserDirectory users && !users.Attached)
            users.Attach(_system.ActorOf(UsersActor.Props(u => UserActor.Props(u, router, settings), router, resources), "users"));
        else if (router.Users is Cluster.ShardedUserDirectory sharded && !sharded.Attached) // a clustered node: the "users" shard region
            await Cluster.ClusterHosting.StartUsersAsync(_system, sharded, router, u => UserActor.Props(u, router, settings), resources,
                o.Cluster.ShardCount, _server.SessionView);
        if (!_server.Router.PendingIqs.Attached) _server.Router.PendingIqs.Attach(_system);
        if (_server.Router.Users is { } directory) // plugin storage, and the release-1 user data it takes over
        {
            var stores = PluginStores.PluginStores.Of(_system).Configure(new(Math.Max(1, o.Users.SnapshotEvery), MaxAccountStoreBytes: Math.Max(0, o.Limits.MaxAccountStoreBytes)))
                .UseLegacySource(new PluginStores.LegacyUserData(directory, _server.Domains));
            if (directory is Cluster.ShardedUserDirectory) // a clustered node: the "plugin-stores" shard region (each shard keeps its own directory)
                await Cluster.ShardedPluginStores.StartAsync(_system, stores, o.Cluster.ShardCount);
            else // from now on a store the journal never held is not started to be read (listed before clients come, so
                // that a login finds the directory ready rather than starting the stores it would then not need)
                await stores.StartDirectoryAsync(cancellationToken);
            _server.AccountLifecycle.UsePluginData(stores.PurgeOwnerAsync); // removal returns once plugin data is gone
        }
        var sessions = _sessions = _system.ActorOf(SessionsActor.Props(_server), SessionsActor.Name);
        _connections = _system.ActorOf(ConnectionsActor.Props(_server, sessions), "c2s");
        var transport = new TransportOptions
        {
            Framer = Framer(o.Limits),
            MaxStanzaBytesBeforeAuthentication = o.Limits.MaxStanzaBytesBeforeAuthentication,
            MaxOutboundBytes = o.Limits.MaxOutboundBytes,
            OutboundStall = TimeSpan.FromSeconds(Math.Max(0, o.Limits.OutboundStallSeconds)),
            Certificates = _certificates,
            ClientCertificates = o.Tls.ClientCertificateAuthorities.Count > 0
                ? Transport.Tls.PeerCertificateVerifier.Load(o.Tls.ClientCertificateAuthorities)
                : null,
            Shaper = ClientShaper(o.Limits),
            KeepAlive = o.Limits.TcpKeepAliveSeconds > 0
                ? new TcpKeepAlive(TimeSpan.FromSeconds(o.Limits.TcpKeepAliveSeconds),
                    TimeSpan.FromSeconds(Math.Max(1, o.Limits.TcpKeepAliveIntervalSeconds)), Math.Max(1, o.Limits.TcpKeepAliveProbes))
                : null,
        };
        var address = IPAddress.Parse(o.BindAddress);
        Admission = new ConnectionAdmission(new AdmissionLimits(o.Limits.MaxConnectionsPerAddress,
            o.Limits.NewConnectionsPerSecondPerAddress, Math.Max(1, o.Limits.NewConnectionsBurstPerAddress), o.Limits.ExemptLoopback));
        var c2s = new SocketListener(new IPEndPoint(address, o.C2sPort), transport, directTls: false,
            o.Limits.MaxConnections, o.Limits.ListenBacklog, c => _connections.Tell(new ConnectionsActor.Accepted(c)), Admission, Refusal);
        _listeners.Add(c2s);
        C2sEndPoint = c2s.LocalEndPoint;
        if (o.DirectTlsPort >= 0)
        {
            var tls = new SocketListener(new IPEndPoint(address, o.DirectTlsPort), transport, directTls: true,
                o.Limits.MaxConnections, o.Limits.ListenBacklog, c => _connections.Tell(new ConnectionsActor.Accepted(c)), Admission);
            _listeners.Add(tls);
            DirectTlsEndPoint = tls.LocalEndPoint;
        }
        if (Actors.Xmpp.Server.Http.XmppHttpHost.Enabled(o))
        {
            var admin = o.Http.Admin.Enabled ? _services?.GetService(typeof(Actors.Xmpp.Server.Http.Admin.WebAdmin)) as Actors.Xmpp.Server.Http.Admin.WebAdmin : null;
            _http = new Http.XmppHttpHost(_server, _certificates, transport, _connections, _loggers, Admission, admin);
            await _http.StartAsync(cancellationToken);
            _log.LogInformation("HTTP host: WebSocket at {WebSocket}, BOSH at {Bosh} on {Http}{Https}", o.Http.WebSocketPath, o.Http.BoshPath,
                _http.HttpEndPoint is null ? "" : "http://" + _http.HttpEndPoint, _http.HttpsEndPoint is null ? "" : " https://" + _http.HttpsEndPoint);
            if (admin is not null)
                _log.LogInformation("web admin page at {Url}{Path}/ for {Admins}", _server.HttpRoutes.BaseUrl, admin.Path, Actors.Xmpp.Server.Http.Admin.WebAdmin.AdminsKey);
        }
        if (o.Components.Port >= 0)
        {
            var components = _components = _system.ActorOf(Components.ComponentsActor.Props(_server, o.Components.Secrets), Components.ComponentsActor.Name);
            _componentListener = new Transport.Streams.LinkListener(new IPEndPoint(address, o.Components.Port), Components.ComponentsActor.MaxLinks, socket =>
            {
                var listener = _componentListener!;
                components.Tell(new Components.ComponentsActor.Accepted(socket, listener.Release));
            });
            ComponentEndPoint = _componentListener.LocalEndPoint;
            _componentListener.Start();
            _log.LogInformation("XEP-0114 components ({Domains}) on {Endpoint}", string.Join(", ", o.Components.Secrets.Keys), ComponentEndPoint);
        }
        if (o.S2s.Port >= 0) StartS2s(address);
        foreach (var l in _listeners) l.Start();
        _log.LogInformation("TLS: {OpenSsl}", OpenSslTuning.Describe());
        _log.LogInformation(
            "Actors XMPP server serving {Domains}: client connections on {C2s} (STARTTLS {TlsMode}){DirectTls}; data in {DataDir}; certificates {Certificates}",
            string.Join(", ", _server.Domains), C2sEndPoint, o.Tls.Required ? "required" : "optional",
            DirectTlsEndPoint is null ? "" : $" and direct TLS on {DirectTlsEndPoint}",
            Path.GetFullPath(o.DataDir), Tls.CertificateReload.Describe(_certificates.All));
    }

    /// <summary>Set once the host began stopping (readiness fails from then on).</summary>
    public bool Stopping { get; private set; }
    /// <summary>RFC 6120 server-to-server: the s2s parent actor, the router's way out to it, and the listener.</summary>
    private void StartS2s(IPAddress address)
    {
        var o = _server.Options;
        var dns = o.S2s.UseDns ? new DnsClient.LookupClient(new DnsClient.LookupClientOptions { UseCache = true, Timeout = TimeSpan.FromSeconds(5) }) : null;
        var context = new S2s.S2sContext(_server, S2s.DialbackKeys.Load(o.DataDir), new S2s.S2sResolver(S2s.S2sResolver.ParseRoutes(o.S2s.Routes), dns),
            _certificates, Transport.Tls.PeerCertificateVerifier.Load(o.S2s.TrustedCertificates));
        var s2s = _s2s = _system.ActorOf(S2s.S2sActor.Props(context), S2s.S2sActor.Name);
        _s2sListener = new Transport.Streams.LinkListener(new IPEndPoint(address, o.S2s.Port), Math.Max(1, o.S2s.MaxInboundStreams), socket =>
        {
            var listener = _s2sListener!;
            s2s.Tell(new S2s.S2sActor.Accepted(socket, listener.Release, DirectTls: false));
        });
        S2sEndPoint = _s2sListener.LocalEndPoint;
        if (o.S2s.TlsPort >= 0)
        {
            _s2sTlsListener = new Transport.Streams.LinkListener(new IPEndPoint(address, o.S2s.TlsPort), Math.Max(1, o.S2s.MaxInboundStreams), socket =>
            {
                var listener = _s2sTlsListener!;
                s2s.Tell(new S2s.S2sActor.Accepted(socket, listener.Release, DirectTls: true));
            });
            S2sTlsEndPoint = _s2sTlsListener.LocalEndPoint;
        }
        _server.Router.S2s.Attach(s2s);
        _s2sListener.Start();
        _s2sTlsListener?.Start();
        _log.LogInformation("server-to-server on {Endpoint}{DirectTls} (TLS {TlsMode}; {Routes} static routes, DNS {Dns})", S2sEndPoint,
            S2sTlsEndPoint is null ? "" : $" and direct TLS on {S2sTlsEndPoint}", o.S2s.RequireTls ? "required" : "optional",
            o.S2s.Routes.Count, o.S2s.UseDns ? "on" : "off");
    }

    /// <summary>The per-address caps of the client listeners (set once started).</summary>
    public ConnectionAdmission? Admission { get; private set; }

    /// <summary>The framer limits of client and component streams (Xmpp:Limits).</summary>
    /// <summary>The read shaper every client connection starts with (an authenticated one may change to its account class's).</summary>
    internal static ShaperLimits ClientShaper(XmppServerOptions.LimitSettings limits) => new(Math.Max(0, limits.ClientBytesPerSecond),
        Math.Max(limits.ClientBurstBytes, limits.MaxStanzaBytes), limits.ExemptLoopback, Math.Max(0, limits.ClientStanzasPerSecond),
        Math.Max(1, limits.ClientBurstStanzas));

    internal static FramerLimits Framer(XmppServerOptions.LimitSettings limits) => new(limits.MaxStanzaBytes, limits.MaxDepth,
        limits.MaxAttributesPerElement, limits.MaxChildrenPerElement, limits.MaxElementsPerStanza);

    /// <summary>What a refused connection reads (RFC 6120 §4.9.1.2: the stream header, the &lt;policy-violation/&gt;
    /// stream error, the close), rendered per refusal reason once.</summary>
    private byte[] Refusal(string reason) => _refusals.GetOrAdd(reason, static (text, domain) =>
    {
        var output = new System.Buffers.ArrayBufferWriter<byte>(512);
        TcpStreamFraming.WriteHeader(output, new StreamOpening(Ns.Client, domain, "refused", null, "1.0", "en"));
        TcpStreamFraming.WriteStreamElement(output, Stanzas.StreamErrors.Create(Stanzas.StreamErrors.PolicyViolation, text), Ns.Client);
        System.Buffers.BuffersExtensions.Write(output, TcpStreamFraming.Close);
        return output.WrittenSpan.ToArray();
    }, _server.Domains[0]);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte[]> _refusals = new();

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        Stopping = true;
        foreach (var l in _listeners) await l.DisposeAsync();
        _listeners.Clear();
        if (_s2sListener is not null)
        {
            await _s2sListener.DisposeAsync();
            _s2sListener = null;
            if (_s2sTlsListener is not null) await _s2sTlsListener.DisposeAsync();
            _s2sTlsListener = null;
            try
            {
                await _s2s.Ask<S2s.S2sActor.AllClosed>(S2s.S2sActor.ShutdownAll.Instance, TimeSpan.FromSeconds(5), cancellationToken);
            }
            catch (Exception ex) when (ex is TaskCanceledException or AskTimeoutException or OperationCanceledException)
            {
                _log.LogWarning("some server-to-server streams did not close within 5 s of the shutdown notice");
            }
            _server.Router.S2s.Detach();
        }
        if (_componentListener is not null)
        {
            await _componentListener.DisposeAsync();
            try
            {
                await _components.Ask<Components.ComponentsActor.AllClosed>(Components.ComponentsActor.ShutdownAll.Instance, TimeSpan.FromSeconds(5), cancellationToken);
            }
            catch (Exception ex) when (ex is TaskCanceledException or AskTimeoutException or OperationCanceledException)
            {
                _log.LogWarning("some component streams did not close within 5 s of the shutdown notice");
            }
        }
        try
        {
            await _connections.Ask<ConnectionsActor.AllClosed>(ConnectionsActor.ShutdownAll.Instance, TimeSpan.FromSeconds(10), cancellationToken);
        }
        catch (Exception ex) when (ex is TaskCanceledException or AskTimeoutException or OperationCanceledException)
        {
            _log.LogWarning("some client streams did not close within 10 s of the shutdown notice");
        }
        try
        {
            // detached sessions (waiting for an XEP-0198 resumption) end now, while routing still runs: what they hold
            // unacknowledged goes back as for any ended session (offline storage, another resource or a bounce), and
            // in a cluster before this node leaves, rather than vanishing with the process
            await _sessions.Ask<SessionsActor.AllEnded>(SessionsActor.EndAll.Instance, TimeSpan.FromSeconds(5), cancellationToken);
        }
        catch (Exception ex) when (ex is TaskCanceledException or AskTimeoutException or OperationCanceledException)
        {
            _log.LogWarning("some sessions did not end within 5 s of the shutdown");
        }
        if (_http is not null)
        {
            // after the streams were told to close: WebSocket requests end with their streams, BOSH sessions now
            try { await _http.StopAsync(cancellationToken); }
            catch (OperationCanceledException) { }
            await _http.DisposeAsync();
            _http = null;
        }
        _log.LogInformation("Actors XMPP server stopped");
    }
}
