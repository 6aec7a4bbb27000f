using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Actors.Xmpp.Server.S2s;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.IntegrationTests;

/// <summary>
/// Two servers of this project in the test process, federating over loopback with static routes, TLS required and
/// their self-signed certificates, so dialback over TLS (XEP-0344): a.test (s2s port 0) reaches b.test on its XEP-0368
/// direct TLS port, b.test reaches a.test with STARTTLS. a.test trusts a private CA made here (for SASL EXTERNAL,
/// XEP-0178), routes dead.test to a closed port, silent.test to a listener that accepts and never answers, and
/// ext.test, selfext.test, plain.test and badtls.test to listeners the tests answer by hand as those servers.
/// </summary>
public sealed class FederationFixture : IAsyncLifetime
{
    public const string A = "a.test", B = "b.test", Dead = "dead.test", Silent = "silent.test", Nowhere = "nowhere.test";
    public const string Ext = "ext.test", SelfExt = "selfext.test", Plain = "plain.test", BadTls = "badtls.test";
    public const int ConnectTimeoutSeconds = 4, MaxQueued = 2;
    public TestServer ServerA { get; private set; } = null!;
    public TestServer ServerB { get; private set; } = null!;
    /// <summary>The private CA a.test trusts, and certificates it issued for b.test and ext.test.</summary>
    public X509Certificate2 Ca { get; } = MakeCertificate("Test CA", null, isCa: true);
    public X509Certificate2 BByCa { get; }
    public X509Certificate2 ExtByCa { get; }
    /// <summary>Listeners standing for the servers of ext.test, selfext.test and plain.test.</summary>
    public TcpListener ExtListener { get; } = Listen();
    public TcpListener SelfExtListener { get; } = Listen();
    public TcpListener PlainListener { get; } = Listen();
    public TcpListener BadTlsListener { get; } = Listen();
    private TcpListener? _silent;
    private readonly List<Socket> _held = new();
    private readonly string _caFile = Path.Combine(Path.GetTempPath(), $"actors-s2s-ca-{Guid.NewGuid():N}.pem");

    public FederationFixture()
    {
        BByCa = MakeCertificate(B, Ca);
        ExtByCa = MakeCertificate(Ext, Ca);
    }

    private static TcpListener Listen()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return listener;
    }

    private static int Port(TcpListener listener) => ((IPEndPoint)listener.LocalEndpoint).Port;

    /// <summary>A certificate for <paramref name="name"/> (a DNS-ID), self-signed when <paramref name="issuer"/> is null.</summary>
    public static X509Certificate2 MakeCertificate(string name, X509Certificate2? issuer, bool isCa = false) =>
        TestCertificates.Make(name, issuer, isCa);

    public async Task InitializeAsync()
    {
        File.WriteAllText(_caFile, Ca.ExportCertificatePem());
        _silent = new TcpListener(IPAddress.Loopback, 0);
        _silent.Start();
        _ = HoldAsync(_silent);
        var deadPort = FreePort();
        var bPort = FreePort();
        var bTlsPort = FreePort();
        var a = Settings(A, 0, new()
        {
            [B] = $"tls:127.0.0.1:{bTlsPort}", // XEP-0368
            [Dead] = $"127.0.0.1:{deadPort}",
            [Silent] = $"127.0.0.1:{Port(_silent)}",
            [Ext] = $"127.0.0.1:{Port(ExtListener)}",
            [SelfExt] = $"127.0.0.1:{Port(SelfExtListener)}",
            [Plain] = $"127.0.0.1:{Port(PlainListener)}",
            [BadTls] = $"127.0.0.1:{Port(BadTlsListener)}",
        });
        a["Xmpp:S2s:TrustedCertificates:0"] = _caFile;
        ServerA = new TestServer(a);
        var b = Settings(B, bPort, new() { [A] = $"127.0.0.1:{ServerA.S2sEndPoint.Port}" });
        b["Xmpp:S2s:TlsPort"] = bTlsPort.ToString();
        ServerB = new TestServer(b);
        foreach (var user in new[] { "alice", "carol", "dave" }) Assert.True(await ServerA.Accounts.AddAsync(Jid.Create(user, A), TestServer.Password));
        foreach (var user in new[] { "bob", "erin" }) Assert.True(await ServerB.Accounts.AddAsync(Jid.Create(user, B), TestServer.Password));
    }

    private static Dictionary<string, string?> Settings(string domain, int s2sPort, Dictionary<string, string> routes)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Xmpp:Domain"] = domain,
            ["Xmpp:Tls:Required"] = "false",
            ["Xmpp:Auth:AllowPlainWithoutTls"] = "true",
            ["Xmpp:DirectTlsPort"] = "-1",
            ["Xmpp:S2s:Port"] = s2sPort.ToString(),
            ["Xmpp:S2s:UseDns"] = "false",
            ["Xmpp:S2s:ConnectTimeoutSeconds"] = ConnectTimeoutSeconds.ToString(),
            ["Xmpp:S2s:MaxQueuedStanzas"] = MaxQueued.ToString(),
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

    private async Task HoldAsync(TcpListener listener)
    {
        try
        {
            while (true)
            {
                var socket = await listener.AcceptSocketAsync();
                lock (_held) _held.Add(socket); // accepted, never read nor answered
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException) { }
    }

    public async Task DisposeAsync()
    {
        _silent?.Stop();
        ExtListener.Stop();
        SelfExtListener.Stop();
        PlainListener.Stop();
        BadTlsListener.Stop();
        File.Delete(_caFile);
        lock (_held) foreach (var s in _held) s.Dispose();
        if (ServerB is not null) await ServerB.DisposeAsync();
        if (ServerA is not null) await ServerA.DisposeAsync();
    }
}

