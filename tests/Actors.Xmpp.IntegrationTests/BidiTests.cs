using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Actors.Xmpp.Server.S2s;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.IntegrationTests;

/// <summary>
/// XEP-0288 bidirectional server-to-server streams between two servers of this project in the test process, c.test and
/// d.test, each with a certificate issued by a private CA made here which both trust, so that each stream authenticates
/// with SASL EXTERNAL (XEP-0178) and needs no dialback connection back: the one TCP connection c.test opens carries
/// d.test's answers too. e.test is a peer answered by hand (its certificate by the same CA), on both sides of c.test:
/// c.test's outbound stream to it, and its own inbound stream to c.test.
/// </summary>
public sealed class BidiFixture : IAsyncLifetime
{
    public const string C = "c.test", D = "d.test", E = "e.test", F = "f.test";
    public X509Certificate2 Ca { get; } = TestCertificates.Make("Bidi CA", null, isCa: true);
    public X509Certificate2 EByCa { get; }
    /// <summary>Where c.test's route to e.test leads (e.test answered by hand); f.test's: a port nobody answers on.</summary>
    public TcpListener EListener { get; } = new(IPAddress.Loopback, 0);
    public TestServer ServerC { get; private set; } = null!;
    public TestServer ServerD { get; private set; } = null!;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"actors-bidi-{Guid.NewGuid():N}");

    public BidiFixture() => EByCa = TestCertificates.Make(E, Ca);

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        var caFile = Path.Combine(_dir, "ca.pem");
        File.WriteAllText(caFile, Ca.ExportCertificatePem());
        EListener.Start();
        var dPort = FreePort();
        ServerC = new TestServer(Settings(C, 0, caFile, new()
        {
            [D] = $"127.0.0.1:{dPort}",
            [E] = $"127.0.0.1:{((IPEndPoint)EListener.LocalEndpoint).Port}",
            [F] = $"127.0.0.1:{FreePort()}",
        }));
        ServerD = new TestServer(Settings(D, dPort, caFile, new() { [C] = $"127.0.0.1:{ServerC.S2sEndPoint.Port}" }));
        Assert.True(await ServerC.Accounts.AddAsync(Jid.Create("carol", C), TestServer.Password));
        Assert.True(await ServerD.Accounts.AddAsync(Jid.Create("dave", D), TestServer.Password));
    }

    private Dictionary<string, string?> Settings(string domain, int s2sPort, string caFile, Dictionary<string, string> routes)
    {
        var certificate = TestCertificates.Make(domain, Ca);
        var certFile = Path.Combine(_dir, domain + ".pem");
        var keyFile = Path.Combine(_dir, domain + ".key");
        File.WriteAllText(certFile, certificate.ExportCertificatePem());
        File.WriteAllText(keyFile, certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        var settings = new Dictionary<string, string?>
        {
            ["Xmpp:Domain"] = domain,
            ["Xmpp:Tls:Required"] = "false",
            ["Xmpp:Tls:CertificatePath"] = certFile,
            ["Xmpp:Tls:KeyPath"] = keyFile,
            ["Xmpp:Auth:AllowPlainWithoutTls"] = "true",
            ["Xmpp:DirectTlsPort"] = "-1",
            ["Xmpp:S2s:Port"] = s2sPort.ToString(),
            ["Xmpp:S2s:UseDns"] = "false",
            ["Xmpp:S2s:TrustedCertificates:0"] = caFile,
            // Xmpp:S2s:RequireTls and Xmpp:S2s:Bidi keep their defaults (on)
        };
        foreach (var (d, target) in routes) settings[$"Xmpp:S2s:Routes:{d}"] = target;
        return settings;
    }

    private static int FreePort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    public async Task DisposeAsync()
    {
        EListener.Stop();
        if (ServerD is not null) await ServerD.DisposeAsync();
        if (ServerC is not null) await ServerC.DisposeAsync();
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }
}

/// <summary>XEP-0288 bidirectional server-to-server streams (with RFC 6120 §4.9.3 checks on them).</summary>
public sealed class BidiTests(BidiFixture fixture) : IClassFixture<BidiFixture>
{
    private const string C = BidiFixture.C, D = BidiFixture.D, E = BidiFixture.E;
    private static readonly TimeSpan Slow = TimeSpan.FromSeconds(20);

    private static string Header(string from, string to, string? id = null) =>
        $"<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='{from}' to='{to}'{(id is null ? "" : $" id='{id}'")} version='1.0'>";

