namespace Actors.Xmpp.IntegrationTests;

/// <summary>RFC 6120 §6 SASL over TLS: SCRAM-SHA-1/256/512 (RFC 5802, RFC 7677), PLAIN (RFC 4616) and the failure cases.</summary>
public sealed class SaslTests(DefaultServer server) : IClassFixture<DefaultServer>
{
    private async Task<XmppTestClient> TlsClientAsync()
    {
        var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        await c.StartTlsAsync();
        return c;
    }

    [Theory]
    [InlineData("SHA-1")]
    [InlineData("SHA-256")]
    [InlineData("SHA-512")]
    public async Task Rfc6120_6_4_scram_succeeds(string hash)
    {
        var user = "scram-" + hash.Replace("-", "").ToLowerInvariant();
        await server.AddUserAsync(user);
        await using var c = await TlsClientAsync();
        var features = await c.AuthScramAsync(hash, user);
        Assert.NotNull(features.Child("bind", Ns.Bind));
        var jid = await c.BindAsync("scram");
        Assert.Equal($"{user}@localhost/scram", jid);
    }

    [Fact]
    public async Task Rfc6120_6_4_plain_succeeds()
    {
        await server.AddUserAsync("plain-ok");
        await using var c = await TlsClientAsync();
        await c.AuthPlainAsync("plain-ok");
        Assert.Equal("plain-ok@localhost/p", await c.BindAsync("p"));
    }

    [Fact]
    public async Task Rfc6120_6_5_10_wrong_password_is_not_authorized()
    {
        await server.AddUserAsync("wrong-pw");
        await using var c = await TlsClientAsync();
        StanzaAssert.SaslFailure(await c.SendAuthPlainAsync("wrong-pw", "not-the-password"), "not-authorized");
        StanzaAssert.SaslFailure(await c.SendAuthScramAsync("SHA-256", "wrong-pw", "not-the-password"), "not-authorized");
    }

    [Fact]
    public async Task Rfc6120_6_5_10_unknown_user_is_not_authorized()
    {
        await using var c = await TlsClientAsync();
        StanzaAssert.SaslFailure(await c.SendAuthScramAsync("SHA-1", "nobody-here", "whatever"), "not-authorized");
        StanzaAssert.SaslFailure(await c.SendAuthPlainAsync("nobody-here", "whatever"), "not-authorized");
    }

    [Fact]
    public async Task Rfc6120_6_5_6_invalid_mechanism()
    {
        await using var c = await TlsClientAsync();
        await c.SendAsync("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-NOT-A-MECHANISM'>AA==</auth>");
        StanzaAssert.SaslFailure(await c.NextAsync(), "invalid-mechanism");
        await c.SendAsync("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>AA==</auth>");
        StanzaAssert.SaslFailure(await c.NextAsync(), "invalid-mechanism");
    }

    [Fact]
    public async Task Rfc6120_6_5_4_bad_base64_is_incorrect_encoding()
    {
        await using var c = await TlsClientAsync();
        await c.SendAsync("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>!!!not*base64</auth>");
        StanzaAssert.SaslFailure(await c.NextAsync(), "incorrect-encoding");
    }

