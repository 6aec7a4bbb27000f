using System.Text;
using Actors.Xmpp.Server.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Actors.Xmpp.IntegrationTests;

/// <summary>Back-pressure and resource limits: slow readers, bursts, the connection limit.</summary>
public sealed class RobustnessTests(ITestOutputHelper output)
{
    private static Dictionary<string, string?> Plain(params (string Key, string Value)[] extra)
    {
        var d = new Dictionary<string, string?>
        {
            ["Xmpp:Tls:Required"] = "false",
            ["Xmpp:Auth:AllowPlainWithoutTls"] = "true",
        };
        foreach (var (k, v) in extra) d[k] = v;
        return d;
    }

    [Fact]
    public async Task Rfc6120_13_12_client_that_does_not_read_is_dropped_and_others_keep_working()
    {
        await using var server = new TestServer(Plain(("Xmpp:Limits:MaxOutboundBytes", "65536")));
        await server.AddUserAsync("slow-reader");
        await server.AddUserAsync("flooder");
        await using var slow = await XmppTestClient.LoginAsync(server, "slow-reader", "slow", available: true);
        await using var flooder = await XmppTestClient.LoginAsync(server, "flooder");
        slow.PauseReading();

        // headlines: dropped silently once the recipient is gone, so the flooder gets no bounces
        var body = new string('x', 8 * 1024);
        var registry = server.Services.GetRequiredService<ISessionRegistry>();
        var full = Jid.Parse("slow-reader@localhost/slow");
        var sent = 0;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (registry.Find(full) is not null)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the server still holds the session of a client that reads nothing after {sent} messages");
            var batch = string.Concat(Enumerable.Repeat($"<message to='slow-reader@localhost/slow' type='headline'><body>{body}</body></message>", 32));
            await flooder.SendAsync(batch);
            sent += 32;
            // the flooder itself is never blocked (it waits for the server to work through its own flood first, which
            // takes seconds on a loaded machine)
            if (sent % 512 == 0) await flooder.PingServerAsync(TimeSpan.FromSeconds(30));
        }
        await flooder.PingServerAsync(TimeSpan.FromSeconds(30));
        output.WriteLine($"session dropped after {sent} messages ({sent * 8 / 1024} MiB), {sw.Elapsed.TotalSeconds:0.0} s");

