using Actors.Xmpp;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Tests;

/// <summary>XEP-0191 blocking command (the 'blocking' plugin), over TCP.</summary>
public sealed class BlockingSpec : IAsyncLifetime
{
    private const string BlockingNs = "urn:xmpp:blocking";
    private const string BlockingErrorsNs = "urn:xmpp:blocking:errors";
    private TestServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await TestServer.StartAsync(TestServer.RepositoryPlugins);
        await _server.AddUserAsync("carol");
        await _server.AddUserAsync("dave");
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static string Condition(Element error) =>
        error.Child("error", Ns.Client)?.Elements().FirstOrDefault(e => e.Namespace == Ns.StanzaErrors)?.Name ?? "(none)";

    private static string[] Items(Element iq, string name = "blocklist") =>
        iq.Child(name, BlockingNs)!.Elements("item", BlockingNs).Select(i => i.Attr("jid")!).ToArray();

    [Fact]
    public async Task Xep0191_3_1_to_3_4_block_unblock_list_and_push_to_resources_that_requested_the_list()
    {
        await using var phone = await _server.LoginAsync("alice", "phone");
        await using var desk = await _server.LoginAsync("alice", "desk");
        Assert.True(await phone.IsFeatureAdvertised(BlockingNs)); // §3.1
        Assert.Empty(Items(await desk.Query("<iq type='get' id='l0'><blocklist xmlns='urn:xmpp:blocking'/></iq>"))); // §3.2

        // §3.3: phone never asked for the list: it gets the answer to its own command but no push; desk gets the push
        var block = await phone.Query("<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='carol@localhost'/><item jid='spam.example'/></block></iq>");
        Assert.Equal("result", block.Type);
        var push = await desk.Receives(e => e.Name == "iq" && e.Type == "set" && e.Child("block", BlockingNs) is not null, "a block push");
        Assert.Equal("alice@localhost", push.From);
        Assert.Equal(["carol@localhost", "spam.example"], Items(push, "block").Order().ToArray());
        await desk.Sends($"<iq type='result' id='{push.Id}' to='alice@localhost'/>");

        Assert.Equal(["carol@localhost", "spam.example"], Items(await phone.Query("<iq type='get' id='l1'><blocklist xmlns='urn:xmpp:blocking'/></iq>")));

        // §3.4: unblock some; then an empty unblock unblocks all (both resources requested the list by now)
        Assert.Equal("result", (await phone.Query("<iq type='set' id='u1'><unblock xmlns='urn:xmpp:blocking'><item jid='carol@localhost'/></unblock></iq>")).Type);
        var unblockPush = await desk.Receives(e => e.Name == "iq" && e.Type == "set" && e.Child("unblock", BlockingNs) is not null, "an unblock push");
        Assert.Equal(["carol@localhost"], Items(unblockPush, "unblock"));
        Assert.Equal(["spam.example"], Items(await desk.Query("<iq type='get' id='l2'><blocklist xmlns='urn:xmpp:blocking'/></iq>")));
        Assert.Equal("result", (await phone.Query("<iq type='set' id='u2'><unblock xmlns='urn:xmpp:blocking'/></iq>")).Type);
        Assert.Empty(Items(await phone.Query("<iq type='get' id='l3'><blocklist xmlns='urn:xmpp:blocking'/></iq>")));
    }

    [Fact]
    public async Task Xep0191_3_3_an_empty_block_is_bad_request_a_malformed_jid_is_jid_malformed_and_others_are_forbidden()
    {
        await using var alice = await _server.LoginAsync("alice");
        Assert.Equal("bad-request", Condition(await alice.Query("<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'/></iq>")));
        Assert.Equal("jid-malformed", Condition(await alice.Query("<iq type='set' id='b2'><block xmlns='urn:xmpp:blocking'><item jid='@localhost'/></block></iq>")));
        Assert.Empty(Items(await alice.Query("<iq type='get' id='l1'><blocklist xmlns='urn:xmpp:blocking'/></iq>"))); // nothing was stored
        await using var bob = await _server.LoginAsync("bob");
        Assert.Equal("forbidden", Condition(await bob.Query("<iq type='get' id='l2' to='alice@localhost'><blocklist xmlns='urn:xmpp:blocking'/></iq>")));
    }

