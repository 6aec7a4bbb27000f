using System.Collections.Immutable;
using Actors.Xmpp.PluginHost.Entities;
using Actors.Xmpp.Plugins;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.Journal;
using Akka.TestKit.Xunit2;
using static Actors.Plugins.Tests.Entities.EntityActorSpec;

namespace Actors.Plugins.Tests.Entities;

/// <summary>An in-memory journal whose writes wait at a gate the test opens, and can be made to reject them.</summary>
public sealed class GatedJournal : MemoryJournal
{
    public static volatile TaskCompletionSource Gate = Open();
    public static int Requests; // write requests received (each command's events are one)
    public static volatile bool Reject;
    public static int RejectNext; // write requests to reject after this one, counted down

    public static TaskCompletionSource Open()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        gate.SetResult();
        return gate;
    }

    protected override async Task<IImmutableList<Exception?>> WriteMessagesAsync(IEnumerable<AtomicWrite> messages, CancellationToken cancellationToken)
    {
        var writes = messages.ToList();
        Interlocked.Increment(ref Requests);
        await Gate.Task;
        if (Reject || Interlocked.Decrement(ref RejectNext) >= 0)
            return writes.Select(_ => (Exception?)new InvalidOperationException("rejected by the test")).ToImmutableList();
        return await base.WriteMessagesAsync(writes, cancellationToken);
    }
}

/// <summary>Pipelined entity writes: the next command is handled while the journal writes the last one's events,
/// and nothing leaves the entity before the events it reflects are written.</summary>
[Collection(nameof(GatedJournal))] // the gate is shared
public sealed class EntityPipelineSpec : TestKit
{
    private static readonly Config Journal = ConfigurationFactory.ParseString($$"""
        akka.persistence.journal.plugin = "akka.persistence.journal.gated"
        akka.persistence.journal.gated {
          class = "{{typeof(GatedJournal).AssemblyQualifiedName}}"
          plugin-dispatcher = "akka.actor.default-dispatcher"
        }
        akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.inmem"
        akka.loglevel = WARNING
        """);

    public EntityPipelineSpec() : base(Journal)
    {
        GatedJournal.Gate = GatedJournal.Open();
        GatedJournal.Reject = false;
        GatedJournal.Requests = 0;
        GatedJournal.RejectNext = 0;
    }

    private IEntityKind Kind(Counter behavior)
    {
        var options = new EntityKindOptions();
        var region = Sys.ActorOf(EntityRegionActor.Props(key => PluginEntityActor.Props("test", "counter", key, behavior, options, _ => { })));
        return new EntityKindHandle("counter", region, () => Sys.Stop(region));
    }

    /// <summary>A counter entity of <paramref name="key"/>, recovered and running (one add written).</summary>
    private async Task<(Counter Counter, IEntityKind Kind)> Running(string key)
    {
        var counter = new Counter();
        var kind = Kind(counter);
        await kind.AskAsync(key, Cmd("add", 1), TimeSpan.FromSeconds(3));
        return (counter, kind);
    }

    private static TaskCompletionSource Close() =>
        GatedJournal.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Until the behaviour applied <paramref name="n"/> events (applied when handled: before their write ends).</summary>
    private static async Task WaitForApplies(Counter counter, int n)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (DateTime.UtcNow < deadline && Volatile.Read(ref counter.Applies) < n) await Task.Delay(20);
        await Task.Delay(100); // and no more than n
        Assert.Equal(n, Volatile.Read(ref counter.Applies));
    }

    [Fact]
    public async Task The_next_commands_are_handled_while_the_journal_writes_and_their_replies_wait_for_their_events()
    {
        var (counter, kind) = await Running("p");
        var gate = Close();
        var adds = Enumerable.Range(0, 5).Select(_ => kind.AskAsync("p", Cmd("add", 1), TimeSpan.FromSeconds(10))).ToArray();
        var get = kind.AskAsync("p", Cmd("get"), TimeSpan.FromSeconds(10));
        await WaitForApplies(counter, 1 + 5); // all five handled while the first of them is being written
        Assert.DoesNotContain(adds.Cast<Task>().Append(get), t => t.IsCompleted); // nothing answered before its write
        Assert.Equal(2, Volatile.Read(ref GatedJournal.Requests));
        gate.SetResult();
        await Task.WhenAll(adds);
        Assert.Equal("6", (await get)!.Attr("n")); // the read waited behind the writes before it and sees them
        Assert.Equal(3, Volatile.Read(ref GatedJournal.Requests)); // the four handled during the first write: one write
    }

    [Fact]
    public async Task A_behaviour_failing_behind_writes_in_flight_fails_its_asker_after_their_replies()
    {
        var (counter, kind) = await Running("f");
        var gate = Close();
        var adds = Enumerable.Range(0, 3).Select(_ => kind.AskAsync("f", Cmd("add", 1), TimeSpan.FromSeconds(10))).ToArray();
        var boom = kind.AskAsync("f", Cmd("boom"), TimeSpan.FromSeconds(10));
        var after = kind.AskAsync("f", Cmd("add", 100), TimeSpan.FromSeconds(10));
        await WaitForApplies(counter, 1 + 3); // 'boom' applies nothing, 'add 100' waits for the restart
        gate.SetResult();
        await Task.WhenAll(adds); // written: answered
        await Assert.ThrowsAsync<InvalidOperationException>(() => boom);
        await after; // handled by the restarted entity
        Assert.Equal("104", (await kind.AskAsync("f", Cmd("get"), TimeSpan.FromSeconds(3)))!.Attr("n"));
    }

    [Fact]
    public async Task Writes_the_journal_rejects_fail_their_askers_and_the_entity_goes_back_to_what_is_written()
    {
        var (counter, kind) = await Running("r");
        var gate = Close();
        GatedJournal.Reject = true;
        var adds = Enumerable.Range(0, 3).Select(_ => kind.AskAsync("r", Cmd("add", 1), TimeSpan.FromSeconds(10))).ToArray();
        await WaitForApplies(counter, 1 + 3);
        gate.SetResult();
        foreach (var add in adds) // each fails at once, none waits for its timeout
            await Assert.ThrowsAsync<InvalidOperationException>(() => add);
        GatedJournal.Reject = false;
        Assert.Equal("1", (await kind.AskAsync("r", Cmd("get"), TimeSpan.FromSeconds(3)))!.Attr("n"));
    }

    [Fact]
    public async Task A_rejected_write_fails_only_its_command_and_the_writes_already_under_way_are_answered_as_written()
    {
        var (counter, kind) = await Running("q");
        var gate = Close();
        var adds = Enumerable.Range(0, 3).Select(_ => kind.AskAsync("q", Cmd("add", 1), TimeSpan.FromSeconds(10))).ToArray();
        await WaitForApplies(counter, 1 + 3);
        Interlocked.Exchange(ref GatedJournal.RejectNext, 1); // the first add's write; the other two go as the next write
        gate.SetResult();
        await Assert.ThrowsAsync<InvalidOperationException>(() => adds[0]);
        await adds[1]; // written: told so, not failed with the rejected one
        await adds[2];
        Assert.Equal("3", (await kind.AskAsync("q", Cmd("get"), TimeSpan.FromSeconds(3)))!.Attr("n")); // recovered: what was written
    }
}