    [Fact]
    public async Task Rfc6120_6_4_4_abort_is_aborted()
    {
        await using var c = await TlsClientAsync();
        await c.SendAsync("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'/>");
        var challenge = await c.NextAsync();
        Assert.True(challenge.Is("challenge", Ns.Sasl), challenge.ToString());
        await c.SendAsync("<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
        StanzaAssert.SaslFailure(await c.NextAsync(), "aborted");
        // the stream stays usable: a new attempt works
        await server.AddUserAsync("after-abort");
        await c.AuthPlainAsync("after-abort");
    }

    [Fact]
    public async Task Rfc6120_6_4_5_three_failed_attempts_close_the_stream()
    {
        await server.AddUserAsync("three-strikes");
        await using var c = await TlsClientAsync();
        StanzaAssert.SaslFailure(await c.SendAuthPlainAsync("three-strikes", "bad1"), "not-authorized");
        StanzaAssert.SaslFailure(await c.SendAuthPlainAsync("three-strikes", "bad2"), "not-authorized");
        StanzaAssert.SaslFailure(await c.SendAuthPlainAsync("three-strikes", "bad3"), "not-authorized");
        await c.ExpectStreamErrorAsync("policy-violation");
    }

    [Fact]
    public async Task Rfc6120_6_5_11_rate_limit_per_address_is_temporary_auth_failure()
    {
        await using var limited = new TestServer(new Dictionary<string, string?>
        {
            ["Xmpp:Auth:MaxFailuresPerMinute"] = "2",
            ["Xmpp:Tls:Required"] = "false",
            ["Xmpp:Auth:AllowPlainWithoutTls"] = "true",
        });
        await limited.AddUserAsync("limited");
        await using (var c = await XmppTestClient.ConnectAsync(limited.C2sEndPoint))
        {
            await c.OpenStreamAsync();
            StanzaAssert.SaslFailure(await c.SendAuthPlainAsync("limited", "bad1"), "not-authorized");
            StanzaAssert.SaslFailure(await c.SendAuthPlainAsync("limited", "bad2"), "not-authorized");
        }
        await using var d = await XmppTestClient.ConnectAsync(limited.C2sEndPoint);
        await d.OpenStreamAsync();
        // even the right password is refused while the address is over its limit
        StanzaAssert.SaslFailure(await d.SendAuthPlainAsync("limited", TestServer.Password), "temporary-auth-failure");
    }

    [Fact]
    public async Task Rfc6120_6_4_plain_not_offered_without_tls_unless_allowed()
    {
        await using (var noPlain = new TestServer(new Dictionary<string, string?> { ["Xmpp:Tls:Required"] = "false" }))
        {
            await noPlain.AddUserAsync("np");
            await using var c = await XmppTestClient.ConnectAsync(noPlain.C2sEndPoint);
            var features = await c.OpenStreamAsync();
            var starttls = features.Child("starttls", Ns.Tls);
            Assert.NotNull(starttls);
            Assert.Null(starttls!.Child("required", Ns.Tls));
            var mechanisms = StanzaAssert.Mechanisms(features);
            Assert.DoesNotContain("PLAIN", mechanisms);
            Assert.Contains("SCRAM-SHA-256", mechanisms);
            Assert.DoesNotContain(mechanisms, m => m.EndsWith("-PLUS", StringComparison.Ordinal));
            StanzaAssert.SaslFailure(await c.SendAuthPlainAsync("np", TestServer.Password), "invalid-mechanism");
            await c.AuthScramAsync("SHA-256", "np");
        }
        await using (var plain = new TestServer(new Dictionary<string, string?>
        {
            ["Xmpp:Tls:Required"] = "false",
            ["Xmpp:Auth:AllowPlainWithoutTls"] = "true",
        }))
        {
            await plain.AddUserAsync("p");
            await using var c = await XmppTestClient.ConnectAsync(plain.C2sEndPoint);
            var features = await c.OpenStreamAsync();
            Assert.Contains("PLAIN", StanzaAssert.Mechanisms(features));
            await c.AuthPlainAsync("p");
        }
    }

    [Theory]
    [InlineData("SHA-1")]
    [InlineData("SHA-256")]
    [InlineData("SHA-512")]
    public async Task Rfc5802_6_scram_plus_with_tls_server_end_point_succeeds(string hash)
    {
        var user = "scramplus-" + hash.Replace("-", "").ToLowerInvariant();
        await server.AddUserAsync(user);
        await using var c = await TlsClientAsync();
        await c.AuthScramAsync(hash, user, channelBinding: "tls-server-end-point");
        await c.BindAsync("plus");
    }

    [Fact]
    public async Task Rfc5802_6_gs2_flag_y_when_plus_was_offered_fails()
    {
        // 'y': the client supports channel binding but thinks the server does not. The server offered -PLUS,
        // so this is a downgrade and must fail even with the right password.
        await server.AddUserAsync("scram-downgrade");
        await using var c = await TlsClientAsync();
        var answer = await c.SendAuthScramAsync("SHA-256", "scram-downgrade", TestServer.Password, gs2Header: "y,,");
        Assert.True(answer.Is("failure", Ns.Sasl), $"expected a SASL failure, got {answer}");
    }

    [Fact]
    public async Task Rfc5802_6_channel_binding_mismatch_fails()
    {
        // the -PLUS mechanism with data that is not this connection's: as a man in the middle would send
        await server.AddUserAsync("scram-mitm");
        await using var c = await TlsClientAsync();
        var answer = await c.SendAuthScramAsync("SHA-256", "scram-mitm", TestServer.Password, channelBinding: "tls-server-end-point", wrongBindingData: true);
        StanzaAssert.SaslFailure(answer, "not-authorized");
    }
}

public sealed class SaslSequenceTests(PlainServer server) : IClassFixture<PlainServer>
{
    [Fact]
    public async Task Rfc6120_6_4_3_response_without_exchange_is_malformed_request()
    {
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        await c.SendAsync("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>AAAA</response>");
        StanzaAssert.SaslFailure(await c.NextAsync(), "malformed-request");
    }

