using System.Diagnostics;
using System.Globalization;
using Actors.Benchmarks.IdleConnections;
using Actors.Xmpp;
using Actors.Xmpp.Server.Accounts;
using Actors.Xmpp.Server.Hosting;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Server.Users.Events;
using Akka.Actor;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Actors.Benchmarks;

/// <summary>
/// <c>offline-users --n N [--warmup W] [--passivate-seconds S]</c>: memory per registered-but-offline account. The whole
/// server (SQLite journal in a temporary folder, no plugins) in this process; N + W accounts are created, W are
/// touched and left to passivate (warm-up), then the baseline is taken; then each of the N is touched (its user actor
/// recovers from the journal), measured, left idle until passivation stopped the actors, and measured again.
/// Figures: (heap or RSS) − baseline, divided by N.
/// </summary>
public static class OfflineUsers
{
    public static int Run(string[] args)
    {
        var n = int.Parse(IdleClient.Arg(args, "--n") ?? "10000", CultureInfo.InvariantCulture);
        var warmup = int.Parse(IdleClient.Arg(args, "--warmup") ?? "500", CultureInfo.InvariantCulture);
        var passivate = int.Parse(IdleClient.Arg(args, "--passivate-seconds") ?? "5", CultureInfo.InvariantCulture);
        var dataDir = Path.Combine(Path.GetTempPath(), "offline-users-" + Guid.NewGuid().ToString("N")[..8]);
        using var host = StartServer(dataDir, new Dictionary<string, string?>
        {
            ["Xmpp:Users:PassivateAfterSeconds"] = passivate.ToString(CultureInfo.InvariantCulture),
        });
        try
        {
            var accounts = host.Services.GetRequiredService<IAccountStore>();
            var users = host.Services.GetRequiredService<IUserDirectory>();
            var system = host.Services.GetRequiredService<Akka.Actor.ActorSystem>();
            var all = Enumerable.Range(0, n + warmup).Select(i => (Jid.Create("u" + i.ToString(CultureInfo.InvariantCulture), "localhost"), "pw")).ToList();
            var measured = all.Take(n).Select(a => a.Item1).ToList();
            var warm = all.Skip(n).Select(a => a.Item1).ToList();
            var (heap0, rss0) = Measure();
            accounts.AddManyAsync(all).GetAwaiter().GetResult();
            var (heap1, rss1) = Measure();
            Console.WriteLine($"{n + warmup} accounts created in {dataDir}; passivation after {passivate} s");
            Report("the account directory (no user actor yet)", n + warmup, heap1 - heap0, rss1 - rss0);
            for (var round = 0; round < 2; round++) // pools and caches reach their steady size
            {
                Touch(users, warm);
                Thread.Sleep(TimeSpan.FromSeconds(passivate + 5));
            }

            var results = new List<(long Heap, long Rss)> { Measure() };
            for (var round = 1; round <= 2; round++)
            {
                var watch = Stopwatch.StartNew();
                Touch(users, measured);
                var live = Measure();
                Console.WriteLine($"round {round}: touched {n} accounts (each user actor recovered from the journal) in {watch.Elapsed.TotalSeconds:F1} s");
                Report($"round {round}: user actors running ({LiveUserActors(system)}), relative to before the touch", n, live.Heap - results[^1].Heap, live.Rss - results[^1].Rss);
                Thread.Sleep(TimeSpan.FromSeconds(passivate + 5));
                var idle = Measure();
                Report($"round {round}: after passivation ({LiveUserActors(system)} user actors left), relative to before the touch", n, idle.Heap - results[^1].Heap, idle.Rss - results[^1].Rss);
                results.Add(idle);
            }
            return 0;
        }
        finally
        {
            host.StopAsync().GetAwaiter().GetResult();
            try { Directory.Delete(dataDir, true); } catch (IOException) { }
        }
    }

    /// <summary>The whole server in this process, no plugins, on a SQLite journal in <paramref name="dataDir"/>, with
    /// 64 SCRAM iterations (what is kept per account does not depend on them) and no idle heap trim; started.</summary>
    internal static IHost StartServer(string dataDir, IReadOnlyDictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Xmpp:Domain"] = "localhost",
            ["Xmpp:BindAddress"] = "127.0.0.1",
            ["Xmpp:C2sPort"] = "0",
            ["Xmpp:DirectTlsPort"] = "-1",
            ["Xmpp:DataDir"] = dataDir,
            ["Xmpp:Auth:ScramIterations"] = "64",
            ["Xmpp:Memory:TrimWhenIdle"] = "false",
        }.Concat(settings));
        builder.Logging.ClearProviders();
        builder.Services.AddXmppServer(builder.Configuration);
        var host = builder.Build();
        host.StartAsync().GetAwaiter().GetResult();
        return host;
    }

    private static void Touch(IUserDirectory users, IReadOnlyList<Jid> jids)
    {
        foreach (var batch in jids.Chunk(500))
            Task.WhenAll(batch.Select(j => users.Ask<UserSnapshot>(j, UserActor.GetState.Instance, TimeSpan.FromSeconds(60)))).GetAwaiter().GetResult();
    }

    private static int LiveUserActors(Akka.Actor.ActorSystem system)
    {
        // Identify resets an actor's receive timeout like any message: count only where it does not matter any more
        var counter = system.ActorOf(Akka.Actor.Props.Create(() => new IdentityCounter()));
        system.ActorSelection("/user/users/*").Tell(new Akka.Actor.Identify(1), counter);
        Thread.Sleep(2000);
        var count = counter.Ask<int>("count", TimeSpan.FromSeconds(10)).GetAwaiter().GetResult();
        system.Stop(counter);
        return count;
    }

    private sealed class IdentityCounter : Akka.Actor.UntypedActor
    {
        private int _count;

        protected override void OnReceive(object message)
        {
            if (message is Akka.Actor.ActorIdentity { Subject: not null }) _count++;
            else if (message is "count") Sender.Tell(_count, Self);
        }
    }

    /// <summary>Heap after three compacting collections, and the working set.</summary>
    internal static (long Heap, long Rss) Measure()
    {
        for (var i = 0; i < 3; i++)
        {
            System.Runtime.GCSettings.LargeObjectHeapCompactionMode = System.Runtime.GCLargeObjectHeapCompactionMode.CompactOnce;
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }
        Thread.Sleep(500);
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        return (GC.GetTotalMemory(true), process.WorkingSet64);
    }

    private static void Report(string what, int n, long heap, long rss) =>
        Console.WriteLine($"{what}: heap +{heap / 1048576.0:F1} MiB ({(double)heap / n:F0} B per account), RSS +{rss / 1048576.0:F1} MiB ({(double)rss / n:F0} B per account)");
}
