using System.Text;

namespace Actors.Xmpp.IntegrationTests;

/// <summary>
/// Issue 17's limits over TCP, each proving the error the specification names: framer bounds and slowloris
/// (RFC 6120 §4.9.3 stream errors), per-address connection caps (XEP-0205), login throttling (RFC 6120 §6.5.11
/// &lt;temporary-auth-failure/&gt;) and resources per account (RFC 6120 §7.6.2.1 &lt;resource-constraint/&gt;).
/// </summary>
public sealed class HardeningTests
{
    private static async Task<TestServer> ServerAsync(params (string Key, string Value)[] settings)
    {
        var overrides = new Dictionary<string, string?>
        {
            ["Xmpp:Tls:Required"] = "false",
            ["Xmpp:Auth:AllowPlainWithoutTls"] = "true",
            ["Xmpp:DirectTlsPort"] = "-1",
        };
        foreach (var (k, v) in settings) overrides[k] = v;
        var server = new TestServer(overrides);
        await server.AddUserAsync("alice");
        return server;
    }

    private static async Task<XmppTestClient> LoggedInAsync(TestServer server, string resource = "r")
    {
        var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        await c.AuthPlainAsync("alice");
        await c.BindAsync(resource);
        return c;
    }

    private static string Repeat(string s, int n) => new StringBuilder(s.Length * n).Insert(0, s, n).ToString();

    // ------------------------------------------------------------------ framer bounds (RFC 6120 §4.9.3.14)

    [Fact]
    public async Task Rfc6120_4_9_3_14_more_attributes_than_allowed_is_policy_violation()
    {
        await using var server = await ServerAsync(("Xmpp:Limits:MaxAttributesPerElement", "8"));
        await using var c = await LoggedInAsync(server);
        var attrs = new StringBuilder();
        for (var i = 0; i < 9; i++) attrs.Append($" a{i}='v'");
        await c.SendAsync($"<message to='alice@localhost'><x xmlns='urn:test'{attrs}/></message>");
        await c.ExpectStreamErrorAsync("policy-violation", skipStanzas: true);
    }

    [Fact]
    public async Task Rfc6120_4_9_3_14_attributes_up_to_the_limit_pass()
    {
        await using var server = await ServerAsync(("Xmpp:Limits:MaxAttributesPerElement", "8"));
        await using var c = await LoggedInAsync(server);
        // 8 attributes, the namespace declaration among them
        var attrs = new StringBuilder();
        for (var i = 0; i < 7; i++) attrs.Append($" a{i}='v'");
        await c.SendAsync($"<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'{attrs}/></iq>");
        var result = await c.NextMatchingAsync(e => e.Id == "p1");
        Assert.Equal("result", result.Type);
    }

    [Fact]
    public async Task Rfc6120_4_9_3_14_more_children_than_allowed_is_policy_violation()
    {
        await using var server = await ServerAsync(("Xmpp:Limits:MaxChildrenPerElement", "100"));
        await using var c = await LoggedInAsync(server);
        await c.SendAsync($"<message to='alice@localhost'><x xmlns='urn:test'>{Repeat("<y/>", 101)}</x></message>");
        await c.ExpectStreamErrorAsync("policy-violation", skipStanzas: true);
    }

    [Fact]
    public async Task Rfc6120_4_9_3_14_more_elements_in_a_stanza_than_allowed_is_policy_violation()
    {
        // each element has few children; together they are too many (the default child limit is not reached)
        await using var server = await ServerAsync(("Xmpp:Limits:MaxElementsPerStanza", "500"));
        await using var c = await LoggedInAsync(server);
        var group = "<g>" + Repeat("<y/>", 99) + "</g>"; // 100 elements
        await c.SendAsync($"<message to='alice@localhost'><x xmlns='urn:test'>{Repeat(group, 5)}</x></message>"); // 502
        await c.ExpectStreamErrorAsync("policy-violation", skipStanzas: true);
    }

