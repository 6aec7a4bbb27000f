using System.Diagnostics;
using System.Globalization;
using Actors.Xmpp;
using Actors.Xmpp.Persistence;
using Actors.Xmpp.Persistence.Archive;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Server.Archive;
using Actors.Xmpp.Xml;

namespace Actors.Benchmarks;

/// <summary>
/// `archive-page [messages] [queries]`: the message archive table (XEP-0313) on SQLite in a temporary folder: appends
/// <c>messages</c> chat messages to one account's archive (two contacts), then times <c>queries</c> page queries of
/// 50 (the last page, a page after a random id, a page of one contact): the latency of a MAM page query on an archive
/// of that size, as the plugin runs it (flush, id lookup, count, page, index).
/// </summary>
public static class ArchivePages
{
    public static int Run(string[] args)
    {
        var messages = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 100_000;
        var queries = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1_000;
        var dir = Path.Combine(Path.GetTempPath(), "actors-archive-bench-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            var options = new XmppPersistenceOptions();
            XmppPersistenceConfig.PrepareDatabase(options, dir);
            var archive = new MessageArchive(new MessageArchiveTable(options, dir));
            var owner = Jid.Parse("alice@localhost");
            var bob = Jid.Parse("bob@localhost/desk");
            var carol = Jid.Parse("carol@localhost/phone");
            var ids = new string[messages];
            var fill = Stopwatch.StartNew();
            for (var i = 0; i < messages; i++)
            {
                var from = i % 3 == 0 ? carol : bob;
                var m = new Element("message", Ns.Client).SetAttr("from", from.ToString()).SetAttr("to", owner.ToString())
                    .SetAttr("type", "chat").SetAttr("id", "m" + i).Add(new Element("body", Ns.Client).AddText("message number " + i));
                ids[i] = archive.Append("mam", owner, from, m);
            }
            archive.FlushAsync().GetAwaiter().GetResult();
            fill.Stop();
            Console.WriteLine($"appended {messages} messages in {fill.Elapsed.TotalSeconds:0.0} s ({messages / fill.Elapsed.TotalSeconds:0} rows/s, batched)");

            var random = new Random(42);
            foreach (var (name, make) in new (string, Func<MessageArchiveQuery>)[]
            {
                ("last page (<before/>)", () => new MessageArchiveQuery(new MessageArchiveFilter(), 50, FromEnd: true)),
                ("page after a random id", () => new MessageArchiveQuery(new MessageArchiveFilter(), 50, After: ids[random.Next(messages)])),
                ("last page with one contact", () => new MessageArchiveQuery(new MessageArchiveFilter { With = carol.Bare }, 50, FromEnd: true)),
            })
            {
                for (var i = 0; i < 20; i++) archive.QueryAsync("mam", owner, make()).GetAwaiter().GetResult(); // warm up
                var times = new double[queries];
                for (var i = 0; i < queries; i++)
                {
                    var q = make();
                    var sw = Stopwatch.StartNew();
                    var page = archive.QueryAsync("mam", owner, q).GetAwaiter().GetResult();
                    times[i] = sw.Elapsed.TotalMilliseconds;
                    if (page.Count == 0) throw new InvalidOperationException("empty page");
                }
                Array.Sort(times);
                Console.WriteLine($"{name,-28} p50 {times[queries / 2]:0.00} ms  p99 {times[(int)(queries * 0.99)]:0.00} ms  max {times[^1]:0.00} ms");
            }
            archive.DisposeAsync().AsTask().GetAwaiter().GetResult();
            return 0;
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }
}
