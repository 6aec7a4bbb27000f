using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using Actors.Xmpp.Transport.WebSockets;

namespace Actors.Xmpp.IntegrationTests;

/// <summary>
/// Issue 17's limits on the HTTP bindings and the read shaper: WebSocket streams (RFC 7395) and BOSH sessions
/// (XEP-0124/XEP-0206) are held to the pre-authentication stanza limit and the per-address caps of TCP (XEP-0205), a
/// WebSocket message trickled in fragments to the stanza deadline (RFC 6120 §4.9.3.14), and a client reading over its
/// rate is slowed, not dropped.
/// </summary>
public sealed class WebHardeningTests
{
    private static TestServer Server(params (string Key, string Value)[] settings)
    {
        var overrides = new Dictionary<string, string?>
        {
            ["Xmpp:Http:Port"] = "0",
            ["Xmpp:Http:TrustedProxies:0"] = "127.0.0.1", // a TLS-terminating proxy: SASL is offered over ws:
            ["Xmpp:Tls:Required"] = "false",
            ["Xmpp:Auth:AllowPlainWithoutTls"] = "true",
            ["Xmpp:DirectTlsPort"] = "-1",
        };
        foreach (var (k, v) in settings) overrides[k] = v;
        return new TestServer(overrides);
    }

    private static Uri WebSocketUri(TestServer server) => new($"ws://{server.Service.Http!.HttpEndPoint}/xmpp-websocket");
    private static Uri BoshUri(TestServer server) => new($"http://{server.Service.Http!.HttpEndPoint}/http-bind");

    /// <summary>An XEP-0199 ping whose id is <paramref name="id"/> followed by <paramref name="padding"/> bytes (a large
    /// stanza any server answers); match the answer with <see cref="Id"/>.</summary>
    private static string Ping(string id, int padding = 0) =>
        $"<iq xmlns='jabber:client' type='get' id='{Id(id, padding)}'><ping xmlns='urn:xmpp:ping'/></iq>";

    private static string Id(string id, int padding) => padding > 0 ? id + "-" + new string('p', padding) : id;

    [Fact]
    public async Task Xep0205_2_websocket_message_over_the_pre_authentication_limit_is_policy_violation()
    {
        await using var server = Server(("Xmpp:Limits:MaxStanzaBytesBeforeAuthentication", "1024"));
        await using var ws = await WsClient.ConnectAsync(WebSocketUri(server));
        await ws.SendAsync(WsClient.Open());
        await ws.ReceiveAsync(); // <open/>
        await ws.ReceiveAsync(); // features
        await ws.SendAsync(Ping("big", padding: 2000));
        var error = await ws.ReceiveAsync();
        Assert.NotNull(error.Child("policy-violation", Ns.StreamErrors));
        Assert.True((await ws.ReceiveAsync()).Is("close", WebSocketFraming.Namespace));
    }

    [Fact]
    public async Task Xep0205_2_websocket_message_over_the_pre_authentication_limit_passes_after_authentication()
    {
        await using var server = Server(("Xmpp:Limits:MaxStanzaBytesBeforeAuthentication", "1024"));
        await server.AddUserAsync("webbig");
        await using var ws = await WsClient.ConnectAsync(WebSocketUri(server));
        await ws.LoginAsync("webbig", TestServer.Password, "web");
        await ws.SendAsync(Ping("big", padding: 8000));
        var result = await ws.ReceiveMatchingAsync(e => e.Id == Id("big", 8000));
        Assert.Equal("result", result.Type);
    }

    [Fact]
    public async Task Xep0205_3_websocket_streams_over_the_per_address_cap_get_policy_violation()
    {
        await using var server = Server(("Xmpp:Limits:ExemptLoopback", "false"),
            ("Xmpp:Limits:MaxConnectionsPerAddress", "2"), ("Xmpp:Limits:NewConnectionsPerSecondPerAddress", "0"));
        var open = new List<WsClient>();
        try
        {
            for (var i = 0; i < 2; i++)
            {
                var ws = await WsClient.ConnectAsync(WebSocketUri(server));
                open.Add(ws);
                await ws.SendAsync(WsClient.Open());
                Assert.True((await ws.ReceiveAsync()).Is("open", WebSocketFraming.Namespace));
            }
            await using (var refused = await WsClient.ConnectAsync(WebSocketUri(server)))
            {
                // RFC 7395 §3.5/§3.6 framing of RFC 6120 §4.9.1.2's refusal: <open/>, the stream error, <close/>
                Assert.True((await refused.ReceiveAsync()).Is("open", WebSocketFraming.Namespace));
                var error = await refused.ReceiveAsync();
                Assert.True(error.Is("error", Ns.Streams));
                Assert.NotNull(error.Child("policy-violation", Ns.StreamErrors));
                Assert.Contains("too many connections", error.ChildText("text", Ns.StreamErrors));
                Assert.True((await refused.ReceiveAsync()).Is("close", WebSocketFraming.Namespace));
                Assert.Null(await refused.ReceiveTextAsync());
            }
            // one closes: its place is free again
            await open[0].DisposeAsync();
            open.RemoveAt(0);
            for (var i = 0; i < 100 && server.Service.Admission!.OpenConnections(System.Net.IPAddress.Loopback) != 1; i++) await Task.Delay(100);
            var again = await WsClient.ConnectAsync(WebSocketUri(server));
            open.Add(again);
            await again.SendAsync(WsClient.Open());
            Assert.True((await again.ReceiveAsync()).Is("open", WebSocketFraming.Namespace));
        }
        finally
        {
            foreach (var ws in open) await ws.DisposeAsync();
        }
    }

