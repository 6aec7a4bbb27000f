using System.Net;
using System.Net.WebSockets;
using System.Text;
using Actors.Xmpp.Transport.WebSockets;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.IntegrationTests;

/// <summary>The HTTP host with WebSocket and BOSH on plain HTTP, TLS required as shipped, 127.0.0.1 a trusted
/// TLS-terminating proxy (what tests/harness/server.sh runs).</summary>
public sealed class HttpServer : TestServer
{
    public HttpServer() : base(new Dictionary<string, string?>
    {
        ["Xmpp:Http:Port"] = "0",
        ["Xmpp:Http:TrustedProxies:0"] = "127.0.0.1",
        ["Xmpp:Http:Bosh:MaxWaitSeconds"] = "5",
        ["Xmpp:Http:Bosh:PollingSeconds"] = "2",
        ["Xmpp:Http:Bosh:InactivitySeconds"] = "2",
        ["Xmpp:Http:Bosh:MaxPauseSeconds"] = "10",
    }) { }

    public IPEndPoint HttpEndPoint => Service.Http?.HttpEndPoint ?? throw new InvalidOperationException("no HTTP endpoint");
    public Uri WebSocketUri => new($"ws://{HttpEndPoint}/xmpp-websocket");
    public Uri BoshUri => new($"http://{HttpEndPoint}/http-bind");
}

/// <summary>A raw RFC 7395 client: one XML element per text message.</summary>
public sealed class WsClient : IAsyncDisposable
{
    private readonly ClientWebSocket _socket;
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    private WsClient(ClientWebSocket socket) => _socket = socket;
    public WebSocket Socket => _socket;

    public static async Task<WsClient> ConnectAsync(Uri uri, bool xmpp = true, Action<ClientWebSocketOptions>? configure = null)
    {
        var socket = new ClientWebSocket();
        if (xmpp) socket.Options.AddSubProtocol(WebSocketFraming.Subprotocol);
        configure?.Invoke(socket.Options);
        using var cts = new CancellationTokenSource(Timeout);
        await socket.ConnectAsync(uri, cts.Token);
        return new WsClient(socket);
    }

    public async Task SendAsync(string xml)
    {
        using var cts = new CancellationTokenSource(Timeout);
        await _socket.SendAsync(Encoding.UTF8.GetBytes(xml), WebSocketMessageType.Text, true, cts.Token);
    }

    /// <summary>The next message's text, or null once the server closed the WebSocket.</summary>
    public async Task<string?> ReceiveTextAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Timeout);
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            var r = await _socket.ReceiveAsync(buffer, cts.Token);
            if (r.MessageType == WebSocketMessageType.Close) return null;
            message.Write(buffer, 0, r.Count);
            if (r.EndOfMessage) return Encoding.UTF8.GetString(message.ToArray());
        }
    }

    /// <summary>The next message as a standalone document: parsed with no namespace in scope, so an undeclared
    /// namespace or prefix fails (RFC 7395 §3.3.3).</summary>
    public async Task<Element> ReceiveAsync(TimeSpan? timeout = null)
    {
        var text = await ReceiveTextAsync(timeout) ?? throw new InvalidOperationException("the WebSocket closed");
        return Standalone(text);
    }

    public static Element Standalone(string text)
    {
        var all = Element.ParseAll("<x xmlns=''>" + text + "</x>");
        Assert.Single(all);
        var root = all[0];
        Assert.Equal(1, root.ElementCount);
        return root.FirstChild()!;
    }

    public async Task<Element> ReceiveMatchingAsync(Func<Element, bool> match)
    {
        while (true)
        {
            var e = await ReceiveAsync();
            if (match(e)) return e;
        }
    }

    public static string Open(string to = TestServer.Domain, string? version = "1.0") =>
        $"<open xmlns='{WebSocketFraming.Namespace}' to='{to}'" + (version is null ? "" : $" version='{version}'") + "/>";

    /// <summary>Opens a stream, authenticates with PLAIN, restarts, binds: the full JID.</summary>
    public async Task<string> LoginAsync(string user, string password, string resource)
    {
        await SendAsync(Open());
        await ReceiveAsync(); // <open/>
        var features = await ReceiveAsync();
        Assert.Contains(features.Child("mechanisms", Ns.Sasl)!.Elements(), m => m.Text == "PLAIN");
        var token = Convert.ToBase64String(Encoding.UTF8.GetBytes("\0" + user + "\0" + password));
        await SendAsync($"<auth xmlns='{Ns.Sasl}' mechanism='PLAIN'>{token}</auth>");
        Assert.Equal("success", (await ReceiveAsync()).Name);
        await SendAsync(Open()); // RFC 7395 §3.7: the restart is a new <open/>
        Assert.Equal("open", (await ReceiveAsync()).Name);
        Assert.NotNull((await ReceiveAsync()).Child("bind", Ns.Bind));
        await SendAsync($"<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='{Ns.Bind}'><resource>{resource}</resource></bind></iq>");
        var bound = await ReceiveAsync();
        Assert.Equal("result", bound.Type);
        return bound.Child("bind", Ns.Bind)!.ChildText("jid", Ns.Bind)!;
    }

    public async ValueTask DisposeAsync()
    {
        _socket.Abort();
        _socket.Dispose();
        await Task.CompletedTask;
    }
}

