using System.Text.Json.Nodes;
using Actors.Xmpp.Server.Accounts;
using Akka.Actor;
using Akka.Persistence;

namespace Actors.Xmpp.Persistence.Tests;

/// <summary>`actors-server user ...` offline and `actors-server events ...` against both databases, as a child process.</summary>
public sealed class EventCliSpec
{
    [PersistentEvent("test.only-in-tests.v1")]
    public sealed record OnlyInTests(string Text) : IPersistentEvent;

    /// <summary>Writes an event whose type the CLI process does not have (so it cannot decode it).</summary>
    private sealed class Writer : ReceivePersistentActor
    {
        public override string PersistenceId => "test:unknown";
        public Writer() => Command<string>(s => Persist(new OnlyInTests(s), _ => Sender.Tell("done")));
    }

    /// <summary>The command exited 0; otherwise fails with what it wrote to stderr.</summary>
    private static ServerProcess.Result Succeeded(ServerProcess.Result result)
    {
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}: {result.Stderr}");
        return result;
    }

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task The_event_tool_lists_dumps_rebuilds_and_verifies_the_journal(string kind)
    {
        using var db = TestDatabase.Create(kind);
        Succeeded(await ServerProcess.RunAsync(db, "user", "add", "alice", "pw"));
        Succeeded(await ServerProcess.RunAsync(db, "user", "add", "bob", "pw"));
        Succeeded(await ServerProcess.RunAsync(db, "user", "remove", "bob"));
        var users = Succeeded(await ServerProcess.RunAsync(db, "user", "list"));
        Assert.Equal("alice@localhost", users.Stdout.Trim());

        var list = Succeeded(await ServerProcess.RunAsync(db, "events", "list"));
        Assert.Contains("accounts:localhost\t3 events", list.Stdout);

        var dump = Succeeded(await ServerProcess.RunAsync(db, "events", "dump", "accounts:localhost"));
        var lines = dump.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        Assert.Equal(["account.created.v1", "account.created.v1", "account.removed.v1"], lines.Select(l => (string)l["manifest"]!));
        Assert.Equal("bob", (string)lines[2]["event"]!["user"]!);
        Assert.Equal(["account", "domain:localhost"], lines[0]["tags"]!.AsArray().Select(t => (string)t!));
        Assert.DoesNotContain("\"pw\"", dump.Stdout);

        var byTag = Succeeded(await ServerProcess.RunAsync(db, "events", "dump", "--tag", "domain:localhost", "--format", "table"));
        Assert.Equal(3, byTag.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        var future = Succeeded(await ServerProcess.RunAsync(db, "events", "dump", "--from", DateTime.UtcNow.AddHours(1).ToString("o")));
        Assert.Equal("", future.Stdout.Trim());

        var atTwo = Succeeded(await ServerProcess.RunAsync(db, "events", "rebuild", "accounts:localhost", "--to-sequence", "2"));
        Assert.Contains("2 accounts", atTwo.Stdout);
        Assert.Contains("bob@localhost", atTwo.Stdout);
        var now = Succeeded(await ServerProcess.RunAsync(db, "events", "rebuild", "accounts:localhost"));
        Assert.Contains("1 accounts", now.Stdout);
        Assert.DoesNotContain("bob@localhost", now.Stdout);

        var ok = Succeeded(await ServerProcess.RunAsync(db, "events", "verify"));
        Assert.Contains("ok: 3 events", ok.Stdout);

        // an event the tool cannot decode (its type only exists in this test assembly)
        var system = PersistenceActorSystem.Create("writer", db.Options, db.DataDir);
        try
        {
            Assert.Equal("done", await system.ActorOf(Props.Create(() => new Writer())).Ask<string>("x", TimeSpan.FromSeconds(30)));
        }
        finally { await system.Terminate(); }
        var bad = await ServerProcess.RunAsync(db, "events", "verify");
        Assert.True(bad.ExitCode == 3, $"exit {bad.ExitCode}: {bad.Stderr}");
        Assert.Contains("test:unknown #1 (test.only-in-tests.v1", bad.Stdout);
        Assert.Contains("FAILED: 1 of 4 events", bad.Stdout);
    }

    /// <summary>Writes what a plugin's keyed entity writes (the host's envelope records), under an entity persistence id.</summary>
    private sealed class EntityWriter : ReceivePersistentActor
    {
        public override string PersistenceId => Plugins.EntityPersistenceIds.Of("polls", "poll", "lunch");
        public EntityWriter() => Command<string[]>(xml => PersistAll(xml.Select(x => new Plugins.EntityEventRecord(x)), _ =>
        {
            if (LastSequenceNr == xml.Length) Sender.Tell("done");
        }));
    }

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task The_event_tool_shows_the_records_of_keyed_entities(string kind)
    {
        using var db = TestDatabase.Create(kind);
        var system = PersistenceActorSystem.Create("entity-writer", db.Options, db.DataDir);
        try
        {
            string[] events = ["<voted xmlns='urn:example:poll:0' voter='alice@localhost' choice='pizza'/>", "<voted xmlns='urn:example:poll:0' voter='bob@localhost' choice='sushi'/>"];
            Assert.Equal("done", await system.ActorOf(Props.Create(() => new EntityWriter())).Ask<string>(events, TimeSpan.FromSeconds(30)));
        }
        finally { await system.Terminate(); }

        var dump = await ServerProcess.RunAsync(db, "events", "dump", "entity:polls/poll/lunch");
        Assert.True(dump.ExitCode == 0, dump.Stderr + dump.Stdout);
        var lines = dump.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        Assert.Equal(["plugin-entity.event.v1", "plugin-entity.event.v1"], lines.Select(l => (string)l["manifest"]!));
        Assert.Contains("choice='sushi'", (string)lines[1]["event"]!["xml"]!);

        var rebuilt = await ServerProcess.RunAsync(db, "events", "rebuild", "entity:polls/poll/lunch");
        Assert.True(rebuilt.ExitCode == 0, rebuilt.Stderr + rebuilt.Stdout);
        Assert.Contains("keyed entity: 2 events", rebuilt.Stdout);
        Assert.Contains("voter='bob@localhost' choice='sushi'", rebuilt.Stdout);
    }

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task Acknowledged_accounts_survive_a_SIGKILL_of_the_server(string kind)
    {
        using var db = TestDatabase.Create(kind);
        var server = await ServerProcess.StartServerAsync(db);
        try
        {
            for (var i = 0; i < 20; i++)
                Assert.True((bool?)(await ServerProcess.AdminAsync(db, new JsonObject { ["cmd"] = "add", ["user"] = $"k{i}", ["password"] = "pw" }))["ok"]);
            var bulk = await ServerProcess.AdminAsync(db, new JsonObject { ["cmd"] = "bulk", ["count"] = 300, ["prefix"] = "m", ["password"] = "pw", ["start"] = 0 });
            Assert.Equal("added 300 of 300 accounts", (string?)bulk["message"]);
            Assert.True((bool?)(await ServerProcess.AdminAsync(db, new JsonObject { ["cmd"] = "remove", ["user"] = "k0" }))["ok"]);
        }
        finally
        {
            server.Kill(); // SIGKILL: no shutdown, no flush
            await server.WaitForExitAsync();
        }
        server = await ServerProcess.StartServerAsync(db);
        try
        {
            var users = (await ServerProcess.AdminAsync(db, new JsonObject { ["cmd"] = "list" }))["users"]!.AsArray().Select(u => (string)u!).ToHashSet();
            Assert.Equal(319, users.Count);
            Assert.DoesNotContain("k0@localhost", users);
            Assert.Contains("k19@localhost", users);
            Assert.Contains("m299@localhost", users);
        }
        finally
        {
            server.Kill();
            await server.WaitForExitAsync();
        }
    }

    /// <summary>Writes a user actor's records: events, or a snapshot (then deletes the events it covers, as the user actor does).</summary>
    private sealed class UserWriter : UntypedPersistentActor
    {
        private IActorRef _replyTo = ActorRefs.Nobody;
        public override string PersistenceId => "user:carol@localhost";
        protected override void OnRecover(object message) { }

        protected override void OnCommand(object message)
        {
            switch (message)
            {
                case Actors.Xmpp.Server.Users.Events.UserSnapshot snapshot:
                    _replyTo = Sender;
                    SaveSnapshot(snapshot);
                    break;
                case SaveSnapshotSuccess s:
                    DeleteMessages(s.Metadata.SequenceNr);
                    break;
                case DeleteMessagesSuccess:
                    _replyTo.Tell("done");
                    break;
                case IPersistentEvent e:
                    Persist(e, _ => Sender.Tell("done"));
                    break;
            }
        }
    }

    [Fact]
    public async Task Rfc6121_rebuild_of_a_user_shows_roster_and_subscriptions_at_a_time_from_a_snapshot_and_events()
    {
        using var db = TestDatabase.Create(TestDatabase.Sqlite);
        DateTimeOffset between;
        var system = PersistenceActorSystem.Create("writer", db.Options, db.DataDir);
        try
        {
            var writer = system.ActorOf(Props.Create(() => new UserWriter()));
            async Task Write(object m) => Assert.Equal("done", await writer.Ask<string>(m, TimeSpan.FromSeconds(30)));
            await Write(new Actors.Xmpp.Server.Users.Events.RosterItemSet("bob@localhost", "Bob", ["Friends"], "none", true, false, 1));
            await Write(new Actors.Xmpp.Server.Users.Events.RosterItemSet("bob@localhost", "Bob", ["Friends"], "to", false, false, 2));
            // a snapshot replaces those two events (deleted)
            await Write(new Actors.Xmpp.Server.Users.Events.UserSnapshot(2,
                [new Actors.Xmpp.Server.Users.Events.RosterItemState("bob@localhost", "Bob", ["Friends"], "to", false, false)], [], 0, [], [], [], null, null, null));
            await Task.Delay(1100);
            between = DateTimeOffset.UtcNow;
            await Task.Delay(1100);
            await Write(new Actors.Xmpp.Server.Users.Events.RosterItemSet("dave@localhost", null, [], "from", false, false, 3));
            await Write(new Actors.Xmpp.Server.Users.Events.SubscriptionRequestStored("erin@localhost", "<presence xmlns='jabber:client' from='erin@localhost' type='subscribe'/>"));
        }
        finally { await system.Terminate(); }

        var then = await ServerProcess.RunAsync(db, "events", "rebuild", "user:carol@localhost", "--at", between.ToString("O"));
        Assert.True(then.ExitCode == 0, then.Stderr);
        Assert.Contains("roster version 2, 1 item(s)", then.Stdout);
        Assert.Contains("bob@localhost \"Bob\"  subscription=to [Friends]", then.Stdout);
        Assert.DoesNotContain("dave@localhost", then.Stdout);
        Assert.Contains("0 pending subscription request(s)", then.Stdout);

        var now = await ServerProcess.RunAsync(db, "events", "rebuild", "user:carol@localhost");
        Assert.True(now.ExitCode == 0, now.Stderr);
        Assert.Contains("roster version 3, 2 item(s)", now.Stdout);
        Assert.Contains("dave@localhost  subscription=from", now.Stdout);
        Assert.Contains("from erin@localhost", now.Stdout);
    }

    [Fact]
    public async Task The_event_tool_refuses_a_missing_database_and_creates_none()
    {
        using var db = TestDatabase.Create(TestDatabase.Sqlite);
        var wrong = Path.Combine(db.DataDir, "not-the-data-folder");
        var result = await ServerProcess.RunAsync(db, "events", "list", "--Xmpp:DataDir=" + wrong);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("no database at", result.Stderr);
        Assert.False(Directory.Exists(wrong), "the tool created the data folder");
        Assert.False(File.Exists(XmppPersistenceOptions.SqliteFile(wrong)), "the tool created a database");
    }

    [Fact]
    public async Task The_event_tool_reads_a_database_it_may_not_write()
    {
        using var db = TestDatabase.Create(TestDatabase.Sqlite);
        Succeeded(await ServerProcess.RunAsync(db, "user", "add", "alice", "pw"));
        var file = XmppPersistenceOptions.SqliteFile(db.DataDir);
        var before = File.ReadAllBytes(file);
        File.SetUnixFileMode(file, UnixFileMode.UserRead);
        try
        {
            var list = Succeeded(await ServerProcess.RunAsync(db, "events", "list"));
            Assert.Contains("accounts:localhost\t1 events", list.Stdout);
        }
        finally
        {
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        Assert.Equal(before, File.ReadAllBytes(file));
    }

    [Fact]
    public void Sqlite_connections_start_with_synchronous_full()
    {
        using var db = TestDatabase.Create(TestDatabase.Sqlite);
        XmppPersistenceConfig.PrepareDatabase(db.Options, db.DataDir); // checks it, or throws
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection(db.Options.ResolveConnectionString(db.DataDir));
        connection.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "PRAGMA synchronous;";
        Assert.Equal((long)XmppPersistenceConfig.SqliteSynchronousFull, cmd.ExecuteScalar());
    }
}
