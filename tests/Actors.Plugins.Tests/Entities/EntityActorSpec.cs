using Actors.Xmpp.PluginHost.Entities;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;

namespace Actors.Plugins.Tests.Entities;

/// <summary>The host's keyed-entity actors (region + persistent entities) driven by a plugin-style behaviour.</summary>
public sealed class EntityActorSpec : TestKit
{
    private const string Ns = "urn:test:counter";

    private static readonly Config Journal = ConfigurationFactory.ParseString("""
        akka.persistence.journal.plugin = "akka.persistence.journal.inmem"
        akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.inmem"
        akka.loglevel = WARNING
        """);

    private int _regions;

    public EntityActorSpec() : base(Journal) { }

    /// <summary>A counter: &lt;add n/&gt; persists &lt;added n/&gt;; &lt;get/&gt; answers &lt;value n/&gt;; &lt;boom/&gt; throws.</summary>
    internal sealed class Counter : EntityBehavior<Counter.State>
    {
        public sealed class State
        {
            public int Value;
        }

        public int Restores;
        public int Applies;
        public bool Snapshots;

        public override State Initial(string key) => new();

        public override State Apply(State state, Element e)
        {
            Interlocked.Increment(ref Applies);
            state.Value += int.Parse(e.Attr("n")!);
            return state;
        }

        public override void Handle(IEntityContext entity, State state, Element command)
        {
            switch (command.Name)
            {
                case "add":
                    entity.Persist(new Element("added", Ns).SetAttr("n", command.Attr("n")));
                    entity.Reply(new Element("accepted", Ns)); // sent only once the event is written
                    break;
                case "get":
                    entity.Reply(new Element("value", Ns).SetAttr("n", state.Value.ToString()).SetAttr("key", entity.Key));
                    break;
                case "boom":
                    entity.Persist(new Element("added", Ns).SetAttr("n", "1000")); // never written: the handler throws
                    throw new InvalidOperationException("boom");
                case "later":
                    entity.Schedule("later", TimeSpan.FromMilliseconds(100), new Element("add", Ns).SetAttr("n", "10"));
                    break;
                case "later-long":
                    entity.Schedule("later", TimeSpan.FromMilliseconds(700), new Element("add", Ns).SetAttr("n", "10"));
                    break;
                case "notify":
                    entity.Send(new Element("message", "jabber:client").SetAttr("from", "svc.localhost").SetAttr("to", "alice@localhost"));
                    break;
                case "stop":
                    entity.Passivate();
                    break;
                case "fanout": // one stanza to <n/> recipients r0..r(n-1), marked with the command's 'mark'
                    var recipients = new List<string>();
                    for (var i = 0; i < int.Parse(command.Attr("n")!); i++) recipients.Add($"r{i}@localhost");
                    entity.SendToEach(new Element("message", "jabber:client").SetAttr("from", "svc.localhost").SetAttr("id", command.Attr("mark")), recipients);
                    recipients.Clear(); // the host copied the list
                    break;
            }
        }

        public override EntitySnapshot? Snapshot(State state) =>
            Snapshots ? EntitySnapshot.Of(new Element("counter", Ns).SetAttr("n", state.Value.ToString())) : null;

        public override State Restore(string key, EntitySnapshot snapshot)
        {
            Interlocked.Increment(ref Restores);
            return new State { Value = int.Parse(snapshot.Xml!.Attr("n")!) };
        }
    }

    private (IEntityKind Kind, IActorRef Region) Region(Counter behavior, EntityKindOptions? options = null, Action<Element>? send = null,
        EntityFanout? fanout = null)
    {
        var o = options ?? new EntityKindOptions();
        var region = Sys.ActorOf(EntityRegionActor.Props(key => PluginEntityActor.Props("test", "counter", key, behavior, o, send ?? (_ => { }), fanout: fanout)),
            "entities-counter-" + Interlocked.Increment(ref _regions));
        return (new EntityKindHandle("counter", region, () => Sys.Stop(region)), region);
    }

