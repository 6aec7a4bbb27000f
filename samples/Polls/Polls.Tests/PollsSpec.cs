using Actors.Xmpp;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;

namespace Samples.Polls.Tests;

/// <summary>The walkthrough plugin of docs/plugin-authoring.md: a service address whose polls are keyed entities, and
/// per-account storage of the polls each account voted in.</summary>
public sealed class PollsSpec : IAsyncLifetime
{
    private const string PollNs = "urn:example:poll:0";
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(["disco", "polls"]);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task The_service_is_listed_in_the_servers_disco_items_and_answers_disco_info_XEP0030()
    {
        await using var alice = await _server.LoginAsync("alice");
        await alice.Sends("<iq type='get' id='i1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>");
        await alice.Receives("<iq type='result' id='i1'><query xmlns='http://jabber.org/protocol/disco#items'><item jid='polls.localhost' name='Polls'/></query></iq>");
        await alice.Sends("<iq type='get' id='i2' to='polls.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
        await alice.Receives("""
            <iq type='result' id='i2' from='polls.localhost'><query xmlns='http://jabber.org/protocol/disco#info'>
              <identity category='component' type='generic' name='Polls'/>
              <feature var='http://jabber.org/protocol/disco#info'/><feature var='urn:example:poll:0'/>
            </query></iq>
            """);
    }

    [Fact]
    public async Task Votes_by_iq_and_by_message_are_tallied_per_poll()
    {
        await using var alice = await _server.LoginAsync("alice");
        await using var bob = await _server.LoginAsync("bob");
        await alice.Sends("<iq type='set' id='v1' to='lunch@polls.localhost'><vote xmlns='urn:example:poll:0' choice='pizza'/></iq>");
        await alice.Receives("<iq type='result' id='v1' from='lunch@polls.localhost'/>");
        await bob.Sends("<message type='chat' to='lunch@polls.localhost'><body>sushi</body></message>");
        await bob.Receives("<message type='chat' from='lunch@polls.localhost'><body>pizza: 1, sushi: 1</body></message>");
        await bob.Sends("<message type='chat' to='lunch@polls.localhost'><body>pizza</body></message>"); // changes bob's vote
        await bob.Receives("<message type='chat' from='lunch@polls.localhost'><body>pizza: 2</body></message>");
        await alice.Sends("<iq type='get' id='t1' to='lunch@polls.localhost'><tally xmlns='urn:example:poll:0'/></iq>");
        await alice.Receives("<iq type='result' id='t1'><tally xmlns='urn:example:poll:0'><choice name='pizza' votes='2'/></tally></iq>");
        await alice.Sends("<iq type='get' id='t2' to='dinner@polls.localhost'><tally xmlns='urn:example:poll:0'/></iq>");
        var other = await alice.Receives("<iq type='result' id='t2'/>");
        Assert.False(other.FirstChild()!.HasChildren);
    }

    [Fact]
    public async Task A_poll_answers_presence_with_its_tally()
    {
        await using var alice = await _server.LoginAsync("alice");
        await alice.Sends("<iq type='set' id='v1' to='lunch@polls.localhost'><vote xmlns='urn:example:poll:0' choice='soup'/></iq>");
        await alice.Receives("<iq type='result' id='v1'/>");
        await alice.Sends("<presence to='lunch@polls.localhost'/>");
        await alice.Receives("<presence from='lunch@polls.localhost'><status>soup: 1</status></presence>");
    }

    [Fact]
    public async Task Unknown_requests_get_the_errors_of_RFC6120_8_3()
    {
        await using var alice = await _server.LoginAsync("alice");
        await alice.Sends("<iq type='set' id='e1' to='lunch@polls.localhost'><vote xmlns='urn:example:poll:0'/></iq>");
        await alice.Receives("<iq type='error' id='e1'><error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
        await alice.Sends("<iq type='get' id='e2' to='lunch@polls.localhost'><query xmlns='urn:example:other'/></iq>");
        await alice.Receives("<iq type='error' id='e2'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
        await alice.Sends("<iq type='get' id='e3' to='polls.localhost'><tally xmlns='urn:example:poll:0'/></iq>");
        await alice.Receives("<iq type='error' id='e3' from='polls.localhost'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    }

    [Fact]
    public async Task Votes_survive_a_reload_and_the_service_is_gone_while_unloaded()
    {
        await using var alice = await _server.LoginAsync("alice");
        await alice.Sends("<iq type='set' id='v1' to='lunch@polls.localhost'><vote xmlns='urn:example:poll:0' choice='pizza'/></iq>");
        await alice.Receives("<iq type='result' id='v1'/>");
        var reload = await _server.Plugins.ReloadAsync("polls");
        Assert.True(reload.Ok, reload.Message);
        Assert.True(TestServer.AllCollected(reload.Released));
        await alice.Sends("<iq type='get' id='t1' to='lunch@polls.localhost'><tally xmlns='urn:example:poll:0'/></iq>");
        await alice.Receives("<iq type='result' id='t1'><tally xmlns='urn:example:poll:0'><choice name='pizza' votes='1'/></tally></iq>");

        var unload = await _server.Plugins.UnloadAsync("polls");
        Assert.True(unload.Ok, unload.Message);
        // RFC 6120 §8.3.3.14: a domain neither served nor owned by a plugin
        await alice.Sends("<iq type='get' id='t2' to='lunch@polls.localhost'><tally xmlns='urn:example:poll:0'/></iq>");
        await alice.Receives("<iq type='error' id='t2'><error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
        var load = await _server.Plugins.LoadAsync("polls");
        Assert.True(load.Ok, load.Message);
        await alice.Sends("<iq type='get' id='t3' to='lunch@polls.localhost'><tally xmlns='urn:example:poll:0'/></iq>");
        await alice.Receives("<iq type='result' id='t3'><tally xmlns='urn:example:poll:0'><choice name='pizza' votes='1'/></tally></iq>");
    }

    [Fact]
    public async Task An_account_lists_the_polls_it_voted_in_with_its_choice_and_the_list_survives_a_reload()
    {
        await using var alice = await _server.LoginAsync("alice");
        await using var bob = await _server.LoginAsync("bob");
        Assert.Empty(await Mine(alice, "m0"));
        await alice.Sends("<iq type='set' id='v1' to='lunch@polls.localhost'><vote xmlns='urn:example:poll:0' choice='pizza'/></iq>");
        await alice.Receives("<iq type='result' id='v1'/>");
        await alice.Sends("<message type='chat' to='dinner@polls.localhost'><body>soup</body></message>");
        await alice.Receives("<message from='dinner@polls.localhost'><body>soup: 1</body></message>");
        await alice.Sends("<message type='chat' to='lunch@polls.localhost'><body>sushi</body></message>"); // changes the vote
        await alice.Receives("<message from='lunch@polls.localhost'><body>sushi: 1</body></message>");
        await alice.Sends("<iq type='set' id='v2' to='breakfast@polls.localhost'><vote xmlns='urn:example:poll:0'/></iq>");
        await alice.Receives("<iq type='error' id='v2'/>"); // no choice: no vote, not listed
        await alice.Sends("<iq type='get' id='t1' to='brunch@polls.localhost'><tally xmlns='urn:example:poll:0'/></iq>");
        await alice.Receives("<iq type='result' id='t1'/>"); // looking at a poll is not voting in it
        await bob.Sends("<iq type='set' id='v3' to='lunch@polls.localhost'><vote xmlns='urn:example:poll:0' choice='pizza'/></iq>");
        await bob.Receives("<iq type='result' id='v3'/>");

        string[] alices = ["dinner@polls.localhost=soup", "lunch@polls.localhost=sushi"];
        Assert.Equal(alices, await Mine(alice, "m1"));
        Assert.Equal(["lunch@polls.localhost=pizza"], await Mine(bob, "m2"));

        var reload = await _server.Plugins.ReloadAsync("polls"); // the list is in the server's journal, not the plugin
        Assert.True(reload.Ok, reload.Message);
        Assert.True(TestServer.AllCollected(reload.Released));
        Assert.Equal(alices, await Mine(alice, "m3"));
        Assert.Equal(["lunch@polls.localhost=pizza"], await Mine(bob, "m4"));
    }

    [Fact]
    public async Task Removing_an_account_removes_its_list_of_polls()
    {
        var carol = Jid.Create("carol", TestServer.Domain);
        Assert.True(await _server.Accounts.AddAsync(carol, TestServer.Password));
        await using (var c = await _server.LoginAsync("carol"))
        {
            await c.Sends("<iq type='set' id='v1' to='lunch@polls.localhost'><vote xmlns='urn:example:poll:0' choice='salad'/></iq>");
            await c.Receives("<iq type='result' id='v1'/>");
            Assert.Equal(["lunch@polls.localhost=salad"], await Mine(c, "m1"));
        }
        await using var alice = await _server.LoginAsync("alice");
        await alice.Sends("<iq type='set' id='v2' to='lunch@polls.localhost'><vote xmlns='urn:example:poll:0' choice='pizza'/></iq>");
        await alice.Receives("<iq type='result' id='v2'/>");

        Assert.True(await _server.Accounts.RemoveAsync(carol));
        Assert.True(await _server.Accounts.AddAsync(carol, TestServer.Password)); // the same name again: a new account
        await using (var c = await _server.LoginAsync("carol"))
        {
            // the host purges the removed account's stores after the removal is stored: wait for it, bounded
            var deadline = DateTime.UtcNow.AddSeconds(10);
            var n = 0;
            string[] mine;
            while ((mine = await Mine(c, $"m{++n}")).Length > 0 && DateTime.UtcNow < deadline) await Task.Delay(100);
            Assert.Empty(mine);
        }
        Assert.Equal(["lunch@polls.localhost=pizza"], await Mine(alice, "m2"));
    }

    [Fact]
    public async Task The_service_answers_only_a_get_of_mine_RFC6120_8_3_3_19()
    {
        await using var alice = await _server.LoginAsync("alice");
        await alice.Sends("<iq type='set' id='e1' to='polls.localhost'><mine xmlns='urn:example:poll:0'/></iq>");
        await alice.Receives("<iq type='error' id='e1' from='polls.localhost'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    }

    /// <summary>The polls the client's account voted in, as "poll-jid=choice", from &lt;mine/&gt; at the service.</summary>
    private static async Task<string[]> Mine(XmppTestClient client, string id)
    {
        var reply = await client.Query($"<iq type='get' id='{id}' to='polls.localhost'><mine xmlns='{PollNs}'/></iq>");
        Assert.Equal("result", reply.Type);
        Assert.Equal("polls.localhost", reply.Attr("from"));
        return reply.Child("mine", PollNs)!.Elements("poll", PollNs).Select(p => $"{p.Attr("jid")}={p.Attr("choice")}").ToArray();
    }
}
