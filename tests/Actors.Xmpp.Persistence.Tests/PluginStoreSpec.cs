using Actors.Xmpp.Persistence.Plugins;
using Actors.Xmpp.Persistence.Replay;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Server.Accounts;
using Actors.Xmpp.Server.PluginStores;
using Actors.Xmpp.Xml;
using Akka.Actor;

namespace Actors.Xmpp.Persistence.Tests;

/// <summary>Plugin storage (IPluginStorage) on the real journal: maps per account and per service, archives, batched
/// writes, recovery after a restart, snapshots, purge when the account is removed. Every case on SQLite and PostgreSQL.</summary>
public sealed class PluginStoreSpec(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly Jid Alice = Jid.Parse("alice@localhost"), Bob = Jid.Parse("bob@localhost");
    private static readonly Jid Service = Jid.Parse("localhost"), PubSub = Jid.Parse("pubsub.localhost");

    private static async Task WithSystem(TestDatabase db, Func<ActorSystem, IPluginStorage, Task> body, int snapshotEvery = 100,
        long maxAccountStoreBytes = 0)
    {
        var system = PersistenceActorSystem.Create("stores", db.Options, db.DataDir);
        try
        {
            var storage = PluginStores.Of(system)
                .Configure(new PluginStoreActor.Settings(snapshotEvery, TimeSpan.FromMilliseconds(300), maxAccountStoreBytes)).For("test");
            await body(system, storage);
        }
        finally
        {
            await system.Terminate();
        }
    }

    private static async Task<IReadOnlyList<JournalEvent>> Events(ActorSystem system, string persistenceId)
    {
        var reader = await JournalReader.OpenAsync(system);
        return await reader.CollectAsync(reader.ByPersistenceId(persistenceId));
    }

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task A_map_keeps_text_and_xml_per_account_and_per_service(string kind)
    {
        using var db = TestDatabase.Create(kind);
        await WithSystem(db, async (_, storage) =>
        {
            var map = storage.Map("settings");
            await map.SetAsync(Alice, "color", StoredValue.Of("blue"));
            await map.SetAsync(Alice, "card", StoredValue.Of(new Element("vCard", "vcard-temp").Add(new Element("FN", "vcard-temp").AddText("A"))));
            await map.SetAsync(Service, "color", StoredValue.Of("server-wide"));
            await map.SetAsync(PubSub, "color", StoredValue.Of("service"));
            Assert.Equal("blue", (await map.GetAsync(Alice, "color"))!.Text);
            Assert.Equal("A", (await map.GetAsync(Alice, "card"))!.Xml!.ChildText("FN", "vcard-temp"));
            Assert.Equal("server-wide", (await map.GetAsync(Service, "color"))!.Text);
            Assert.Equal("service", (await map.GetAsync(PubSub, "color"))!.Text);
            Assert.Null(await map.GetAsync(Bob, "color")); // owners do not share
            Assert.Null(await storage.Map("other").GetAsync(Alice, "color")); // nor kinds
            Assert.Equal(["card", "color"], (await map.GetAllAsync(Alice)).Select(e => e.Key));
            await map.SetManyAsync(Alice, [new StoredEntry("color", null), new StoredEntry("size", StoredValue.Of("L"))]);
            Assert.Equal(["card", "size"], (await map.GetAllAsync(Alice)).Select(e => e.Key));
            await map.ClearAsync(Alice);
            Assert.Empty(await map.GetAllAsync(Alice));
            Assert.Equal("server-wide", (await map.GetAsync(Service, "color"))!.Text);
            await Assert.ThrowsAsync<ArgumentException>(() => map.SetAsync(Jid.Parse("alice@localhost/phone"), "x", StoredValue.Of("y")));
            Assert.Throws<ArgumentException>(() => storage.Map("no/slashes"));
        });
    }

    [Fact]
    public async Task An_accounts_store_holds_at_most_its_byte_quota_counted_again_after_recovery_and_service_stores_are_not_capped()
    {
        using var db = TestDatabase.Create("sqlite");
        var big = new string('x', 400); // "k1" + 400 bytes per entry
        async Task Fill(ActorSystem _, IPluginStorage storage)
        {
            var map = storage.Map("docs");
            await map.SetAsync(Alice, "k1", StoredValue.Of(big));
            await map.SetAsync(Alice, "k2", StoredValue.Of(big));
            await Assert.ThrowsAsync<StoreQuotaExceededException>(() => map.SetAsync(Alice, "k3", StoredValue.Of(big)));
            // a batch is refused whole
            await Assert.ThrowsAsync<StoreQuotaExceededException>(() =>
                map.SetManyAsync(Alice, [new StoredEntry("k1", null), new StoredEntry("k3", StoredValue.Of(big + big))]));
            Assert.Equal(["k1", "k2"], (await map.GetAllAsync(Alice)).Select(e => e.Key));
            await map.SetAsync(PubSub, "k1", StoredValue.Of(big + big + big)); // a service's store: no cap
            var queue = storage.Archive("queue");
            Assert.Equal(1, await queue.AppendAsync(Alice, StoredValue.Of(big)));
            Assert.Equal(2, await queue.AppendAsync(Alice, StoredValue.Of(big)));
            Assert.Equal(0, await queue.AppendAsync(Alice, StoredValue.Of(big))); // full: nothing appended
            await queue.TrimAsync(Alice, 1);
            Assert.Equal(3, await queue.AppendAsync(Alice, StoredValue.Of(big))); // a trim frees its bytes
        }
        await WithSystem(db, Fill, maxAccountStoreBytes: 1000);
        // after a restart the bytes held are counted from the journal again
        await WithSystem(db, async (_, storage) =>
        {
            var map = storage.Map("docs");
            await Assert.ThrowsAsync<StoreQuotaExceededException>(() => map.SetAsync(Alice, "k3", StoredValue.Of(big)));
            await map.SetAsync(Alice, "k2", null); // removing frees room
            await map.SetAsync(Alice, "k3", StoredValue.Of(big));
            Assert.Equal(0, await storage.Archive("queue").AppendAsync(Alice, StoredValue.Of(big)));
        }, snapshotEvery: 3, maxAccountStoreBytes: 1000);
    }

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task An_archive_pages_after_an_id_trims_up_to_an_id_and_counts(string kind)
    {
        using var db = TestDatabase.Create(kind);
        await WithSystem(db, async (_, storage) =>
        {
            var archive = storage.Archive("queue");
            for (var i = 1; i <= 10; i++) Assert.Equal(i, await archive.AppendAsync(Alice, StoredValue.Of("m" + i)));
            var first = await archive.ReadAsync(Alice, 0, 4);
            Assert.Equal([1L, 2, 3, 4], first.Items.Select(i => i.Id));
            Assert.False(first.Complete);
            var next = await archive.ReadAsync(Alice, first.Items[^1].Id, 4);
            Assert.Equal(["m5", "m6", "m7", "m8"], next.Items.Select(i => i.Value.Text));
            var last = await archive.ReadAsync(Alice, 8, 4);
            Assert.Equal([9L, 10], last.Items.Select(i => i.Id));
            Assert.True(last.Complete);
            await archive.TrimAsync(Alice, 6);
            Assert.Equal(4, await archive.CountAsync(Alice));
            Assert.Equal([7L, 8, 9, 10], (await archive.ReadAsync(Alice, 0, 100)).Items.Select(i => i.Id));
            Assert.Equal(11, await archive.AppendAsync(Alice, StoredValue.Of(new Element("message", Ns.Client)))); // ids never reused
            Assert.Equal(0, await archive.CountAsync(Bob));
        });
    }

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task A_bounded_append_stops_at_the_quota_even_when_many_arrive_at_once_and_a_trim_makes_room(string kind)
    {
        using var db = TestDatabase.Create(kind);
        await WithSystem(db, async (system, storage) =>
        {
            var archive = storage.Archive("mailbox");
            const int quota = 25;
            var appends = new Task<long>[100];
            for (var i = 0; i < appends.Length; i++) appends[i] = archive.AppendAsync(Alice, StoredValue.Of("m" + i), quota);
            var ids = await Task.WhenAll(appends);
            // in order: the first 25 stored (ids 1..25), every later one refused with 0 and nothing appended
            Assert.Equal(Enumerable.Range(1, quota).Select(i => (long)i), ids.Take(quota));
            Assert.All(ids.Skip(quota), id => Assert.Equal(0, id));
            Assert.Equal(quota, await archive.CountAsync(Alice));
            Assert.Equal(Enumerable.Range(0, quota).Select(i => "m" + i), (await archive.ReadAsync(Alice, 0, 100)).Items.Select(i => i.Value.Text));
            // a trim and appends queued together: the room the trim makes is counted in order
            var trim = archive.TrimAsync(Alice, 10);
            var more = new Task<long>[15];
            for (var i = 0; i < more.Length; i++) more[i] = archive.AppendAsync(Alice, StoredValue.Of("n" + i), quota);
            await trim;
            var moreIds = await Task.WhenAll(more);
            Assert.Equal(Enumerable.Range(26, 10).Select(i => (long)i), moreIds.Take(10));
            Assert.All(moreIds.Skip(10), id => Assert.Equal(0, id));
            Assert.Equal(quota, await archive.CountAsync(Alice));
            Assert.Equal(0, await archive.AppendAsync(Alice, StoredValue.Of("full"), quota));
            Assert.Equal(36, await archive.AppendAsync(Alice, StoredValue.Of("unbounded"))); // the quota is the caller's
        });
    }

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task Writes_that_arrive_during_a_write_go_out_together(string kind)
    {
        using var db = TestDatabase.Create(kind);
        await WithSystem(db, async (system, storage) =>
        {
            var map = storage.Map("batch");
            const int n = 200;
            var writes = new Task[n];
            for (var i = 0; i < n; i++) writes[i] = map.SetAsync(Alice, "k" + i, StoredValue.Of(i.ToString()));
            await Task.WhenAll(writes);
            Assert.Equal(n, (await map.GetAllAsync(Alice)).Count);
            var events = await Events(system, "plugin-store:test/map/batch:alice@localhost");
            // the first write alone, then whatever queued meanwhile in one: far fewer events than writes
            output.WriteLine($"{kind}: {n} concurrent writes stored as {events.Count} journal events");
            Assert.True(events.Count < n / 4, $"{events.Count} journal events for {n} writes");
            Assert.Equal(n, events.Sum(e => ((StoreMapSet)e.Event).Entries.Length));
        });
    }

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task A_large_map_snapshots_every_half_its_entries_not_every_snapshot_interval_and_recovers_whole(string kind)
    {
        using var db = TestDatabase.Create(kind);
        const string id = "plugin-store:test/map/nodes:pubsub.localhost";
        await WithSystem(db, async (system, storage) =>
        {
            var map = storage.Map("nodes");
            for (var i = 0; i < 40; i++) await map.SetAsync(PubSub, "n" + i, StoredValue.Of("v" + i)); // one event each
            // snapshots at events 3, 6, 10, 15, 22 and 33 (every max(3, entries / 2)); each deletes the events it covers,
            // asynchronously: once that settles the journal holds 34..40 (every 3: 40 alone)
            int held = -1, last;
            do
            {
                last = held;
                await Task.Delay(300);
                held = (await Events(system, id)).Count;
            } while (held != last);
            Assert.True(held > 3, $"the journal holds {held} events: the 40-entry map was snapshotted every 3 events");
        }, snapshotEvery: 3);
        await WithSystem(db, async (_, storage) =>
            Assert.Equal(40, (await storage.Map("nodes").GetAllAsync(PubSub)).Count), snapshotEvery: 3);
    }

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task Stores_recover_after_a_restart_and_after_passivation_from_snapshots_and_events(string kind)
    {
        using var db = TestDatabase.Create(kind);
        await WithSystem(db, async (system, storage) =>
        {
            var map = storage.Map("prefs");
            for (var i = 0; i < 7; i++) await map.SetAsync(Alice, "k" + i, StoredValue.Of("v" + i)); // snapshots every 3
            var archive = storage.Archive("log");
            for (var i = 0; i < 5; i++) await archive.AppendAsync(Service, StoredValue.Of("e" + i));
            await archive.TrimAsync(Service, 2);
            // idle for longer than the passivation timeout: recovered on the next read
            await Task.Delay(1000);
            var running = await PluginStores.Of(system).Parent.Ask<string[]>(PluginStoresActor.ListRunning.Instance);
            Assert.Empty(running);
            Assert.Equal(7, (await map.GetAllAsync(Alice)).Count);
        }, snapshotEvery: 3);
        await WithSystem(db, async (system, storage) =>
        {
            var entries = await storage.Map("prefs").GetAllAsync(Alice);
            Assert.Equal(Enumerable.Range(0, 7).Select(i => "v" + i), entries.OrderBy(e => e.Key).Select(e => e.Value!.Text));
            var page = await storage.Archive("log").ReadAsync(Service, 0, 10);
            Assert.Equal([3L, 4, 5], page.Items.Select(i => i.Id));
            Assert.Equal(6, await storage.Archive("log").AppendAsync(Service, StoredValue.Of("after")));
            // the events a snapshot covers are deleted (after the snapshot is stored, asynchronously): the journal
            // keeps only the tail
            var held = 7;
            for (var deadline = DateTime.UtcNow.AddSeconds(10); held >= 7 && DateTime.UtcNow < deadline; await Task.Delay(100))
                held = (await Events(system, "plugin-store:test/map/prefs:alice@localhost")).Count;
            Assert.True(held < 7, $"the journal still holds {held} events of the map");
        }, snapshotEvery: 3);
    }

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task A_read_sees_every_write_sent_to_the_store_before_it_even_while_those_are_being_written(string kind)
    {
        using var db = TestDatabase.Create(kind);
        await WithSystem(db, async (_, storage) =>
        {
            var archive = storage.Archive("inbox");
            var map = storage.Map("flags");
            for (var round = 1; round <= 5; round++)
            {
                // sent without waiting: the first is being written while the others queue; the reads come after them
                var appends = Enumerable.Range(0, 10).Select(i => archive.AppendAsync(Alice, StoredValue.Of($"r{round}-{i}"))).ToArray();
                var sets = Enumerable.Range(0, 10).Select(i => map.SetAsync(Alice, $"k{i}", StoredValue.Of($"r{round}"))).ToArray();
                var page = archive.ReadAsync(Alice, 0, 1000);
                var count = archive.CountAsync(Alice);
                var all = map.GetAllAsync(Alice);
                Assert.Equal(round * 10, (await page).Items.Count);
                Assert.Equal(round * 10, await count);
                Assert.All(await all, e => Assert.Equal($"r{round}", e.Value!.Text));
                await Task.WhenAll(appends);
                await Task.WhenAll(sets);
            }
        });
    }

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task The_directory_answers_for_stores_the_journal_never_held_without_starting_them_and_starts_the_others(string kind)
    {
        using var db = TestDatabase.Create(kind);
        static Task<string[]> Running(ActorSystem system) => PluginStores.Of(system).Parent.Ask<string[]>(PluginStoresActor.ListRunning.Instance);
        await WithSystem(db, async (system, storage) =>
        {
            // three writes with a snapshot every three events: the journal keeps only the snapshot of this store
            for (var i = 0; i < 3; i++) await storage.Map("prefs").SetAsync(Alice, "k" + i, StoredValue.Of("v" + i));
            await storage.Archive("log").AppendAsync(Service, StoredValue.Of("e1"));
            await Task.Delay(1000); // passivated
            Assert.Empty(await Running(system));
        }, snapshotEvery: 3);
        await WithSystem(db, async (system, storage) =>
        {
            Assert.True(await PluginStores.Of(system).StartDirectoryAsync());
            var map = storage.Map("prefs");
            // never written: answered as empty, nothing started (reads, and writes that change nothing)
            Assert.Null(await map.GetAsync(Bob, "k0"));
            Assert.Empty(await map.GetAllAsync(Bob));
            Assert.Empty((await storage.Archive("log").ReadAsync(Bob, 0, 10)).Items);
            Assert.Equal(0, await storage.Archive("log").CountAsync(Bob));
            await map.SetAsync(Bob, "k0", null);
            await storage.Archive("log").TrimAsync(Bob, 10);
            Assert.Empty(await Running(system));
            // held (one of them behind a snapshot only): started and read
            Assert.Equal(["v0", "v1", "v2"], (await map.GetAllAsync(Alice)).Select(e => e.Value!.Text));
            Assert.Equal(["e1"], (await storage.Archive("log").ReadAsync(Service, 0, 10)).Items.Select(i => i.Value.Text));
            Assert.Equal(2, (await Running(system)).Length);
            // a write makes a store exist: read back from then on
            await map.SetAsync(Bob, "k0", StoredValue.Of("b"));
            Assert.Equal("b", (await map.GetAsync(Bob, "k0"))!.Text);
            Assert.Equal(1, await storage.Archive("log").AppendAsync(Bob, StoredValue.Of("x")));
            await Task.Delay(1000); // passivated: the directory remembers what was written since the start
            Assert.Equal("b", (await map.GetAsync(Bob, "k0"))!.Text);
            Assert.Equal(1, await storage.Archive("log").CountAsync(Bob));
            Assert.Throws<ArgumentException>(() => PluginStores.Of(system).For("_host")); // the host's own stores
        }, snapshotEvery: 3);
    }

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task Removing_an_account_purges_every_plugin_store_of_it_and_nothing_else(string kind)
    {
        using var db = TestDatabase.Create(kind);
        await WithSystem(db, async (system, storage) =>
        {
            var accounts = new JournalAccountStore(system, ["localhost"], scramIterations: 64, snapshotEvery: 100, timeout: TimeSpan.FromSeconds(30));
            await accounts.WaitReadyAsync();
            Assert.True(await accounts.AddAsync(Alice, "pw"));
            Assert.True(await accounts.AddAsync(Bob, "pw"));
            var other = PluginStores.Of(system).For("other-plugin");
            await storage.Map("prefs").SetAsync(Alice, "k", StoredValue.Of("v"));
            await storage.Archive("log").AppendAsync(Alice, StoredValue.Of("x"));
            await other.Map("data").SetAsync(Alice, "k", StoredValue.Of("v"));
            await storage.Map("prefs").SetAsync(Bob, "k", StoredValue.Of("bob's"));
            await storage.Map("prefs").SetAsync(Service, "k", StoredValue.Of("service"));
            await Task.Delay(1000); // passivated: the purge finds them in the journal
            Assert.True(await accounts.RemoveAsync(Alice));
            var deadline = DateTime.UtcNow.AddSeconds(15);
            while (DateTime.UtcNow < deadline && (await other.Map("data").GetAsync(Alice, "k") is not null
                                                  || await storage.Archive("log").CountAsync(Alice) > 0
                                                  || await storage.Map("prefs").GetAsync(Alice, "k") is not null))
                await Task.Delay(100);
            Assert.Null(await storage.Map("prefs").GetAsync(Alice, "k"));
            Assert.Equal(0, await storage.Archive("log").CountAsync(Alice));
            Assert.Null(await other.Map("data").GetAsync(Alice, "k"));
            Assert.Equal("bob's", (await storage.Map("prefs").GetAsync(Bob, "k"))!.Text);
            Assert.Equal("service", (await storage.Map("prefs").GetAsync(Service, "k"))!.Text);
        });
        await WithSystem(db, async (_, storage) =>
        {
            Assert.Null(await storage.Map("prefs").GetAsync(Alice, "k")); // and after a restart
            Assert.Equal("bob's", (await storage.Map("prefs").GetAsync(Bob, "k"))!.Text);
        });
    }

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task Reads_and_writes_racing_a_purge_are_all_answered(string kind)
    {
        // a purged store stops through its parent, which holds what arrives meanwhile: no command reaches a stopped store
        using var db = TestDatabase.Create(kind);
        await WithSystem(db, async (_, storage) =>
        {
            var map = storage.Map("prefs");
            for (var round = 0; round < 30; round++)
            {
                await map.SetAsync(Alice, "k", StoredValue.Of("v" + round));
                var racing = new List<Task>();
                var purge = PluginStores.Of(_).PurgeOwnerAsync(Alice);
                var after = DateTime.MaxValue;
                for (var i = 0; DateTime.UtcNow < after; i++) // while the purge runs, and a moment after it
                {
                    racing.Add(map.GetAsync(Alice, "k").AsTask());
                    if (i % 50 == 0) racing.Add(map.SetAsync(Alice, "w" + i, StoredValue.Of("x")));
                    if (purge.IsCompleted && after == DateTime.MaxValue) after = DateTime.UtcNow.AddMilliseconds(100);
                    if (i % 10 == 0) await Task.Delay(1);
                }
                await purge;
                await Task.WhenAll(racing); // each answered (a lost one throws after the ask timeout)
            }
        });
    }

    private sealed class UnreadableLegacy : ILegacyStoreSource
    {
        public string Source => "user.snapshot.v1";
        public string HolderPrefix => "user:";
        public IReadOnlyCollection<string> Domains => ["localhost"];
        public bool Covers(StoreAddress address) => true;
        public Task<LegacyData> LoadAsync(StoreAddress address) => Task.FromException<LegacyData>(new TimeoutException("the user actor did not answer"));
        public void Imported(StoreAddress address, LegacyData data) { }
    }

    [Fact]
    public async Task Commands_waiting_for_an_import_of_release_1_that_fails_get_the_failure_at_once()
    {
        using var db = TestDatabase.Create(TestDatabase.Sqlite);
        var system = PersistenceActorSystem.Create("stores", db.Options, db.DataDir);
        try
        {
            var store = system.ActorOf(PluginStoreActor.Props(new StoreAddress("test", StoreShape.Map, "prefs", Alice),
                new PluginStoreActor.Settings(), new UnreadableLegacy()));
            var first = store.Ask<object>(new StoreCommands.Get("k"), TimeSpan.FromSeconds(5));
            var second = store.Ask<object>(new StoreCommands.Set([new StoreEntryRecord("k", "v", null)]), TimeSpan.FromSeconds(5));
            // neither is kept until its ask times out (that would be an AskTimeoutException)
            await Assert.ThrowsAsync<Actors.Xmpp.Plugins.StorageException>(() => first);
            await Assert.ThrowsAsync<Actors.Xmpp.Plugins.StorageException>(() => second);
            Assert.Empty(await Events(system, "plugin-store:test/map/prefs:alice@localhost")); // nothing written before the import
        }
        finally
        {
            await system.Terminate();
        }
    }

    [Fact]
    public void The_rebuild_view_of_a_map_prints_its_keys_and_values()
    {
        var view = JournalStateViews.For("plugin-store:vcard/map/vcard:alice@localhost");
        Assert.IsType<PluginStoreStateView>(view);
        var state = view.Empty("plugin-store:vcard/map/vcard:alice@localhost");
        state = view.Apply(state, new StoreLegacyImported("vcard", "vcard", "user.snapshot.v1"));
        state = view.Apply(state, new StoreMapSet("vcard", "vcard", [new StoreEntryRecord("", null, "<vCard xmlns='vcard-temp'/>"), new StoreEntryRecord("x", "1", null)]));
        state = view.Apply(state, new StoreMapSet("vcard", "vcard", [new StoreEntryRecord("x", null, null)]));
        var output = new StringWriter();
        view.Print(state, output);
        Assert.Equal("took over the data of release 1 (user.snapshot.v1)\n1 key(s)\n  \"\" = <vCard xmlns='vcard-temp'/>\n", output.ToString().ReplaceLineEndings("\n"));
    }
}