    internal static Element Cmd(string name, int? n = null)
    {
        var e = new Element(name, Ns);
        if (n is not null) e.SetAttr("n", n.Value.ToString());
        return e;
    }

    private static async Task<int> Value(IEntityKind kind, string key) =>
        int.Parse((await kind.AskAsync(key, Cmd("get"), TimeSpan.FromSeconds(3)))!.Attr("n")!);

    [Fact]
    public async Task SendToEach_streams_copies_off_the_entity_in_order_per_recipient_while_the_entity_keeps_answering()
    {
        const int recipients = 2000;
        var sent = new System.Collections.Concurrent.ConcurrentQueue<Element>();
        var options = new EntityKindOptions { FanoutPerSecond = 1000 }; // ~4 s for the two fan-outs below
        using var fanout = new EntityFanout(Sys, "test/counter", options, sent.Enqueue);
        var (kind, _) = Region(new Counter(), options, sent.Enqueue, fanout);
        kind.Tell("news", Cmd("fanout", recipients).SetAttr("mark", "first"));
        kind.Tell("news", Cmd("fanout", recipients).SetAttr("mark", "second"));
        await kind.AskAsync("news", Cmd("add", 7), TimeSpan.FromSeconds(10)); // a command after both fan-outs
        Assert.Equal(7, await Value(kind, "news"));
        Assert.True(sent.Count < 2 * recipients, $"the entity answered only once its fan-outs were routed ({sent.Count} copies)");

        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (sent.Count < 2 * recipients && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Equal(2 * recipients, sent.Count); // none lost
        var seen = new Dictionary<string, List<string>>();
        foreach (var copy in sent)
        {
            Assert.Equal("svc.localhost", copy.From);
            if (!seen.TryGetValue(copy.To!, out var marks)) seen[copy.To!] = marks = new List<string>();
            marks.Add(copy.Id!);
        }
        Assert.Equal(recipients, seen.Count); // each recipient its own copy
        foreach (var (to, marks) in seen) Assert.True(marks is ["first", "second"], $"{to} got {string.Join(", ", marks)}");
        Assert.Equal(2 * recipients, sent.Distinct(ReferenceEqualityComparer.Instance).Count()); // copies, never one element shared
    }

    [Fact]
    public async Task A_fan_out_past_the_lanes_backlog_holds_the_reply_and_the_next_commands_until_the_lane_drains()
    {
        const int recipients = 10_000; // each fan-out alone exceeds the backlog
        var sent = new System.Collections.Concurrent.ConcurrentQueue<Element>();
        var options = new EntityKindOptions { FanoutPerSecond = 20_000, FanoutLanes = 1 };
        using var fanout = new EntityFanout(Sys, "test/counter", options, sent.Enqueue);
        var (kind, _) = Region(new Counter(), options, sent.Enqueue, fanout);
        var first = kind.AskAsync("news", Cmd("fanout", recipients).SetAttr("mark", "first"), TimeSpan.FromSeconds(10));
        kind.Tell("news", Cmd("fanout", recipients).SetAttr("mark", "second"));
        kind.Tell("news", Cmd("fanout", recipients).SetAttr("mark", "third"));
        await kind.AskAsync("news", Cmd("add", 7), TimeSpan.FromSeconds(10)); // held behind the three fan-outs
        var routed = sent.Count;
        Assert.True(first.IsCompleted);
        Assert.True(routed >= 3 * recipients - EntityFanout.Backlog,
            $"the entity answered with {routed} of {3 * recipients} copies routed: its lane held more than {EntityFanout.Backlog}");

        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (sent.Count < 3 * recipients && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Equal(3 * recipients, sent.Count); // none lost, and in order per recipient
        var marks = new Dictionary<string, string>();
        foreach (var copy in sent)
        {
            var before = marks.GetValueOrDefault(copy.To!);
            Assert.True((before, copy.Id) is (null, "first") or ("first", "second") or ("second", "third"), $"{copy.To}: {copy.Id} after {before}");
            marks[copy.To!] = copy.Id!;
        }
        Assert.Equal(7, await Value(kind, "news"));
    }

    [Fact]
    public async Task An_entity_holds_its_reply_for_a_slow_lane_no_longer_than_the_wait_limit()
    {
        const int recipients = 12_000; // at 1,000 copies/s the lane is under the backlog only after ~3.8 s
        var sent = new System.Collections.Concurrent.ConcurrentQueue<Element>();
        var options = new EntityKindOptions { FanoutPerSecond = 1000, FanoutLanes = 1 };
        using var fanout = new EntityFanout(Sys, "test/counter", options, sent.Enqueue);
        var (kind, _) = Region(new Counter(), options, sent.Enqueue, fanout);
        await kind.AskAsync("slow", Cmd("fanout", recipients).SetAttr("mark", "only"), TimeSpan.FromSeconds(10));
        var routed = sent.Count;
        Assert.True(routed < recipients - EntityFanout.Backlog, $"the reply waited for {routed} copies, past the wait limit");
        Assert.Equal(0, await Value(kind, "slow")); // and the entity answers again
    }

    [Fact]
    public async Task Commands_reach_the_entity_of_their_key_only()
    {
        var (kind, _) = Region(new Counter());
        await kind.AskAsync("a", Cmd("add", 2), TimeSpan.FromSeconds(3));
        await kind.AskAsync("b", Cmd("add", 5), TimeSpan.FromSeconds(3));
        kind.Tell("a", Cmd("add", 1));
        Assert.Equal(3, await Value(kind, "a"));
        Assert.Equal(5, await Value(kind, "b"));
        Assert.Equal("a/b", (await kind.AskAsync("a/b", Cmd("get"), TimeSpan.FromSeconds(3)))!.Attr("key")); // any key
    }

    [Fact]
    public async Task A_new_region_recovers_the_state_from_the_journal()
    {
        var (first, region) = Region(new Counter());
        for (var i = 1; i <= 3; i++) await first.AskAsync("room", Cmd("add", i), TimeSpan.FromSeconds(3));
        Watch(region);
        first.Dispose(); // what unloading the plugin does: its entities stop, their state stays
        ExpectTerminated(region);
        var recovering = new Counter();
        var (second, _) = Region(recovering);
        Assert.Equal(6, await Value(second, "room"));
        Assert.Equal(3, recovering.Applies);
    }

    [Fact]
    public async Task Asks_waiting_when_the_kind_stops_and_asks_made_after_fail_at_once_not_at_their_timeout()
    {
        var (kind, _) = Region(new Counter());
        var waiting = new List<Task>();
        for (var i = 0; i < 20; i++) waiting.Add(kind.AskAsync("k" + i, Cmd("add", 1), TimeSpan.FromSeconds(30)));
        kind.Dispose(); // a reload of the plugin
        var clock = System.Diagnostics.Stopwatch.StartNew();
        foreach (var ask in waiting)
        {
            try { await ask; } // answered before the stop, or failed by it
            catch (InvalidOperationException) { }
        }
        var after = await Assert.ThrowsAsync<InvalidOperationException>(() => kind.AskAsync("k0", Cmd("get"), TimeSpan.FromSeconds(30)));
        Assert.Contains("stopped", after.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"asks waited {clock.Elapsed} for a stopped kind");
    }

    [Fact]
    public async Task An_idle_entity_is_passivated_and_recovered_on_the_next_command()
    {
        var (kind, region) = Region(new Counter(), new EntityKindOptions { PassivateAfter = TimeSpan.FromMilliseconds(200) });
        await kind.AskAsync("k", Cmd("add", 4), TimeSpan.FromSeconds(3));
        var entity = await Sys.ActorSelection(region.Path / "k").ResolveOne(TimeSpan.FromSeconds(3));
        Watch(entity);
        ExpectTerminated(entity, TimeSpan.FromSeconds(3));
        Assert.Equal(4, await Value(kind, "k"));
    }

    [Fact]
    public async Task Commands_sent_while_an_entity_passivates_are_kept_and_delivered()
    {
        var (kind, region) = Region(new Counter());
        await kind.AskAsync("k", Cmd("add", 1), TimeSpan.FromSeconds(3));
        var entity = await Sys.ActorSelection(region.Path / "k").ResolveOne(TimeSpan.FromSeconds(3));
        Watch(entity);
        kind.Tell("k", Cmd("stop"));
        var adds = Enumerable.Range(0, 20).Select(_ => kind.AskAsync("k", Cmd("add", 1), TimeSpan.FromSeconds(5))).ToArray();
        ExpectTerminated(entity, TimeSpan.FromSeconds(3));
        await Task.WhenAll(adds);
        Assert.Equal(21, await Value(kind, "k"));
    }

    [Fact]
    public async Task Snapshots_are_taken_every_n_events_and_recovery_starts_from_the_latest()
    {
        var (first, region) = Region(new Counter { Snapshots = true }, new EntityKindOptions { SnapshotEvery = 2 });
        for (var i = 0; i < 5; i++) await first.AskAsync("s", Cmd("add", 1), TimeSpan.FromSeconds(3));
        Watch(region);
        first.Dispose();
        ExpectTerminated(region);
        var recovering = new Counter { Snapshots = true };
        var (second, _) = Region(recovering, new EntityKindOptions { SnapshotEvery = 2 });
        Assert.Equal(5, await Value(second, "s"));
        Assert.Equal(1, recovering.Restores);  // the snapshot at event 4
        Assert.Equal(1, recovering.Applies);   // and the one event after it
    }

    [Fact]
    public async Task A_failing_behaviour_restarts_its_entity_from_the_journal_and_fails_only_its_asker()
    {
        var (kind, region) = Region(new Counter());
        await kind.AskAsync("f", Cmd("add", 7), TimeSpan.FromSeconds(3));
        await Assert.ThrowsAsync<InvalidOperationException>(() => kind.AskAsync("f", Cmd("boom"), TimeSpan.FromSeconds(3)));
        Assert.Equal(7, await Value(kind, "f")); // the event of the failed command was never written
        var entity = await Sys.ActorSelection(region.Path / "f").ResolveOne(TimeSpan.FromSeconds(3));
        Assert.False(entity.IsNobody());
        Assert.Equal(1, await Value(kind, "other") + 1); // other entities are unaffected
    }

    [Fact]
    public async Task Timers_deliver_their_command_to_the_entity()
    {
        var (kind, _) = Region(new Counter());
        kind.Tell("t", Cmd("later"));
        await AwaitAssertAsync(async () => Assert.Equal(10, await Value(kind, "t")), TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task An_idle_entity_with_a_pending_timer_is_not_passivated_before_it_fires()
    {
        var behavior = new Counter();
        var (kind, region) = Region(behavior, new EntityKindOptions { PassivateAfter = TimeSpan.FromMilliseconds(100) });
        kind.Tell("p", Cmd("later-long")); // a timer due in 700 ms, seven idle periods away
        IActorRef entity = ActorRefs.Nobody;
        await AwaitAssertAsync(async () => entity = await Sys.ActorSelection(region.Path / "p").ResolveOne(TimeSpan.FromSeconds(1)));
        Watch(entity);
        ExpectTerminated(entity, TimeSpan.FromSeconds(5)); // passivated once idle after the timer's command ran
        Assert.Equal(0, behavior.Restores);
        Assert.Equal(10, await Value(kind, "p")); // recovered from the journal: the timer's event was written
        Assert.Equal(2, behavior.Applies);        // once live, once in recovery
    }

    [Fact]
    public async Task Stanzas_leave_through_the_host_router()
    {
        var probe = CreateTestProbe();
        var (kind, _) = Region(new Counter(), send: e => probe.Ref.Tell(e));
        await kind.AskAsync("n", Cmd("notify"), TimeSpan.FromSeconds(3));
        var sent = probe.ExpectMsg<Element>();
        Assert.Equal("alice@localhost", sent.To);
    }

    [Fact]
    public async Task Asking_an_entity_that_does_not_reply_completes_with_null()
    {
        var (kind, _) = Region(new Counter());
        Assert.Null(await kind.AskAsync("x", Cmd("later"), TimeSpan.FromSeconds(3)));
    }
}
