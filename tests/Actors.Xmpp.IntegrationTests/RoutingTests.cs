namespace Actors.Xmpp.IntegrationTests;

/// <summary>RFC 6120 §8 / §10 and RFC 6121 §8.5: stanza routing between local clients and to the server.</summary>
public sealed class RoutingTests(PlainServer server) : IClassFixture<PlainServer>
{
    private async Task<XmppTestClient> LoginAsync(string user, string resource = "r", bool available = true, int? priority = null, bool create = true)
    {
        if (create && !server.Accounts.Exists(Jid.Create(user, TestServer.Domain))) await server.AddUserAsync(user);
        return await XmppTestClient.LoginAsync(server, user, resource, available: available, priority: priority);
    }

    [Fact]
    public async Task Rfc6121_8_5_2_message_to_bare_and_full_jid()
    {
        await using var a = await LoginAsync("rt-a1");
        await using var b = await LoginAsync("rt-b1", "phone");
        await a.SendAsync("<message to='rt-b1@localhost' type='chat' id='m1'><body>to bare</body></message>");
        var m1 = await b.NextAsync();
        Assert.Equal("m1", m1.Id);
        Assert.Equal("rt-a1@localhost/r", m1.From);
        Assert.Equal("to bare", m1.ChildText("body", Ns.Client));
        await a.SendAsync("<message to='rt-b1@localhost/phone' type='chat' id='m2'><body>to full</body></message>");
        var m2 = await b.NextAsync();
        Assert.Equal("m2", m2.Id);
        Assert.Equal("rt-b1@localhost/phone", m2.To);
    }

    [Fact]
    public async Task Rfc6121_8_5_3_2_1_message_to_missing_resource_goes_to_bare_jid()
    {
        await using var a = await LoginAsync("rt-a2");
        await using var b = await LoginAsync("rt-b2", "phone");
        await a.SendAsync("<message to='rt-b2@localhost/gone' type='chat' id='m3'><body>x</body></message>");
        var m = await b.NextAsync();
        Assert.Equal("m3", m.Id);
    }

    [Fact]
    public async Task Rfc6121_8_5_2_2_1_chat_to_offline_user_is_stored_and_delivered_with_delay()
    {
        await server.AddUserAsync("rt-offline");
        await using var a = await LoginAsync("rt-a3");
        await a.SendAsync("<message to='rt-offline@localhost' type='chat' id='m4'><body>kept for later</body></message>");
        await a.ExpectNoBounceAsync(); // stored (XEP-0160), not bounced
        // a barrier: an IQ to the recipient's account is answered by its user actor (here refused: a roster is its
        // owner's) after it stored the message (same sender, same actor, in order), so the login below finds it
        await a.IqAsync("get", "<query xmlns='jabber:iq:roster'/>", to: "rt-offline@localhost");
        await using var later = await LoginAsync("rt-offline");
        var message = await later.NextMatchingAsync(e => e.Name == "message");
        Assert.Equal("m4", message.Id);
        Assert.Equal("kept for later", message.ChildText("body", Ns.Client));
        Assert.NotNull(message.Child("delay", "urn:xmpp:delay")); // XEP-0203
    }

    [Fact]
    public async Task Rfc6121_8_5_1_message_to_nonexistent_user_is_service_unavailable()
    {
        await using var a = await LoginAsync("rt-a4");
        await a.SendAsync("<message to='no-such-user@localhost' type='chat' id='m5'><body>x</body></message>");
        var reply = await a.NextAsync();
        Assert.Equal("m5", reply.Id);
        StanzaAssert.Error(reply, "service-unavailable");
    }

