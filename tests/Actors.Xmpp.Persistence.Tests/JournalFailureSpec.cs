using Actors.Xmpp.Server.Accounts;
using Akka.Configuration;
using Akka.Persistence.TestKit;
using Akka.TestKit.Xunit2;

namespace Actors.Xmpp.Persistence.Tests;

/// <summary>A journal that fails a write: the account operation reports the failure and nothing changes.</summary>
public sealed class JournalFailureSpec : TestKit
{
    // Akka.Persistence.TestKit's in-memory journal with failure injection, plus our serializer and adapters
    private static readonly Config TestJournalConfig = ConfigurationFactory.ParseString("""
        akka.persistence.journal.plugin = "akka.persistence.journal.test"
        akka.persistence.journal.auto-start-journals = ["akka.persistence.journal.test"]
        akka.persistence.journal.test.class = "Akka.Persistence.TestKit.TestJournal, Akka.Persistence.TestKit"
        akka.persistence.journal.test.plugin-dispatcher = "akka.actor.default-dispatcher"
        akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.test"
        akka.persistence.snapshot-store.auto-start-snapshot-stores = ["akka.persistence.snapshot-store.test"]
        akka.persistence.snapshot-store.test.class = "Akka.Persistence.TestKit.TestSnapshotStore, Akka.Persistence.TestKit"
        akka.persistence.snapshot-store.test.plugin-dispatcher = "akka.actor.default-dispatcher"
        akka.actor.serialize-messages = off
        """).WithFallback(XmppPersistenceConfig.Build(new XmppPersistenceOptions(), Path.GetTempPath()));

    public JournalFailureSpec() : base(TestJournalConfig) { }

    /// <summary>The PersistenceTestKit pattern: journal writes behave as told while <paramref name="body"/> runs.</summary>
    private async Task WithJournalWrite(Func<JournalWriteBehavior, Task> behavior, Func<Task> body)
    {
        var journal = TestJournal.FromRef(Akka.Persistence.Persistence.Instance.Apply(Sys).JournalFor(null));
        await behavior(journal.OnWrite);
        try { await body(); }
        finally { await journal.OnWrite.Pass(); }
    }

    [Fact]
    public async Task A_failed_journal_write_fails_the_operation_and_leaves_the_directory_unchanged()
    {
        var store = new JournalAccountStore(Sys, ["localhost"], scramIterations: 64, timeout: TimeSpan.FromSeconds(20));
        await store.WaitReadyAsync();
        Assert.True(await store.AddAsync(Jid.Parse("alice@localhost"), "pw"));

        await WithJournalWrite(write => write.Fail(), async () =>
        {
            await Assert.ThrowsAsync<AccountStoreException>(() => store.AddAsync(Jid.Parse("bob@localhost"), "pw"));
            await Assert.ThrowsAsync<AccountStoreException>(() =>
                store.AddManyAsync([(Jid.Parse("c1@localhost"), "pw"), (Jid.Parse("c2@localhost"), "pw")]));
        });
        Assert.False(store.Exists(Jid.Parse("bob@localhost")));
        Assert.False(store.Exists(Jid.Parse("c1@localhost")));
        Assert.True(store.Exists(Jid.Parse("alice@localhost")));

        await WithJournalWrite(write => write.Reject(), async () =>
            await Assert.ThrowsAsync<AccountStoreException>(() => store.RemoveAsync(Jid.Parse("alice@localhost"))));
        Assert.True(store.Exists(Jid.Parse("alice@localhost")));

        // the directory actor was restarted from the journal and works again
        await AwaitAssertAsync(async () => Assert.True(await store.AddAsync(Jid.Parse("dave@localhost"), "pw")),
            TimeSpan.FromSeconds(15), TimeSpan.FromMilliseconds(300));
        Assert.Equal(["alice@localhost", "dave@localhost"], store.List().Select(j => j.ToString()));
    }
}
