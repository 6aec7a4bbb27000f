using System.Diagnostics;
using Actors.Xmpp.Server.C2s;
using Actors.Xmpp.Server.Routing;
using Akka.Actor;
using Microsoft.Extensions.DependencyInjection;

namespace Actors.Xmpp.IntegrationTests;

/// <summary>
/// No per-connection leak: open and close many connections (some through TLS, SASL and bind), then compare the
/// managed heap with the baseline measured after a warm-up round.
/// </summary>
public sealed class ChurnTests(ITestOutputHelper output)
{
    /// <summary>Connections in the measured round (10,000 take about 4-7 s here, 2 cores).</summary>
    public const int Cycles = 10_000;
    /// <summary>Every Nth connection goes through STARTTLS, SASL PLAIN and bind; the others stop after the stream features.</summary>
    public const int FullLoginEvery = 20;
    public const int WarmUpCycles = 2_000;
    public const int Parallelism = 4;
    /// <summary>Allowed heap growth over the baseline. Between rounds of 10,000 connections the settled heap moves by up
    /// to ~0.7 MB either way here (pools, thread-local ArrayPool buckets), without a trend; anything a connection would
    /// leave behind (socket, framer, actor, session: kilobytes each) over 10,000 connections is far above 2 MB.</summary>
    public const long MarginBytes = 2 * 1024 * 1024;

    [Fact]
    public async Task Churn_open_and_close_connections_without_per_connection_leak()
    {
        await using var server = new TestServer(new Dictionary<string, string?>
        {
            ["Xmpp:Tls:Required"] = "false",
            ["Xmpp:Auth:AllowPlainWithoutTls"] = "true",
        });
        await server.AddUserAsync("churn");

        var sw = Stopwatch.StartNew();
        await RunAsync(server, WarmUpCycles);
        var baseline = await SettledHeapAsync(server);
        output.WriteLine($"warm-up: {WarmUpCycles} connections in {sw.Elapsed.TotalSeconds:0.0} s; baseline heap {baseline:N0} bytes");

        sw.Restart();
        await RunAsync(server, Cycles);
        var elapsed = sw.Elapsed;
        var after = await SettledHeapAsync(server);
        var growth = after - baseline;
        output.WriteLine($"measured: {Cycles} connections ({Cycles / FullLoginEvery} with TLS + auth + bind) in {elapsed.TotalSeconds:0.0} s " +
                         $"({Cycles / elapsed.TotalSeconds:0} per second)");
        output.WriteLine($"heap after: {after:N0} bytes; growth {growth:N0} bytes ({(double)growth / Cycles:0.0} bytes per connection); margin {MarginBytes:N0}");
        Assert.True(growth < MarginBytes, $"managed heap grew by {growth:N0} bytes over {Cycles} connections");
    }

    private static async Task RunAsync(TestServer server, int count)
    {
        var next = -1;
        var workers = Enumerable.Range(0, Parallelism).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
                await OneAsync(server, full: i % FullLoginEvery == 0, i);
        }));
        await Task.WhenAll(workers);
    }

    private static async Task OneAsync(TestServer server, bool full, int i)
    {
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        if (full)
        {
            await c.StartTlsAsync();
            await c.AuthPlainAsync("churn");
            await c.BindAsync("c" + i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        await c.CloseAsync();
        Assert.IsType<XmppTestClient.StreamCloseEvent>(await c.NextEventAsync());
        await c.ExpectClosedAsync();
    }

    /// <summary>Waits until the server has no connection actor and no session left, then collects until the heap settles.</summary>
    private static async Task<long> SettledHeapAsync(TestServer server)
    {
        var registry = server.Services.GetRequiredService<ISessionRegistry>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var open = await server.Service.Connections.Ask<int>(ConnectionsActor.GetCount.Instance, TimeSpan.FromSeconds(5));
            if (open == 0 && registry.Count == 0) break;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{open} connections and {registry.Count} sessions still open");
            await Task.Delay(50);
        }
        long previous = long.MaxValue;
        for (var round = 0; round < 20; round++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            var now = GC.GetTotalMemory(true);
            if (Math.Abs(previous - now) < 16 * 1024) return now;
            previous = now;
            await Task.Delay(100);
        }
        return previous;
    }
}
