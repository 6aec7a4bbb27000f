using System.Diagnostics;
using Actors.Xmpp.Persistence.Replay;
using Actors.Xmpp.Server.Accounts;
using Akka.Actor;
using Xunit.Abstractions;

namespace Actors.Xmpp.Persistence.Tests;

/// <summary>Tag queries must stay linear (CSV tags): 10,000 tagged events are read in seconds, not minutes.</summary>
public sealed class TagQuerySpec(ITestOutputHelper output)
{
    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task Ten_thousand_tagged_events_are_read_by_tag_in_seconds(string kind)
    {
        using var db = TestDatabase.Create(kind, snapshotEvery: 1_000_000);
        var system = PersistenceActorSystem.Create("tags", db.Options, db.DataDir);
        try
        {
            var directory = new AccountDirectory();
            var actor = system.ActorOf(AccountsActor.Props("tags.example", directory, 1_000_000));
            var keys = new[] { new ScramKeyRecord("SHA-256", new byte[16], 4096, new byte[32], new byte[32]) };
            var write = Stopwatch.StartNew();
            for (var b = 0; b < 10; b++)
            {
                var batch = Enumerable.Range(b * 1000, 1000).Select(i => new AccountEntry("t" + i, keys)).ToList();
                var created = await actor.Ask<AccountsActor.Created>(new AccountsActor.Create(batch), TimeSpan.FromSeconds(60));
                Assert.Equal(1000, created.Count);
            }
            write.Stop();

            var reader = await JournalReader.OpenAsync(system);
            var read = Stopwatch.StartNew();
            var count = 0;
            await reader.RunAsync(reader.ByTag("domain:tags.example"), _ => count++);
            read.Stop();
            Assert.Equal(10_000, count);
            output.WriteLine($"{kind}: wrote 10,000 events with PersistAll(1000) in {write.Elapsed.TotalSeconds:0.0} s " +
                             $"({10_000 / write.Elapsed.TotalSeconds:0}/s); read by tag in {read.Elapsed.TotalSeconds:0.00} s " +
                             $"({10_000 / read.Elapsed.TotalSeconds:0}/s)");
            Console.WriteLine($"TAG-THROUGHPUT {kind}: write {10_000 / write.Elapsed.TotalSeconds:0}/s, read by tag {10_000 / read.Elapsed.TotalSeconds:0}/s");
            Assert.True(read.Elapsed < TimeSpan.FromSeconds(30), $"reading 10,000 events by tag took {read.Elapsed}");
        }
        finally
        {
            await system.Terminate();
        }
    }
}