    [Fact]
    public async Task Rfc6121_4_2_2_presence_broadcast_to_own_resources()
    {
        await using var one = await LoginAsync("rt-self", "one");
        await using var two = await LoginAsync("rt-self", "two", available: false);
        await two.SendAsync("<presence><show>away</show></presence>");
        var atTwo = await two.NextAsync(); // its own presence comes back to it
        Assert.Equal("rt-self@localhost/two", atTwo.From);
        var atOne = await one.NextAsync();
        Assert.Equal("presence", atOne.Name);
        Assert.Equal("rt-self@localhost/two", atOne.From);
        Assert.Equal("away", atOne.ChildText("show", Ns.Client));
        // when 'two' goes away without unavailable presence, 'one' learns of it
        two.Abort();
        var gone = await one.NextAsync();
        Assert.Equal("unavailable", gone.Type);
        Assert.Equal("rt-self@localhost/two", gone.From);
    }

    [Fact]
    public async Task Rfc6121_4_6_directed_presence_and_unavailable_on_disconnect()
    {
        await using var a = await LoginAsync("rt-dp-a");
        await using var b = await LoginAsync("rt-dp-b");
        await a.SendAsync("<presence to='rt-dp-b@localhost/r'><status>hello</status></presence>");
        var p = await b.NextAsync();
        Assert.Equal("presence", p.Name);
        Assert.Null(p.Type);
        Assert.Equal("rt-dp-a@localhost/r", p.From);
        a.Abort(); // no unavailable presence from the client: the server generates it (RFC 6121 §4.6.3)
        var u = await b.NextAsync();
        Assert.Equal("unavailable", u.Type);
        Assert.Equal("rt-dp-a@localhost/r", u.From);
    }

    [Fact]
    public async Task Rfc6121_8_5_2_1_1_bare_jid_message_goes_to_highest_priority_only()
    {
        await using var sender = await LoginAsync("rt-prio-sender");
        await using var high = await LoginAsync("rt-prio", "high", priority: 10);
        await using var low = await LoginAsync("rt-prio", "low", priority: 1);
        await using var negative = await LoginAsync("rt-prio", "neg", priority: -1);
        // each resource saw the others' initial presence; drain it
        await high.NextMatchingAsync(e => e.From == "rt-prio@localhost/neg");
        await low.NextMatchingAsync(e => e.From == "rt-prio@localhost/neg");

        await sender.SendAsync("<message to='rt-prio@localhost' type='chat' id='p1'><body>bare</body></message>");
        // then a marker to the full JIDs: from one sender, each recipient gets them in order, so the marker
        // arriving first proves the bare-JID message did not come
        await sender.SendAsync("<message to='rt-prio@localhost/low' type='chat' id='marker-low'/>");
        await sender.SendAsync("<message to='rt-prio@localhost/neg' type='chat' id='marker-neg'/>");
        Assert.Equal("p1", (await high.NextMatchingAsync(e => e.Name == "message")).Id);
        Assert.Equal("marker-low", (await low.NextMatchingAsync(e => e.Name == "message")).Id);
        Assert.Equal("marker-neg", (await negative.NextMatchingAsync(e => e.Name == "message")).Id);
    }

    [Fact]
    public async Task Rfc6121_8_5_2_1_1_only_negative_priority_is_like_offline()
    {
        await using var sender = await LoginAsync("rt-neg-sender");
        await using var negative = await LoginAsync("rt-neg", "neg", priority: -5);
        await sender.SendAsync("<message to='rt-neg@localhost' type='chat' id='n1'><body>x</body></message>");
        // not delivered to the negative-priority resource (it is stored offline instead, §8.5.2.2.1): the marker
        // to the full JID, sent after it, is the first message that resource sees
        await sender.SendAsync("<message to='rt-neg@localhost/neg' type='chat' id='marker'/>");
        Assert.Equal("marker", (await negative.NextMatchingAsync(e => e.Name == "message")).Id);
        await sender.ExpectNoBounceAsync(); // and nothing came back to the sender
    }

    [Fact]
    public async Task Rfc6120_8_4_iq_with_unknown_namespace_to_server_is_service_unavailable()
    {
        await using var a = await LoginAsync("rt-iq1");
        var reply = await a.IqAsync("get", "<query xmlns='urn:example:unknown'/>", to: "localhost");
        StanzaAssert.Error(reply, "service-unavailable");
        Assert.Equal("localhost", reply.From);
    }

