namespace Actors.Xmpp.IntegrationTests;

/// <summary>RFC 6120 §4.7-§4.9 stream headers, their errors, and the clean close (§4.4).</summary>
public sealed class StreamHeaderTests(DefaultServer server) : IClassFixture<DefaultServer>
{
    [Fact]
    public async Task Rfc6120_4_9_3_10_wrong_stream_namespace_is_invalid_namespace()
    {
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.SendAsync(XmppTestClient.Header(streamNs: "http://example.com/not-streams"));
        await c.ExpectStreamHeaderAsync();
        await c.ExpectStreamErrorAsync("invalid-namespace");
    }

    [Fact]
    public async Task Rfc6120_4_9_3_10_wrong_content_namespace_is_invalid_namespace()
    {
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.SendAsync(XmppTestClient.Header(ns: "jabber:server"));
        await c.ExpectStreamHeaderAsync();
        await c.ExpectStreamErrorAsync("invalid-namespace");
    }

    [Fact]
    public async Task Rfc6120_4_9_3_6_unknown_host_is_host_unknown_after_a_header()
    {
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.SendAsync(XmppTestClient.Header(to: "not-served.example"));
        var header = await c.ExpectStreamHeaderAsync(); // §4.9.1.2: the error needs an opened stream
        Assert.Equal("stream", header.Name);
        Assert.Equal(Ns.Streams, header.Namespace);
        await c.ExpectStreamErrorAsync("host-unknown");
    }

    [Fact]
    public async Task Rfc6120_4_7_5_missing_version_is_unsupported_version()
    {
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.SendAsync(XmppTestClient.Header(version: null));
        await c.ExpectStreamHeaderAsync();
        await c.ExpectStreamErrorAsync("unsupported-version");
    }

    [Fact]
    public async Task Rfc6120_4_7_response_header_has_from_id_version_and_echoes_lang()
    {
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.SendAsync(XmppTestClient.Header(lang: "de", from: "someone@localhost"));
        var header = await c.ExpectStreamHeaderAsync();
        Assert.Equal("localhost", header.Attr("from"));
        Assert.False(string.IsNullOrEmpty(header.Attr("id")));
        Assert.Equal("1.0", header.Attr("version"));
        Assert.Equal("de", header.Attr("xml:lang"));
        Assert.Equal(Ns.Client, header.DefaultNamespace);
        await c.ExpectFeaturesAsync();

        await using var d = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await d.SendAsync(XmppTestClient.Header());
        var other = await d.ExpectStreamHeaderAsync();
        Assert.NotEqual(header.Attr("id"), other.Attr("id")); // §4.7.3: unique per stream
    }

    [Fact]
    public async Task Rfc6120_4_4_clean_close()
    {
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        await c.CloseAsync();
        var e = await c.NextEventAsync();
        Assert.IsType<XmppTestClient.StreamCloseEvent>(e);
        await c.ExpectClosedAsync();
    }

    [Fact]
    public async Task Rfc6120_4_9_1_2_garbage_instead_of_a_header_gets_a_header_then_not_well_formed()
    {
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.SendAsync("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        await c.ExpectStreamHeaderAsync();
        await c.ExpectStreamErrorAsync("not-well-formed");
    }

    [Fact]
    public async Task Rfc6120_4_9_3_restricted_xml_over_direct_tls_is_flushed_before_the_close()
    {
        await using var c = await XmppTestClient.ConnectAsync(server.DirectTlsEndPoint, directTls: true);
        await c.OpenStreamAsync();
        await c.SendAsync("<!-- no comments -->");
        await c.ExpectStreamErrorAsync("restricted-xml");
    }

    [Fact]
    public async Task Rfc6120_4_6_1_whitespace_before_and_between_headers_is_accepted()
    {
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.SendAsync("  \n");
        await c.SendAsync(XmppTestClient.Header(lang: null)[21..]); // no XML declaration either
        var header = await c.ExpectStreamHeaderAsync();
        Assert.Equal("1.0", header.Attr("version"));
        Assert.False(string.IsNullOrEmpty(header.Attr("xml:lang")));
        await c.ExpectFeaturesAsync();
        await c.SendAsync("\n \n");
        await c.CloseAsync();
        Assert.IsType<XmppTestClient.StreamCloseEvent>(await c.NextEventAsync());
        await c.ExpectClosedAsync();
    }

    [Fact]
    public async Task Rfc6120_4_8_5_stream_namespace_elements_use_the_stream_prefix()
    {
        // RFC 6120 §4.8.5: implementations MAY accept only the 'stream' prefix for the stream namespace, so the
        // server writes <stream:features/> and <stream:error/> (the RFC's examples), not a redeclared default namespace
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(server.C2sEndPoint);
        var stream = tcp.GetStream();
        await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(XmppTestClient.Header() + "<!-- force a stream error -->"));
        var text = new System.Text.StringBuilder();
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(XmppTestClient.DefaultTimeout);
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer, cts.Token)) > 0) text.Append(System.Text.Encoding.UTF8.GetString(buffer, 0, n));
        }
        catch (IOException) { }
        var all = text.ToString();
        Assert.Contains("<stream:features>", all);
        Assert.Contains("</stream:features>", all);
        Assert.Contains("<stream:error><restricted-xml xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>", all);
        Assert.EndsWith("</stream:error></stream:stream>", all);
    }
}
