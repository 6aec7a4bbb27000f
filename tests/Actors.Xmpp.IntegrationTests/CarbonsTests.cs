using Actors.Xmpp.Xml;

namespace Actors.Xmpp.IntegrationTests;

/// <summary>XEP-0280 message carbons over TCP (the carbons plugin).</summary>
public sealed class CarbonsTests : IAsyncLifetime
{
    private const string Carbons = "urn:xmpp:carbons:2";
    private const string Forward = "urn:xmpp:forward:0";
    private TestServer _server = null!;
    private readonly HashSet<string> _accounts = [];

    public Task InitializeAsync()
    {
        _server = new TestServer(new Dictionary<string, string?>
        {
            ["Xmpp:Tls:Required"] = "false",
            ["Xmpp:Auth:AllowPlainWithoutTls"] = "true",
        });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private async Task<XmppTestClient> OnlineAsync(string user, string resource, int priority = 0, bool carbons = false)
    {
        if (_accounts.Add(user)) await _server.AddUserAsync(user); // (a second resource of an account made already)
        var c = await XmppTestClient.LoginAsync(_server, user, resource, available: true, priority: priority);
        if (carbons) await EnableAsync(c);
        return c;
    }

    private static async Task EnableAsync(XmppTestClient c, string verb = "enable")
    {
        var result = await c.IqAsync("set", $"<{verb} xmlns='{Carbons}'/>");
        Assert.Equal("result", result.Type);
    }

    private static Task<Element> NextMessageAsync(XmppTestClient c) => c.NextMatchingAsync(e => e.Name == "message");

    /// <summary>The forwarded original inside a copy (asserting the wrapper of §7/§8 on the way).</summary>
    private static Element Forwarded(Element copy, string direction, XmppTestClient to)
    {
        Assert.Equal(to.Jid.Bare.ToString(), copy.From);
        Assert.Equal(to.Jid.ToString(), copy.To);
        var wrapper = copy.Child(direction, Carbons);
        Assert.True(wrapper is not null, $"expected <{direction}/>, got {copy}");
        var original = wrapper!.Child("forwarded", Forward)?.Child("message", Ns.Client);
        Assert.NotNull(original);
        Assert.Equal(original!.Type, copy.Type); // the wrapper keeps the type
        return original;
    }

    [Fact]
    public async Task Xep0280_3_the_server_advertises_carbons()
    {
        await using var c = await OnlineAsync("cb-disco", "a");
        Assert.True(await c.IsFeatureAdvertised(Carbons));
    }

    [Fact]
    public async Task Xep0280_4_5_enable_and_disable_are_answered_with_results_also_when_repeated_and_another_accounts_are_not_allowed()
    {
        await using var c = await OnlineAsync("cb-enable", "a");
        await EnableAsync(c);
        await EnableAsync(c); // §9.1: a second enable is not an error
        await EnableAsync(c, "disable");
        await EnableAsync(c, "disable");
        _accounts.Add("cb-enable-other");
        await _server.AddUserAsync("cb-enable-other");
        var other = await c.IqAsync("set", $"<enable xmlns='{Carbons}'/>", to: "cb-enable-other@localhost");
        Assert.Equal("error", other.Type);
        Assert.NotNull(other.Child("error", Ns.Client)?.Child("not-allowed", Ns.StanzaErrors));
    }

    [Fact]
    public async Task Xep0280_7_a_message_received_is_copied_to_the_enabled_resources_that_did_not_get_it()
    {
        await using var top = await OnlineAsync("cb-rcv", "top", priority: 5, carbons: true);
        await using var low = await OnlineAsync("cb-rcv", "low", priority: 0, carbons: true);
        await using var off = await OnlineAsync("cb-rcv", "off", priority: 0); // carbons not enabled
        await using var bob = await OnlineAsync("cb-rcv-bob", "x");

        // to the bare JID: the highest-priority resource gets it, the other enabled one a <received/> copy
        await bob.SendAsync("<message to='cb-rcv@localhost' type='chat' id='m1'><body>hi</body></message>");
        var original = await NextMessageAsync(top);
        Assert.Equal("m1", original.Id);
        Assert.Null(original.Child("received", Carbons));
        var copied = Forwarded(await NextMessageAsync(low), "received", low);
        Assert.Equal("m1", copied.Id);
        Assert.Equal(bob.Jid.ToString(), copied.From);
        Assert.Equal("hi", copied.ChildText("body", Ns.Client));

        // to a full JID: every other enabled resource gets a copy, the addressee none
        await bob.SendAsync($"<message to='{low.Jid}' type='chat' id='m2'><body>to low</body></message>");
        Assert.Equal("m2", (await NextMessageAsync(low)).Id);
        Assert.Equal("m2", Forwarded(await NextMessageAsync(top), "received", top).Id);

        // the resource without carbons got only what was addressed to it: nothing of the above; this comes first
        await bob.SendAsync($"<message to='{off.Jid}' type='chat' id='m3'><body>to off</body></message>");
        Assert.Equal("m3", (await NextMessageAsync(off)).Id);
        Assert.Equal("m3", Forwarded(await NextMessageAsync(top), "received", top).Id);
        Assert.Equal("m3", Forwarded(await NextMessageAsync(low), "received", low).Id);
    }

    [Fact]
    public async Task Xep0280_8_a_message_sent_is_copied_to_the_other_enabled_resources_not_to_the_sender()
    {
        await using var phone = await OnlineAsync("cb-sent", "phone", carbons: true);
        await using var desk = await OnlineAsync("cb-sent", "desk", carbons: true);
        await using var bob = await OnlineAsync("cb-sent-bob", "x");
        await phone.SendAsync("<message to='cb-sent-bob@localhost' type='chat' id='s1'><body>from phone</body></message>");
        Assert.Equal("s1", (await NextMessageAsync(bob)).Id);
        var copied = Forwarded(await NextMessageAsync(desk), "sent", desk);
        Assert.Equal("s1", copied.Id);
        Assert.Equal(phone.Jid.ToString(), copied.From);
        Assert.Equal("cb-sent-bob@localhost", copied.To);
        // the sender gets no copy: the next message it sees is what desk sends
        await desk.SendAsync("<message to='cb-sent-bob@localhost' type='chat' id='s2'><body>from desk</body></message>");
        Assert.Equal("s2", Forwarded(await NextMessageAsync(phone), "sent", phone).Id);
    }

    [Fact]
    public async Task Xep0280_7_private_and_xep0334_no_copy_messages_are_not_copied_and_private_is_removed_on_delivery()
    {
        await using var phone = await OnlineAsync("cb-priv", "phone", carbons: true);
        await using var desk = await OnlineAsync("cb-priv", "desk", carbons: true);
        await using var bob = await OnlineAsync("cb-priv-bob", "x");
        await phone.SendAsync($"<message to='{bob.Jid}' type='chat' id='p1'><body>secret</body><private xmlns='{Carbons}'/></message>");
        var delivered = await NextMessageAsync(bob);
        Assert.Equal("p1", delivered.Id);
        Assert.Null(delivered.Child("private", Carbons)); // §7: removed before delivery to the recipient
        await phone.SendAsync($"<message to='{bob.Jid}' type='chat' id='p2'><body>no copy</body><no-copy xmlns='urn:xmpp:hints'/></message>");
        Assert.Equal("p2", (await NextMessageAsync(bob)).Id);
        await bob.SendAsync($"<message to='{phone.Jid}' type='chat' id='p3'><body>secret back</body><private xmlns='{Carbons}'/></message>");
        var received = await NextMessageAsync(phone);
        Assert.Equal("p3", received.Id);
        Assert.Null(received.Child("private", Carbons));
        // desk got none of them: the first thing it sees is the copy of an ordinary message
        await phone.SendAsync($"<message to='{bob.Jid}' type='chat' id='p4'><body>plain</body></message>");
        Assert.Equal("p4", Forwarded(await NextMessageAsync(desk), "sent", desk).Id);
    }

    [Fact]
    public async Task Xep0280_6_chat_normal_with_body_im_payloads_and_jingle_message_initiations_are_copied_the_rest_is_not()
    {
        await using var phone = await OnlineAsync("cb-rules", "phone", carbons: true);
        await using var desk = await OnlineAsync("cb-rules", "desk", carbons: true);
        await using var bob = await OnlineAsync("cb-rules-bob", "x");
        var to = bob.Jid.ToString();
        // not copied: normal without a body (a receipt-less ping of some kind), headline, groupchat, error
        await phone.SendAsync($"<message to='{to}' id='n0'><thread>t</thread></message>");
        await phone.SendAsync($"<message to='{to}' type='headline' id='n1'><body>news</body></message>");
        await phone.SendAsync($"<message to='{to}' type='groupchat' id='n2'><body>room</body></message>");
        await phone.SendAsync($"<message to='{to}' type='error' id='n3'><error type='cancel'><item-not-found xmlns='{Ns.StanzaErrors}'/></error></message>");
        // not copied: a headline with a receipt (the type rules first)
        await phone.SendAsync($"<message to='{to}' type='headline' id='n4'><received xmlns='urn:xmpp:receipts' id='x'/></message>");
        // copied: normal with a body, chat without one (chat states), a XEP-0353 propose, and normal messages with only
        // an IM payload (§6: XEP-0085 chat state, XEP-0184 receipt, XEP-0333 chat marker)
        await phone.SendAsync($"<message to='{to}' id='y1'><body>normal</body></message>");
        await phone.SendAsync($"<message to='{to}' type='chat' id='y2'><active xmlns='http://jabber.org/protocol/chatstates'/></message>");
        await phone.SendAsync($"<message to='{to}' id='y3'><propose xmlns='urn:xmpp:jingle-message:0' id='call1'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/></propose></message>");
        await phone.SendAsync($"<message to='{to}' id='y4'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>");
        await phone.SendAsync($"<message to='{to}' type='normal' id='y5'><received xmlns='urn:xmpp:receipts' id='y1'/></message>");
        await phone.SendAsync($"<message to='{to}' id='y6'><displayed xmlns='urn:xmpp:chat-markers:0' id='y1'/></message>");
        foreach (var id in new[] { "y1", "y2", "y3", "y4", "y5", "y6" })
            Assert.Equal(id, Forwarded(await NextMessageAsync(desk), "sent", desk).Id);
    }

    [Fact]
    public async Task Xep0280_5_after_disable_no_more_copies_arrive()
    {
        await using var phone = await OnlineAsync("cb-dis", "phone", carbons: true);
        await using var desk = await OnlineAsync("cb-dis", "desk", carbons: true);
        await using var bob = await OnlineAsync("cb-dis-bob", "x");
        await EnableAsync(desk, "disable");
        await phone.SendAsync($"<message to='{bob.Jid}' type='chat' id='d1'><body>one</body></message>");
        Assert.Equal("d1", (await NextMessageAsync(bob)).Id);
        await EnableAsync(desk);
        await phone.SendAsync($"<message to='{bob.Jid}' type='chat' id='d2'><body>two</body></message>");
        Assert.Equal("d2", Forwarded(await NextMessageAsync(desk), "sent", desk).Id);
    }

    [Fact]
    public async Task Xep0280_4_carbons_enabled_before_a_reload_of_the_plugin_stay_enabled()
    {
        await using var phone = await OnlineAsync("cb-reload", "phone", carbons: true);
        await using var desk = await OnlineAsync("cb-reload", "desk");
        await using var bob = await OnlineAsync("cb-reload-bob", "x");
        var reload = await _server.Plugins.ReloadAsync("carbons");
        Assert.True(reload.Ok, reload.Message);
        await desk.SendAsync("<message to='cb-reload-bob@localhost' type='chat' id='r1'><body>after the reload</body></message>");
        Assert.Equal("r1", (await NextMessageAsync(bob)).Id);
        Assert.Equal("r1", Forwarded(await NextMessageAsync(phone), "sent", phone).Id);
    }
}
