using System.Globalization;
using Actors.Benchmarks.IdleConnections;
using Actors.Xmpp;
using Actors.Xmpp.Server.Accounts;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Actors.Benchmarks;

/// <summary>
/// <c>directory-memory --dir D [--create N]</c>: what a node keeps in memory per registered account once it has
/// recovered its account directory (issue 10's capacity model: every node holds every account's SCRAM keys). With
/// <c>--create N</c> the server (SQLite journal in D, no plugins) creates N accounts and exits. Without it, a fresh
/// process starts the server on D, waits until the directory is recovered, collects fully and prints the heap and the
/// account count: run it on a folder with N accounts and on an empty one; the difference divided by N is the figure
/// (nothing of account creation is left in it, unlike <c>offline-users</c>' upper bound).
/// </summary>
public static class DirectoryMemory
{
    public static int Run(string[] args)
    {
        var dataDir = IdleClient.Arg(args, "--dir") ?? throw new ArgumentException("--dir D is required");
        var create = IdleClient.Arg(args, "--create") is { } c ? int.Parse(c, CultureInfo.InvariantCulture) : -1;
        Directory.CreateDirectory(dataDir);
        // 64 SCRAM iterations (StartServer): what is kept per account does not depend on them, and creating 100,000
        // accounts at 4,096 would take minutes of PBKDF2
        using var host = OfflineUsers.StartServer(dataDir, new Dictionary<string, string?>());
        try
        {
            var store = (JournalAccountStore)host.Services.GetRequiredService<IAccountStore>();
            store.WaitReadyAsync().GetAwaiter().GetResult();
            if (create > 0)
            {
                var all = Enumerable.Range(0, create).Select(i => (Jid.Create("u" + i.ToString(CultureInfo.InvariantCulture), "localhost"), "pw")).ToList();
                foreach (var batch in all.Chunk(5000)) store.AddManyAsync(batch).GetAwaiter().GetResult();
                Console.WriteLine($"{store.Directory.Count} accounts in {dataDir}");
                return 0;
            }
            var (heap, rss) = OfflineUsers.Measure();
            Console.WriteLine($"accounts {store.Directory.Count} heap {heap} rss {rss}");
            return 0;
        }
        finally
        {
            host.StopAsync().GetAwaiter().GetResult();
        }
    }
}
