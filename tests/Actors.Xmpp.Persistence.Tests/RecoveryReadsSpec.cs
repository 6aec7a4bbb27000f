using Actors.Xmpp.Persistence.Sql;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;

namespace Actors.Xmpp.Persistence.Tests;

/// <summary>
/// The recovery reads of <see cref="XmppSqlJournal"/> and <see cref="XmppSqlSnapshotStore"/> give a persistent actor
/// exactly what Akka.Persistence.Sql's own journal and snapshot store give it: the same history is recovered once with
/// the plugin's classes and once with ours, on both databases, after deletions and snapshots.
/// </summary>
public sealed class RecoveryReadsSpec
{
    private sealed class Probe : UntypedPersistentActor
    {
        private readonly List<string> _seen = new();
        public override string PersistenceId { get; }

        public Probe(string id) => PersistenceId = id;

        protected override void OnRecover(object message)
        {
            switch (message)
            {
                case SnapshotOffer offer: _seen.Add($"snapshot@{offer.Metadata.SequenceNr}:{offer.Snapshot}"); break;
                case string e: _seen.Add($"{LastSequenceNr}:{e}"); break;
            }
        }

        protected override void OnCommand(object message)
        {
            var sender = Sender;
            switch (message)
            {
                case "seen": sender.Tell(string.Join(",", _seen) + $"|last={LastSequenceNr}"); break;
                case ("persist", string e): Persist(e, _ => sender.Tell("ok")); break;
                case ("delete", long to): DeleteMessages(to); Become(m => Await(m, sender)); break;
                case ("snapshot", string s): SaveSnapshot(s); Become(m => Await(m, sender)); break;
            }
        }

        private bool Await(object m, IActorRef sender)
        {
            if (m is not (DeleteMessagesSuccess or SaveSnapshotSuccess)) return false;
            UnbecomeStacked();
            sender.Tell("ok");
            return true;
        }
    }

    private static async Task<string> Run(TestDatabase db, bool ours, string id, params object[] commands)
    {
        var plugin = ours ? "" : """
            akka.persistence.journal.sql.class = "Akka.Persistence.Sql.Journal.SqlWriteJournal, Akka.Persistence.Sql"
            akka.persistence.snapshot-store.sql.class = "Akka.Persistence.Sql.Snapshot.SqlSnapshotStore, Akka.Persistence.Sql"
            """;
        XmppPersistenceConfig.PrepareDatabase(db.Options, db.DataDir);
        var system = ActorSystem.Create("recovery", ConfigurationFactory.ParseString(plugin + "\nakka.loglevel = WARNING")
            .WithFallback(XmppPersistenceConfig.Build(db.Options, db.DataDir)));
        try
        {
            Assert.Equal(ours, system.Settings.Config.GetString("akka.persistence.journal.sql.class").Contains(nameof(XmppSqlJournal)));
            var actor = system.ActorOf(Props.Create(() => new Probe(id)));
            foreach (var c in commands) Assert.Equal("ok", await actor.Ask<string>(c, TimeSpan.FromSeconds(30)));
            return await actor.Ask<string>("seen", TimeSpan.FromSeconds(30));
        }
        finally
        {
            await system.Terminate();
        }
    }

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task Recovery_with_our_reads_equals_recovery_with_the_plugins_reads(string kind)
    {
        using var db = TestDatabase.Create(kind);
        // history: 5 events, 1..3 deleted, a snapshot at 6, two more events
        Assert.Equal("|last=5", await Run(db, ours: false, "p",
            ("persist", "a"), ("persist", "b"), ("persist", "c"), ("persist", "d"), ("persist", "e")));
        await Run(db, ours: false, "p", ("delete", 3L));
        var plugin1 = await Run(db, ours: false, "p");
        var ours1 = await Run(db, ours: true, "p");
        Assert.Equal("4:d,5:e|last=5", plugin1);
        Assert.Equal(plugin1, ours1);

        // our journal continues the sequence after the deleted events, and takes a snapshot
        await Run(db, ours: true, "p", ("persist", "f"), ("snapshot", "S6"), ("persist", "g"), ("persist", "h"));
        var plugin2 = await Run(db, ours: false, "p");
        var ours2 = await Run(db, ours: true, "p");
        Assert.Equal("snapshot@6:S6,7:g,8:h|last=8", plugin2);
        Assert.Equal(plugin2, ours2);

        // an actor without history, and one whose events were all deleted
        Assert.Equal("|last=0", await Run(db, ours: true, "nobody"));
        await Run(db, ours: true, "gone", ("persist", "x"), ("persist", "y"), ("delete", 2L));
        Assert.Equal(await Run(db, ours: false, "gone"), await Run(db, ours: true, "gone"));
        Assert.Equal("|last=3", await Run(db, ours: true, "gone", ("persist", "z"))); // numbering goes on after the deleted ones
        Assert.Equal("3:z|last=3", await Run(db, ours: true, "gone"));
    }
}
