namespace Actors.Xmpp.IntegrationTests;

/// <summary>RFC 6120 §7 resource binding (and the RFC 3921 session no-op).</summary>
public sealed class BindTests(PlainServer server) : IClassFixture<PlainServer>
{
    private async Task<XmppTestClient> AuthenticatedAsync(string user)
    {
        var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        await c.AuthPlainAsync(user);
        return c;
    }

    [Fact]
    public async Task Rfc6120_7_4_features_after_auth_offer_bind_and_optional_session()
    {
        await server.AddUserAsync("bind-features");
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        var features = await c.AuthPlainAsync("bind-features");
        Assert.NotNull(features.Child("bind", Ns.Bind));
        Assert.NotNull(features.Child("session", Ns.Session)?.Child("optional", Ns.Session));
        Assert.Null(features.Child("mechanisms", Ns.Sasl));
    }

    [Fact]
    public async Task Rfc6120_7_7_client_chosen_resource()
    {
        await server.AddUserAsync("bind-chosen");
        await using var c = await AuthenticatedAsync("bind-chosen");
        Assert.Equal("bind-chosen@localhost/My Phone", await c.BindAsync("My Phone"));
        await c.PingServerAsync();
    }

    [Fact]
    public async Task Rfc6120_7_6_server_generated_resource()
    {
        await server.AddUserAsync("bind-generated");
        await using var c = await AuthenticatedAsync("bind-generated");
        var jid = await c.BindAsync(null);
        Assert.StartsWith("bind-generated@localhost/", jid);
        Assert.True(jid.Length > "bind-generated@localhost/".Length);
    }

    [Fact]
    public async Task Rfc6120_7_7_2_1_invalid_resource_is_bad_request()
    {
        await server.AddUserAsync("bind-invalid");
        await using var c = await AuthenticatedAsync("bind-invalid");
        await c.SendAsync($"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{new string('r', 1100)}</resource></bind></iq>");
        var reply = await c.NextAsync();
        Assert.Equal("b1", reply.Id);
        StanzaAssert.Error(reply, "bad-request");
        // the stream is still there: binding a valid resource works
        await c.BindAsync("ok");
    }

    [Fact]
    public async Task Rfc6120_7_second_bind_is_an_error()
    {
        await server.AddUserAsync("bind-twice");
        await using var c = await AuthenticatedAsync("bind-twice");
        await c.BindAsync("one");
        var reply = await c.IqAsync("set", "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>two</resource></bind>");
        Assert.Equal("error", reply.Type);
        StanzaAssert.Error(reply, "not-allowed");
        await c.PingServerAsync();
    }

    [Fact]
    public async Task Rfc6120_7_7_2_2_conflict_terminates_the_older_session()
    {
        await server.AddUserAsync("bind-conflict");
        await using var first = await AuthenticatedAsync("bind-conflict");
        await first.BindAsync("same");
        await using var second = await AuthenticatedAsync("bind-conflict");
        Assert.Equal("bind-conflict@localhost/same", await second.BindAsync("same"));
        await first.ExpectStreamErrorAsync("conflict");
        await second.PingServerAsync();
        // the new session is the one that receives messages to the full JID
        await second.SendAsync("<message to='bind-conflict@localhost/same' id='m1'><body>self</body></message>");
        var m = await second.NextAsync();
        Assert.Equal("m1", m.Id);
    }

    [Fact]
    public async Task Rfc3921_3_legacy_session_is_a_result()
    {
        await server.AddUserAsync("bind-session");
        await using var c = await AuthenticatedAsync("bind-session");
        await c.BindAsync("s");
        var reply = await c.IqAsync("set", "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'/>");
        Assert.Equal("result", reply.Type);
    }
}