/// <summary>RFC 7395 XMPP over WebSocket on the server's HTTP host.</summary>
public sealed class WebSocketTests(HttpServer server) : IClassFixture<HttpServer>
{
    [Fact]
    public async Task Rfc7395_3_2_handshake_without_the_xmpp_subprotocol_is_refused()
    {
        var ex = await Assert.ThrowsAsync<WebSocketException>(() => WsClient.ConnectAsync(server.WebSocketUri, xmpp: false));
        Assert.Contains("400", ex.Message);
    }

    [Fact]
    public async Task Rfc7395_3_2_the_server_confirms_the_xmpp_subprotocol()
    {
        await using var ws = await WsClient.ConnectAsync(server.WebSocketUri);
        Assert.Equal("xmpp", ws.Socket.SubProtocol);
    }

    [Fact]
    public async Task Rfc7395_3_4_open_is_answered_with_open_then_features_each_a_standalone_message()
    {
        await using var ws = await WsClient.ConnectAsync(server.WebSocketUri);
        await ws.SendAsync(WsClient.Open());
        var open = await ws.ReceiveAsync();
        Assert.True(open.Is("open", WebSocketFraming.Namespace));
        Assert.Equal("localhost", open.Attr("from"));
        Assert.Equal("1.0", open.Attr("version"));
        Assert.False(string.IsNullOrEmpty(open.Attr("id")));
        Assert.False(open.HasChildren);
        var features = await ws.ReceiveAsync(); // parses on its own: xmlns:stream is declared on it (§3.3.3)
        Assert.True(features.Is("features", Ns.Streams));
        // a trusted proxy's request counts as secure: SASL is offered although TLS is required; never STARTTLS
        Assert.NotNull(features.Child("mechanisms", Ns.Sasl));
        Assert.Null(features.Child("starttls", Ns.Tls));
    }

    [Fact]
    public async Task Rfc6120_5_3_1_a_trusted_proxy_that_says_http_is_not_secure()
    {
        // the trusted proxy's X-Forwarded-Proto: http: the client reached it in clear text, so no SASL where TLS is required
        await using var ws = await WsClient.ConnectAsync(server.WebSocketUri, configure: o => o.SetRequestHeader("X-Forwarded-Proto", "http"));
        await ws.SendAsync(WsClient.Open());
        await ws.ReceiveAsync();
        var features = await ws.ReceiveAsync();
        Assert.Null(features.Child("mechanisms", Ns.Sasl));
    }

    [Fact]
    public async Task Rfc7395_3_3_3_login_bind_and_chat_with_a_tcp_client()
    {
        await server.AddUserAsync("wsalice");
        await server.AddUserAsync("wsbob");
        await using var ws = await WsClient.ConnectAsync(server.WebSocketUri);
        var jid = await ws.LoginAsync("wsalice", TestServer.Password, "web");
        Assert.Equal("wsalice@localhost/web", jid);
        await using var tcp = await XmppTestClient.LoginAsync(server, "wsbob", resource: "tcp", tls: true);

        await ws.SendAsync("<message xmlns='jabber:client' to='wsbob@localhost/tcp' type='chat' id='m1'><body>over websocket</body></message>");
        var got = await tcp.NextMatchingAsync(e => e.Name == "message");
        Assert.Equal("over websocket", got.ChildText("body", Ns.Client));
        Assert.Equal("wsalice@localhost/web", got.From);

        await tcp.SendAsync("<message to='wsalice@localhost/web' type='chat' id='m2'><body>over tcp</body></message>");
        var back = await ws.ReceiveMatchingAsync(e => e.Name == "message");
        Assert.Equal(Ns.Client, back.Namespace); // §3.3.3: the stanza declares its namespace
        Assert.Equal("over tcp", back.ChildText("body", Ns.Client));
    }

    [Fact]
    public async Task Rfc7395_3_6_close_is_answered_with_close_then_the_websocket_close()
    {
        await using var ws = await WsClient.ConnectAsync(server.WebSocketUri);
        await ws.SendAsync(WsClient.Open());
        await ws.ReceiveAsync();
        await ws.ReceiveAsync();
        await ws.SendAsync($"<close xmlns='{WebSocketFraming.Namespace}'/>");
        var close = await ws.ReceiveAsync();
        Assert.True(close.Is("close", WebSocketFraming.Namespace));
        Assert.Null(await ws.ReceiveTextAsync()); // the WebSocket closing handshake
        Assert.Equal(WebSocketCloseStatus.NormalClosure, ws.Socket.CloseStatus);
    }

