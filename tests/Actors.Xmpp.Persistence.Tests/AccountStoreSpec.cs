using Actors.Xmpp.Server.Accounts;
using Akka.Actor;
using Akka.Persistence;

namespace Actors.Xmpp.Persistence.Tests;

/// <summary>Accounts on the journal: recovery after a restart, snapshots, bulk writes. Every case on SQLite and PostgreSQL.</summary>
public sealed class AccountStoreSpec
{
    private static Jid J(string s) => Jid.Parse(s);

    private static async Task<T> WithStore<T>(TestDatabase db, Func<JournalAccountStore, ActorSystem, Task<T>> body, int snapshotEvery = 1000)
    {
        var system = PersistenceActorSystem.Create("store", db.Options, db.DataDir);
        try
        {
            var store = new JournalAccountStore(system, ["localhost"], scramIterations: 64, snapshotEvery: snapshotEvery,
                timeout: TimeSpan.FromSeconds(30));
            await store.WaitReadyAsync();
            return await body(store, system);
        }
        finally
        {
            await system.Terminate();
        }
    }

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task Accounts_survive_a_restart_of_the_actor_system(string kind)
    {
        using var db = TestDatabase.Create(kind);
        await WithStore(db, async (store, _) =>
        {
            Assert.True(await store.AddAsync(J("alice@localhost"), "secret"));
            Assert.False(await store.AddAsync(J("alice@localhost"), "other"));
            Assert.True(await store.AddAsync(J("bob@localhost"), "pw"));
            Assert.True(await store.AddAsync(J("carol@localhost"), "pw"));
            Assert.True(await store.SetPasswordAsync(J("bob@localhost"), "pw2"));
            Assert.True(await store.RemoveAsync(J("carol@localhost")));
            Assert.False(await store.RemoveAsync(J("nobody@localhost")));
            return 0;
        });
        var bobBefore = 0;
        await WithStore(db, (store, _) =>
        {
            Assert.Equal(["alice@localhost", "bob@localhost"], store.List().Select(j => j.ToString()));
            Assert.False(store.Exists(J("carol@localhost")));
            var bob = store.Find(J("bob@localhost"));
            Assert.NotNull(bob);
            Assert.Equal("bob", bob.Username);
            Assert.Equal(3, bob.Scram.Count);
            bobBefore = bob.Scram.Count;
            return Task.FromResult(0);
        });
        Assert.Equal(3, bobBefore);
    }

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task The_directory_recovers_from_a_snapshot_and_the_events_after_it(string kind)
    {
        using var db = TestDatabase.Create(kind, snapshotEvery: 3);
        await WithStore(db, async (store, system) =>
        {
            for (var i = 0; i < 5; i++) Assert.True(await store.AddAsync(J($"u{i}@localhost"), "pw"));
            Assert.True(await store.RemoveAsync(J("u0@localhost")));
            // snapshots are saved asynchronously: wait for the one after the 6th event before stopping
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while ((await LatestSnapshot(system))?.Metadata.SequenceNr != 6 && DateTime.UtcNow < deadline) await Task.Delay(100);
            return 0;
        }, snapshotEvery: 3);
        await WithStore(db, async (store, system) =>
        {
            var loaded = await LatestSnapshot(system);
            var snapshot = Assert.IsType<AccountsSnapshot>(loaded?.Snapshot);
            Assert.Equal(6, loaded!.Metadata.SequenceNr); // 6 events, snapshot after the 3rd and the 6th
            Assert.Equal(4, snapshot.Accounts.Count);
            Assert.Equal(["u1@localhost", "u2@localhost", "u3@localhost", "u4@localhost"], store.List().Select(j => j.ToString()));
            Assert.True(await store.AddAsync(J("u9@localhost"), "pw"));
            return 0;
        }, snapshotEvery: 3);
        await WithStore(db, (store, _) =>
        {
            Assert.Equal(5, store.List().Count);
            Assert.True(store.Exists(J("u9@localhost")));
            return Task.FromResult(0);
        }, snapshotEvery: 3);
    }

    private static async Task<SelectedSnapshot?> LatestSnapshot(ActorSystem system)
    {
        var snapshotStore = Akka.Persistence.Persistence.Instance.Apply(system).SnapshotStoreFor(null);
        var loaded = await snapshotStore.Ask<LoadSnapshotResult>(new LoadSnapshot(AccountsActor.PersistenceIdFor("localhost"),
            SnapshotSelectionCriteria.Latest, long.MaxValue), TimeSpan.FromSeconds(10));
        return loaded.Snapshot;
    }

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task Bulk_creation_writes_batches_and_skips_existing_accounts(string kind)
    {
        using var db = TestDatabase.Create(kind);
        await WithStore(db, async (store, _) =>
        {
            Assert.True(await store.AddAsync(J("b7@localhost"), "pw"));
            var list = Enumerable.Range(0, 2500).Select(i => (J($"b{i}@localhost"), "pw")).ToList();
            Assert.Equal(2499, await store.AddManyAsync(list));
            Assert.Equal(0, await store.AddManyAsync(list.Take(10).ToList()));
            return 0;
        });
        await WithStore(db, (store, _) =>
        {
            Assert.Equal(2500, store.List().Count);
            return Task.FromResult(0);
        });
    }
}