/// <summary>"events rebuild user:&lt;jid&gt;": the roster and subscriptions at that point.</summary>
public sealed class UserStateViewSpec
{
    [Fact]
    public void Rfc6121_rebuild_of_a_user_prints_the_roster_with_subscriptions_and_pending_requests()
    {
        var view = JournalStateViews.For("user:alice@localhost");
        Assert.IsType<Actors.Xmpp.Server.Users.UserStateView>(view);
        var state = view.Empty("user:alice@localhost");
        foreach (var e in new IPersistentEvent[]
                 {
                     new Actors.Xmpp.Server.Users.Events.RosterItemSet("bob@localhost", "Bob", ["Friends"], "none", true, false, 1),
                     new Actors.Xmpp.Server.Users.Events.RosterItemSet("bob@localhost", "Bob", ["Friends"], "to", false, false, 2),
                     new Actors.Xmpp.Server.Users.Events.RosterItemSet("carol@localhost", null, [], "from", false, false, 3),
                     new Actors.Xmpp.Server.Users.Events.SubscriptionRequestStored("dave@localhost", "<presence xmlns='jabber:client' type='subscribe'/>"),
                     new Actors.Xmpp.Server.Users.Events.VCardSet("<vCard xmlns='vcard-temp'/>"), // release 1: not the user view's business
                 })
            state = view.Apply(state, e);
        var output = new StringWriter();
        view.Print(state, output);
        Assert.Equal("""
            roster version 3, 2 item(s)
              bob@localhost "Bob"  subscription=to [Friends]
              carol@localhost  subscription=from
            1 pending subscription request(s)
              from dave@localhost

            """.ReplaceLineEndings("\n"), output.ToString().ReplaceLineEndings("\n"));

        // release 1's offline messages show until the offline plugin took them over (its own view:
        // plugin-store:offline/archive/messages:<jid>)
        state = view.Apply(state, new Actors.Xmpp.Server.Users.Events.OfflineStored(1, "<message xmlns='jabber:client'/>", DateTimeOffset.UnixEpoch));
        output = new StringWriter();
        view.Print(state, output);
        Assert.EndsWith("1 offline message(s) of release 1 not yet taken over by the offline plugin\n", output.ToString().ReplaceLineEndings("\n"));
    }
}