    [Fact]
    public async Task Rfc7395_3_5_stream_error_comes_in_its_own_message_after_the_open_then_close()
    {
        await using var ws = await WsClient.ConnectAsync(server.WebSocketUri);
        await ws.SendAsync(WsClient.Open(to: "not-served.example"));
        Assert.True((await ws.ReceiveAsync()).Is("open", WebSocketFraming.Namespace));
        var error = await ws.ReceiveAsync();
        Assert.True(error.Is("error", Ns.Streams));
        Assert.NotNull(error.Child("host-unknown", Ns.StreamErrors));
        Assert.True((await ws.ReceiveAsync()).Is("close", WebSocketFraming.Namespace));
        Assert.Null(await ws.ReceiveTextAsync());
    }

    [Fact]
    public async Task Rfc7395_3_3_3_two_elements_in_one_message_are_not_well_formed()
    {
        await using var ws = await WsClient.ConnectAsync(server.WebSocketUri);
        await ws.SendAsync(WsClient.Open());
        await ws.ReceiveAsync();
        await ws.ReceiveAsync();
        await ws.SendAsync("<iq xmlns='jabber:client' type='get' id='a'/><iq xmlns='jabber:client' type='get' id='b'/>");
        var error = await ws.ReceiveAsync();
        Assert.NotNull(error.Child("not-well-formed", Ns.StreamErrors));
        Assert.True((await ws.ReceiveAsync()).Is("close", WebSocketFraming.Namespace));
    }

    [Fact]
    public async Task Rfc7395_3_3_3_a_stanza_split_across_messages_is_not_well_formed()
    {
        await using var ws = await WsClient.ConnectAsync(server.WebSocketUri);
        await ws.SendAsync(WsClient.Open());
        await ws.ReceiveAsync();
        await ws.ReceiveAsync();
        await ws.SendAsync("<iq xmlns='jabber:client' type='get' id='a'>");
        var error = await ws.ReceiveAsync();
        Assert.NotNull(error.Child("not-well-formed", Ns.StreamErrors));
    }

    [Fact]
    public async Task Rfc7395_3_3_3_a_stanza_without_its_namespace_declaration_is_refused()
    {
        // each message is a standalone document: an undeclared 'stream' prefix is bad-namespace-prefix (RFC 6120 §4.9.3.2)
        await using var ws = await WsClient.ConnectAsync(server.WebSocketUri);
        await ws.SendAsync(WsClient.Open());
        await ws.ReceiveAsync();
        await ws.ReceiveAsync();
        await ws.SendAsync("<stream:features/>");
        var error = await ws.ReceiveAsync();
        Assert.NotNull(error.Child("bad-namespace-prefix", Ns.StreamErrors));
    }

    [Fact]
    public async Task Rfc7395_3_3_3_restricted_xml_applies_as_on_tcp()
    {
        await using var ws = await WsClient.ConnectAsync(server.WebSocketUri);
        await ws.SendAsync(WsClient.Open());
        await ws.ReceiveAsync();
        await ws.ReceiveAsync();
        await ws.SendAsync("<!-- a comment --><iq xmlns='jabber:client' type='get' id='a'/>");
        var error = await ws.ReceiveAsync();
        Assert.NotNull(error.Child("restricted-xml", Ns.StreamErrors));
    }

    [Fact]
    public async Task Rfc7395_3_3_2_a_first_message_that_is_not_open_is_invalid_namespace()
    {
        await using var ws = await WsClient.ConnectAsync(server.WebSocketUri);
        await ws.SendAsync("<open xmlns='jabber:client' to='localhost' version='1.0'/>");
        Assert.True((await ws.ReceiveAsync()).Is("open", WebSocketFraming.Namespace));
        var error = await ws.ReceiveAsync();
        Assert.NotNull(error.Child("invalid-namespace", Ns.StreamErrors));
    }

    [Fact]
    public async Task Rfc7395_3_4_missing_version_is_unsupported_version()
    {
        await using var ws = await WsClient.ConnectAsync(server.WebSocketUri);
        await ws.SendAsync(WsClient.Open(version: null));
        await ws.ReceiveAsync();
        var error = await ws.ReceiveAsync();
        Assert.NotNull(error.Child("unsupported-version", Ns.StreamErrors));
    }