        // the slow client finds its connection closed once it reads again (after whatever was already in flight)
        slow.ResumeReading();
        for (var i = 0; ; i++)
        {
            Assert.True(i < 100_000, "no close");
            var e = await slow.NextEventAsync(TimeSpan.FromSeconds(10));
            if (e is XmppTestClient.ClosedEvent)
            {
                output.WriteLine($"slow client saw the close after {i} events, {sw.Elapsed.TotalSeconds:0.0} s");
                break;
            }
        }
    }

    [Fact]
    public async Task Rfc6120_8_3_3_18_a_recipient_that_does_not_read_gets_senders_bounced_with_resource_constraint_and_nothing_is_lost()
    {
        await using var server = new TestServer(Plain(("Xmpp:Limits:MaxOutboundBytes", (1024 * 1024).ToString())));
        await server.AddUserAsync("behind");
        await server.AddUserAsync("chatty");
        await using var slow = await XmppTestClient.LoginAsync(server, "behind", "r", available: true);
        await using var flooder = await XmppTestClient.LoginAsync(server, "chatty");
        slow.PauseReading(receiveBufferBytes: 64 * 1024);

        // far more than the socket buffers and the transport's bound hold: without back-pressure the recipient is dropped
        const int total = 2400;
        var body = new string('x', 8 * 1024);
        for (var i = 0; i < total; i += 48)
        {
            var batch = new StringBuilder();
            for (var j = i; j < i + 48; j++) batch.Append($"<message to='behind@localhost/r' type='chat' id='m{j}'><body>{body}</body></message>");
            await flooder.SendAsync(batch.ToString());
        }

        // the server has taken the whole flood once it answers a ping sent after it (the bounces come meanwhile)
        var bounced = new HashSet<int>();
        void Bounced(Actors.Xmpp.Xml.Element error)
        {
            StanzaAssert.Error(error, "resource-constraint");
            Assert.True(bounced.Add(int.Parse(error.Id!.AsSpan(1))), $"{error.Id} bounced twice");
        }
        await flooder.SendAsync("<iq type='get' id='after-flood' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
        while (true)
        {
            var e = await flooder.NextAsync(TimeSpan.FromSeconds(60));
            if (e.Name == "iq" && e.Id == "after-flood") break;
            if (e.Name == "message" && e.Type == "error") Bounced(e);
        }

        // the recipient is still there, reads again, and gets what was not bounced, in order, then a marker
        var registry = server.Services.GetRequiredService<ISessionRegistry>();
        Assert.NotNull(registry.Find(Jid.Parse("behind@localhost/r")));
        slow.ResumeReading();
        await flooder.SendAsync("<message to='behind@localhost/r' type='headline' id='end'><body>end</body></message>");
        var delivered = new List<int>();
        while (true)
        {
            var e = await slow.NextAsync(TimeSpan.FromSeconds(60));
            if (e.Name != "message") continue;
            if (e.Id == "end") break;
            delivered.Add(int.Parse(e.Id!.AsSpan(1)));
        }
        output.WriteLine($"{delivered.Count} delivered ({delivered.Distinct().Count()} distinct) before the marker");
        Assert.Equal(delivered.Order(), delivered);
        while (bounced.Count + delivered.Count < total)
            Bounced(await flooder.NextMatchingAsync(e => e.Name == "message" && e.Type == "error", TimeSpan.FromSeconds(30)));
        Assert.NotEmpty(bounced);
        Assert.Empty(bounced.Intersect(delivered));
        Assert.Equal(total, bounced.Count + delivered.Count);
        output.WriteLine($"{delivered.Count} delivered, {bounced.Count} bounced");
        await slow.PingServerAsync();
        await flooder.PingServerAsync();
    }

    [Fact]
    public async Task Rfc6120_burst_of_pipelined_stanzas_is_answered_completely()
    {
        await using var server = new TestServer(Plain());
        await server.AddUserAsync("burst");
        await using var c = await XmppTestClient.LoginAsync(server, "burst");
        const int count = 2000;
        var sb = new System.Text.StringBuilder();
        for (var i = 0; i < count; i++) sb.Append($"<iq type='get' id='burst{i}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
        await c.SendAsync(sb.ToString());
        for (var i = 0; i < count; i++)
        {
            var reply = await c.NextAsync();
            Assert.Equal($"burst{i}", reply.Id); // one session: answers in order
            Assert.Equal("result", reply.Type);
        }
    }

    [Fact]
    public async Task Connection_limit_holds_further_connections_until_one_closes()
    {
        await using var server = new TestServer(Plain(("Xmpp:Limits:MaxConnections", "2")));
        await using var a = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await a.OpenStreamAsync();
        await using var b = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await b.OpenStreamAsync();
        await using var waiting = await XmppTestClient.ConnectAsync(server.C2sEndPoint); // in the kernel backlog
        await waiting.SendAsync(XmppTestClient.Header());
        await Assert.ThrowsAsync<TimeoutException>(() => waiting.NextEventAsync(TimeSpan.FromMilliseconds(500)));
        await a.CloseAsync();
        Assert.IsType<XmppTestClient.StreamCloseEvent>(await a.NextEventAsync());
        await a.ExpectClosedAsync();
        await waiting.ExpectStreamHeaderAsync();
        await waiting.ExpectFeaturesAsync();
    }

    [Fact]
    public async Task Rfc6120_4_9_3_17_system_shutdown_reaches_tls_clients()
    {
        var server = new TestServer();
        try
        {
            await server.AddUserAsync("tls-shutdown");
            await using var c = await XmppTestClient.LoginAsync(server, "tls-shutdown", tls: true);
            await using var direct = await XmppTestClient.ConnectAsync(server.DirectTlsEndPoint, directTls: true);
            await direct.OpenStreamAsync();
            var stop = server.StopAsync();
            await c.ExpectStreamErrorAsync("system-shutdown");
            await direct.ExpectStreamErrorAsync("system-shutdown");
            await stop.WaitAsync(TimeSpan.FromSeconds(20));
        }
        finally
        {
            await server.DisposeAsync();
        }
    }
}