    [Fact]
    public async Task Rfc6120_4_9_3_14_websocket_message_trickled_in_fragments_past_the_deadline_is_policy_violation()
    {
        await using var server = Server(("Xmpp:Limits:StanzaDeadlineSeconds", "2"));
        await using var ws = await WsClient.ConnectAsync(WebSocketUri(server));
        await ws.SendAsync(WsClient.Open());
        await ws.ReceiveAsync();
        await ws.ReceiveAsync();
        var text = Encoding.UTF8.GetBytes(Ping("slow"));
        var received = ws.ReceiveAsync(TimeSpan.FromSeconds(30));
        // one byte per 300 ms: the message would take far longer than the 2 s deadline
        for (var i = 0; i < 20 && !received.IsCompleted; i++)
        {
            try { await ws.Socket.SendAsync(text.AsMemory(i, 1), WebSocketMessageType.Text, endOfMessage: false, CancellationToken.None); }
            catch (WebSocketException) { break; }
            await Task.Delay(300);
        }
        var error = await received;
        Assert.NotNull(error.Child("policy-violation", Ns.StreamErrors));
    }

    [Fact]
    public async Task Xep0205_2_bosh_body_over_the_pre_authentication_limit_terminates_with_policy_violation()
    {
        await using var server = Server(("Xmpp:Limits:MaxStanzaBytesBeforeAuthentication", "1024"));
        using var c = new BoshClient(BoshUri(server));
        await c.CreateAsync("wait='2' hold='1'");
        var body = await c.PostAsync(c.Body(payload: Ping("big", padding: 2000)));
        Assert.Equal("terminate", body.Attr("type"));
        Assert.Equal("policy-violation", body.Attr("condition")); // XEP-0124 §17.2
        var after = await c.PostAsync(c.Body());
        Assert.Equal("item-not-found", after.Attr("condition")); // the session ended
    }

    [Fact]
    public async Task Xep0205_3_bosh_sessions_over_the_per_address_cap_get_policy_violation()
    {
        await using var server = Server(("Xmpp:Limits:ExemptLoopback", "false"),
            ("Xmpp:Limits:MaxConnectionsPerAddress", "1"), ("Xmpp:Limits:NewConnectionsPerSecondPerAddress", "0"));
        using var first = new BoshClient(BoshUri(server));
        var created = await first.CreateAsync("wait='2' hold='1'");
        Assert.NotNull(created.Attr("sid"));
        using var second = new BoshClient(BoshUri(server));
        var refused = await second.PostAsync($"<body xmlns='{BoshClient.Ns}' xmlns:xmpp='urn:xmpp:xbosh' rid='{second.Rid++}' to='localhost' ver='1.11' xmpp:version='1.0' wait='2' hold='1'/>");
        Assert.Equal("terminate", refused.Attr("type"));
        Assert.Equal("policy-violation", refused.Attr("condition"));
        // the first ends (XEP-0124 §13): its place is free again
        await first.PostAsync(first.Body("type='terminate'"));
        for (var i = 0; i < 100 && server.Service.Admission!.OpenConnections(System.Net.IPAddress.Loopback) != 0; i++) await Task.Delay(100);
        using var third = new BoshClient(BoshUri(server));
        Assert.NotNull((await third.CreateAsync("wait='2' hold='1'")).Attr("sid"));
    }

    [Fact]
    public async Task Shaper_a_client_over_its_read_rate_is_slowed_and_every_stanza_is_answered()
    {
        // 4 KiB at once, then 8 KiB/s: 48 KiB of pings take at least 4.5 s to be read (the shaper waits after a read
        // of up to 8 KiB, so the last read's debt is not waited for: (48 - 4 - 8) / 8), and none is lost
        await using var server = Server(("Xmpp:Limits:ExemptLoopback", "false"), ("Xmpp:Limits:MaxStanzaBytes", "4096"),
            ("Xmpp:Limits:MaxStanzaBytesBeforeAuthentication", "4096"),
            ("Xmpp:Limits:ClientBytesPerSecond", "8192"), ("Xmpp:Limits:ClientBurstBytes", "4096"));
        await server.AddUserAsync("alice");
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        await c.AuthPlainAsync("alice");
        await c.BindAsync("r");
        var ping = Ping("p0", padding: 400);
        var count = 48 * 1024 / ping.Length;
        var all = new StringBuilder();
        for (var i = 0; i < count; i++) all.Append(Ping("p" + i, padding: 400));
        var clock = Stopwatch.StartNew();
        await c.SendAsync(all.ToString());
        for (var i = 0; i < count; i++)
        {
            var id = Id("p" + i, 400);
            var result = await c.NextMatchingAsync(e => e.Id == id, TimeSpan.FromSeconds(60));
            Assert.Equal("result", result.Type);
        }
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(4), $"{count} pings ({all.Length} bytes) were read in {clock.Elapsed}, over 8 KiB/s");
    }

    [Fact]
    public async Task Shaper_loopback_clients_are_not_shaped_by_default()
    {
        await using var server = Server(("Xmpp:Limits:ClientBytesPerSecond", "1024"), ("Xmpp:Limits:ClientBurstBytes", "1024"),
            ("Xmpp:Limits:MaxStanzaBytes", "4096"));
        await server.AddUserAsync("alice");
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        await c.AuthPlainAsync("alice");
        await c.BindAsync("r");
        var all = new StringBuilder();
        for (var i = 0; i < 40; i++) all.Append(Ping("p" + i, padding: 400)); // 20 KiB: 20 s if shaped
        var clock = Stopwatch.StartNew();
        await c.SendAsync(all.ToString());
        for (var i = 0; i < 40; i++)
        {
            var id = Id("p" + i, 400);
            await c.NextMatchingAsync(e => e.Id == id, TimeSpan.FromSeconds(60));
        }
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(12), $"read in {clock.Elapsed}, shaped would be about 19 s");
    }
}
