namespace Actors.Xmpp.IntegrationTests;

/// <summary>XEP-0077 in-band registration.</summary>
public sealed class RegistrationTests(PlainServer server) : IClassFixture<PlainServer>
{
    [Fact]
    public async Task Xep0077_3_1_get_form_set_creates_account_that_can_log_in()
    {
        await using (var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint))
        {
            var features = await c.OpenStreamAsync();
            Assert.NotNull(features.Child("register", Ns.RegisterFeature));
            var form = await c.IqAsync("get", "<query xmlns='jabber:iq:register'/>");
            Assert.Equal("result", form.Type);
            var query = form.Child("query", Ns.Register);
            Assert.NotNull(query?.Child("username", Ns.Register));
            Assert.NotNull(query?.Child("password", Ns.Register));
            var set = await c.IqAsync("set", "<query xmlns='jabber:iq:register'><username>ibr-new</username><password>new-password</password></query>");
            Assert.Equal("result", set.Type);
        }
        Assert.True(server.Accounts.Exists(Jid.Create("ibr-new", TestServer.Domain)));
        await using var login = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await login.OpenStreamAsync();
        await login.AuthScramAsync("SHA-256", "ibr-new", "new-password");
        Assert.Equal("ibr-new@localhost/x", await login.BindAsync("x"));
    }

    [Fact]
    public async Task Xep0077_3_3_password_change_after_login()
    {
        await server.AddUserAsync("ibr-pw");
        await using (var c = await XmppTestClient.LoginAsync(server, "ibr-pw"))
        {
            var info = await c.IqAsync("get", "<query xmlns='jabber:iq:register'/>");
            Assert.NotNull(info.Child("query", Ns.Register)?.Child("registered", Ns.Register)); // §3.2: already registered
            var change = await c.IqAsync("set", "<query xmlns='jabber:iq:register'><username>ibr-pw</username><password>changed-pw</password></query>");
            Assert.Equal("result", change.Type);
        }
        await using var old = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await old.OpenStreamAsync();
        StanzaAssert.SaslFailure(await old.SendAuthPlainAsync("ibr-pw", TestServer.Password), "not-authorized");
        await using var login = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await login.OpenStreamAsync();
        await login.AuthScramAsync("SHA-256", "ibr-pw", "changed-pw");
    }

    [Fact]
    public async Task Xep0077_3_2_cancellation_removes_the_account_and_closes_its_streams()
    {
        await server.AddUserAsync("ibr-bye");
        await using var c = await XmppTestClient.LoginAsync(server, "ibr-bye");
        var reply = await c.IqAsync("set", "<query xmlns='jabber:iq:register'><remove/></query>");
        Assert.Equal("result", reply.Type);
        await c.ExpectStreamErrorAsync("not-authorized", skipStanzas: true);
        Assert.False(server.Accounts.Exists(Jid.Create("ibr-bye", TestServer.Domain)));
    }

    [Fact]
    public async Task Xep0077_3_1_existing_name_is_conflict()
    {
        await server.AddUserAsync("ibr-taken");
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        var reply = await c.IqAsync("set", "<query xmlns='jabber:iq:register'><username>ibr-taken</username><password>other-password</password></query>");
        StanzaAssert.Error(reply, "conflict");
    }

    [Fact]
    public async Task Xep0077_3_1_disabled_is_service_unavailable()
    {
        await using var disabled = new TestServer(); // registration off; TLS required
        await using var c = await XmppTestClient.ConnectAsync(disabled.C2sEndPoint);
        await c.OpenStreamAsync();
        var features = await c.StartTlsAsync();
        Assert.Null(features.Child("register", Ns.RegisterFeature));
        var reply = await c.IqAsync("get", "<query xmlns='jabber:iq:register'/>");
        StanzaAssert.Error(reply, "service-unavailable");
    }

    [Fact]
    public async Task Xep0077_10_where_TLS_is_required_registration_is_neither_offered_nor_answered_before_TLS()
    {
        await using var tls = new TestServer(new Dictionary<string, string?> { ["Xmpp:Registration:Enabled"] = "true" }); // TLS required
        await using var c = await XmppTestClient.ConnectAsync(tls.C2sEndPoint);
        Assert.Null((await c.OpenStreamAsync()).Child("register", Ns.RegisterFeature));
        StanzaAssert.Error(await c.IqAsync("get", "<query xmlns='jabber:iq:register'/>"), "not-authorized");
        StanzaAssert.Error(await c.IqAsync("set", "<query xmlns='jabber:iq:register'><username>ibr-plain</username><password>long-enough</password></query>"), "not-authorized");
        Assert.False(tls.Accounts.Exists(Jid.Create("ibr-plain", TestServer.Domain)));
        Assert.NotNull((await c.StartTlsAsync()).Child("register", Ns.RegisterFeature));
        Assert.Equal("result", (await c.IqAsync("get", "<query xmlns='jabber:iq:register'/>")).Type);
    }

    [Fact]
    public async Task Rfc6120_4_9_3_12_any_other_IQ_before_authentication_is_a_not_authorized_stream_error()
    {
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        await c.SendAsync("<iq type='get' id='v1' to='localhost'><query xmlns='jabber:iq:version'/></iq>");
        await c.ExpectStreamErrorAsync("not-authorized");
    }

    [Theory]
    [InlineData("<username>ibr-short</username><password>abc</password>", "not-acceptable")]
    [InlineData("<username>ibr-nopw</username>", "not-acceptable")]
    [InlineData("<username>bad@name</username><password>long-enough</password>", "jid-malformed")]
    [InlineData("<remove/>", "not-authorized")]
    public async Task Xep0077_3_invalid_requests_are_refused(string fields, string condition)
    {
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        StanzaAssert.Error(await c.IqAsync("set", $"<query xmlns='jabber:iq:register'>{fields}</query>"), condition);
        await c.IqAsync("get", "<query xmlns='jabber:iq:register'/>"); // the stream goes on
    }
}
