using System.Net;
using Actors.Xmpp.Server.C2s;
using Actors.Xmpp.Transport.Admission;
using Actors.Xmpp.Transport.Connections;
using Actors.Xmpp.Transport.Tls;
using Actors.Xmpp.Transport.WebSockets;
using Akka.Actor;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Actors.Xmpp.Server.Http;

/// <summary>
/// The server's one HTTP host (Kestrel), for every HTTP feature: XMPP over WebSocket (RFC 7395) at
/// Xmpp:Http:WebSocketPath, BOSH (XEP-0124/XEP-0206) at Xmpp:Http:BoshPath, and XEP-0156 discovery at
/// /.well-known/host-meta(.json). Plain HTTP on Xmpp:Http:Port, HTTPS on Xmpp:Http:TlsPort with the certificate of the
/// client listeners. Every WebSocket stream and BOSH session is an <see cref="ITransportConnection"/> handed to the
/// connections supervisor like a TCP connection, so the same connection and session actors serve it.
/// </summary>
public sealed class XmppHttpHost : IAsyncDisposable
{
    private readonly ServerContext _server;
    private readonly ServerCertificates _certificates;
    private readonly TransportOptions _transport;
    private readonly IActorRef _connections;
    private readonly ILoggerFactory _loggers;
    private readonly IReadOnlyList<IPAddress> _trustedProxies;
    private readonly Bosh.BoshSessions _bosh;
    private readonly ConnectionAdmission? _admission;
    private readonly Admin.WebAdmin? _admin;
    private WebApplication? _app;

    /// <param name="admission">The per-address caps of the client listeners, applied to WebSocket streams and BOSH
    /// sessions too (by the client's address, the forwarded one behind a trusted proxy); null: none.</param>
    /// <param name="admin">The web admin page, served under its path (Xmpp:Http:Admin); null: none.</param>
    public XmppHttpHost(ServerContext server, ServerCertificates certificates, TransportOptions transport, IActorRef connections, ILoggerFactory loggers,
        ConnectionAdmission? admission = null, Admin.WebAdmin? admin = null)
    {
        _admin = admin;
        _admission = admission;
        _server = server;
        _certificates = certificates;
        _transport = transport;
        _connections = connections;
        _loggers = loggers;
        var proxies = new List<IPAddress>();
        foreach (var p in server.Options.Http.TrustedProxies) proxies.Add(IPAddress.Parse(p));
        _trustedProxies = proxies;
        _bosh = new Bosh.BoshSessions(server, transport, connections, admission);
    }

    private XmppServerOptions.HttpSettings Settings => _server.Options.Http;

    /// <summary>Whether the configuration asks for an HTTP listener at all.</summary>
    public static bool Enabled(XmppServerOptions options) => options.Http.Port >= 0 || options.Http.TlsPort >= 0;