    [Fact]
    public async Task Xep0191_3_3_3_5_and_3_6_a_blocked_contact_sees_the_user_go_offline_and_neither_reaches_the_other()
    {
        await using var alice = await _server.LoginAsync("alice", "test");
        await using var bob = await _server.LoginAsync("bob", "test");
        await alice.Sends("<presence/>");
        await alice.Receives("<presence from='alice@localhost/test'/>");
        await bob.Sends("<presence/>"); // presence to a bare JID reaches available resources (RFC 6121 §8.5.2.1.1)
        await bob.Receives("<presence from='bob@localhost/test'/>");

        Assert.Equal("result", (await alice.Query("<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></block></iq>")).Type);
        // §3.3: the newly blocked contact gets unavailable presence from each available resource
        await bob.Receives("<presence type='unavailable' from='alice@localhost/test'/>");

        // §3.5: messages and IQ requests from a blocked JID are answered as if the user did not exist
        await bob.Sends("<message id='m1' to='alice@localhost' type='chat'><body>hi</body></message>");
        var bounced = await bob.Receives(e => e.Name == "message" && e.Id == "m1", "the bounce");
        Assert.Equal("service-unavailable", Condition(bounced));
        var iq = await bob.Query("<iq type='get' id='q1' to='alice@localhost/test'><query xmlns='jabber:iq:version'/></iq>");
        Assert.Equal("service-unavailable", Condition(iq));
        // ... and presence (a subscription request) never arrives
        await bob.Sends("<presence type='subscribe' to='alice@localhost'/>");
        await bob.PingServerAsync();

        // §3.6: the user cannot send to a JID it blocked: not-acceptable with <blocked/>
        await alice.Sends("<message id='m2' to='bob@localhost/test' type='chat'><body>hi</body></message>");
        var refused = await alice.Receives(e => e.Name == "message" && e.Id == "m2", "the refusal");
        Assert.Equal("not-acceptable", Condition(refused));
        Assert.NotNull(refused.Child("error", Ns.Client)!.Child("blocked", BlockingErrorsNs));

        // nothing of bob's reached alice: the next stanza she gets is the answer to her own ping
        var ping = await alice.Query("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
        Assert.Equal("result", ping.Type);
        Assert.Equal(["bob@localhost"], Items(await alice.Query("<iq type='get' id='l1'><blocklist xmlns='urn:xmpp:blocking'/></iq>")));
    }

    [Fact]
    public async Task Xep0191_3_5_messages_from_a_blocked_contact_are_not_stored_offline_but_bounced_also_before_the_list_is_read()
    {
        await using (var alice = await _server.LoginAsync("alice"))
            Assert.Equal("result", (await alice.Query("<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></block></iq>")).Type);
        // a reload empties the plugin's memory: the next stanza for alice is held until her list is read again
        var reload = await _server.Plugins.ReloadAsync("blocking");
        Assert.True(reload.Ok, reload.Message);

        await using var bob = await _server.LoginAsync("bob", "test");
        await bob.Sends("<message id='m1' to='alice@localhost' type='chat'><body>spam</body></message>");
        Assert.Equal("service-unavailable", Condition(await bob.Receives(e => e.Name == "message" && e.Id == "m1", "the bounce")));
        await using var carol = await _server.LoginAsync("carol", "test");
        await carol.Sends("<message id='m2' to='alice@localhost' type='chat'><body>hello</body></message>");
        await carol.ExpectNoBounceAsync();

        // XEP-0160: alice finds carol's message only
        await using var back = await _server.LoginAsync("alice", "back");
        await back.Sends("<presence/>");
        var offline = await back.Receives(e => e.Name == "message", "an offline message");
        Assert.Equal("carol@localhost/test", offline.From);
        var ping = await back.Query("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
        Assert.Equal("result", ping.Type);
    }

    [Fact]
    public async Task Xep0191_3_5_accounts_whose_lists_are_read_while_they_write_to_each_other_get_every_message()
    {
        // every account's list is read for the first time while the others' messages to it are held, and the held
        // messages, routed again, need their senders' lists, which are being read at the same moment (a lock held
        // while routing them deadlocked two accounts writing to each other, and every thread that touched them)
        const int count = 16;
        var clients = new List<XmppTestClient>();
        try
        {
            for (var i = 0; i < count; i++)
            {
                await _server.AddUserAsync($"mesh{i}");
                clients.Add(await XmppTestClient.LoginAsync(_server, $"mesh{i}", "r", available: true));
            }
            await Task.WhenAll(clients.Select((c, i) => c.SendAsync(string.Concat(Enumerable.Range(0, count).Where(j => j != i)
                .Select(j => $"<message to='mesh{j}@localhost/r' type='chat' id='m{i}-{j}'><body>hi</body></message>")))));
            for (var i = 0; i < count; i++)
            {
                var from = new HashSet<string>();
                while (from.Count < count - 1)
                {
                    var m = await clients[i].NextMatchingAsync(e => e.Name == "message", TimeSpan.FromSeconds(20));
                    Assert.Null(m.Type == "error" ? m.ToString() : null);
                    Assert.True(from.Add(m.From!), $"{m.From} twice");
                }
            }
            await clients[0].PingServerAsync(); // and the server still answers
        }
        finally
        {
            foreach (var c in clients) await c.DisposeAsync();
        }
    }

    [Fact]
    public async Task Unloading_and_reloading_the_plugin_keeps_every_block_list()
    {
        await using var alice = await _server.LoginAsync("alice");
        Assert.Equal("result", (await alice.Query("<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='spam@example.org'/></block></iq>")).Type);
        var unload = await _server.Plugins.UnloadAsync("blocking");
        Assert.True(unload.Ok, unload.Message);
        Assert.Equal("service-unavailable", Condition(await alice.Query("<iq type='get' id='l1'><blocklist xmlns='urn:xmpp:blocking'/></iq>")));
        var load = await _server.Plugins.LoadAsync("blocking");
        Assert.True(load.Ok, load.Message);
        Assert.Equal(["spam@example.org"], Items(await alice.Query("<iq type='get' id='l2'><blocklist xmlns='urn:xmpp:blocking'/></iq>")));
    }

    [Fact]
    public async Task Xep0191_3_3_a_resource_that_requested_the_list_still_gets_pushes_after_a_reload_of_the_plugin()
    {
        await using var phone = await _server.LoginAsync("dave", "phone");
        await using var desk = await _server.LoginAsync("dave", "desk");
        Assert.Empty(Items(await desk.Query("<iq type='get' id='l0'><blocklist xmlns='urn:xmpp:blocking'/></iq>"))); // §3.2
        var reload = await _server.Plugins.ReloadAsync("blocking");
        Assert.True(reload.Ok, reload.Message);
        Assert.Equal("result", (await phone.Query("<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='carol@localhost'/></block></iq>")).Type);
        var push = await desk.Receives(e => e.Name == "iq" && e.Type == "set" && e.Child("block", BlockingNs) is not null, "a block push after the reload");
        Assert.Equal(["carol@localhost"], Items(push, "block"));
        await desk.Sends($"<iq type='result' id='{push.Id}' to='dave@localhost'/>");
        // the phone never requested the list: no push for it (the next stanza it gets is the answer to its own ping)
        await phone.Sends("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
        Assert.Equal("p1", (await phone.NextAsync()).Id);
        // a new session at the desk's full JID starts without the flag of the one before
        await desk.DisposeAsync();
        await using var desk2 = await _server.LoginAsync("dave", "desk");
        Assert.Equal("result", (await phone.Query("<iq type='set' id='u1'><unblock xmlns='urn:xmpp:blocking'/></iq>")).Type);
        await desk2.Sends("<iq type='get' id='p2' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
        Assert.Equal("p2", (await desk2.NextAsync()).Id);
    }
}
