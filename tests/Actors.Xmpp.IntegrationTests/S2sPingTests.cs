using System.Net;
using System.Net.Sockets;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.IntegrationTests;

/// <summary>
/// XEP-0199 §4.2 server-to-server pings on idle links: p.test pings a peer that has said nothing for
/// Xmpp:S2s:PingIntervalSeconds (1 s here) over its outbound link, takes any answer on the peer's own stream to it as a
/// sign of life, and closes a link whose ping stays unanswered for PingTimeoutSeconds with &lt;connection-timeout/&gt;
/// (RFC 6120 §4.9.3.4). The peers are answered by hand, with dialback in the clear (TLS not required here).
/// </summary>
public sealed class S2sPingTests : IAsyncLifetime
{
    private const string P = "p.test", Live = "live.test", Dead = "dead.test";
    private const int PingTimeoutSeconds = 5;
    private static readonly TimeSpan Slow = TimeSpan.FromSeconds(20);
    private readonly TcpListener _live = Listen(), _dead = Listen();
    private TestServer _server = null!;

    private static TcpListener Listen()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return listener;
    }

    public async Task InitializeAsync()
    {
        _server = new TestServer(new Dictionary<string, string?>
        {
            ["Xmpp:Domain"] = P,
            ["Xmpp:Tls:Required"] = "false",
            ["Xmpp:Auth:AllowPlainWithoutTls"] = "true",
            ["Xmpp:DirectTlsPort"] = "-1",
            ["Xmpp:S2s:Port"] = "0",
            ["Xmpp:S2s:UseDns"] = "false",
            ["Xmpp:S2s:RequireTls"] = "false",
            ["Xmpp:S2s:PingIntervalSeconds"] = "1",
            ["Xmpp:S2s:PingTimeoutSeconds"] = PingTimeoutSeconds.ToString(),
            [$"Xmpp:S2s:Routes:{Live}"] = $"127.0.0.1:{((IPEndPoint)_live.LocalEndpoint).Port}",
            [$"Xmpp:S2s:Routes:{Dead}"] = $"127.0.0.1:{((IPEndPoint)_dead.LocalEndpoint).Port}",
        });
        Assert.True(await _server.Accounts.AddAsync(Jid.Create("alice", P), TestServer.Password));
    }

    public async Task DisposeAsync()
    {
        _live.Stop();
        _dead.Stop();
        await _server.DisposeAsync();
    }

    private static string Header(string from, string to, string? id) =>
        $"<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='{from}' to='{to}'{(id is null ? "" : $" id='{id}'")} version='1.0'>";

    /// <summary>Answers p.test's outbound stream as <paramref name="domain"/> (dialback valid at once) and reads the
    /// stanza that made p.test open it.</summary>
    private async Task<XmppTestClient> AcceptOutboundAsync(TcpListener listener, string domain, XmppTestClient alice)
    {
        await alice.SendAsync($"<message to='x@{domain}' id='to-{domain}'><body>hello</body></message>");
        var link = await XmppTestClient.AcceptAsync(listener, Slow);
        link.Timeout = Slow;
        var header = await link.ExpectStreamHeaderAsync();
        Assert.Equal((P, domain), (header.Attr("from"), header.Attr("to")));
        await link.SendAsync(Header(domain, P, "out-1") + "<stream:features><dialback xmlns='urn:xmpp:features:dialback'/></stream:features>");
        var result = await link.NextAsync();
        Assert.True(result.Is("result", Ns.Dialback), result.ToString());
        await link.SendAsync($"<db:result from='{domain}' to='{P}' type='valid'/>");
        var message = await link.NextAsync();
        Assert.Equal(("message", $"to-{domain}"), (message.Name, message.Id));
        return link;
    }

    /// <summary>XEP-0199 §4.2: &lt;iq type='get' from='p.test' to='peer'&gt;&lt;ping xmlns='urn:xmpp:ping'/&gt;&lt;/iq&gt;.</summary>
    private static void AssertPing(Element ping, string peer)
    {
        Assert.True(ping.Is("iq", Ns.Server), ping.ToString());
        Assert.Equal(("get", P, peer), (ping.Type, ping.From, ping.To));
        Assert.False(string.IsNullOrEmpty(ping.Id));
        Assert.NotNull(ping.Child("ping", Ns.Ping));
    }

    [Fact]
    public async Task Xep0199_4_2_an_unanswered_ping_closes_the_idle_link_with_connection_timeout()
    {
        await using var alice = await XmppTestClient.LoginAsync(_server.C2sEndPoint, "alice", TestServer.Password, P, "dead");
        await using var link = await AcceptOutboundAsync(_dead, Dead, alice);
        var sent = DateTime.UtcNow;
        AssertPing(await link.NextAsync(), Dead); // the peer has been silent for the ping interval
        await link.ExpectStreamErrorAsync("connection-timeout", timeout: Slow); // RFC 6120 §4.9.3.4
        Assert.True(DateTime.UtcNow - sent >= TimeSpan.FromSeconds(PingTimeoutSeconds - 1), "closed before the ping timed out");
    }

    [Fact]
    public async Task Xep0199_4_2_answered_pings_keep_the_link_and_come_again_after_each_idle_interval()
    {
        await using var alice = await XmppTestClient.LoginAsync(_server.C2sEndPoint, "alice", TestServer.Password, P, "live");
        await using var link = await AcceptOutboundAsync(_live, Live, alice);
        // the answers come on live.test's own stream to p.test, authenticated with dialback (p.test verifies the key
        // over its outbound link, which may carry a ping first)
        await using var inbound = await XmppTestClient.ConnectAsync(_server.S2sEndPoint);
        inbound.Timeout = Slow;
        await inbound.SendAsync(Header(Live, P, null));
        var streamId = (await inbound.ExpectStreamHeaderAsync()).Attr("id");
        await inbound.ExpectFeaturesAsync();
        await inbound.SendAsync($"<db:result from='{Live}' to='{P}'>a-key</db:result>");
        var pings = new List<string>();
        while (true)
        {
            var next = await link.NextAsync();
            if (next.Is("verify", Ns.Dialback))
            {
                Assert.Equal((P, Live, streamId, "a-key"), (next.From, next.To, next.Id, next.Text));
                await link.SendAsync($"<db:verify from='{Live}' to='{P}' id='{streamId}' type='valid'/>");
                break;
            }
            AssertPing(next, Live);
            pings.Add(next.Id!);
        }
        var valid = await inbound.NextAsync();
        Assert.True(valid.Is("result", Ns.Dialback) && valid.Type == "valid", valid.ToString());
        foreach (var id in pings) await inbound.SendAsync($"<iq type='result' from='{Live}' to='{P}' id='{id}'/>");
        // each answered ping is followed, one interval later, by the next: an unanswered one would close the link
        // after PingTimeoutSeconds instead
        while (pings.Count < 4)
        {
            var ping = await link.NextAsync();
            AssertPing(ping, Live);
            Assert.DoesNotContain(ping.Id, pings);
            pings.Add(ping.Id!);
            await inbound.SendAsync($"<iq type='result' from='{Live}' to='{P}' id='{ping.Id}'/>");
        }
        // and the link still carries stanzas
        await alice.SendAsync($"<message to='x@{Live}' id='after-pings'><body>still there</body></message>");
        var message = await link.NextMatchingAsync(e => e.Name == "message");
        Assert.Equal("after-pings", message.Id);
    }
}