/// <summary>RFC 6120 server-to-server streams, XEP-0220 dialback (XEP-0185 keys) and RFC 6120 §8.3.3 bounces.</summary>
public sealed class FederationTests(FederationFixture fixture) : IClassFixture<FederationFixture>
{
    private const string A = FederationFixture.A, B = FederationFixture.B;
    private static readonly TimeSpan Slow = TimeSpan.FromSeconds(20); // the first stanza sets a link up (and JITs it)

    private Task<XmppTestClient> LoginA(string user, string resource) =>
        XmppTestClient.LoginAsync(fixture.ServerA.C2sEndPoint, user, TestServer.Password, A, resource);

    private Task<XmppTestClient> LoginB(string user, string resource) =>
        XmppTestClient.LoginAsync(fixture.ServerB.C2sEndPoint, user, TestServer.Password, B, resource);

    private static string ErrorCondition(Element stanza) =>
        stanza.Child("error", Ns.Client)?.Elements().FirstOrDefault(e => e.Namespace == Ns.StanzaErrors && e.Name != "text")?.Name ?? "(none)";

    [Fact]
    public async Task Rfc6120_10_4_messages_cross_to_the_remote_server_and_back()
    {
        await using var alice = await LoginA("alice", "m");
        await using var bob = await LoginB("bob", "m");
        await alice.SendAsync($"<message to='bob@{B}/m' id='s2s-1' type='chat'><body>hello b</body></message>");
        var got = await bob.NextMatchingAsync(e => e.Name == "message" && e.Id == "s2s-1", Slow);
        Assert.Equal($"alice@{A}/m", got.From);
        Assert.Equal("hello b", got.ChildText("body", Ns.Client));

        await bob.SendAsync($"<message to='alice@{A}/m' id='s2s-2' type='chat'><body>hello a</body></message>");
        var back = await alice.NextMatchingAsync(e => e.Name == "message" && e.Id == "s2s-2", Slow);
        Assert.Equal($"bob@{B}/m", back.From);
        Assert.Equal("hello a", back.ChildText("body", Ns.Client));
    }

    [Fact]
    public async Task Rfc6120_8_2_3_iq_crosses_both_ways_to_servers_and_full_jids()
    {
        await using var carol = await LoginA("carol", "i");
        await using var erin = await LoginB("erin", "i");
        // to the remote server itself (XEP-0199 ping, answered by b.test)
        await carol.SendAsync($"<iq to='{B}' id='ping-b' type='get'><ping xmlns='urn:xmpp:ping'/></iq>");
        var pong = await carol.NextMatchingAsync(e => e.Name == "iq" && e.Id == "ping-b", Slow);
        Assert.Equal("result", pong.Type);
        Assert.Equal(B, pong.From);
        // a remote client's full JID asks, the local client answers
        await erin.SendAsync($"<iq to='carol@{A}/i' id='ask-carol' type='get'><query xmlns='jabber:iq:version'/></iq>");
        var ask = await carol.NextMatchingAsync(e => e.Name == "iq" && e.Id == "ask-carol", Slow);
        Assert.Equal($"erin@{B}/i", ask.From);
        Assert.Equal("get", ask.Type);
        await carol.SendAsync($"<iq to='erin@{B}/i' id='ask-carol' type='result'><query xmlns='jabber:iq:version'><name>t</name><version>1</version></query></iq>");
        var answer = await erin.NextMatchingAsync(e => e.Name == "iq" && e.Id == "ask-carol", Slow);
        Assert.Equal("result", answer.Type);
        Assert.Equal($"carol@{A}/i", answer.From);
    }