/// <summary>Lifecycle events of accounts, raised by the accounts actor once the change is journaled.</summary>
public sealed class AccountEventsSpec
{
    [Fact]
    public async Task Account_created_password_changed_and_removed_are_raised_after_the_journal_write_in_priority_order()
    {
        using var db = TestDatabase.Create(TestDatabase.Sqlite);
        var system = PersistenceActorSystem.Create("events", db.Options, db.DataDir);
        try
        {
            var seen = new System.Collections.Concurrent.ConcurrentQueue<string>();
            var events = Actors.Xmpp.Server.Lifecycle.ServerEvents.Of(system);
            var accounts = new JournalAccountStore(system, ["localhost"], scramIterations: 64, snapshotEvery: 100, timeout: TimeSpan.FromSeconds(30));
            await accounts.WaitReadyAsync();
            foreach (var kind in new[] { ServerEventKind.AccountCreated, ServerEventKind.PasswordChanged, ServerEventKind.AccountRemoved })
            {
                events.On(kind, e =>
                {
                    // journaled before it is raised: the directory already shows it
                    seen.Enqueue($"low {e.Kind} {e.Jid} exists={accounts.Exists(e.Jid)}");
                    return ValueTask.CompletedTask;
                }, priority: -1);
                events.On(kind, e => { seen.Enqueue($"high {e.Kind} {e.Jid}"); return ValueTask.CompletedTask; }, priority: 5);
            }
            var failing = events.On(ServerEventKind.AccountCreated, _ => throw new InvalidOperationException("a broken handler"), priority: 10);
            Assert.True(await accounts.AddAsync(Jid.Parse("alice@localhost"), "pw"));
            Assert.True(await accounts.SetPasswordAsync(Jid.Parse("alice@localhost"), "pw2"));
            Assert.True(await accounts.RemoveAsync(Jid.Parse("alice@localhost")));
            failing.Dispose();
            failing.Dispose(); // twice is harmless
            Assert.Equal(
            [
                "high AccountCreated alice@localhost", "low AccountCreated alice@localhost exists=True",
                "high PasswordChanged alice@localhost", "low PasswordChanged alice@localhost exists=True",
                "high AccountRemoved alice@localhost", "low AccountRemoved alice@localhost exists=False",
            ], seen);
            Assert.Equal(2, events.Count(ServerEventKind.AccountCreated));
        }
        finally
        {
            await system.Terminate();
        }
    }
}