    private static string Base64(string text) => Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(text));

    /// <summary>Established TCP connections whose remote end is <paramref name="port"/> on loopback (the initiating
    /// side's sockets of connections to that listening port).</summary>
    private static int ConnectionsTo(int port)
    {
        var count = 0;
        foreach (var c in IPGlobalProperties.GetIPGlobalProperties().GetActiveTcpConnections())
            if (c.State == TcpState.Established && c.RemoteEndPoint.Port == port && IPAddress.IsLoopback(c.RemoteEndPoint.Address)) count++;
        return count;
    }

    [Fact]
    public async Task Xep0288_2_2_one_connection_carries_stanzas_both_ways()
    {
        await using var carol = await XmppTestClient.LoginAsync(fixture.ServerC.C2sEndPoint, "carol", TestServer.Password, C, "bidi");
        await using var dave = await XmppTestClient.LoginAsync(fixture.ServerD.C2sEndPoint, "dave", TestServer.Password, D, "bidi");
        await carol.SendAsync($"<message to='dave@{D}/bidi' id='c-to-d'><body>there</body></message>");
        var there = await dave.NextMatchingAsync(e => e.Id == "c-to-d", Slow);
        Assert.Equal($"carol@{C}/bidi", there.From);
        await dave.SendAsync($"<message to='carol@{C}/bidi' id='d-to-c'><body>and back</body></message>");
        var back = await carol.NextMatchingAsync(e => e.Id == "d-to-c", Slow);
        Assert.Equal($"dave@{D}/bidi", back.From);
        // an IQ from d.test's side, answered by c.test's: both directions again, request and result
        await dave.SendAsync($"<iq type='get' to='{C}' id='d-ping'><ping xmlns='urn:xmpp:ping'/></iq>");
        var pong = await dave.NextMatchingAsync(e => e.Id == "d-ping", Slow);
        Assert.Equal(("result", C), (pong.Type, pong.From));
        // c.test opened one connection to d.test, and d.test none to c.test: its answers went on c.test's stream
        Assert.Equal(1, ConnectionsTo(fixture.ServerD.S2sEndPoint.Port));
        Assert.Equal(0, ConnectionsTo(fixture.ServerC.S2sEndPoint.Port));
    }

    /// <summary>Opens a stream to c.test as e.test with e.test's certificate, over TLS; returns the stream and the
    /// features offered over TLS.</summary>
    private async Task<(XmppTestClient Peer, Element Features)> OpenAsEAsync()
    {
        var peer = await XmppTestClient.ConnectAsync(fixture.ServerC.S2sEndPoint);
        peer.Timeout = Slow;
        await peer.SendAsync(Header(E, C));
        await peer.ExpectStreamHeaderAsync();
        var clear = await peer.ExpectFeaturesAsync();
        Assert.NotNull(clear.Child("starttls", Ns.Tls)?.Child("required", Ns.Tls));
        Assert.Null(clear.Child("bidi", Ns.BidiFeature)); // TLS is required: it comes first, alone (XEP-0288 §2.1)
        await peer.StartTlsAsPeerAsync(C, fixture.EByCa);
        await peer.SendAsync(Header(E, C));
        await peer.ExpectStreamHeaderAsync();
        return (peer, await peer.ExpectFeaturesAsync());
    }

    [Fact]
    public async Task Xep0288_2_1_inbound_stream_offers_bidi_and_then_carries_this_servers_stanzas_to_the_peer()
    {
        await using var carol = await XmppTestClient.LoginAsync(fixture.ServerC.C2sEndPoint, "carol", TestServer.Password, C, "to-e");
        var (peer, features) = await OpenAsEAsync();
        await using var _ = peer;
        Assert.NotNull(features.Child("bidi", Ns.BidiFeature)); // §2.1, with the authentication features
        await peer.SendAsync($"<bidi xmlns='urn:xmpp:bidi'/><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>{Base64(E)}</auth>");
        var success = await peer.NextAsync();
        Assert.True(success.Is("success", Ns.Sasl), success.ToString());
        await peer.SendAsync(Header(E, C));
        await peer.ExpectStreamHeaderAsync();
        var after = await peer.ExpectFeaturesAsync();
        Assert.Null(after.Child("bidi", Ns.BidiFeature));
        // §2.2: c.test's stanza to e.test comes on e.test's own stream, from the stream's 'to' to its 'from'
        await carol.SendAsync($"<message to='someone@{E}' id='to-e-1'><body>on your stream</body></message>");
        var message = await peer.NextAsync();
        Assert.True(message.Is("message", Ns.Server), message.ToString());
        Assert.Equal(("to-e-1", $"carol@{C}/to-e", $"someone@{E}"), (message.Id, message.From, message.To));
        Assert.False(fixture.EListener.Pending()); // no second connection to e.test
        // the peer's own stanzas still flow in
        await peer.SendAsync($"<message from='someone@{E}/x' to='carol@{C}/to-e' id='from-e-1'><body>reply</body></message>");
        var reply = await carol.NextMatchingAsync(e => e.Id == "from-e-1", Slow);
        Assert.Equal($"someone@{E}/x", reply.From);
        // RFC 6120 §4.9.3.9 on the bidirectional stream: a 'from' not authenticated on it
        await peer.SendAsync($"<message from='mallory@evil.test' to='carol@{C}/to-e' id='spoof'><body>x</body></message>");
        await peer.ExpectStreamErrorAsync("invalid-from");
    }

    [Fact]
    public async Task Xep0288_4_an_unrequested_valid_db_result_authenticates_nothing()
    {
        var (peer, features) = await OpenAsEAsync();
        await using var _ = peer;
        Assert.NotNull(features.Child("bidi", Ns.BidiFeature));
        await peer.SendAsync($"<bidi xmlns='urn:xmpp:bidi'/><db:result from='{E}' to='{C}' type='valid'/>");
        await peer.SendAsync($"<message from='someone@{E}' to='carol@{C}' id='early'><body>x</body></message>");
        await peer.ExpectStreamErrorAsync("not-authorized"); // RFC 6120 §4.9.3.12: nothing was authenticated
    }

    [Fact]
    public async Task Xep0288_2_2_outbound_asks_for_bidi_before_sasl_and_takes_the_peers_stanzas_with_from_checks()
    {
        await using var carol = await XmppTestClient.LoginAsync(fixture.ServerC.C2sEndPoint, "carol", TestServer.Password, C, "out");
        await carol.SendAsync($"<message to='x@{E}' id='out-1'><body>to e</body></message>");
        await using var link = await XmppTestClient.AcceptAsync(fixture.EListener, Slow);
        link.Timeout = Slow;
        await link.ExpectStreamHeaderAsync();
        await link.SendAsync(Header(E, C, "e1") + "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls><bidi xmlns='urn:xmpp:features:bidi'/></stream:features>");
        await link.AcceptStartTlsAsync(fixture.EByCa); // §2.1: TLS first, then bidi
        await link.ExpectStreamHeaderAsync();
        await link.SendAsync(Header(E, C, "e2") + "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL</mechanism></mechanisms><dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback><bidi xmlns='urn:xmpp:features:bidi'/></stream:features>");
        var bidi = await link.NextAsync();
        Assert.True(bidi.Is("bidi", Ns.Bidi), bidi.ToString()); // §2.2: before SASL
        var auth = await link.NextAsync();
        Assert.True(auth.Is("auth", Ns.Sasl), auth.ToString());
        link.ResetFramingBeforeNextRead();
        await link.SendAsync("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
        await link.ExpectStreamHeaderAsync();
        await link.SendAsync(Header(E, C, "e3") + "<stream:features/>");
        var message = await link.NextAsync();
        Assert.Equal(("message", "out-1"), (message.Name, message.Id));
        // the peer's stanzas on c.test's outbound stream, from the stream's 'to' domain, are routed in
        await link.SendAsync($"<message from='x@{E}/r' to='carol@{C}/out' id='in-1'><body>on your stream</body></message>");
        var got = await carol.NextMatchingAsync(e => e.Id == "in-1", Slow);
        Assert.Equal($"x@{E}/r", got.From);
        // an IQ of the peer's is answered on the same stream
        await link.SendAsync($"<iq type='get' from='x@{E}/r' to='{C}' id='in-ping'><ping xmlns='urn:xmpp:ping'/></iq>");
        var pong = await link.NextMatchingAsync(e => e.Id == "in-ping");
        Assert.Equal(("result", C, $"x@{E}/r"), (pong.Type, pong.From, pong.To));
        // RFC 6120 §4.9.3.9: a 'from' the stream did not authenticate
        await link.SendAsync($"<message from='mallory@evil.test' to='carol@{C}/out' id='spoof'><body>x</body></message>");
        await link.ExpectStreamErrorAsync("invalid-from");
    }

    [Fact]
    public async Task Xep0288_2_2_outbound_stream_answers_the_peers_dialback_requests_with_xep0220_errors_and_host_unknown()
    {
        await using var carol = await XmppTestClient.LoginAsync(fixture.ServerC.C2sEndPoint, "carol", TestServer.Password, C, "out2");
        await carol.SendAsync($"<message to='y@{E}' id='out-2'><body>to e</body></message>");
        await using var link = await XmppTestClient.AcceptAsync(fixture.EListener, Slow);
        link.Timeout = Slow;
        await link.ExpectStreamHeaderAsync();
        await link.SendAsync(Header(E, C, "h1") + "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>");
        await link.AcceptStartTlsAsync(fixture.EByCa);
        await link.ExpectStreamHeaderAsync();
        // a self-signed peer would get dialback; this one verifies, but offers only dialback and bidi
        await link.SendAsync(Header(E, C, "h2") + "<stream:features><dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback><bidi xmlns='urn:xmpp:features:bidi'/></stream:features>");
        var bidi = await link.NextAsync();
        Assert.True(bidi.Is("bidi", Ns.Bidi), bidi.ToString()); // §2.2: before dialback
        var result = await link.NextAsync();
        Assert.True(result.Is("result", Ns.Dialback), result.ToString());
        Assert.Equal(DialbackKeys.Load(fixture.ServerC.DataDir).Generate(E, C, "h2"), result.Text);
        // a stanza before the stream is authenticated: the receiving server MUST NOT send one (§2.2)
        await link.SendAsync($"<db:result from='{E}' to='{C}' type='valid'/>");
        var message = await link.NextAsync();
        Assert.Equal(("message", "out-2"), (message.Name, message.Id));
        // §2.2: the peer may ask for more pairs with dialback on this stream; c.test answers XEP-0220 §2.4 errors
        await link.SendAsync($"<db:result from='conference.{E}' to='elsewhere.test'>k</db:result>");
        var notHosted = await link.NextAsync();
        Assert.True(notHosted.Is("result", Ns.Dialback), notHosted.ToString());
        Assert.Equal(("error", "elsewhere.test", $"conference.{E}"), (notHosted.Type, notHosted.From, notHosted.To));
        Assert.Equal("item-not-found", notHosted.Child("error", Ns.Server)?.Elements().First().Name);
        await link.SendAsync($"<db:result from='conference.{E}' to='{C}'/>");
        var noKey = await link.NextAsync();
        Assert.Equal(("error", C, $"conference.{E}"), (noKey.Type, noKey.From, noKey.To));
        Assert.Equal("bad-request", noKey.Child("error", Ns.Server)?.Elements().First().Name);
        await link.SendAsync($"<message from='x@{E}' to='someone@elsewhere.test' id='relay'><body>x</body></message>");
        await link.ExpectStreamErrorAsync("host-unknown"); // RFC 6120 §4.9.3.6
    }
}