    [Fact]
    public async Task Rfc6121_8_5_1_iq_to_unknown_user_is_service_unavailable()
    {
        await using var a = await LoginAsync("rt-iq2");
        StanzaAssert.Error(await a.IqAsync("get", "<ping xmlns='urn:xmpp:ping'/>", to: "nobody-iq@localhost"), "service-unavailable");
        StanzaAssert.Error(await a.IqAsync("get", "<ping xmlns='urn:xmpp:ping'/>", to: "nobody-iq@localhost/res"), "service-unavailable");
    }

    [Fact]
    public async Task Rfc6120_8_2_3_iq_get_with_two_children_is_bad_request()
    {
        await using var a = await LoginAsync("rt-iq3");
        var reply = await a.IqAsync("get", "<ping xmlns='urn:xmpp:ping'/><query xmlns='http://jabber.org/protocol/disco#info'/>", to: "localhost");
        StanzaAssert.Error(reply, "bad-request");
    }

    [Fact]
    public async Task Rfc6121_8_5_3_1_iq_to_full_jid_is_delivered_and_result_routed_back()
    {
        await using var a = await LoginAsync("rt-iq4-a");
        await using var b = await LoginAsync("rt-iq4-b", "desk");
        await a.SendAsync("<iq type='get' id='v1' to='rt-iq4-b@localhost/desk'><query xmlns='jabber:iq:version'/></iq>");
        var request = await b.NextAsync();
        Assert.Equal("iq", request.Name);
        Assert.Equal("v1", request.Id);
        Assert.Equal("rt-iq4-a@localhost/r", request.From);
        await b.SendAsync("<iq type='result' id='v1' to='rt-iq4-a@localhost/r'><query xmlns='jabber:iq:version'><name>test</name></query></iq>");
        var result = await a.NextAsync();
        Assert.Equal("result", result.Type);
        Assert.Equal("v1", result.Id);
        Assert.Equal("rt-iq4-b@localhost/desk", result.From);
    }

    [Fact]
    public async Task Xep0199_ping_to_server()
    {
        await using var a = await LoginAsync("rt-ping");
        var reply = await a.IqAsync("get", "<ping xmlns='urn:xmpp:ping'/>", to: "localhost");
        Assert.Equal("result", reply.Type);
        Assert.Equal("localhost", reply.From);
        Assert.Equal("rt-ping@localhost/r", reply.To);
    }

    [Fact]
    public async Task Xep0030_disco_info_on_server_lists_ping()
    {
        await using var a = await LoginAsync("rt-disco");
        var reply = await a.IqAsync("get", "<query xmlns='http://jabber.org/protocol/disco#info'/>", to: "localhost");
        Assert.Equal("result", reply.Type);
        var query = reply.Child("query", Ns.DiscoInfo);
        Assert.NotNull(query);
        var features = query!.Elements("feature", Ns.DiscoInfo).Select(f => f.Attr("var")).ToList();
        Assert.Contains(Ns.Ping, features);
        Assert.Contains(Ns.DiscoInfo, features);
        Assert.Contains(query.Elements("identity", Ns.DiscoInfo), i => i.Attr("category") == "server");
    }

    [Fact]
    public async Task Rfc6121_2_1_3_roster_get_is_an_empty_result()
    {
        await using var a = await LoginAsync("rt-roster");
        var reply = await a.IqAsync("get", "<query xmlns='jabber:iq:roster'/>");
        Assert.Equal("result", reply.Type);
        var query = reply.Child("query", Ns.Roster);
        Assert.NotNull(query);
        Assert.Equal(0, query!.ElementCount);
    }

