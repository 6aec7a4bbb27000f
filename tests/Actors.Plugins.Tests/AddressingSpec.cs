using Actors.Xmpp.Testing;

namespace Actors.Plugins.Tests;

/// <summary>Owned addresses and the stanza hook points of plugin contract v2, over TCP (TestPlugins/Addressing).</summary>
public sealed class AddressingSpec : IAsyncLifetime
{
    private const string Stanzas = "urn:ietf:params:xml:ns:xmpp-stanzas";
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(["addressing", "offline"]);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static async Task NothingMatching(XmppTestClient client, string pattern)
    {
        var timeout = client.Timeout;
        client.Timeout = TimeSpan.FromMilliseconds(300);
        try { await Assert.ThrowsAsync<TimeoutException>(() => client.Receives(pattern)); }
        finally { client.Timeout = timeout; }
    }

    /// <summary>Initial presence: messages to the bare JID reach an available resource only (RFC 6121 §8.5.2.1.1).</summary>
    private static async Task Available(XmppTestClient client)
    {
        await client.Sends("<presence id='up'/>");
        await client.Receives("<presence id='up'/>");
    }

    // ---- service JIDs ----

    [Fact]
    public async Task A_service_jid_receives_iq_message_and_presence_including_full_jids_under_it()
    {
        await using var alice = await _server.LoginAsync("alice");
        await alice.Sends("<iq type='get' id='q1' to='echo.localhost'><ping xmlns='urn:test:addressing'/></iq>");
        await alice.Receives("<iq type='result' id='q1' from='echo.localhost'><ping xmlns='urn:test:addressing'/></iq>");
        await alice.Sends("<message type='chat' id='m1' to='room@echo.localhost/nick'><body>hi</body></message>");
        await alice.Receives("<message id='m1' from='room@echo.localhost/nick'><body>hi</body></message>");
        await alice.Sends("<presence id='p1' to='echo.localhost/x'/>");
        await alice.Receives("<presence id='p1' from='echo.localhost/x'/>");
        await alice.Sends("<iq type='set' id='q2' to='node@echo.localhost'><thing xmlns='urn:test:addressing'/></iq>");
        await alice.Receives("<iq type='result' id='q2' from='node@echo.localhost'/>");
    }