    [Fact]
    public async Task Rfc6121_3_presence_subscription_across_servers()
    {
        await using var dave = await LoginA("dave", "p");
        await using var erin = await LoginB("erin", "p");
        await dave.SendAsync("<presence/>");
        await erin.SendAsync("<presence/>");
        await dave.SendAsync($"<presence to='erin@{B}' type='subscribe' id='sub1'/>");
        var request = await erin.NextMatchingAsync(e => e.Name == "presence" && e.Type == "subscribe", Slow);
        Assert.Equal($"dave@{A}", request.From); // RFC 6121 §3.1.2: stamped with the bare JID
        await erin.SendAsync($"<presence to='dave@{A}' type='subscribed'/>");
        // the approval, and (RFC 6121 §3.1.5) the contact's available presence, which the contact's server sends right
        // after it: the user's server hands the approval to the user's roster first, so the two may arrive in either order
        Element? approved = null, available = null;
        while (approved is null || available is null)
        {
            var e = await dave.NextAsync(Slow);
            if (e.Name != "presence") continue;
            if (e.Type == "subscribed") approved = e;
            else if (e.Type is null && e.From == $"erin@{B}/p") available = e;
        }
        Assert.Equal($"erin@{B}", approved.From);
        Assert.Equal($"dave@{A}", available.To);
    }

    [Fact]
    public async Task Rfc6120_8_3_1_errors_of_the_remote_server_come_back_over_federation()
    {
        await using var carol = await LoginA("carol", "err");
        // RFC 6121 §8.5.1: no such account at b.test; b.test's error travels back over its own link to a.test
        await carol.SendAsync($"<message to='nobody@{B}' id='no-account' type='chat'><body>hello?</body></message>");
        var bounce = await carol.NextMatchingAsync(e => e.Id == "no-account", Slow);
        Assert.Equal("error", bounce.Type);
        Assert.Equal($"nobody@{B}", bounce.From);
        Assert.Equal("service-unavailable", ErrorCondition(bounce));
        // RFC 6121 §8.5.3.2.3: an IQ to a resource of an existing account that is not connected
        await carol.SendAsync($"<iq to='bob@{B}/gone' id='no-resource' type='get'><ping xmlns='urn:xmpp:ping'/></iq>");
        var iqError = await carol.NextMatchingAsync(e => e.Id == "no-resource", Slow);
        Assert.Equal("error", iqError.Type);
        Assert.Equal("service-unavailable", ErrorCondition(iqError));
    }

    [Fact]
    public async Task Rfc6120_8_3_3_14_unreachable_domain_bounces_remote_server_not_found()
    {
        await using var alice = await LoginA("alice", "dead");
        await alice.SendAsync($"<message to='x@{FederationFixture.Dead}' id='dead-1'><body>anyone?</body></message>");
        var bounce = await alice.NextMatchingAsync(e => e.Id == "dead-1", Slow);
        Assert.Equal("error", bounce.Type);
        Assert.Equal("remote-server-not-found", ErrorCondition(bounce));
        Assert.Equal($"x@{FederationFixture.Dead}", bounce.From);
        // a domain with no route (and DNS off) cannot be resolved
        await alice.SendAsync($"<iq to='{FederationFixture.Nowhere}' id='nowhere-1' type='get'><ping xmlns='urn:xmpp:ping'/></iq>");
        var unresolved = await alice.NextMatchingAsync(e => e.Id == "nowhere-1", Slow);
        Assert.Equal("error", unresolved.Type);
        Assert.Equal("remote-server-not-found", ErrorCondition(unresolved));
    }

