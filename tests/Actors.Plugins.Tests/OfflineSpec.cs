using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Server.PluginStores;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;
using Akka.Actor;
using Microsoft.Extensions.DependencyInjection;

namespace Actors.Plugins.Tests;

/// <summary>The offline plugin over TCP: RFC 6121 §8.5.2.2.1 with XEP-0160 storage and XEP-0203 delay.</summary>
public sealed class OfflineSpec : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(TestServer.RepositoryPlugins,
        new Dictionary<string, string?>
        {
            ["Xmpp:Offline:MaxMessages"] = "3",
            // a session's bound on unacknowledged stanzas (XEP-0198) below the mailbox's size
            ["Xmpp:Sessions:MaxDetachedStanzas"] = "1",
        });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static string Condition(Element error) =>
        error.Child("error", Ns.Client)?.Elements().FirstOrDefault(e => e.Namespace == Ns.StanzaErrors)?.Name ?? "(none)";

    private static async Task Nothing(XmppTestClient client, Func<Element, bool> match, string what)
    {
        var timeout = client.Timeout;
        client.Timeout = TimeSpan.FromMilliseconds(400);
        try { await Assert.ThrowsAsync<TimeoutException>(() => client.Receives(match, what)); }
        finally { client.Timeout = timeout; }
    }

    /// <summary>Waits until the server answered everything <paramref name="client"/> sent before (one stream is in order).</summary>
    private static async Task Sync(XmppTestClient client)
    {
        var id = "sync" + Guid.NewGuid().ToString("N")[..6];
        await client.Sends($"<iq type='get' id='{id}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
        await client.Receives($"<iq id='{id}' type='result'/>");
    }

    private IStoreArchive Archive => PluginStores.Of(_server.Services.GetRequiredService<Akka.Actor.ActorSystem>()).For("offline").Archive("messages");

    private async Task WaitStoredAsync(string user, int expected)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (await Archive.CountAsync(Jid.Parse(user)) != expected)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{user} has {await Archive.CountAsync(Jid.Parse(user))} stored, not {expected}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Xep0160_the_server_advertises_msgoffline()
    {
        await using var alice = await _server.LoginAsync("alice");
        Assert.True(await alice.IsFeatureAdvertised("msgoffline"));
    }

    [Fact]
    public async Task A_login_with_an_empty_mailbox_reads_no_account_store_and_one_with_mail_does()
    {
        var stores = PluginStores.Of(_server.Services.GetRequiredService<Akka.Actor.ActorSystem>());
        async Task<bool> ArchiveRunning(string account) =>
            (await stores.Parent.Ask<string[]>(PluginStoresActor.ListRunning.Instance, TimeSpan.FromSeconds(5)))
            .Contains("plugin-store:offline/archive/messages:" + account);

        await _server.AddUserAsync("dave");
        await using (var dave = await _server.LoginAsync("dave", "phone"))
        {
            await dave.Sends("<presence/>");
            await Sync(dave);
            Assert.False(await ArchiveRunning("dave@localhost")); // issue 9: no recovery read at login for an empty mailbox
        }
        await using (var bob = await _server.LoginAsync("bob", "phone"))
        {
            await bob.Sends("<message to='dave@localhost' type='chat' id='c1'><body>kept</body></message>");
            await Sync(bob);
        }
        await WaitStoredAsync("dave@localhost", 1);
        await using var again = await _server.LoginAsync("dave", "phone");
        await again.Sends("<presence/>");
        var got = await again.Receives(e => e.Name == "message", "the stored message");
        Assert.Equal("kept", got.ChildText("body", Ns.Client));
        await WaitStoredAsync("dave@localhost", 0);
    }

    [Fact]
    public async Task Rfc6121_8_5_2_2_1_chat_and_normal_are_stored_and_delivered_in_order_with_delay_at_the_next_available_presence()
    {
        await using (var bob = await _server.LoginAsync("bob", "phone"))
        {
            await bob.Sends("<message to='alice@localhost' type='chat' id='m1'><body>one</body></message>");
            await bob.Sends("<message to='alice@localhost' id='m2'><body>two</body></message>");
            await bob.Sends("<message to='alice@localhost/gone' type='chat' id='m3'><body>three</body></message>"); // §8.5.3.2.1
            await Sync(bob);
            await WaitStoredAsync("alice@localhost", 3);
            await Nothing(bob, e => e.Type == "error", "no error"); // nothing bounced
        }

        await using var alice = await _server.LoginAsync("alice", "phone");
        await Nothing(alice, e => e.Name == "message", "no message before initial presence (XEP-0160 §3)");
        await alice.Sends("<presence/>");
        var got = new List<Element>();
        for (var i = 0; i < 3; i++) got.Add(await alice.Receives(e => e.Name == "message", "an offline message"));
        Assert.Equal(["one", "two", "three"], got.Select(m => m.ChildText("body", Ns.Client)));
        foreach (var m in got)
        {
            var delay = m.Child("delay", Ns.Delay)!; // XEP-0203
            Assert.Equal("localhost", delay.Attr("from"));
            Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", delay.Attr("stamp")!);
            Assert.Equal("bob@localhost/phone", m.From);
        }
        await WaitStoredAsync("alice@localhost", 0); // written out: removed
        await alice.CloseAsync();

        await using var again = await _server.LoginAsync("alice", "phone");
        await again.Sends("<presence/>");
        await Sync(again);
        await Nothing(again, e => e.Name == "message", "no message a second time");
    }

    /// <summary>XEP-0198 with a mailbox larger than the session's bound on unacknowledged stanzas: the mailbox is
    /// written out at login, faster than the client's first &lt;a/&gt; can come back, and its pages (bounded by the
    /// mailbox's own pacing) do not count against that bound. Before: the login was closed with
    /// &lt;resource-constraint/&gt; at the bound, every time, and the mailbox never emptied (the soak, 2026-12-07).</summary>
    [Fact]
    public async Task Xep0198_a_mailbox_larger_than_the_unacknowledged_bound_is_delivered_and_emptied_on_acknowledgement()
    {
        await using (var bob = await _server.LoginAsync("bob", "desk3"))
        {
            for (var i = 1; i <= 3; i++) await bob.Sends($"<message to='alice@localhost' type='chat' id='s{i}'><body>s{i}</body></message>");
            await Sync(bob);
            await WaitStoredAsync("alice@localhost", 3);
        }
        await using var carol = await XmppTestClient.LoginAsync(_server, "alice", "phone");
        await carol.SendAsync("<enable xmlns='urn:xmpp:sm:3'/>");
        Assert.True((await carol.NextAsync()).Is("enabled", "urn:xmpp:sm:3"));
        await carol.SendAsync("<presence/>");
        var bodies = new List<string>();
        var handled = 0; // XEP-0198 §4: every stanza counts (her own presence too)
        while (bodies.Count < 3)
        {
            var e = await carol.NextAsync();
            Assert.False(e.Is("error", Ns.Streams), "the stream was closed: " + string.Join(",", e.Elements().Select(c => c.Name)));
            if (e.Namespace != Ns.Client) continue; // <r/>
            handled++;
            if (e.Name == "message") bodies.Add(e.ChildText("body", Ns.Client) ?? "");
        }
        Assert.Equal(["s1", "s2", "s3"], bodies);
        await carol.SendAsync($"<a xmlns='urn:xmpp:sm:3' h='{handled}'/>");
        await WaitStoredAsync("alice@localhost", 0); // acknowledged: trimmed
    }

    [Fact]
    public async Task Rfc6121_8_5_2_2_1_groupchat_bounces_headline_and_error_are_not_stored()
    {
        await using var bob = await _server.LoginAsync("bob", "phone");
        await bob.Sends("<message to='alice@localhost' type='groupchat' id='g'><body>g</body></message>");
        Assert.Equal("service-unavailable", Condition(await bob.Receives("<message id='g' type='error'/>")));
        await bob.Sends("<message to='alice@localhost' type='headline' id='h'><body>h</body></message>");
        await bob.Sends("<message to='alice@localhost' type='error' id='e'><body>e</body></message>");
        await Sync(bob);
        await Nothing(bob, e => e.Type == "error", "no error for the headline and the error");
        Assert.Equal(0, await Archive.CountAsync(Jid.Parse("alice@localhost")));
    }

    [Fact]
    public async Task Xep0353_a_call_proposal_to_an_offline_account_is_not_stored_as_chat_and_the_caller_learns_it()
    {
        await using var bob = await _server.LoginAsync("bob", "caller");
        await bob.Sends("<message to='alice@localhost' type='chat' id='call1'><propose xmlns='urn:xmpp:jingle-message:0' id='c1'>" +
                        "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/></propose><store xmlns='urn:xmpp:hints'/></message>");
        Assert.Equal("service-unavailable", Condition(await bob.Receives("<message id='call1' type='error'/>")));
        Assert.Equal(0, await Archive.CountAsync(Jid.Parse("alice@localhost")));
    }

    [Fact]
    public async Task Xep0160_a_full_mailbox_answers_service_unavailable_saying_so()
    {
        await using var bob = await _server.LoginAsync("bob", "phone");
        for (var i = 0; i < 5; i++) await bob.Sends($"<message to='alice@localhost' type='chat' id='m{i}'><body>{i}</body></message>");
        var errors = new[] { await bob.Receives(e => e.Type == "error", "a bounce"), await bob.Receives(e => e.Type == "error", "a bounce") };
        Assert.Equal(["m3", "m4"], errors.Select(e => e.Id!).Order());
        Assert.All(errors, e => Assert.Equal("service-unavailable", Condition(e)));
        Assert.Contains("full", errors[0].Child("error", Ns.Client)!.ChildText("text", Ns.StanzaErrors));
        Assert.Equal(3, await Archive.CountAsync(Jid.Parse("alice@localhost"))); // Xmpp:Offline:MaxMessages
    }

    [Fact]
    public async Task Rfc6121_8_5_2_2_1_a_message_the_journal_does_not_store_is_bounced_with_internal_server_error()
    {
        await using var bob = await _server.LoginAsync("bob", "phone");
        // another writer holds the database: the archive's write cannot go through before the store's answer is due
        await using (var blocker = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(_server.DataDir, "actors.db")}"))
        {
            await blocker.OpenAsync();
            await using var tx = await blocker.BeginTransactionAsync(System.Data.IsolationLevel.Serializable);
            var lockIt = blocker.CreateCommand();
            lockIt.Transaction = (Microsoft.Data.Sqlite.SqliteTransaction)tx;
            lockIt.CommandText = "CREATE TABLE offline_spec_lock(x INTEGER)"; // takes the write lock until rollback
            await lockIt.ExecuteNonQueryAsync();
            await bob.Sends("<message to='alice@localhost' type='chat' id='f'><body>not stored in time</body></message>");
            var timeout = bob.Timeout;
            bob.Timeout = TimeSpan.FromSeconds(30);
            try
            {
                var error = await bob.Receives("<message id='f' type='error'/>");
                Assert.Equal("internal-server-error", Condition(error)); // nothing accepted is silently lost
            }
            finally { bob.Timeout = timeout; }
            await tx.RollbackAsync();
        }
    }

    [Fact]
    public async Task Xep0160_a_negative_priority_resource_gets_nothing_until_its_priority_is_zero_or_more()
    {
        await using var bob = await _server.LoginAsync("bob", "phone");
        await bob.Sends("<message to='alice@localhost' type='chat' id='x'><body>x</body></message>");
        await Sync(bob);
        await WaitStoredAsync("alice@localhost", 1);

        await using var alice = await _server.LoginAsync("alice", "bot");
        await alice.Sends("<presence><priority>-1</priority></presence>");
        await alice.Receives("<presence from='alice@localhost/bot'/>");
        await Nothing(alice, e => e.Name == "message", "no message at negative priority (RFC 6121 §8.5.2.1.1)");
        Assert.Equal(1, await Archive.CountAsync(Jid.Parse("alice@localhost")));
        await alice.Sends("<presence><priority>0</priority></presence>");
        Assert.Equal("x", (await alice.Receives(e => e.Name == "message", "the offline message")).ChildText("body", Ns.Client));
        await WaitStoredAsync("alice@localhost", 0);
    }

    [Fact]
    public async Task Xep0160_a_message_carrying_an_element_in_the_xml_namespace_is_stored_and_delivered_intact()
    {
        await using (var bob = await _server.LoginAsync("bob", "phone"))
        {
            await bob.Sends("<message to='alice@localhost' type='chat' id='n'><z xmlns='urn:x'><xml:w xml:lang='en'>t</xml:w></z>"
                            + "<y xmlns='urn:y' xmlns:p='urn:a}b' p:c='v'/><body>hi</body></message>");
            await Sync(bob);
        }
        await WaitStoredAsync("alice@localhost", 1);
        await using var alice = await _server.LoginAsync("alice", "phone");
        await alice.Sends("<presence/>");
        var m = await alice.Receives(e => e.Name == "message", "the offline message");
        var w = m.Child("z", "urn:x")!.FirstChild()!;
        Assert.Equal(("w", "http://www.w3.org/XML/1998/namespace", "en", "t"), (w.Name, w.Namespace, w.Lang, w.Text));
        Assert.Equal("v", m.Child("y", "urn:y")!.Attr("c", "urn:a}b"));
        Assert.Equal("hi", m.ChildText("body", Ns.Client));
    }

    [Fact]
    public async Task Unloading_and_loading_the_plugin_keeps_the_stored_messages_and_without_it_messages_bounce()
    {
        await using var bob = await _server.LoginAsync("bob", "phone");
        await bob.Sends("<message to='alice@localhost' type='chat' id='k'><body>kept</body></message>");
        await Sync(bob);
        await WaitStoredAsync("alice@localhost", 1);

        Assert.True((await _server.Plugins.UnloadAsync("offline")).Ok);
        // RFC 6121 §8.5.2.2.1: a server without offline storage bounces
        await bob.Sends("<message to='alice@localhost' type='chat' id='b'><body>bounced</body></message>");
        Assert.Equal("service-unavailable", Condition(await bob.Receives("<message id='b' type='error'/>")));

        Assert.True((await _server.Plugins.LoadAsync("offline")).Ok);
        await using var alice = await _server.LoginAsync("alice", "phone");
        await alice.Sends("<presence/>");
        Assert.Equal("kept", (await alice.Receives(e => e.Name == "message", "the message stored before the unload")).ChildText("body", Ns.Client));
        await Nothing(alice, e => e.Name == "message", "nothing else");
    }

    [Fact]
    public async Task Account_removal_purges_the_mailbox_and_a_recreated_account_starts_empty()
    {
        var carol = await _server.AddUserAsync("carol");
        await using (var bob = await _server.LoginAsync("bob", "phone"))
        {
            await bob.Sends("<message to='carol@localhost' type='chat' id='c'><body>for the old carol</body></message>");
            await Sync(bob);
        }
        await WaitStoredAsync("carol@localhost", 1);
        Assert.True(await _server.Services.GetRequiredService<Actors.Xmpp.Server.ServerContext>().AccountLifecycle.RemoveAsync(carol));
        Assert.Equal(0, await Archive.CountAsync(carol));
        await _server.AddUserAsync("carol");
        await using var fresh = await _server.LoginAsync("carol", "phone");
        await fresh.Sends("<presence/>");
        await Sync(fresh);
        await Nothing(fresh, e => e.Name == "message", "nothing of the removed account");
    }
}