/// <summary>Xmpp:S2s:Bidi=false: streams stay one-way (RFC 6120 §4.1); XEP-0288 is neither offered nor taken.</summary>
public sealed class BidiOffTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public Task InitializeAsync()
    {
        _server = new TestServer(new Dictionary<string, string?>
        {
            ["Xmpp:Domain"] = "off.test",
            ["Xmpp:Tls:Required"] = "false",
            ["Xmpp:DirectTlsPort"] = "-1",
            ["Xmpp:S2s:Port"] = "0",
            ["Xmpp:S2s:UseDns"] = "false",
            ["Xmpp:S2s:RequireTls"] = "false",
            ["Xmpp:S2s:Bidi"] = "false",
        });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Xep0288_2_1_off_the_feature_is_not_offered_and_a_request_is_unsupported()
    {
        await using var peer = await XmppTestClient.ConnectAsync(_server.S2sEndPoint);
        peer.Timeout = TimeSpan.FromSeconds(20);
        await peer.SendAsync("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='peer.test' to='off.test' version='1.0'>");
        await peer.ExpectStreamHeaderAsync();
        var features = await peer.ExpectFeaturesAsync();
        Assert.NotNull(features.Child("dialback", Ns.DialbackFeature));
        Assert.Null(features.Child("bidi", Ns.BidiFeature));
        await peer.SendAsync("<bidi xmlns='urn:xmpp:bidi'/>");
        await peer.ExpectStreamErrorAsync("unsupported-stanza-type"); // RFC 6120 §4.9.3.21
    }
}