    [Fact]
    public async Task Rfc6120_8_3_3_15_silent_peer_bounces_remote_server_timeout_and_a_full_queue_at_once()
    {
        await using var carol = await LoginA("carol", "silent");
        for (var i = 0; i <= FederationFixture.MaxQueued; i++)
            await carol.SendAsync($"<message to='x@{FederationFixture.Silent}' id='silent-{i}'><body>{i}</body></message>");
        // the queue holds MaxQueued stanzas while the link is set up: the next is bounced at once
        var overflow = await carol.NextMatchingAsync(e => e.Name == "message", TimeSpan.FromSeconds(FederationFixture.ConnectTimeoutSeconds - 1));
        Assert.Equal($"silent-{FederationFixture.MaxQueued}", overflow.Id);
        Assert.Equal("remote-server-timeout", ErrorCondition(overflow));
        // then the queued ones, when the peer has not answered within ConnectTimeoutSeconds
        for (var i = 0; i < FederationFixture.MaxQueued; i++)
        {
            var bounced = await carol.NextMatchingAsync(e => e.Name == "message", Slow);
            Assert.Equal($"silent-{i}", bounced.Id);
            Assert.Equal("error", bounced.Type);
            Assert.Equal("remote-server-timeout", ErrorCondition(bounced));
        }
    }

    // ---- the receiving side, driven by hand as a peer server would

    private static string S2sHeader(string from, string to) =>
        $"<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='{from}' to='{to}' version='1.0'>";

    /// <summary>Opens a stream to a.test as <paramref name="from"/>: the header, STARTTLS (required), the header again
    /// over TLS; returns the stream id and features of the stream over TLS.</summary>
    private async Task<(XmppTestClient Peer, string StreamId, Element Features)> OpenTlsAsPeerAsync(string from, string to, X509Certificate2? certificate)
    {
        var peer = await XmppTestClient.ConnectAsync(fixture.ServerA.S2sEndPoint);
        peer.Timeout = Slow;
        await peer.SendAsync(S2sHeader(from, to));
        await peer.ExpectStreamHeaderAsync();
        var clear = await peer.ExpectFeaturesAsync();
        Assert.NotNull(clear.Child("starttls", Ns.Tls)?.Child("required", Ns.Tls)); // RFC 6120 §5.4.1
        await peer.StartTlsAsPeerAsync(to, certificate);
        await peer.SendAsync(S2sHeader(from, to));
        var header = await peer.ExpectStreamHeaderAsync();
        Assert.Equal(Ns.Server, header.DefaultNamespace);
        Assert.Equal(to, header.Attr("from"));
        var id = header.Attr("id");
        Assert.False(string.IsNullOrEmpty(id));
        var features = await peer.ExpectFeaturesAsync();
        Assert.Null(features.Child("starttls", Ns.Tls));
        return (peer, id!, features);
    }

    private async Task<(XmppTestClient Peer, string StreamId)> OpenAsPeerAsync(string from, string to)
    {
        var (peer, id, features) = await OpenTlsAsPeerAsync(from, to, null);
        Assert.NotNull(features.Child("dialback", Ns.DialbackFeature)); // XEP-0220 §2.1
        return (peer, id);
    }

    /// <summary>Authenticates b.test on a stream to a.test with b.test's real key: a.test asks b.test (its
    /// Authoritative Server) through its outbound link.</summary>
    private async Task<XmppTestClient> AuthenticatedAsBAsync()
    {
        var (peer, id) = await OpenAsPeerAsync(B, A);
        var key = DialbackKeys.Load(fixture.ServerB.DataDir).Generate(A, B, id);
        await peer.SendAsync($"<db:result from='{B}' to='{A}'>{key}</db:result>");
        var result = await peer.NextAsync();
        Assert.True(result.Is("result", Ns.Dialback), result.ToString());
        Assert.Equal("valid", result.Type);
        Assert.Equal(A, result.From);
        Assert.Equal(B, result.To);
        return peer;
    }

    [Fact]
    public async Task Xep0220_2_4_valid_key_authenticates_and_stanzas_are_delivered()
    {
        await using var alice = await LoginA("alice", "raw");
        await using var peer = await AuthenticatedAsBAsync();
        await peer.SendAsync($"<message from='bob@{B}/x' to='alice@{A}/raw' id='raw-1'><body>by hand</body></message>");
        var got = await alice.NextMatchingAsync(e => e.Id == "raw-1", Slow);
        Assert.Equal($"bob@{B}/x", got.From);
        Assert.Equal("by hand", got.ChildText("body", Ns.Client));
    }