    [Fact]
    public async Task Xep0205_stanza_over_the_pre_authentication_limit_is_policy_violation_and_allowed_after()
    {
        await using var server = await ServerAsync(("Xmpp:Limits:MaxStanzaBytesBeforeAuthentication", "2048"));
        var big = new string('a', 3000);
        await using (var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint))
        {
            await c.OpenStreamAsync();
            await c.SendAsync($"<iq type='get' id='r1'><query xmlns='jabber:iq:register'><x>{big}</x></query></iq>");
            await c.ExpectStreamErrorAsync("policy-violation");
        }
        // once authenticated the full limit applies to the same size
        await using var d = await LoggedInAsync(server);
        await d.SendAsync($"<message to='{d.Jid}' id='m1'><body>{big}</body></message>");
        var echoed = await d.NextMatchingAsync(e => e.Name == "message" && e.Id == "m1");
        Assert.Equal(big, echoed.ChildText("body", Ns.Client));
    }

    // ------------------------------------------------------------------ deadlines (RFC 6120 §4.9.3.4, §4.9.3.14)

    [Fact]
    public async Task Rfc6120_4_9_3_4_no_authentication_within_the_timeout_is_connection_timeout()
    {
        await using var server = await ServerAsync(("Xmpp:Limits:AuthenticationTimeoutSeconds", "1"));
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        // whitespace keeps the connection from being idle, but it does not authenticate it
        for (var i = 0; i < 3; i++)
        {
            await Task.Delay(300);
            await c.TrySendBytesAsync(" "u8.ToArray());
        }
        await c.ExpectStreamErrorAsync("connection-timeout", timeout: TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Rfc6120_4_9_3_4_authenticated_stream_outlives_the_authentication_timeout()
    {
        await using var server = await ServerAsync(("Xmpp:Limits:AuthenticationTimeoutSeconds", "1"));
        await using var c = await LoggedInAsync(server);
        await Task.Delay(2500);
        await c.PingServerAsync();
    }

    [Fact]
    public async Task Rfc6120_4_9_3_14_stanza_trickled_past_its_deadline_is_policy_violation()
    {
        await using var server = await ServerAsync(("Xmpp:Limits:StanzaDeadlineSeconds", "2"));
        await using var c = await LoggedInAsync(server);
        await c.SendAsync("<message to='alice@localhost'><body>");
        var started = DateTime.UtcNow;
        // a byte every 200 ms: the connection is never idle, the stanza never ends
        var trickle = Task.Run(async () =>
        {
            for (var i = 0; i < 100 && !c.Closed.IsCompleted; i++)
            {
                await Task.Delay(200);
                await c.TrySendBytesAsync("a"u8.ToArray());
            }
        });
        var error = await c.ExpectStreamErrorAsync("policy-violation", timeout: TimeSpan.FromSeconds(15));
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromSeconds(1.5), "closed before the deadline");
        Assert.Contains("seconds to arrive", error.ChildText("text", Ns.StreamErrors));
        await trickle;
    }

    [Fact]
    public async Task Rfc6120_4_9_3_14_stanzas_that_complete_in_time_are_not_cut()
    {
        await using var server = await ServerAsync(("Xmpp:Limits:StanzaDeadlineSeconds", "2"));
        await using var c = await LoggedInAsync(server);
        // each ping arrives in two halves, 500 ms apart, for longer than the deadline in all
        for (var i = 0; i < 6; i++)
        {
            await c.SendAsync($"<iq type='get' id='s{i}'>");
            await Task.Delay(500);
            await c.SendAsync("<ping xmlns='urn:xmpp:ping'/></iq>");
            var result = await c.NextMatchingAsync(e => e.Id == $"s{i}");
            Assert.Equal("result", result.Type);
        }
    }

    // ------------------------------------------------------------------ per-address caps (XEP-0205)

    [Fact]
    public async Task Xep0205_connections_over_the_per_address_cap_get_policy_violation()
    {
        await using var server = await ServerAsync(("Xmpp:Limits:ExemptLoopback", "false"),
            ("Xmpp:Limits:MaxConnectionsPerAddress", "3"), ("Xmpp:Limits:NewConnectionsPerSecondPerAddress", "0"));
        var open = new List<XmppTestClient>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
                open.Add(c);
                await c.OpenStreamAsync();
            }
            await using (var refused = await XmppTestClient.ConnectAsync(server.C2sEndPoint))
            {
                var error = await refused.ExpectStreamErrorAsync("policy-violation");
                Assert.Contains("too many connections", error.ChildText("text", Ns.StreamErrors));
            }
            // one closes: its place is free again
            await open[0].DisposeAsync();
            open.RemoveAt(0);
            await WaitUntilAsync(() => server.Service.Admission!.OpenConnections(System.Net.IPAddress.Loopback) == 2);
            var again = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
            open.Add(again);
            await again.OpenStreamAsync();
        }
        finally
        {
            foreach (var c in open) await c.DisposeAsync();
        }
    }

    [Fact]
    public async Task Xep0205_connecting_faster_than_the_per_address_rate_gets_policy_violation()
    {
        await using var server = await ServerAsync(("Xmpp:Limits:ExemptLoopback", "false"),
            ("Xmpp:Limits:NewConnectionsPerSecondPerAddress", "0.2"), ("Xmpp:Limits:NewConnectionsBurstPerAddress", "2"));
        await using var a = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await a.OpenStreamAsync();
        await using var b = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await b.OpenStreamAsync();
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        var error = await c.ExpectStreamErrorAsync("policy-violation");
        Assert.Contains("too fast", error.ChildText("text", Ns.StreamErrors));
    }

    [Fact]
    public async Task Xep0205_loopback_is_exempt_by_default()
    {
        await using var server = await ServerAsync(("Xmpp:Limits:MaxConnectionsPerAddress", "1"));
        await using var a = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await a.OpenStreamAsync();
        await using var b = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await b.OpenStreamAsync();
    }

    // ------------------------------------------------------------------ login throttling (RFC 6120 §6.5.11)

    [Fact]
    public async Task Rfc6120_6_5_11_parallel_guesses_are_counted_at_auth()
    {
        await using var server = await ServerAsync(("Xmpp:Auth:MaxFailuresPerMinute", "3"), ("Xmpp:Limits:ExemptLoopback", "false"));
        var clients = new List<XmppTestClient>();
        try
        {
            for (var i = 0; i < 6; i++)
            {
                var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
                clients.Add(c);
                await c.OpenStreamAsync();
            }
            // every guess is on the wire before any answer comes back
            var payload = Convert.ToBase64String(Encoding.UTF8.GetBytes("\0alice\0wrong"));
            await Task.WhenAll(clients.Select(c => c.SendAsync($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{payload}</auth>")));
            var answers = await Task.WhenAll(clients.Select(c => c.NextAsync()));
            var conditions = answers.Select(a => a.Elements().First().Name).ToList();
            Assert.Equal(3, conditions.Count(c => c == "not-authorized"));
            Assert.Equal(3, conditions.Count(c => c == "temporary-auth-failure"));
        }
        finally
        {
            foreach (var c in clients) await c.DisposeAsync();
        }
    }

    [Fact]
    public async Task Rfc6120_6_5_11_loopback_logins_in_parallel_are_not_refused_by_default()
    {
        // local load tests log thousands of clients in at once from one address
        await using var server = await ServerAsync(("Xmpp:Auth:MaxFailuresPerMinute", "3"), ("Xmpp:Auth:MaxConcurrentExchangesPerAddress", "2"));
        var logins = await Task.WhenAll(Enumerable.Range(0, 12).Select(i => LoggedInAsync(server, "p" + i)));
        foreach (var c in logins) await c.DisposeAsync();
    }

    [Fact]
    public async Task Rfc6120_6_5_11_repeated_failures_ban_the_address_with_a_retry_hint()
    {
        await using var server = await ServerAsync(("Xmpp:Auth:MaxFailuresPerMinute", "2"), ("Xmpp:Auth:BanSeconds", "120"));
        await using (var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint))
        {
            await c.OpenStreamAsync();
            StanzaAssert.SaslFailure(await c.SendAuthPlainAsync("alice", "bad1"), "not-authorized");
            StanzaAssert.SaslFailure(await c.SendAuthPlainAsync("alice", "bad2"), "not-authorized");
        }
        await using var d = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await d.OpenStreamAsync();
        var refused = await d.SendAuthPlainAsync("alice", TestServer.Password);
        StanzaAssert.SaslFailure(refused, "temporary-auth-failure");
        var text = refused.ChildText("text", Ns.Sasl);
        Assert.Matches(@"try again in (1[01][0-9]|120) seconds", text);
    }

    [Fact]
    public async Task Rfc6120_6_5_11_successful_logins_do_not_count_as_failures()
    {
        await using var server = await ServerAsync(("Xmpp:Auth:MaxFailuresPerMinute", "2"));
        for (var i = 0; i < 5; i++)
        {
            await using var c = await LoggedInAsync(server, "r" + i);
        }
    }

    [Fact]
    public async Task Rfc6120_6_5_11_concurrent_exchanges_per_address_are_capped()
    {
        await using var server = await ServerAsync(("Xmpp:Limits:ExemptLoopback", "false"),
            ("Xmpp:Auth:MaxConcurrentExchangesPerAddress", "2"));
        var clients = new List<XmppTestClient>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
                clients.Add(c);
                await c.OpenStreamAsync();
            }
            // two SCRAM exchanges under way (client-first sent, the challenge not answered)
            var first = Convert.ToBase64String(Encoding.UTF8.GetBytes("n,,n=alice,r=abcdefghijklmnop"));
            for (var i = 0; i < 2; i++)
            {
                await clients[i].SendAsync($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>{first}</auth>");
                Assert.True((await clients[i].NextAsync()).Is("challenge", Ns.Sasl));
            }
            await clients[2].SendAsync($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>{first}</auth>");
            StanzaAssert.SaslFailure(await clients[2].NextAsync(), "temporary-auth-failure");
            // one aborts: a new exchange may start
            await clients[0].SendAsync("<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
            StanzaAssert.SaslFailure(await clients[0].NextAsync(), "aborted");
            await clients[2].SendAsync($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>{first}</auth>");
            Assert.True((await clients[2].NextAsync()).Is("challenge", Ns.Sasl));
        }
        finally
        {
            foreach (var c in clients) await c.DisposeAsync();
        }
    }

    // ------------------------------------------------------------------ resources per account (RFC 6120 §7.6.2.1)

    [Fact]
    public async Task Rfc6120_7_6_2_1_binding_past_the_resource_limit_is_resource_constraint()
    {
        await using var server = await ServerAsync(("Xmpp:Limits:MaxResourcesPerAccount", "2"));
        await using var a = await LoggedInAsync(server, "one");
        await using var b = await LoggedInAsync(server, "two");
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        await c.AuthPlainAsync("alice");
        await c.SendAsync("<iq type='set' id='b3'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>three</resource></bind></iq>");
        var error = await c.NextAsync();
        Assert.Equal("b3", error.Id);
        Assert.Equal("error", error.Type);
        var e = error.Child("error", Ns.Client)!;
        Assert.Equal("wait", e.Attr("type"));
        Assert.NotNull(e.Child("resource-constraint", Ns.StanzaErrors));
        Assert.NotNull(e.Child("resource-limit-exceeded", "urn:xmpp:errors")); // XEP-0205 §3
        // binding the resource of a bound session replaces it (§7.7.2.2): no resource more, allowed
        var jid = await c.BindAsync("two");
        Assert.Equal("alice@localhost/two", jid);
    }

    // ------------------------------------------------------------------ registration (XEP-0077)

    [Fact]
    public async Task Xep0077_3_1_default_password_policy_refuses_seven_characters_with_not_acceptable()
    {
        await using var server = await ServerAsync(("Xmpp:Registration:Enabled", "true"));
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        var seven = await c.IqAsync("set", "<query xmlns='jabber:iq:register'><username>short</username><password>1234567</password></query>");
        StanzaAssert.Error(seven, "not-acceptable");
        Assert.Contains("at least 8 characters", seven.Child("error", Ns.Client)!.ChildText("text", Ns.StanzaErrors));
        var eight = await c.IqAsync("set", "<query xmlns='jabber:iq:register'><username>enough</username><password>12345678</password></query>");
        Assert.Equal("result", eight.Type);
    }

    [Fact]
    public async Task Xep0077_3_1_1_pipelined_registrations_are_answered_one_at_a_time_in_order_and_throttled()
    {
        await using var server = await ServerAsync(("Xmpp:Registration:Enabled", "true"), ("Xmpp:Registration:MaxPerAddress", "3"),
            ("Xmpp:Auth:ScramIterations", "20000"), ("Xmpp:Limits:ExemptLoopback", "false"));
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        var burst = new StringBuilder();
        for (var i = 0; i < 5; i++)
            burst.Append($"<iq type='set' id='reg{i}'><query xmlns='jabber:iq:register'><username>flood{i}</username><password>long-enough</password></query></iq>");
        await c.SendAsync(burst.ToString()); // all in one write
        for (var i = 0; i < 5; i++)
        {
            var answer = await c.NextAsync(TimeSpan.FromSeconds(30));
            Assert.Equal($"reg{i}", answer.Id);
            if (i < 3) Assert.Equal("result", answer.Type);
            else
            {
                StanzaAssert.Error(answer, "not-acceptable");
                Assert.Equal("wait", answer.Child("error", Ns.Client)!.Attr("type"));
            }
        }
        Assert.True(server.Accounts.Exists(Jid.Create("flood2", TestServer.Domain)));
        Assert.False(server.Accounts.Exists(Jid.Create("flood3", TestServer.Domain)));
    }

    [Fact]
    public async Task Rfc6121_2_3_3_roster_set_past_the_item_limit_is_not_allowed()
    {
        await using var server = await ServerAsync(("Xmpp:Limits:MaxRosterItems", "2"));
        await using var c = await LoggedInAsync(server);
        for (var i = 0; i < 2; i++)
            Assert.Equal("result", (await c.IqAsync("set", $"<query xmlns='jabber:iq:roster'><item jid='c{i}@localhost'/></query>")).Type);
        var third = await c.IqAsync("set", "<query xmlns='jabber:iq:roster'><item jid='c2@localhost'/></query>");
        StanzaAssert.Error(third, "not-allowed");
        // changing an item it holds adds none
        Assert.Equal("result", (await c.IqAsync("set", "<query xmlns='jabber:iq:roster'><item jid='c1@localhost' name='renamed'/></query>")).Type);
        var roster = await c.IqAsync("get", "<query xmlns='jabber:iq:roster'/>");
        Assert.Equal(2, roster.Child("query", Ns.Roster)!.Elements("item", Ns.Roster).Count());
    }

    [Fact]
    public async Task Rfc6121_4_6_directed_presence_past_the_target_limit_is_resource_constraint()
    {
        await using var server = await ServerAsync(("Xmpp:Limits:MaxDirectedPresenceTargets", "2"));
        await using var c = await LoggedInAsync(server);
        await c.SendAsync("<presence to='t0@localhost'/><presence to='t1@localhost'/><presence to='t1@localhost'/>");
        await c.SendAsync("<presence to='t2@localhost' id='p2'/>");
        var error = await c.NextMatchingAsync(e => e.Name == "presence" && e.Id == "p2");
        StanzaAssert.Error(error, "resource-constraint");
        // an unavailable presence to a target frees its place
        await c.SendAsync("<presence to='t0@localhost' type='unavailable'/><presence to='t3@localhost' id='p3'/>");
        await c.ExpectNoBounceAsync();
    }

    [Fact]
    public async Task Rfc6120_8_3_3_18_pipelined_requests_past_the_pending_cap_are_resource_constraint_and_each_answered_once()
    {
        await using var server = await ServerAsync(("Xmpp:Limits:MaxPendingIqsPerSession", "2"));
        await using var c = await LoggedInAsync(server);
        const int requests = 40;
        var batch = new StringBuilder();
        for (var i = 0; i < requests; i++)
            batch.Append($"<iq type='set' id='pipe{i}'><query xmlns='jabber:iq:roster'><item jid='p{i}@localhost'/></query></iq>");
        await c.SendAsync(batch.ToString());
        var answers = new Dictionary<string, Actors.Xmpp.Xml.Element>();
        while (answers.Count < requests)
        {
            var e = await c.NextMatchingAsync(x => x.Name == "iq" && x.Id is { } id && id.StartsWith("pipe", StringComparison.Ordinal));
            Assert.True(answers.TryAdd(e.Id!, e), $"{e.Id} answered twice");
        }
        var refused = answers.Values.Where(e => e.Type == "error").ToList();
        Assert.NotEmpty(refused);
        foreach (var e in refused)
        {
            StanzaAssert.Error(e, "resource-constraint");
            Assert.Equal("wait", e.Child("error", Ns.Client)!.Attr("type"));
        }
        // what was accepted is in the roster, what was refused is not; the cap is free again once answered
        var roster = await c.IqAsync("get", "<query xmlns='jabber:iq:roster'/>");
        var items = roster.Child("query", Ns.Roster)!.Elements("item", Ns.Roster).Select(i => i.Attr("jid")).ToHashSet();
        for (var i = 0; i < requests; i++)
            Assert.Equal(answers[$"pipe{i}"].Type == "result", items.Contains($"p{i}@localhost"));
        Assert.Equal("result", (await c.IqAsync("set", "<query xmlns='jabber:iq:roster'><item jid='after@localhost'/></query>")).Type);
    }

    [Fact]
    public async Task An_account_class_shapes_its_connections_stanza_rate_once_authenticated()
    {
        // alice's class: 10 stanzas/s after 10; the client rates (before login, and for accounts in no class) are wide
        await using var server = await ServerAsync(("Xmpp:Limits:ExemptLoopback", "false"),
            ("Xmpp:Limits:AccountClasses:slow:StanzasPerSecond", "10"), ("Xmpp:Limits:AccountClasses:slow:BurstStanzas", "10"),
            ("Xmpp:Limits:AccountClasses:slow:Members:0", "alice@localhost"),
            ("Xmpp:Limits:NewConnectionsPerSecondPerAddress", "0"), ("Xmpp:Auth:MaxFailuresPerMinute", "100"));
        await using var c = await LoggedInAsync(server);
        // six rounds of ten pings, each sent once the last round is answered: the shaper lets a read through, then
        // holds the next read until the connection is back inside its rate (one second per ten stanzas here)
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var round = 0; round < 6; round++)
        {
            var batch = new StringBuilder();
            for (var i = 0; i < 10; i++) batch.Append($"<iq type='get' id='s{round}-{i}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
            await c.SendAsync(batch.ToString());
            for (var i = 0; i < 10; i++)
            {
                var reply = await c.NextAsync(TimeSpan.FromSeconds(30));
                Assert.Equal($"s{round}-{i}", reply.Id);
                Assert.Equal("result", reply.Type); // shaped, not refused: every one is answered
            }
        }
        // 50 stanzas past the burst at 10/s: the later rounds wait about a second each (a loaded machine only adds)
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(3), $"60 pings answered in {clock.Elapsed}: not shaped");
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 100 && !condition(); i++) await Task.Delay(50);
        Assert.True(condition());
    }
}