    [Fact]
    public async Task Rfc6120_6_4_6_pipelined_restart_bind_and_ping_after_success()
    {
        await server.AddUserAsync("pipelined");
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        var success = await c.SendAuthPlainAsync("pipelined", TestServer.Password);
        Assert.True(success.Is("success", Ns.Sasl), success.ToString());
        await c.SendAsync(XmppTestClient.Header() +
            "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>pipe</resource></bind></iq>" +
            "<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
        await c.ExpectStreamHeaderAsync();
        await c.ExpectFeaturesAsync();
        var bind = await c.NextAsync();
        Assert.Equal("b", bind.Id);
        Assert.Equal("result", bind.Type);
        var ping = await c.NextAsync();
        Assert.Equal("p", ping.Id);
        Assert.Equal("result", ping.Type);
    }

    [Fact]
    public async Task Rfc6120_6_4_7_sasl_after_auth_is_a_stream_error()
    {
        await server.AddUserAsync("sasl-again");
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        await c.AuthPlainAsync("sasl-again");
        await c.SendAsync("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>");
        await c.ExpectStreamErrorAsync("policy-violation");
    }

    [Fact]
    public async Task Rfc6120_8_2_3_iq_without_id_is_bad_request()
    {
        await server.AddUserAsync("iq-noid");
        await using var c = await XmppTestClient.LoginAsync(server, "iq-noid");
        await c.SendAsync("<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
        StanzaAssert.Error(await c.NextAsync(), "bad-request");
        await c.PingServerAsync();
    }

    [Fact]
    public async Task Rfc6120_6_4_2_plain_without_initial_response_gets_an_empty_challenge()
    {
        await server.AddUserAsync("plain-noir");
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        await c.SendAsync("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/>");
        var challenge = await c.NextAsync();
        Assert.True(challenge.Is("challenge", Ns.Sasl), challenge.ToString());
        Assert.True(challenge.Text.Trim() is "" or "=", challenge.ToString());
        var payload = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("\0plain-noir\0" + TestServer.Password));
        await c.SendAsync($"<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{payload}</response>");
        var success = await c.NextAsync();
        Assert.True(success.Is("success", Ns.Sasl), success.ToString());
    }

    [Fact]
    public async Task Rfc6120_6_3_8_authzid_of_the_same_account_succeeds_and_another_is_invalid_authzid()
    {
        await server.AddUserAsync("authz");
        await server.AddUserAsync("authz-other");
        await using (var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint))
        {
            await c.OpenStreamAsync();
            var payload = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("authz-other@localhost\0authz\0" + TestServer.Password));
            await c.SendAsync($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{payload}</auth>");
            StanzaAssert.SaslFailure(await c.NextAsync(), "invalid-authzid");
        }
        await using (var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint))
        {
            await c.OpenStreamAsync();
            var payload = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("authz@localhost\0authz\0" + TestServer.Password));
            await c.SendAsync($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{payload}</auth>");
            var success = await c.NextAsync();
            Assert.True(success.Is("success", Ns.Sasl), success.ToString());
        }
    }

    [Theory]
    [InlineData("PLAIN")]
    [InlineData("SCRAM-SHA-256")]
    public async Task Rfc7613_3_username_is_case_mapped(string mechanism)
    {
        var user = "casemapped-" + mechanism.ToLowerInvariant();
        await server.AddUserAsync(user);
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        var upper = user.ToUpperInvariant();
        if (mechanism == "PLAIN") await c.AuthPlainAsync(upper);
        else await c.AuthScramAsync("SHA-256", upper);
        Assert.Equal(user + "@localhost/x", await c.BindAsync("x"));
    }
}