    [Fact]
    public async Task Rfc6120_4_9_3_9_spoofed_from_is_invalid_from()
    {
        await using var peer = await AuthenticatedAsBAsync();
        await peer.SendAsync($"<message from='mallory@evil.test' to='alice@{A}' id='spoof'><body>trust me</body></message>");
        await peer.ExpectStreamErrorAsync("invalid-from");
    }

    [Fact]
    public async Task Rfc6120_4_9_3_6_stanza_to_a_domain_not_authenticated_is_host_unknown()
    {
        await using var peer = await AuthenticatedAsBAsync();
        await peer.SendAsync($"<message from='bob@{B}' to='someone@elsewhere.test' id='relay'><body>relay this</body></message>");
        await peer.ExpectStreamErrorAsync("host-unknown");
    }

    [Fact]
    public async Task Xep0220_2_4_wrong_key_is_invalid()
    {
        var (peer, id) = await OpenAsPeerAsync(B, A);
        await using var _ = peer;
        var wrong = DialbackKeys.Load(fixture.ServerB.DataDir).Generate(A, B, id + "x");
        await peer.SendAsync($"<db:result from='{B}' to='{A}'>{wrong}</db:result>");
        var result = await peer.NextAsync();
        Assert.True(result.Is("result", Ns.Dialback), result.ToString());
        Assert.Equal("invalid", result.Type);
        // nothing was authenticated on the stream: a stanza is refused
        await peer.SendAsync($"<message from='bob@{B}' to='alice@{A}'><body>x</body></message>");
        await peer.ExpectStreamErrorAsync("not-authorized");
    }

    [Fact]
    public async Task Rfc6120_4_9_3_12_stanza_before_dialback_is_not_authorized()
    {
        var (peer, _) = await OpenAsPeerAsync(B, A);
        await using var __ = peer;
        await peer.SendAsync($"<message from='bob@{B}' to='alice@{A}'><body>early</body></message>");
        await peer.ExpectStreamErrorAsync("not-authorized");
    }

    [Fact]
    public async Task Rfc6120_4_9_3_6_header_to_a_domain_not_served_is_host_unknown()
    {
        await using var peer = await XmppTestClient.ConnectAsync(fixture.ServerA.S2sEndPoint);
        await peer.SendAsync($"<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='{B}' to='other.test' version='1.0'>");
        await peer.ExpectStreamErrorAsync("host-unknown");
    }

    [Fact]
    public async Task Xep0220_2_3_authoritative_server_answers_db_verify_with_its_xep0185_key()
    {
        var (peer, _) = await OpenAsPeerAsync(B, A);
        await using var __ = peer;
        var keys = DialbackKeys.Load(fixture.ServerA.DataDir);
        await peer.SendAsync($"<db:verify from='{B}' to='{A}' id='stream-42'>{keys.Generate(B, A, "stream-42")}</db:verify>");
        var valid = await peer.NextAsync();
        Assert.True(valid.Is("verify", Ns.Dialback), valid.ToString());
        Assert.Equal(("valid", A, B, "stream-42"), (valid.Type, valid.From, valid.To, valid.Id));
        await peer.SendAsync($"<db:verify from='{B}' to='{A}' id='stream-43'>{keys.Generate(B, A, "stream-42")}</db:verify>");
        var invalid = await peer.NextAsync();
        Assert.Equal(("invalid", "stream-43"), (invalid.Type, invalid.Id));
    }

    // ---- TLS and SASL EXTERNAL (RFC 6120 §5, §6; XEP-0178, XEP-0344, XEP-0368)

    private static bool OffersExternal(Element features) =>
        features.Child("mechanisms", Ns.Sasl)?.Elements().Any(m => m.Text == "EXTERNAL") == true;

