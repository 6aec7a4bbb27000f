using System.Net;
using System.Text;
using Actors.Xmpp.Server.Http.Bosh;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.IntegrationTests;

/// <summary>A raw BOSH client: POSTs bodies, reads the answers as standalone documents.</summary>
public sealed class BoshClient : IDisposable
{
    public const string Ns = BoshProtocol.Namespace;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(15) };
    private readonly Uri _uri;

    public BoshClient(Uri uri) => _uri = uri;
    public string? Sid { get; set; }
    public long Rid { get; set; } = 1000 + Random.Shared.Next(1, 100000);

    public async Task<(HttpStatusCode Status, Element? Body)> PostRawAsync(string xml)
    {
        using var content = new StringContent(xml, Encoding.UTF8, "text/xml");
        using var response = await _http.PostAsync(_uri, content);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : WsClient.Standalone(text));
    }

    public async Task<Element> PostAsync(string xml)
    {
        var (status, body) = await PostRawAsync(xml);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.NotNull(body);
        Assert.True(body!.Is("body", Ns));
        return body;
    }

    public string Body(string attributes = "", string payload = "", long? rid = null) =>
        $"<body xmlns='{Ns}' sid='{Sid}' rid='{rid ?? Rid++}' {attributes}>{payload}</body>";

    /// <summary>Session creation (XEP-0124 §7.1, XEP-0206 §4).</summary>
    public async Task<Element> CreateAsync(string extra = "wait='5' hold='1'")
    {
        var body = await PostAsync($"<body xmlns='{Ns}' xmlns:xmpp='urn:xmpp:xbosh' rid='{Rid++}' to='localhost' xml:lang='en' ver='1.11' xmpp:version='1.0' content='text/xml; charset=utf-8' {extra}/>");
        Sid = body.Attr("sid");
        return body;
    }

    /// <summary>PLAIN, restart (XEP-0206 §5), bind; returns the full JID.</summary>
    public async Task<string> LoginAsync(string user, string password, string resource)
    {
        var created = await CreateAsync("wait='2' hold='1'");
        Assert.NotNull(created.Child("features", Xmpp.Ns.Streams)?.Child("mechanisms", Xmpp.Ns.Sasl));
        var token = Convert.ToBase64String(Encoding.UTF8.GetBytes("\0" + user + "\0" + password));
        var success = await PostAsync(Body(payload: $"<auth xmlns='{Xmpp.Ns.Sasl}' mechanism='PLAIN'>{token}</auth>"));
        Assert.NotNull(success.Child("success", Xmpp.Ns.Sasl));
        var restarted = await PostAsync(Body("xmlns:xmpp='urn:xmpp:xbosh' xmpp:restart='true' to='localhost' xml:lang='en'"));
        Assert.NotNull(restarted.Child("features", Xmpp.Ns.Streams)?.Child("bind", Xmpp.Ns.Bind));
        var bound = await PostAsync(Body(payload: $"<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='{Xmpp.Ns.Bind}'><resource>{resource}</resource></bind></iq>"));
        var iq = bound.Child("iq", Xmpp.Ns.Client)!;
        Assert.Equal("result", iq.Type);
        return iq.Child("bind", Xmpp.Ns.Bind)!.ChildText("jid", Xmpp.Ns.Bind)!;
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>XEP-0124 BOSH and XEP-0206 XMPP over BOSH, with raw HTTP.</summary>
public sealed class BoshTests(HttpServer server) : IClassFixture<HttpServer>
{
    [Fact]
    public async Task Xep0124_7_1_session_creation_answers_the_session_attributes_and_xep0206_features()
    {
        using var c = new BoshClient(server.BoshUri);
        var rid = c.Rid;
        var body = await c.CreateAsync("wait='60' hold='1' ack='1'");
        Assert.False(string.IsNullOrEmpty(body.Attr("sid")));
        Assert.Equal("5", body.Attr("wait")); // never more than the server's maximum
        Assert.Equal("1", body.Attr("hold"));
        Assert.Equal("2", body.Attr("requests"));
        Assert.Equal("2", body.Attr("inactivity"));
        Assert.Equal("2", body.Attr("polling"));
        Assert.Equal("10", body.Attr("maxpause"));
        Assert.Equal("1.11", body.Attr("ver"));
        Assert.Equal("localhost", body.Attr("from"));
        Assert.False(string.IsNullOrEmpty(body.Attr("authid")));
        Assert.Equal(rid.ToString(System.Globalization.CultureInfo.InvariantCulture), body.Attr("ack")); // §9.1
        Assert.Equal("1.0", body.Attr("version", BoshProtocol.XmppNamespace));
        Assert.Equal("true", body.Attr("restartlogic", BoshProtocol.XmppNamespace));
        var features = body.Child("features", Xmpp.Ns.Streams);
        Assert.NotNull(features?.Child("mechanisms", Xmpp.Ns.Sasl)); // a trusted proxy's request is secure
        Assert.Null(features!.Child("starttls", Xmpp.Ns.Tls));
    }

    [Fact]
    public async Task Xep0206_login_restart_bind_and_chat_with_a_tcp_client()
    {
        await server.AddUserAsync("boshalice");
        await server.AddUserAsync("boshbob");
        using var c = new BoshClient(server.BoshUri);
        Assert.Equal("boshalice@localhost/web", await c.LoginAsync("boshalice", TestServer.Password, "web"));
        await using var tcp = await XmppTestClient.LoginAsync(server, "boshbob", resource: "tcp", tls: true);

        await c.PostAsync(c.Body(payload: "<message xmlns='jabber:client' to='boshbob@localhost/tcp' type='chat'><body>over bosh</body></message>"));
        var got = await tcp.NextMatchingAsync(e => e.Name == "message");
        Assert.Equal("over bosh", got.ChildText("body", Xmpp.Ns.Client));
        Assert.Equal("boshalice@localhost/web", got.From);

        // a held request (§10) is answered as soon as something arrives
        var held = c.PostAsync(c.Body());
        await Task.Delay(300);
        Assert.False(held.IsCompleted);
        await tcp.SendAsync("<message to='boshalice@localhost/web' type='chat'><body>over tcp</body></message>");
        var answer = await held.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal("over tcp", answer.Child("message", Xmpp.Ns.Client)?.ChildText("body", Xmpp.Ns.Client));
    }

    [Fact]
    public async Task Xep0124_10_wait_elapsed_is_answered_with_an_empty_body()
    {
        using var c = new BoshClient(server.BoshUri);
        await c.CreateAsync("wait='1' hold='1'");
        var started = DateTime.UtcNow;
        var body = await c.PostAsync(c.Body());
        Assert.False(body.HasChildren);
        Assert.Null(body.Attr("type"));
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromMilliseconds(700), TimeSpan.FromSeconds(4));
    }

    [Fact]
    public async Task Xep0124_14_3_a_repeated_rid_gets_the_same_response_again()
    {
        using var c = new BoshClient(server.BoshUri);
        await c.CreateAsync();
        var rid = c.Rid;
        var first = await c.PostAsync(c.Body(payload: "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='NO-SUCH'/>"));
        var again = await c.PostAsync(c.Body(payload: "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='NO-SUCH'/>", rid: rid));
        Assert.True(first.HasChildren, first.ToString());
        Assert.True(first.ToString() == again.ToString(), first + " / " + again);
    }

    [Fact]
    public async Task Xep0124_14_1_a_rid_beyond_the_window_is_item_not_found()
    {
        using var c = new BoshClient(server.BoshUri);
        await c.CreateAsync();
        var body = await c.PostAsync(c.Body(rid: c.Rid + 5));
        Assert.Equal("terminate", body.Attr("type"));
        Assert.Equal("item-not-found", body.Attr("condition"));
        var after = await c.PostAsync(c.Body()); // the session is gone
        Assert.Equal("item-not-found", after.Attr("condition"));
    }

    [Fact]
    public async Task Xep0124_14_1_requests_are_processed_in_rid_order()
    {
        await server.AddUserAsync("boshorder");
        using var c = new BoshClient(server.BoshUri);
        await c.LoginAsync("boshorder", TestServer.Password, "web");
        var first = c.Rid++;
        var second = c.Rid++;
        // the later rid first: it waits for the earlier one, whose IQ is answered first
        var later = c.PostAsync(c.Body(payload: "<iq xmlns='jabber:client' type='get' id='second'><ping xmlns='urn:xmpp:ping'/></iq>", rid: second));
        await Task.Delay(300);
        Assert.False(later.IsCompleted);
        var earlier = await c.PostAsync(c.Body(payload: "<iq xmlns='jabber:client' type='get' id='first'><ping xmlns='urn:xmpp:ping'/></iq>", rid: first));
        var answers = new List<string?>();
        var bodies = new List<Element> { earlier, await later.WaitAsync(TimeSpan.FromSeconds(5)) };
        for (var i = 0; i < 3 && answers.Count < 2; i++)
        {
            foreach (var iq in bodies[^1].Elements("iq", Xmpp.Ns.Client)) answers.Add(iq.Id);
            if (answers.Count < 2) bodies.Add(await c.PostAsync(c.Body()));
        }
        foreach (var iq in earlier.Elements("iq", Xmpp.Ns.Client)) answers.Insert(0, iq.Id);
        Assert.True(answers.SequenceEqual(["first", "second"]), string.Join(" / ", bodies));
    }

    [Fact]
    public async Task Xep0124_17_2_an_unknown_sid_is_item_not_found()
    {
        using var c = new BoshClient(server.BoshUri) { Sid = "no-such-session" };
        var body = await c.PostAsync(c.Body());
        Assert.Equal("terminate", body.Attr("type"));
        Assert.Equal("item-not-found", body.Attr("condition"));
    }

    [Fact]
    public async Task Xep0124_17_2_a_request_that_is_not_a_body_is_bad_request()
    {
        using var c = new BoshClient(server.BoshUri);
        var body = await c.PostAsync("<iq xmlns='jabber:client' type='get'/>");
        Assert.Equal("bad-request", body.Attr("condition"));
        var broken = await c.PostAsync("<body xmlns='http://jabber.org/protocol/httpbind' rid='1'");
        Assert.Equal("bad-request", broken.Attr("condition"));
    }

    [Fact]
    public async Task Xep0124_17_1_a_legacy_client_gets_http_error_codes()
    {
        using var c = new BoshClient(server.BoshUri);
        var (status, body) = await c.PostRawAsync($"<body xmlns='{BoshClient.Ns}' rid='abc' to='localhost' wait='5' hold='1'/>");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Null(body);
    }

    [Fact]
    public async Task Xep0124_11_more_simultaneous_requests_than_requests_is_policy_violation()
    {
        using var c = new BoshClient(server.BoshUri);
        await c.CreateAsync();
        var a = c.PostAsync(c.Body());
        var b = c.PostAsync(c.Body()); // hold 1: 'a' is answered empty to keep one held
        var first = await a.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Null(first.Attr("type"));
        // 'b' held and a later one waiting for the rid before it: that rid makes three at once, over 'requests' (2)
        var skip = c.Rid++;
        var c3 = c.PostAsync(c.Body(rid: skip + 1));
        await Task.Delay(200);
        var d = await c.PostAsync(c.Body(rid: skip)).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal("policy-violation", d.Attr("condition"));
        Assert.Equal("policy-violation", (await c3.WaitAsync(TimeSpan.FromSeconds(5))).Attr("condition"));
        _ = b;
    }

    [Fact]
    public async Task Xep0124_11_polling_too_often_is_policy_violation()
    {
        using var c = new BoshClient(server.BoshUri);
        await c.CreateAsync("wait='0' hold='0'");
        var first = await c.PostAsync(c.Body());
        Assert.Null(first.Attr("type"));
        var second = await c.PostAsync(c.Body()); // within 'polling' (2 s), after an answer without payload
        Assert.Equal("policy-violation", second.Attr("condition"));
    }

    [Fact]
    public async Task Xep0124_12_a_pause_within_maxpause_answers_the_held_requests()
    {
        using var c = new BoshClient(server.BoshUri);
        await c.CreateAsync();
        var held = c.PostAsync(c.Body());
        await Task.Delay(200);
        var paused = await c.PostAsync(c.Body("pause='5'"));
        Assert.Null(paused.Attr("type"));
        Assert.Null((await held.WaitAsync(TimeSpan.FromSeconds(2))).Attr("type"));
        await Task.Delay(2500); // longer than 'inactivity' (2 s), within the pause
        var after = await c.PostAsync(c.Body("wait='1'"));
        Assert.Null(after.Attr("type"));
    }

    [Fact]
    public async Task Xep0124_12_a_pause_beyond_maxpause_is_policy_violation()
    {
        using var c = new BoshClient(server.BoshUri);
        await c.CreateAsync();
        var body = await c.PostAsync(c.Body("pause='11'"));
        Assert.Equal("policy-violation", body.Attr("condition"));
    }

    [Fact]
    public async Task Xep0124_12_inactivity_ends_the_session()
    {
        using var c = new BoshClient(server.BoshUri);
        await c.CreateAsync();
        await Task.Delay(3500); // 'inactivity' is 2 s, the server's deadlines have 0.5 s resolution
        var body = await c.PostAsync(c.Body());
        Assert.Equal("item-not-found", body.Attr("condition"));
    }

    [Fact]
    public async Task Xep0124_13_terminate_is_answered_with_an_empty_body_and_ends_the_session()
    {
        await server.AddUserAsync("boshbye");
        using var c = new BoshClient(server.BoshUri);
        await c.LoginAsync("boshbye", TestServer.Password, "web");
        var bye = await c.PostAsync(c.Body("type='terminate'", "<presence xmlns='jabber:client' type='unavailable'/>"));
        Assert.False(bye.HasChildren, $"expected an empty body, got {bye}");
        var after = await c.PostAsync(c.Body());
        Assert.Equal("item-not-found", after.Attr("condition"));
    }

    [Fact]
    public async Task Xep0206_a_restart_that_is_not_due_is_bad_request()
    {
        using var c = new BoshClient(server.BoshUri);
        await c.CreateAsync();
        var body = await c.PostAsync(c.Body("xmlns:xmpp='urn:xmpp:xbosh' xmpp:restart='true'"));
        Assert.Equal("bad-request", body.Attr("condition"));
    }

    [Fact]
    public async Task Xep0124_17_2_an_unserved_domain_is_host_unknown()
    {
        using var c = new BoshClient(server.BoshUri);
        var body = await c.PostAsync($"<body xmlns='{BoshClient.Ns}' xmlns:xmpp='urn:xmpp:xbosh' rid='5' to='not-served.example' ver='1.11' xmpp:version='1.0' wait='5' hold='1'/>");
        Assert.Equal("terminate", body.Attr("type"));
        Assert.Equal("host-unknown", body.Attr("condition"));
    }

    [Fact]
    public async Task Xep0206_8_a_stream_error_is_remote_stream_error_with_the_error_inside()
    {
        using var c = new BoshClient(server.BoshUri);
        await c.CreateAsync();
        var body = await c.PostAsync(c.Body(payload: "<message xmlns='jabber:client' to='x@localhost'><body>too early</body></message>"));
        Assert.Equal("terminate", body.Attr("type"));
        Assert.Equal("remote-stream-error", body.Attr("condition"));
        Assert.NotNull(body.Child("error", Xmpp.Ns.Streams)?.Child("not-authorized", Xmpp.Ns.StreamErrors));
    }
}
