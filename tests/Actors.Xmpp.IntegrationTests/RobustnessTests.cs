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
            if (sent % 512 == 0) await flooder.PingServerAsync(); // the flooder itself is never blocked
        }
        await flooder.PingServerAsync();
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
