using System.Security.Cryptography;
using System.Text;

namespace Actors.Xmpp.IntegrationTests;

/// <summary>A server with two XEP-0114 component domains and the disco plugin.</summary>
public sealed class ComponentServerFixture : IAsyncLifetime
{
    public const string Domain = "comp.localhost", Secret = "s3cret";
    public const string OtherDomain = "other.localhost", OtherSecret = "0ther";
    /// <summary>Configured, never connected.</summary>
    public const string IdleDomain = "idle.localhost";
    public TestServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await TestServer.StartAsync(["disco"], new Dictionary<string, string?>
    {
        ["Xmpp:Components:Port"] = "0",
        [$"Xmpp:Components:{Domain}:Secret"] = Secret,
        [$"Xmpp:Components:{OtherDomain}:Secret"] = OtherSecret,
        [$"Xmpp:Components:{IdleDomain}:Secret"] = "never used",
    });

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>XEP-0114 (Jabber Component Protocol): the accept stream, the handshake, routing both ways, its errors.</summary>
public sealed class ComponentTests(ComponentServerFixture fixture) : IClassFixture<ComponentServerFixture>
{
    private TestServer Server => fixture.Server;

    private static string Header(string to, string ns = Ns.ComponentAccept) =>
        $"<?xml version='1.0'?><stream:stream xmlns='{ns}' xmlns:stream='http://etherx.jabber.org/streams' to='{to}'>";