    [Fact]
    public async Task Rfc7395_3_3_3_messages_before_authentication_end_the_stream_with_not_authorized()
    {
        await using var ws = await WsClient.ConnectAsync(server.WebSocketUri);
        await ws.SendAsync(WsClient.Open());
        await ws.ReceiveAsync();
        await ws.ReceiveAsync();
        await ws.SendAsync("<message xmlns='jabber:client' to='someone@localhost'><body>x</body></message>");
        var error = await ws.ReceiveAsync();
        Assert.NotNull(error.Child("not-authorized", Ns.StreamErrors));
    }

    [Fact]
    public async Task Rfc7395_3_6_a_closed_websocket_without_close_ends_the_session()
    {
        await server.AddUserAsync("wsgone");
        await server.AddUserAsync("wswatcher");
        var ws = await WsClient.ConnectAsync(server.WebSocketUri);
        await ws.LoginAsync("wsgone", TestServer.Password, "web");
        await using var tcp = await XmppTestClient.LoginAsync(server, "wswatcher", resource: "tcp", tls: true);
        await ws.DisposeAsync(); // no <close/>: the stream is gone (resumption window 0: the session closes)
        var sessions = server.Services.GetService(typeof(Actors.Xmpp.Server.Routing.ISessionRegistry)) as Actors.Xmpp.Server.Routing.ISessionRegistry;
        for (var i = 0; i < 50 && sessions!.Find(Jid.Parse("wsgone@localhost/web")) is not null; i++) await Task.Delay(100);
        Assert.Null(sessions!.Find(Jid.Parse("wsgone@localhost/web")));
    }
}

/// <summary>Forwarded headers and the secure flag: the trusted-proxy setting off (the default).</summary>
public sealed class WebSocketUntrustedTests : IDisposable
{
    private readonly TestServer _server = new(new Dictionary<string, string?> { ["Xmpp:Http:Port"] = "0" });

    public void Dispose() => _server.Dispose();

    private Uri Uri => new($"ws://{_server.Service.Http!.HttpEndPoint}/xmpp-websocket");

    [Fact]
    public async Task Rfc6120_5_3_1_plain_websocket_without_a_trusted_proxy_offers_no_sasl_where_tls_is_required()
    {
        // a client's own X-Forwarded-Proto counts for nothing: only a configured proxy's does
        await using var ws = await WsClient.ConnectAsync(Uri, configure: o => o.SetRequestHeader("X-Forwarded-Proto", "https"));
        await ws.SendAsync(WsClient.Open());
        await ws.ReceiveAsync();
        var features = await ws.ReceiveAsync();
        Assert.Null(features.Child("mechanisms", Ns.Sasl));
        Assert.Null(features.Child("starttls", Ns.Tls)); // and no STARTTLS over WebSocket
    }
}

public sealed class WebSocketLimitTests : IDisposable
{
    private readonly TestServer _server = new(new Dictionary<string, string?>
    {
        ["Xmpp:Http:Port"] = "0",
        ["Xmpp:Limits:MaxStanzaBytes"] = "4096",
        ["Xmpp:Http:TrustedProxies:0"] = "127.0.0.1",
    });

    public void Dispose() => _server.Dispose();

    [Fact]
    public async Task Rfc6120_4_9_3_14_a_message_over_the_stanza_limit_is_policy_violation()
    {
        await using var ws = await WsClient.ConnectAsync(new Uri($"ws://{_server.Service.Http!.HttpEndPoint}/xmpp-websocket"));
        await ws.SendAsync(WsClient.Open());
        await ws.ReceiveAsync();
        await ws.ReceiveAsync();
        await ws.SendAsync("<message xmlns='jabber:client' to='a@localhost'><body>" + new string('x', 8000) + "</body></message>");
        var error = await ws.ReceiveAsync();
        Assert.NotNull(error.Child("policy-violation", Ns.StreamErrors));
        Assert.True((await ws.ReceiveAsync()).Is("close", WebSocketFraming.Namespace));
    }
}

public sealed class WebSocketSeeOtherUriTests : IDisposable
{
    private readonly TestServer _server = new(new Dictionary<string, string?>
    {
        ["Xmpp:Http:Port"] = "0",
        ["Xmpp:Http:SeeOtherUri"] = "wss://other.example/xmpp-websocket",
    });

    public void Dispose() => _server.Dispose();

    [Fact]
    public async Task Rfc7395_3_6_1_see_other_uri_sends_the_client_elsewhere()
    {
        await using var ws = await WsClient.ConnectAsync(new Uri($"ws://{_server.Service.Http!.HttpEndPoint}/xmpp-websocket"));
        await ws.SendAsync(WsClient.Open());
        var close = await ws.ReceiveAsync();
        Assert.True(close.Is("close", WebSocketFraming.Namespace));
        Assert.Equal("wss://other.example/xmpp-websocket", close.Attr("see-other-uri"));
        Assert.Null(await ws.ReceiveTextAsync());
    }
}