    private static string Base64(string text) => Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(text));

    [Fact]
    public async Task Rfc6120_5_3_1_required_starttls_is_offered_alone_and_skipping_it_is_policy_violation()
    {
        await using var peer = await XmppTestClient.ConnectAsync(fixture.ServerA.S2sEndPoint);
        peer.Timeout = Slow;
        await peer.SendAsync(S2sHeader(B, A));
        await peer.ExpectStreamHeaderAsync();
        var features = await peer.ExpectFeaturesAsync();
        Assert.NotNull(features.Child("starttls", Ns.Tls)?.Child("required", Ns.Tls));
        Assert.Null(features.Child("dialback", Ns.DialbackFeature)); // nothing else before TLS
        var key = DialbackKeys.Load(fixture.ServerB.DataDir).Generate(A, B, "whatever");
        await peer.SendAsync($"<db:result from='{B}' to='{A}'>{key}</db:result>");
        await peer.ExpectStreamErrorAsync("policy-violation");
    }

    [Fact]
    public async Task Xep0178_a_peer_whose_certificate_verifies_authenticates_with_sasl_external()
    {
        await using var alice = await LoginA("alice", "ext");
        var (peer, _, features) = await OpenTlsAsPeerAsync(B, A, fixture.BByCa);
        await using var _ = peer;
        Assert.True(OffersExternal(features), features.ToString()); // the CA a.test trusts issued it for b.test
        await peer.SendAsync($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>{Base64(B)}</auth>");
        var success = await peer.NextAsync();
        Assert.True(success.Is("success", Ns.Sasl), success.ToString());
        // RFC 6120 §6.4.6: the stream restarts, authenticated
        await peer.SendAsync(S2sHeader(B, A));
        await peer.ExpectStreamHeaderAsync();
        var after = await peer.ExpectFeaturesAsync();
        Assert.False(OffersExternal(after));
        await peer.SendAsync($"<message from='bob@{B}/x' to='alice@{A}/ext' id='ext-1'><body>by certificate</body></message>");
        var got = await alice.NextMatchingAsync(e => e.Id == "ext-1", Slow);
        Assert.Equal($"bob@{B}/x", got.From);
    }

    [Fact]
    public async Task Xep0178_an_authorization_identity_other_than_the_certificate_domain_is_invalid_authzid()
    {
        var (peer, _, features) = await OpenTlsAsPeerAsync(B, A, fixture.BByCa);
        await using var _ = peer;
        Assert.True(OffersExternal(features));
        await peer.SendAsync($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>{Base64("evil.test")}</auth>");
        var failure = await peer.NextAsync();
        Assert.True(failure.Is("failure", Ns.Sasl), failure.ToString());
        Assert.NotNull(failure.Child("invalid-authzid", Ns.Sasl)); // RFC 6120 §6.5.7
    }

    [Fact]
    public async Task Xep0344_a_self_signed_peer_is_offered_dialback_not_external_and_external_is_not_authorized()
    {
        var selfSigned = FederationFixture.MakeCertificate(B, null);
        var (peer, _, features) = await OpenTlsAsPeerAsync(B, A, selfSigned);
        await using var _ = peer;
        Assert.False(OffersExternal(features));
        Assert.NotNull(features.Child("dialback", Ns.DialbackFeature));
        await peer.SendAsync($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>");
        var failure = await peer.NextAsync();
        Assert.True(failure.Is("failure", Ns.Sasl), failure.ToString());
        Assert.NotNull(failure.Child("not-authorized", Ns.Sasl)); // RFC 6120 §6.5.10
    }

    /// <summary>Answers a.test's outbound stream as the receiving server of <paramref name="domain"/> with
    /// <paramref name="certificate"/> up to its features over TLS (which offer EXTERNAL and dialback); returns the
    /// stream and the certificate a.test presented.</summary>
    private static async Task<(XmppTestClient Link, X509Certificate2? ClientCertificate)> AnswerOutboundWithTlsAsync(
        TcpListener listener, string domain, X509Certificate2 certificate)
    {
        var link = await XmppTestClient.AcceptAsync(listener, Slow);
        var header = await link.ExpectStreamHeaderAsync();
        Assert.Equal((A, domain), (header.Attr("from"), header.Attr("to")));
        await link.SendAsync(S2sReply(domain, A, "s1") + "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>");
        var presented = await link.AcceptStartTlsAsync(certificate); // RFC 6120 §5.4.2.1: a.test asks for TLS
        var again = await link.ExpectStreamHeaderAsync();
        Assert.Equal((A, domain), (again.Attr("from"), again.Attr("to")));
        await link.SendAsync(S2sReply(domain, A, "s2") + "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL</mechanism></mechanisms><dialback xmlns='urn:xmpp:features:dialback'/></stream:features>");
        return (link, presented);
    }

    private static string S2sReply(string from, string to, string id) =>
        $"<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='{from}' to='{to}' id='{id}' version='1.0'>";

    [Fact]
    public async Task Xep0178_outbound_starttls_then_sasl_external_when_the_peer_certificate_verifies()
    {
        await using var alice = await LoginA("alice", "out-ext");
        await alice.SendAsync($"<message to='x@{FederationFixture.Ext}' id='out-ext-1'><body>to ext</body></message>");
        var (link, presented) = await AnswerOutboundWithTlsAsync(fixture.ExtListener, FederationFixture.Ext, fixture.ExtByCa);
        await using var _ = link;
        Assert.NotNull(presented); // a.test's own certificate, for XEP-0178
        var auth = await link.NextAsync();
        Assert.True(auth.Is("auth", Ns.Sasl), auth.ToString());
        Assert.Equal("EXTERNAL", auth.Attr("mechanism"));
        Assert.Equal(Base64(A), auth.Text);
        link.ResetFramingBeforeNextRead();
        await link.SendAsync("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
        var restarted = await link.ExpectStreamHeaderAsync(); // RFC 6120 §6.4.6
        Assert.Equal(A, restarted.Attr("from"));
        await link.SendAsync(S2sReply(FederationFixture.Ext, A, "s3") + "<stream:features/>");
        var message = await link.NextAsync();
        Assert.True(message.Is("message", Ns.Server), message.ToString());
        Assert.Equal(("out-ext-1", $"alice@{A}/out-ext"), (message.Id, message.From));
    }

    [Fact]
    public async Task Xep0344_outbound_falls_back_to_dialback_over_tls_when_the_peer_certificate_does_not_verify()
    {
        await using var alice = await LoginA("alice", "out-self");
        await alice.SendAsync($"<message to='x@{FederationFixture.SelfExt}' id='out-self-1'><body>to selfext</body></message>");
        var selfSigned = FederationFixture.MakeCertificate(FederationFixture.SelfExt, null);
        var (link, _) = await AnswerOutboundWithTlsAsync(fixture.SelfExtListener, FederationFixture.SelfExt, selfSigned);
        await using var __ = link;
        var result = await link.NextAsync();
        Assert.True(result.Is("result", Ns.Dialback), result.ToString()); // not SASL: the certificate is self-signed
        Assert.Equal(DialbackKeys.Load(fixture.ServerA.DataDir).Generate(FederationFixture.SelfExt, A, "s2"), result.Text);
    }

    [Fact]
    public async Task Rfc6120_5_3_1_outbound_gives_up_on_a_peer_that_offers_no_tls()
    {
        await using var alice = await LoginA("alice", "plain");
        await alice.SendAsync($"<message to='x@{FederationFixture.Plain}' id='plain-1'><body>in clear?</body></message>");
        await using var link = await XmppTestClient.AcceptAsync(fixture.PlainListener, Slow);
        await link.ExpectStreamHeaderAsync();
        await link.SendAsync(S2sReply(FederationFixture.Plain, A, "p1") + "<stream:features><dialback xmlns='urn:xmpp:features:dialback'/></stream:features>");
        await link.ExpectStreamErrorAsync("policy-violation");
        var bounce = await alice.NextMatchingAsync(e => e.Id == "plain-1", Slow);
        Assert.Equal("remote-server-not-found", ErrorCondition(bounce));
    }

    // ---- RFC 6120 §5.4.3.2: a failed TLS negotiation ends the TCP connection, with no </stream> and no stream error

    /// <summary>Reads from <paramref name="stream"/> until <paramref name="marker"/> has arrived; returns all bytes read.</summary>
    private static async Task<byte[]> ReadUntilAsync(NetworkStream stream, string marker, List<byte> into)
    {
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(Slow);
        while (System.Text.Encoding.UTF8.GetString(into.ToArray()).IndexOf(marker, StringComparison.Ordinal) < 0)
        {
            var n = await stream.ReadAsync(buffer, cts.Token);
            Assert.True(n > 0, "closed before " + marker + ": " + System.Text.Encoding.UTF8.GetString(into.ToArray()));
            into.AddRange(buffer.AsSpan(0, n).ToArray());
        }
        return into.ToArray();
    }

    /// <summary>Reads until the element starting with <paramref name="start"/> has ended; returns the index after it.</summary>
    private static async Task<int> EndOfAsync(NetworkStream stream, string start, List<byte> into)
    {
        var at = System.Text.Encoding.UTF8.GetString(await ReadUntilAsync(stream, start, into)).IndexOf(start, StringComparison.Ordinal);
        int close;
        while ((close = System.Text.Encoding.UTF8.GetString(into.ToArray()).IndexOf('>', at)) < 0) await ReadUntilAsync(stream, ">", into);
        return close + 1;
    }

    /// <summary>Everything the other side writes until it closes the connection (which it must do in time).</summary>
    private static async Task<byte[]> ReadToCloseAsync(NetworkStream stream)
    {
        var received = new List<byte>();
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(Slow);
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer, cts.Token)) > 0) received.AddRange(buffer.AsSpan(0, n).ToArray());
        }
        catch (IOException) { } // a reset also terminates the connection
        Assert.False(cts.IsCancellationRequested, "the connection was not terminated");
        return received.ToArray();
    }

    /// <summary>True when <paramref name="bytes"/> are whole TLS records of the handshake or alert protocols (RFC 8446
    /// §5.1): what a TLS client may write in a handshake, and nothing in the clear.</summary>
    private static bool OnlyTlsRecords(ReadOnlySpan<byte> bytes)
    {
        while (bytes.Length > 0)
        {
            if (bytes.Length < 5 || bytes[0] is not (0x15 or 0x16) || bytes[1] != 0x03) return false;
            var length = 5 + (bytes[3] << 8 | bytes[4]);
            if (bytes.Length < length) return false;
            bytes = bytes[length..];
        }
        return true;
    }

    [Fact]
    public async Task Rfc6120_5_4_3_2_receiving_entity_terminates_the_connection_without_closing_the_stream_on_tls_failure()
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(fixture.ServerA.S2sEndPoint);
        var stream = tcp.GetStream();
        await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(S2sHeader(B, A)));
        var read = new List<byte>();
        await ReadUntilAsync(stream, "</stream:features>", read);
        await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"));
        var end = await EndOfAsync(stream, "<proceed", read);
        var pending = read.Skip(end).ToArray(); // bytes after <proceed/> already read (the stream is ASCII up to here)
        // not a TLS ClientHello: the handshake fails on its first record
        await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes($"<db:result from='{B}' to='{A}'>not tls</db:result>"));
        var rest = pending.Concat(await ReadToCloseAsync(stream)).ToArray();
        // TCP terminated; no </stream> and no stream error in the clear, only what TLS itself may send (an alert)
        Assert.True(OnlyTlsRecords(rest), "after <proceed/>: " + System.Text.Encoding.UTF8.GetString(rest));
    }

    [Fact]
    public async Task Rfc6120_5_4_3_2_initiating_side_terminates_the_connection_on_tls_failure_and_bounces_remote_server_not_found()
    {
        await using var alice = await LoginA("alice", "badtls");
        await alice.SendAsync($"<message to='x@{FederationFixture.BadTls}' id='badtls-1'><body>over broken TLS?</body></message>");
        using var socket = await fixture.BadTlsListener.AcceptSocketAsync().WaitAsync(Slow);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var read = new List<byte>();
        await EndOfAsync(stream, "<stream:stream", read);
        await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(S2sReply(FederationFixture.BadTls, A, "t1") +
            "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>"));
        var afterStartTls = await EndOfAsync(stream, "<starttls", read);
        Assert.Equal(read.Count, afterStartTls); // nothing after it before <proceed/>
        await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"));
        // a.test's ClientHello arrives; the answer is not TLS, so its handshake fails
        var hello = new byte[5];
        await stream.ReadExactlyAsync(hello);
        Assert.Equal(0x16, hello[0]);
        await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes("<stream:error><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"));
        var rest = await ReadToCloseAsync(stream);
        var length = hello[3] << 8 | hello[4];
        Assert.True(rest.Length >= length, "the ClientHello was cut short");
        Assert.True(OnlyTlsRecords(rest.AsSpan(length)), "after the ClientHello: " + System.Text.Encoding.UTF8.GetString(rest.AsSpan(length)));
        var bounce = await alice.NextMatchingAsync(e => e.Id == "badtls-1", Slow);
        Assert.Equal("error", bounce.Type);
        Assert.Equal("remote-server-not-found", ErrorCondition(bounce));
    }
}