    [Fact]
    public async Task Rfc6120_8_3_3_14_message_to_other_domain_is_remote_server_not_found()
    {
        await using var a = await LoginAsync("rt-remote");
        await a.SendAsync("<message to='someone@example.org' type='chat' id='rm'><body>x</body></message>");
        var reply = await a.NextAsync();
        Assert.Equal("rm", reply.Id);
        StanzaAssert.Error(reply, "remote-server-not-found");
    }

    [Fact]
    public async Task Rfc6120_10_3_3_iq_without_to_is_answered_for_the_account()
    {
        await using var a = await LoginAsync("rt-own-iq");
        var reply = await a.IqAsync("get", "<ping xmlns='urn:xmpp:ping'/>");
        Assert.Equal("result", reply.Type);
        var info = await a.IqAsync("get", "<query xmlns='http://jabber.org/protocol/disco#info'/>");
        Assert.Contains(info.Child("query", Ns.DiscoInfo)!.Elements("identity", Ns.DiscoInfo), i => i.Attr("category") == "account");
    }

    [Fact]
    public async Task Rfc6121_8_5_2_1_1_groupchat_to_bare_jid_is_service_unavailable_and_errors_are_not_bounced()
    {
        await using var a = await LoginAsync("rt-gc-a");
        await using var b = await LoginAsync("rt-gc-b");
        await a.SendAsync("<message to='rt-gc-b@localhost' type='groupchat' id='g1'><body>x</body></message>");
        StanzaAssert.Error(await a.NextAsync(), "service-unavailable");
        // an error to a nonexistent user vanishes (no error about an error); the marker arrives first
        await a.SendAsync("<message to='no-one-at-all@localhost' type='error' id='e1'/>");
        await a.SendAsync("<message to='rt-gc-a@localhost/r' type='chat' id='marker'/>");
        Assert.Equal("marker", (await a.NextAsync()).Id);
    }

    [Fact]
    public async Task Rfc6120_10_3_1_message_without_to_goes_to_own_bare_jid()
    {
        await using var a = await LoginAsync("rt-noto", "one");
        await a.SendAsync("<message type='chat' id='self1'><body>note to self</body></message>");
        var m = await a.NextAsync();
        Assert.Equal("self1", m.Id);
        Assert.Equal("rt-noto@localhost/one", m.From);
    }

    [Fact]
    public async Task Rfc7622_3_addresses_are_normalized_before_routing()
    {
        await using var a = await LoginAsync("rt-norm-a");
        await using var b = await LoginAsync("rt-norm-b", "Desk");
        await a.SendAsync("<message to='RT-Norm-B@LocalHost./Desk' type='chat' id='n1'><body>x</body></message>");
        var m = await b.NextAsync();
        Assert.Equal("n1", m.Id);
        Assert.Equal("rt-norm-b@localhost/Desk", m.To);
    }

    [Fact]
    public async Task Rfc6121_8_5_1_presence_to_nonexistent_user_is_ignored_and_message_to_server_is_service_unavailable()
    {
        await using var a = await LoginAsync("rt-misc");
        await a.SendAsync("<presence to='nobody-p@localhost'/>");
        await a.SendAsync("<message to='localhost' type='chat' id='srv'><body>x</body></message>");
        var reply = await a.NextAsync(); // the presence produced nothing
        Assert.Equal("srv", reply.Id);
        StanzaAssert.Error(reply, "service-unavailable");
    }

    [Fact]
    public async Task Rfc6121_4_6_3_clean_close_also_sends_unavailable_to_directed_presence_targets()
    {
        await using var a = await LoginAsync("rt-dpc-a");
        await using var b = await LoginAsync("rt-dpc-b");
        await a.SendAsync("<presence to='rt-dpc-b@localhost'/>");
        Assert.Null((await b.NextAsync()).Type);
        await a.CloseAsync();
        Assert.IsType<XmppTestClient.StreamCloseEvent>(await a.NextEventAsync());
        await a.ExpectClosedAsync();
        var u = await b.NextAsync();
        Assert.Equal("unavailable", u.Type);
        Assert.Equal("rt-dpc-a@localhost/r", u.From);
    }
}
