namespace Actors.Xmpp.IntegrationTests;

/// <summary>Several served domains (Xmpp:Domains): the stream's 'to' picks the domain (RFC 6120 §4.7.2).</summary>
public sealed class MultiDomainTests
{
    [Fact]
    public async Task Rfc6120_4_7_2_to_selects_the_served_domain_and_routing_crosses_local_domains()
    {
        await using var server = new TestServer(new Dictionary<string, string?>
        {
            ["Xmpp:Domains:0"] = "example.net",
            ["Xmpp:Tls:Required"] = "false",
            ["Xmpp:Auth:AllowPlainWithoutTls"] = "true",
        });
        Assert.True(await server.Accounts.AddAsync(Jid.Create("alice", "example.net"), TestServer.Password));
        await server.AddUserAsync("bob");

        await using var alice = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        alice.Domain = "example.net";
        await alice.SendAsync(XmppTestClient.Header(to: "example.net"));
        var header = await alice.ExpectStreamHeaderAsync();
        Assert.Equal("example.net", header.Attr("from"));
        await alice.ExpectFeaturesAsync();
        var success = await alice.SendAuthPlainAsync("alice", TestServer.Password);
        Assert.True(success.Is("success", Ns.Sasl), success.ToString());
        await alice.OpenStreamAsync("example.net");
        Assert.Equal("alice@example.net/a", await alice.BindAsync("a"));
        await alice.PingServerAsync();

        await using var bob = await XmppTestClient.LoginAsync(server, "bob", "b");
        await alice.SendAsync("<message to='bob@localhost/b' type='chat' id='x1'><body>hi</body></message>");
        var m = await bob.NextAsync();
        Assert.Equal("x1", m.Id);
        Assert.Equal("alice@example.net/a", m.From);
    }

    [Fact]
    public async Task Rfc6120_4_9_3_6_domain_change_on_restart_is_host_unknown()
    {
        await using var server = new TestServer(new Dictionary<string, string?>
        {
            ["Xmpp:Domains:0"] = "example.net",
            ["Xmpp:Tls:Required"] = "false",
            ["Xmpp:Auth:AllowPlainWithoutTls"] = "true",
        });
        await server.AddUserAsync("switcher");
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        var success = await c.SendAuthPlainAsync("switcher", TestServer.Password);
        Assert.True(success.Is("success", Ns.Sasl), success.ToString());
        await c.SendAsync(XmppTestClient.Header(to: "example.net"));
        await c.ExpectStreamErrorAsync("host-unknown");
    }
}