    public IPEndPoint? HttpEndPoint { get; private set; }
    public IPEndPoint? HttpsEndPoint { get; private set; }
    /// <summary>The BOSH sessions (tests and diagnostics).</summary>
    internal Bosh.BoshSessions Bosh => _bosh;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var settings = Settings;
        var address = IPAddress.Parse(string.IsNullOrEmpty(settings.BindAddress) ? _server.Options.BindAddress : settings.BindAddress);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Services.AddSingleton(_loggers);
        builder.Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        _admin?.AddServices(builder.Services);
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxConcurrentUpgradedConnections = _server.Options.Limits.MaxConnections;
            k.Limits.MaxRequestBodySize = Math.Max(_server.Options.Limits.MaxStanzaBytes, 64 * 1024) + 4096;
            if (settings.Port >= 0) k.Listen(address, settings.Port);
            if (settings.TlsPort >= 0)
                k.Listen(address, settings.TlsPort, l => l.UseHttps(new TlsHandshakeCallbackOptions
                {
                    // the certificate for the name the client asked for (SNI), the one in use since the last reload
                    OnConnection = c => ValueTask.FromResult(_certificates.HttpOptions(c.ClientHelloInfo.ServerName)),
                    HandshakeTimeout = _transport.TlsHandshakeTimeout,
                }));
        });
        var app = builder.Build();
        app.UseWebSockets();
        _admin?.Map(app, c => HttpClientInfo.Of(c, _trustedProxies)); // its own branch: the XMPP paths below do not pass through it
        app.Run(HandleAsync);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        _app = app;
        foreach (var url in app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses)
        {
            var uri = new Uri(url);
            var endPoint = new IPEndPoint(address, uri.Port);
            if (uri.Scheme == Uri.UriSchemeHttps) HttpsEndPoint = endPoint;
            else HttpEndPoint = endPoint;
        }
        _server.HttpRoutes.BaseUrl = BaseUrl(settings, address);
        _bosh.Start();
    }

    /// <summary>Xmpp:Http:PublicUrl, else the TLS listener (then the plain one) at the bound address.</summary>
    private string? BaseUrl(XmppServerOptions.HttpSettings settings, IPAddress address)
    {
        if (!string.IsNullOrEmpty(settings.PublicUrl)) return settings.PublicUrl.TrimEnd('/');
        var host = address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) ? _server.Domains[0]
            : address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();
        if (HttpsEndPoint is { } tls) return $"https://{host}:{tls.Port}";
        if (HttpEndPoint is { } plain) return $"http://{host}:{plain.Port}";
        return null;
    }

    private Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value;
        var settings = Settings;
        if (path == settings.WebSocketPath) return WebSocketAsync(context);
        if (path == settings.BoshPath) return _bosh.HandleAsync(context, HttpClientInfo.Of(context, _trustedProxies));
        if (path == HostMeta.Path) return HostMetaAsync(context, json: false);
        if (path == HostMeta.JsonPath) return HostMetaAsync(context, json: true);
        if (path is not null && _server.HttpRoutes.TryMatch(path, out var handler, out var subPath)) return PluginAsync(context, handler, subPath);
        context.Response.StatusCode = StatusCodes.Status404NotFound;
        return Task.CompletedTask;
    }

    // ------------------------------------------------------------------ plugins' paths (IPluginContext.MapHttp)
    private async Task PluginAsync(HttpContext context, Actors.Xmpp.Plugins.HttpHandler handler, string subPath)
    {
        var client = HttpClientInfo.Of(context, _trustedProxies);
        await handler(new KestrelHttpExchange(context, subPath, client.Secure)).ConfigureAwait(false);
    }

    // ------------------------------------------------------------------ RFC 7395
    private async Task WebSocketAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status426UpgradeRequired;
            context.Response.Headers.Upgrade = "websocket";
            return;
        }
        // RFC 7395 §3.2: the client asks for the 'xmpp' subprotocol and the server confirms it; a handshake without
        // it is not an XMPP stream
        var requested = context.WebSockets.WebSocketRequestedProtocols;
        var xmpp = false;
        for (var i = 0; i < requested.Count; i++)
            if (string.Equals(requested[i], WebSocketFraming.Subprotocol, StringComparison.Ordinal)) xmpp = true;
        if (!xmpp)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync("RFC 7395 §3.2: ask for the 'xmpp' WebSocket subprotocol").ConfigureAwait(false);
            return;
        }
        var client = HttpClientInfo.Of(context, _trustedProxies);
        var keepAlive = _server.Options.Limits.KeepAliveSeconds;
        var address = (client.RemoteEndPoint as IPEndPoint)?.Address;
        var refused = address is null ? null : _admission?.TryAdmit(address);
        var admitted = address is not null && refused is null && _admission is not null;
        System.Net.WebSockets.WebSocket socket;
        try
        {
            socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
            {
                SubProtocol = WebSocketFraming.Subprotocol,
                KeepAliveInterval = keepAlive > 0 ? TimeSpan.FromSeconds(keepAlive) : TimeSpan.Zero,
            }).ConfigureAwait(false);
        }
        catch
        {
            if (admitted) _admission!.Release(address!); // the client went away during the upgrade: its place is free
            throw;
        }
        if (refused is not null)
        {
            await RefuseAsync(socket, refused).ConfigureAwait(false);
            return;
        }
        try
        {
            var connection = new WebSocketConnection(socket, _transport, client.RemoteEndPoint, client.Secure, Settings.SeeOtherUri);
            _connections.Tell(new ConnectionsActor.Accepted(connection));
            await connection.Completion.ConfigureAwait(false); // the request lives as long as the stream
        }
        finally
        {
            if (admitted) _admission!.Release(address!);
        }
    }

    /// <summary>A stream over its address's caps (XEP-0205 §3), as a TCP connection is refused (RFC 6120 §4.9.1.2), in
    /// RFC 7395's framing: &lt;open/&gt;, the &lt;policy-violation/&gt; stream error (§3.5), &lt;close/&gt; (§3.6), then
    /// the WebSocket's closing handshake.</summary>
    private async Task RefuseAsync(System.Net.WebSockets.WebSocket socket, string reason)
    {
        var output = new System.Buffers.ArrayBufferWriter<byte>(512);
        try
        {
            WebSocketFraming.WriteOpen(output, new StreamOpening(Ns.Client, _server.Domains[0], "refused", null, "1.0", "en"));
            await socket.SendAsync(output.WrittenMemory, System.Net.WebSockets.WebSocketMessageType.Text, true, CancellationToken.None).ConfigureAwait(false);
            output.ResetWrittenCount();
            WebSocketFraming.WriteStreamElement(output, Stanzas.StreamErrors.Create(Stanzas.StreamErrors.PolicyViolation, reason));
            await socket.SendAsync(output.WrittenMemory, System.Net.WebSockets.WebSocketMessageType.Text, true, CancellationToken.None).ConfigureAwait(false);
            output.ResetWrittenCount();
            WebSocketFraming.WriteClose(output);
            await socket.SendAsync(output.WrittenMemory, System.Net.WebSockets.WebSocketMessageType.Text, true, CancellationToken.None).ConfigureAwait(false);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await socket.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.PolicyViolation, null, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is System.Net.WebSockets.WebSocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            // the client went away first: nothing more to tell it
        }
        finally
        {
            socket.Dispose();
        }
    }

    // ------------------------------------------------------------------ XEP-0156
    private Task HostMetaAsync(HttpContext context, bool json)
    {
        if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
        {
            context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            return Task.CompletedTask;
        }
        var (websocket, bosh) = EndpointUrls(HttpClientInfo.Of(context, _trustedProxies));
        var body = json ? HostMeta.Json(websocket, bosh) : HostMeta.Xrd(websocket, bosh);
        context.Response.ContentType = json ? HostMeta.JsonContentType : HostMeta.XrdContentType;
        // XEP-0156 §3: browsers on other origins read it (CORS)
        context.Response.Headers.AccessControlAllowOrigin = "*";
        context.Response.ContentLength = body.Length;
        return HttpMethods.IsHead(context.Request.Method) ? Task.CompletedTask : context.Response.Body.WriteAsync(body).AsTask();
    }

    /// <summary>The public WebSocket and BOSH URLs: under Xmpp:Http:PublicUrl, or the scheme and host the client used.</summary>
    private (string WebSocket, string Bosh) EndpointUrls(HttpClientInfo client)
    {
        var settings = Settings;
        string secureBase, host;
        if (!string.IsNullOrEmpty(settings.PublicUrl) && Uri.TryCreate(settings.PublicUrl, UriKind.Absolute, out var pub))
        {
            host = pub.Authority;
            secureBase = pub.Scheme == Uri.UriSchemeHttps ? "s" : "";
            var prefix = pub.AbsolutePath.TrimEnd('/');
            return ($"ws{secureBase}://{host}{prefix}{settings.WebSocketPath}", $"http{secureBase}://{host}{prefix}{settings.BoshPath}");
        }
        host = client.Host;
        secureBase = client.PublicTls ? "s" : "";
        return ($"ws{secureBase}://{host}{settings.WebSocketPath}", $"http{secureBase}://{host}{settings.BoshPath}");
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _bosh.Stop();
        _admin?.Stop();
        _server.HttpRoutes.BaseUrl = null;
        if (_app is null) return;
        await _app.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null) await _app.DisposeAsync().ConfigureAwait(false);
        _app = null;
    }
}
