using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Reflection;
using System.Text.Json;
using Actors.Xmpp.Persistence;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Server.Users.Events;
using Akka.Persistence;
using Akka.Persistence.Journal;

namespace Actors.Xmpp.Tests.Im;

/// <summary>Recovery of the user actor from its events and snapshots, and what a failing journal does.</summary>
public sealed class UserPersistenceSpec : ImSpecBase
{
    public UserPersistenceSpec() : base(new UserActor.Settings(SnapshotEvery: 3),
        """
        akka.persistence.journal.plugin = "akka.persistence.journal.failing"
        akka.persistence.journal.failing {
            class = "Actors.Xmpp.Tests.Im.FailingJournal, Actors.Xmpp.Tests"
            plugin-dispatcher = "akka.actor.default-dispatcher"
        }
        akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.inmem"
        akka.loglevel = WARNING
        """)
    { }

    private static string Json(UserSnapshot s) => JsonSerializer.Serialize(s);

    private void BuildSomeState()
    {
        var (a, b) = MutualSubscription();
        var alicePhone = Alice.WithResource("phone");
        Send(alicePhone, "<iq type='set' id='r'><query xmlns='jabber:iq:roster'><item jid='carol@localhost' name='C'><group>G</group></item></query></iq>");
        Send(Jid.Parse("dave@localhost/x"), "<presence to='alice@localhost' type='subscribe'/>");
        Offline(alicePhone, a, "away");
        AwaitAssert(() =>
        {
            var s = State(Alice);
            Assert.Single(s.PendingIn);
            Assert.Equal(2, s.Roster.Length);
            Assert.NotNull(s.LastLogout);
        });
    }

    [Fact]
    public void Recovery_after_stopping_the_actor_rebuilds_an_equal_state_from_events_and_snapshots()
    {
        BuildSomeState();
        var before = Json(State(Alice));
        StopUser(Alice);
        Assert.Equal(before, Json(State(Alice)));
        StopUser(Bob);
        Assert.Equal("both", State(Bob).Roster.Single().Subscription);
    }

    [Fact]
    public void Snapshot_recovery_uses_the_snapshot_and_the_events_after_it()
    {
        BuildSomeState();
        var before = Json(State(Alice));
        var store = Akka.Persistence.Persistence.Instance.Apply(Sys).SnapshotStoreFor(null);
        store.Tell(new LoadSnapshot("user:alice@localhost", SnapshotSelectionCriteria.Latest, long.MaxValue), TestActor);
        var loaded = ExpectMsg<LoadSnapshotResult>();
        Assert.IsType<UserSnapshot>(loaded.Snapshot?.Snapshot); // every 3 events
        StopUser(Alice);
        Assert.Equal(before, Json(State(Alice)));
    }

    [Fact]
    public void Nothing_lost_a_roster_set_whose_journal_write_fails_is_answered_with_internal_server_error()
    {
        var c = Bind(Carol.WithResource("x"));
        FailingJournal.Failing.TryAdd("user:carol@localhost", 0);
        try
        {
            Send(Carol.WithResource("x"), "<iq type='set' id='r'><query xmlns='jabber:iq:roster'><item jid='bob@localhost'/></query></iq>");
            Assert.Equal("internal-server-error", Condition(Next(c)));
        }
        finally
        {
            FailingJournal.Failing.TryRemove("user:carol@localhost", out _);
        }
        Assert.Empty(State(Carol).Roster);
    }

    [Fact]
    public void Every_journal_payload_has_a_unique_manifest_a_sample_and_survives_System_Text_Json()
    {
        var types = typeof(UserActor).Assembly.GetTypes()
            .Where(t => typeof(IPersistentEvent).IsAssignableFrom(t) && !t.IsInterface && !t.IsAbstract
                        && t.Namespace == typeof(UserEventSamples).Namespace).ToList(); // the user actor's records (accounts have their own)
        var manifests = types.Select(t => t.GetCustomAttribute<PersistentEventAttribute>()?.Manifest).ToList();
        Assert.DoesNotContain(null, manifests);
        Assert.Equal(manifests.Count, manifests.Distinct().Count());
        var samples = UserEventSamples.All;
        Assert.Equal(types.OrderBy(t => t.Name), samples.Select(s => s.GetType()).Distinct().OrderBy(t => t.Name));
        foreach (var sample in samples)
        {
            var json = JsonSerializer.Serialize(sample, sample.GetType());
            var back = JsonSerializer.Deserialize(json, sample.GetType())!;
            Assert.Equal(json, JsonSerializer.Serialize(back, sample.GetType()));
        }
    }
}

/// <summary>The in-memory journal, failing every write for the persistence ids in <see cref="Failing"/>.</summary>
public sealed class FailingJournal : MemoryJournal
{
    public static readonly ConcurrentDictionary<string, byte> Failing = new();

    protected override Task<IImmutableList<Exception?>> WriteMessagesAsync(IEnumerable<AtomicWrite> messages, CancellationToken cancellationToken)
    {
        var list = messages.ToList();
        if (list.Any(m => Failing.ContainsKey(m.PersistenceId)))
            return Task.FromException<IImmutableList<Exception?>>(new IOException("simulated journal failure"));
        return base.WriteMessagesAsync(list, cancellationToken);
    }
}