    private static string Proof(string streamId, string secret) =>
        Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(streamId + secret)));

    /// <summary>Opens the stream and completes the handshake (XEP-0114 §3). The previous test's link for the same
    /// domain may still be closing (its route is released when its socket is gone): a conflict is retried briefly.</summary>
    private async Task<XmppTestClient> ConnectComponentAsync(string domain = ComponentServerFixture.Domain, string secret = ComponentServerFixture.Secret)
    {
        for (var attempt = 0; ; attempt++)
        {
            var c = await XmppTestClient.ConnectAsync(Server.ComponentEndPoint);
            c.Name = domain;
            await c.SendAsync(Header(domain));
            var header = await c.ExpectStreamHeaderAsync();
            await c.SendAsync($"<handshake>{Proof(header.Attr("id")!, secret)}</handshake>");
            var ok = await c.NextEventAsync();
            if (ok is XmppTestClient.StanzaEvent { Element: var e } && e.Is("handshake", Ns.ComponentAccept) && !e.HasChildren) return c;
            await c.DisposeAsync();
            if (attempt == 40) throw new Xunit.Sdk.XunitException($"no handshake for {domain}: {ok}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Xep0114_3_server_answers_with_its_header_and_accepts_the_sha1_handshake()
    {
        await using var c = await XmppTestClient.ConnectAsync(Server.ComponentEndPoint);
        await c.SendAsync(Header(ComponentServerFixture.Domain));
        var header = await c.ExpectStreamHeaderAsync();
        Assert.Equal(Ns.Streams, header.Namespace);
        Assert.Equal(Ns.ComponentAccept, header.DefaultNamespace);
        Assert.Equal(ComponentServerFixture.Domain, header.Attr("from"));
        var id = header.Attr("id");
        Assert.False(string.IsNullOrEmpty(id));
        await c.SendAsync($"<handshake>{Proof(id!, ComponentServerFixture.Secret).ToUpperInvariant()}</handshake>"); // hex, either case
        var ok = await c.NextAsync();
        Assert.True(ok.Is("handshake", Ns.ComponentAccept), ok.ToString());
        Assert.Equal("", ok.Text);
    }

    [Fact]
    public async Task Xep0114_3_wrong_secret_is_not_authorized()
    {
        await using var c = await XmppTestClient.ConnectAsync(Server.ComponentEndPoint);
        await c.SendAsync(Header(ComponentServerFixture.Domain));
        var header = await c.ExpectStreamHeaderAsync();
        await c.SendAsync($"<handshake>{Proof(header.Attr("id")!, "wrong")}</handshake>");
        await c.ExpectStreamErrorAsync("not-authorized"); // then </stream:stream> and the close
    }

    [Fact]
    public async Task Xep0114_3_stanza_before_the_handshake_is_not_authorized()
    {
        await using var c = await XmppTestClient.ConnectAsync(Server.ComponentEndPoint);
        await c.SendAsync(Header(ComponentServerFixture.Domain));
        await c.ExpectStreamHeaderAsync();
        await c.SendAsync("<message from='bot@comp.localhost' to='alice@localhost'><body>early</body></message>");
        await c.ExpectStreamErrorAsync("not-authorized");
    }

    [Fact]
    public async Task Rfc6120_4_9_3_6_unknown_component_domain_is_host_unknown()
    {
        await using var c = await XmppTestClient.ConnectAsync(Server.ComponentEndPoint);
        await c.SendAsync(Header("nobody.localhost"));
        await c.ExpectStreamHeaderAsync();
        await c.ExpectStreamErrorAsync("host-unknown");
    }

    [Fact]
    public async Task Rfc6120_4_9_3_10_client_namespace_on_the_component_port_is_invalid_namespace()
    {
        await using var c = await XmppTestClient.ConnectAsync(Server.ComponentEndPoint);
        await c.SendAsync(Header(ComponentServerFixture.Domain, Ns.Client));
        await c.ExpectStreamHeaderAsync();
        await c.ExpectStreamErrorAsync("invalid-namespace");
    }

    [Fact]
    public async Task Xep0114_second_connection_for_a_domain_is_conflict_and_the_first_keeps_working()
    {
        await using var first = await ConnectComponentAsync(ComponentServerFixture.OtherDomain, ComponentServerFixture.OtherSecret);
        await using var second = await XmppTestClient.ConnectAsync(Server.ComponentEndPoint);
        await second.SendAsync(Header(ComponentServerFixture.OtherDomain));
        var header = await second.ExpectStreamHeaderAsync();
        await second.SendAsync($"<handshake>{Proof(header.Attr("id")!, ComponentServerFixture.OtherSecret)}</handshake>");
        await second.ExpectStreamErrorAsync("conflict");

        await using var alice = await XmppTestClient.LoginAsync(Server, "alice", "c1");
        await alice.SendAsync("<message to='x@other.localhost' id='m1'><body>still there?</body></message>");
        var got = await first.NextAsync();
        Assert.Equal("m1", got.Id);
    }

    [Fact]
    public async Task Xep0114_message_presence_and_iq_are_routed_both_ways()
    {
        await using var comp = await ConnectComponentAsync();
        await using var alice = await XmppTestClient.LoginAsync(Server, "alice", "c2");
        var aliceJid = "alice@localhost/c2";

        // client → component: the stanza arrives in jabber:component:accept with the sender's full JID
        await alice.SendAsync("<message to='bot@comp.localhost' id='m2' type='chat'><body>hello bot</body></message>");
        var m = await comp.NextAsync();
        Assert.True(m.Is("message", Ns.ComponentAccept), m.ToString());
        Assert.Equal(aliceJid, m.From);
        Assert.Equal("bot@comp.localhost", m.To);
        Assert.Equal("hello bot", m.ChildText("body", Ns.ComponentAccept));

        await alice.SendAsync("<presence to='bot@comp.localhost' id='p2'/>");
        var p = await comp.NextAsync();
        Assert.True(p.Is("presence", Ns.ComponentAccept) && p.From == aliceJid, p.ToString());

        // component → client: in jabber:client for the client
        await comp.SendAsync($"<message from='bot@comp.localhost/r' to='{aliceJid}' id='m3' type='chat'><body>hello alice</body></message>");
        var back = await alice.NextAsync();
        Assert.True(back.Is("message", Ns.Client), back.ToString());
        Assert.Equal("bot@comp.localhost/r", back.From);
        Assert.Equal("hello alice", back.ChildText("body", Ns.Client));

        // an IQ from the component to the client and its result back to the component
        await comp.SendAsync($"<iq from='comp.localhost' to='{aliceJid}' id='q1' type='get'><query xmlns='jabber:iq:version'/></iq>");
        var iq = await alice.NextAsync();
        Assert.True(iq.Is("iq", Ns.Client) && iq.Id == "q1" && iq.From == "comp.localhost", iq.ToString());
        await alice.SendAsync("<iq to='comp.localhost' id='q1' type='result'/>");
        var result = await comp.NextAsync();
        Assert.True(result.Is("iq", Ns.ComponentAccept) && result.Type == "result" && result.From == aliceJid, result.ToString());

        // an IQ from a client to the component's domain goes to the component (it answers its own disco)
        await alice.SendAsync("<iq to='comp.localhost' id='q2' type='get'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
        var disco = await comp.NextAsync();
        Assert.True(disco.Is("iq", Ns.ComponentAccept) && disco.Id == "q2", disco.ToString());
    }

    [Fact]
    public async Task Xep0114_component_reaches_the_server_itself()
    {
        await using var comp = await ConnectComponentAsync();
        await comp.SendAsync("<iq from='comp.localhost' to='localhost' id='d1' type='get'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
        var info = await comp.NextAsync();
        Assert.True(info.Is("iq", Ns.ComponentAccept) && info.Type == "result" && info.Id == "d1" && info.To == "comp.localhost", info.ToString());
    }

    [Fact]
    public async Task Rfc6120_4_9_3_9_from_outside_the_component_domain_is_invalid_from()
    {
        await using var comp = await ConnectComponentAsync();
        await comp.SendAsync("<message from='mallory@localhost' to='alice@localhost'><body>spoof</body></message>");
        await comp.ExpectStreamErrorAsync("invalid-from");
    }

    [Fact]
    public async Task Rfc6120_4_9_3_7_stanza_without_to_is_improper_addressing()
    {
        await using var comp = await ConnectComponentAsync();
        await comp.SendAsync("<message from='bot@comp.localhost'><body>to nobody</body></message>");
        await comp.ExpectStreamErrorAsync("improper-addressing");
    }

    [Fact]
    public async Task Rfc6120_8_3_3_8_malformed_to_is_bounced_with_jid_malformed()
    {
        await using var comp = await ConnectComponentAsync();
        await comp.SendAsync("<message from='bot@comp.localhost' to='a@b@c' id='bad'><body>x</body></message>");
        var error = await comp.NextAsync();
        Assert.True(error.Is("message", Ns.ComponentAccept) && error.Type == "error" && error.Id == "bad", error.ToString());
        Assert.NotNull(error.Child("error", Ns.ComponentAccept)?.Child("jid-malformed", Ns.StanzaErrors));
    }

    [Fact]
    public async Task Rfc6120_8_3_3_19_stanza_to_a_component_not_connected_is_service_unavailable()
    {
        await using var bob = await XmppTestClient.LoginAsync(Server, "bob", "c3");
        await bob.SendAsync("<iq to='idle.localhost' id='n1' type='get'><query xmlns='jabber:iq:version'/></iq>");
        var error = await bob.NextAsync();
        Assert.True(error.Type == "error" && error.Id == "n1" && error.From == "idle.localhost", error.ToString());
        Assert.Equal("service-unavailable", error.Child("error", Ns.Client)?.Child("service-unavailable", Ns.StanzaErrors)?.Name);
        // a subdomain of a component's domain is not the component's: no route to it (no federation)
        await bob.SendAsync("<iq to='sub.idle.localhost' id='n2' type='get'><query xmlns='jabber:iq:version'/></iq>");
        var remote = await bob.NextAsync();
        Assert.Equal("remote-server-not-found", remote.Child("error", Ns.Client)?.FirstChild()?.Name);
    }

    [Fact]
    public async Task Xep0030_component_domain_is_in_the_server_disco_items()
    {
        await using var alice = await XmppTestClient.LoginAsync(Server, "alice", "c5");
        var items = await alice.Query("<iq type='get' id='i1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>");
        var jids = items.Child("query", Ns.DiscoItems)!.Elements("item", Ns.DiscoItems).Select(i => i.Attr("jid")).ToList();
        Assert.Contains(ComponentServerFixture.Domain, jids);
        Assert.Contains(ComponentServerFixture.OtherDomain, jids);
    }

    [Fact]
    public async Task Xep0114_component_stream_close_is_answered_and_the_route_released()
    {
        var comp = await ConnectComponentAsync(ComponentServerFixture.OtherDomain, ComponentServerFixture.OtherSecret);
        await comp.CloseAsync();
        Assert.IsType<XmppTestClient.StreamCloseEvent>(await comp.NextEventAsync());
        await comp.ExpectClosedAsync();
        await comp.DisposeAsync();
        // the domain can be connected again once the first link is gone
        await using var again = await ConnectComponentAsync(ComponentServerFixture.OtherDomain, ComponentServerFixture.OtherSecret);
    }

    [Fact]
    public async Task Rfc6120_4_9_3_17_server_shutdown_closes_component_streams_with_system_shutdown()
    {
        var own = await TestServer.StartAsync([], new Dictionary<string, string?>
        {
            ["Xmpp:Components:Port"] = "0",
            ["Xmpp:Components:bye.localhost:Secret"] = "bye",
        });
        await using (own)
        {
            await using var c = await XmppTestClient.ConnectAsync(own.ComponentEndPoint);
            await c.SendAsync(Header("bye.localhost"));
            var header = await c.ExpectStreamHeaderAsync();
            await c.SendAsync($"<handshake>{Proof(header.Attr("id")!, "bye")}</handshake>");
            Assert.True((await c.NextAsync()).Is("handshake", Ns.ComponentAccept));
            var stopping = own.StopAsync();
            await c.ExpectStreamErrorAsync("system-shutdown");
            await stopping;
        }
    }
}
