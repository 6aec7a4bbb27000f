namespace Actors.Xmpp.IntegrationTests;

/// <summary>RFC 6120 §5 STARTTLS (required by default) and XEP-0368 direct TLS.</summary>
public sealed class TlsTests(DefaultServer server) : IClassFixture<DefaultServer>
{
    [Fact]
    public async Task Rfc6120_5_3_1_features_before_tls_offer_only_required_starttls()
    {
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        var features = await c.OpenStreamAsync();
        var children = features.Elements().ToList();
        Assert.Single(children);
        Assert.True(children[0].Is("starttls", Ns.Tls));
        Assert.NotNull(children[0].Child("required", Ns.Tls));
    }

    [Fact]
    public async Task Rfc6120_5_3_1_sasl_before_tls_is_encryption_required()
    {
        await server.AddUserAsync("tls-sasl-early");
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        var answer = await c.SendAuthPlainAsync("tls-sasl-early", TestServer.Password);
        StanzaAssert.SaslFailure(answer, "encryption-required");
    }

    [Fact]
    public async Task Rfc6120_4_9_3_12_message_before_auth_is_not_authorized()
    {
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        await c.SendAsync("<message to='someone@localhost'><body>hi</body></message>");
        await c.ExpectStreamErrorAsync("not-authorized");
    }

    [Fact]
    public async Task Rfc6120_5_4_starttls_then_stream_restart()
    {
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        var features = await c.StartTlsAsync();
        Assert.True(c.IsTls);
        Assert.Null(features.Child("starttls", Ns.Tls));
        var mechanisms = StanzaAssert.Mechanisms(features);
        foreach (var m in new[] { "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-512-PLUS", "PLAIN" })
            Assert.Contains(m, mechanisms);
        var cb = features.Child("sasl-channel-binding", Ns.SaslChannelBinding);
        Assert.NotNull(cb);
        Assert.NotEmpty(cb!.Elements("channel-binding", Ns.SaslChannelBinding).Select(e => e.Attr("type")));
    }

    [Fact]
    public async Task Rfc6120_5_4_starttls_then_login_and_ping()
    {
        await server.AddUserAsync("tls-login");
        await using var c = await XmppTestClient.LoginAsync(server, "tls-login", "r1", tls: true);
        Assert.True(c.IsTls);
        await c.PingServerAsync();
    }

    [Fact]
    public async Task Xep0368_direct_tls_from_the_first_byte()
    {
        await server.AddUserAsync("direct-tls");
        await using var c = await XmppTestClient.ConnectAsync(server.DirectTlsEndPoint, directTls: true);
        Assert.True(c.IsTls);
        var features = await c.OpenStreamAsync();
        Assert.Null(features.Child("starttls", Ns.Tls));
        Assert.Contains("SCRAM-SHA-256", StanzaAssert.Mechanisms(features));
        await c.AuthScramAsync("SHA-256", "direct-tls");
        await c.BindAsync("dtls");
        await c.PingServerAsync();
    }
}

/// <summary>TLS edge cases that need their own server configuration.</summary>
public sealed class TlsEdgeTests
{
    [Fact]
    public async Task Rfc6120_5_4_2_2_starttls_on_a_tls_stream_is_failure_and_close()
    {
        await using var server = new TestServer();
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        await c.StartTlsAsync();
        await c.SendAsync("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
        var failure = await c.NextAsync();
        Assert.True(failure.Is("failure", Ns.Tls), failure.ToString());
        Assert.IsType<XmppTestClient.StreamCloseEvent>(await c.NextEventAsync());
        await c.ExpectClosedAsync();
    }

    [Fact]
    public async Task Xep0368_plain_xml_on_the_direct_tls_port_is_dropped()
    {
        await using var server = new TestServer();
        await using var c = await XmppTestClient.ConnectAsync(server.DirectTlsEndPoint, directTls: false);
        await c.TrySendBytesAsync(System.Text.Encoding.UTF8.GetBytes(XmppTestClient.Header()));
        await c.ExpectClosedAsync(); // no XMPP in plain text on this port
    }

    [Fact]
    public async Task Xep0368_silent_client_on_the_direct_tls_port_gets_no_plaintext()
    {
        await using var server = new TestServer(new Dictionary<string, string?> { ["Xmpp:Limits:NegotiationTimeoutSeconds"] = "1" });
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(server.DirectTlsEndPoint);
        var stream = tcp.GetStream();
        var buffer = new byte[4096];
        var received = new List<byte>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer, cts.Token)) > 0) received.AddRange(buffer.AsSpan(0, n).ToArray());
        }
        catch (IOException) { }
        Assert.False(cts.IsCancellationRequested, "the server did not close the connection");
        Assert.True(received.Count == 0, "plaintext on the TLS port: " + System.Text.Encoding.UTF8.GetString(received.ToArray()));
    }

    [Fact]
    public async Task Rfc6120_5_4_3_2_timeout_during_starttls_handshake_closes_without_plaintext()
    {
        await using var server = new TestServer(new Dictionary<string, string?> { ["Xmpp:Limits:NegotiationTimeoutSeconds"] = "1" });
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(server.C2sEndPoint);
        var stream = tcp.GetStream();
        await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(XmppTestClient.Header() + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"));
        var buffer = new byte[4096];
        var text = new System.Text.StringBuilder();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer, cts.Token)) > 0) text.Append(System.Text.Encoding.UTF8.GetString(buffer, 0, n));
        }
        catch (IOException) { }
        Assert.False(cts.IsCancellationRequested, "the server did not close the connection");
        var all = text.ToString();
        var proceed = all.IndexOf("<proceed", StringComparison.Ordinal);
        Assert.True(proceed > 0, all);
        var rest = all[(all.IndexOf('>', proceed) + 1)..];
        Assert.True(rest.Length == 0, "plaintext after <proceed/>: " + rest); // the client never started its handshake
    }
}