    [Fact]
    public async Task The_host_answers_disco_info_at_a_service_jid_from_its_registration_XEP0030_3_1()
    {
        await using var alice = await _server.LoginAsync("alice");
        await alice.Sends("<iq type='get' id='d1' to='echo.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
        await alice.Receives("""
            <iq type='result' id='d1' from='echo.localhost'><query xmlns='http://jabber.org/protocol/disco#info'>
              <identity category='component' type='generic' name='Echo'/>
              <feature var='http://jabber.org/protocol/disco#info'/><feature var='urn:test:addressing'/>
            </query></iq>
            """);
    }

    [Fact]
    public async Task A_subdomain_nobody_owns_is_remote_server_not_found_RFC6120_8_3_3_14()
    {
        await using var alice = await _server.LoginAsync("alice");
        await alice.Sends("<iq type='get' id='u1' to='nothing.localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
        await alice.Receives($"<iq type='error' id='u1' from='nothing.localhost'><error type='cancel'><remote-server-not-found xmlns='{Stanzas}'/></error></iq>");
        await alice.Sends("<message id='u2' to='room@nothing.localhost'><body>x</body></message>");
        await alice.Receives($"<message type='error' id='u2'><error type='cancel'><remote-server-not-found xmlns='{Stanzas}'/></error></message>");
    }

    [Fact]
    public async Task A_failing_service_handler_is_internal_server_error_RFC6120_8_3_3_8_and_the_server_goes_on()
    {
        await using var alice = await _server.LoginAsync("alice");
        await alice.Sends("<iq type='get' id='f1' to='echo.localhost'><fail xmlns='urn:test:addressing'/></iq>");
        await alice.Receives($"<iq type='error' id='f1' from='echo.localhost'><error type='cancel'><internal-server-error xmlns='{Stanzas}'/></error></iq>");
        await alice.Sends("<iq type='get' id='f2' to='echo.localhost'><ping xmlns='urn:test:addressing'/></iq>");
        await alice.Receives("<iq type='result' id='f2'/>");
    }

    [Fact]
    public async Task Unloading_releases_the_address()
    {
        await using var alice = await _server.LoginAsync("alice");
        var unload = await _server.Plugins.UnloadAsync("addressing");
        Assert.True(unload.Ok, unload.Message);
        Assert.True(TestServer.AllCollected(unload.Released));
        await alice.Sends("<iq type='get' id='g1' to='echo.localhost'><ping xmlns='urn:test:addressing'/></iq>");
        await alice.Receives($"<iq type='error' id='g1'><error><remote-server-not-found xmlns='{Stanzas}'/></error></iq>");
    }

    // ---- account namespaces ----

    [Fact]
    public async Task Iqs_to_an_accounts_bare_jid_in_an_owned_namespace_reach_the_plugin_even_when_the_account_is_offline()
    {
        await using var alice = await _server.LoginAsync("alice");
        await alice.Sends("<iq type='get' id='a1' to='bob@localhost'><query xmlns='urn:test:account'/></iq>");
        await alice.Receives("<iq type='result' id='a1' from='bob@localhost'><account xmlns='urn:test:account' jid='bob@localhost'/></iq>");
        await alice.Sends("<iq type='set' id='a2' to='alice@localhost'><other xmlns='urn:test:account'/></iq>"); // any element, own account
        await alice.Receives("<iq type='result' id='a2'><account xmlns='urn:test:account' jid='alice@localhost'/></iq>");
    }

    [Fact]
    public async Task Account_namespace_iqs_to_no_account_or_unowned_namespaces_are_service_unavailable_RFC6120_8_4()
    {
        await using var alice = await _server.LoginAsync("alice");
        await alice.Sends("<iq type='get' id='n1' to='nobody@localhost'><query xmlns='urn:test:account'/></iq>");
        await alice.Receives($"<iq type='error' id='n1'><error type='cancel'><service-unavailable xmlns='{Stanzas}'/></error></iq>");
        await alice.Sends("<iq type='get' id='n2' to='bob@localhost'><query xmlns='urn:test:nobody'/></iq>");
        await alice.Receives($"<iq type='error' id='n2'><error type='cancel'><service-unavailable xmlns='{Stanzas}'/></error></iq>");
    }

    [Fact]
    public async Task Messages_in_an_owned_namespace_go_to_the_plugin_when_it_asked_for_them()
    {
        await using var alice = await _server.LoginAsync("alice");
        await using var bob = await _server.LoginAsync("bob", "b");
        await Available(bob);
        await alice.Sends("<message to='bob@localhost' id='x1'><body>for the plugin</body><data xmlns='urn:test:account'/></message>");
        await alice.Receives("<message from='bob@localhost'><received xmlns='urn:test:account'/></message>");
        await alice.Sends("<message to='bob@localhost' id='x2' type='chat'><body>for bob</body></message>");
        await bob.Receives("<message id='x2'/>");
        await NothingMatching(bob, "<message id='x1'/>");
    }

    // ---- hook points ----

    private async Task Hooked(XmppTestClient client, string point, string session)
    {
        await client.Receives($"<message from='localhost'><hooked xmlns='urn:test:hooks' point='{point}' session='{session}'/></message>");
        await NothingMatching(client, $"<message><hooked xmlns='urn:test:hooks' point='{point}' late='true'/></message>"); // stop-the-chain
    }

    [Fact]
    public async Task FromClient_hook_runs_before_routing_and_stops_the_chain()
    {
        await using var alice = await _server.LoginAsync("alice", "a");
        await using var bob = await _server.LoginAsync("bob", "b");
        await alice.Sends("<message to='bob@localhost' id='h0' type='chat'><body>x</body><stop xmlns='urn:test:hooks' at='FromClient'/></message>");
        await Hooked(alice, "FromClient", "alice@localhost/a");
        await NothingMatching(bob, "<message id='h0'/>");
    }

    [Fact]
    public async Task InboundBare_hook_sees_stanzas_to_a_bare_jid_and_stops_the_chain()
    {
        await using var alice = await _server.LoginAsync("alice", "a");
        await using var bob = await _server.LoginAsync("bob", "b");
        await Available(bob);
        await alice.Sends("<message to='bob@localhost' id='h1' type='chat'><body>x</body><stop xmlns='urn:test:hooks' at='InboundBare'/></message>");
        await Hooked(alice, "InboundBare", "bob@localhost");
        await alice.Sends("<message to='bob@localhost' id='h1b' type='chat'><body>y</body></message>"); // no stop: delivered
        await bob.Receives("<message id='h1b'/>");
        await NothingMatching(bob, "<message id='h1'/>");
    }

    [Fact]
    public async Task InboundFull_hook_sees_stanzas_to_a_full_jid_and_stops_the_chain()
    {
        await using var alice = await _server.LoginAsync("alice", "a");
        await using var bob = await _server.LoginAsync("bob", "b");
        await alice.Sends("<message to='bob@localhost/b' id='h2' type='chat'><body>x</body><stop xmlns='urn:test:hooks' at='InboundFull'/></message>");
        await Hooked(alice, "InboundFull", "bob@localhost/b");
        await alice.Sends("<message to='bob@localhost/b' id='h2b' type='chat'><body>y</body></message>");
        await bob.Receives("<message id='h2b'/>");
        await NothingMatching(bob, "<message id='h2'/>");
    }

    [Fact]
    public async Task Undeliverable_hook_runs_before_offline_storage_and_a_hook_that_takes_the_message_keeps_it_out_of_it()
    {
        await using (var alice = await _server.LoginAsync("alice", "a"))
        {
            await alice.Sends("<message to='bob@localhost' id='h3' type='chat'><body>taken</body><stop xmlns='urn:test:hooks' at='Undeliverable'/></message>");
            await Hooked(alice, "Undeliverable", "bob@localhost");
            await alice.Sends("<message to='bob@localhost' id='h3b' type='chat'><body>stored</body></message>");
            await alice.Sends("<iq type='get' id='sync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
            await alice.Receives("<iq id='sync'/>");
        }
        await using var bob = await _server.LoginAsync("bob", "b");
        await bob.Sends("<presence/>");
        await bob.Receives("<message id='h3b'><body>stored</body></message>"); // RFC 6121 §8.5.2.2.1 offline storage as before
        await NothingMatching(bob, "<message id='h3'/>");
    }

    [Fact]
    public async Task PresenceBroadcast_hook_sees_broadcast_presence_and_stops_the_broadcast()
    {
        await using var alice = await _server.LoginAsync("alice", "a");
        await alice.Sends("<presence id='h4'><stop xmlns='urn:test:hooks' at='PresenceBroadcast'/></presence>");
        await Hooked(alice, "PresenceBroadcast", "alice@localhost/a");
        await NothingMatching(alice, "<presence id='h4'/>"); // RFC 6121 §4.2.2 would echo it to alice's own resource
        await alice.Sends("<presence id='h4b'/>");
        await alice.Receives("<presence id='h4b' from='alice@localhost/a'/>");
    }
}
