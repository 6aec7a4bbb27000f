using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using Actors.Xmpp.Transport.Connections;
using Actors.Xmpp.Transport.Tls;
using Akka.Actor;
using Akka.Streams;

namespace Actors.Benchmarks.IdleConnections;

/// <summary>
/// <c>idle --mode ours|streams --n N [--warmup W] [--hold-seconds S] [--tls|--starttls] [--tls12] [--reply-bytes B] [--diag]</c>
/// (--tls: direct TLS, --starttls: TLS negotiated in the stream as the server's c2s port does, mode ours only;
/// --tls12: the client offers TLS 1.2 only, else the client's defaults (TLS 1.3);
/// --reply-bytes: after its stream header over TLS the server also sends B bytes of whitespace, as a large stanza would; --diag: after the loaded measurement, print what the idle SslStreams hold; with DOTNET_OPENSSL_MEMORY_DEBUG=1 in the environment, also OpenSSL's live allocations per connection by source line): server-side memory per idle connection.
/// Starts the server side in this process and a <c>client</c> child process that opens the connections.
/// Each connection sends a stream header and one small message; the server parses it, hands it to a per-connection
/// actor and answers with a stream header; then the connection stays idle.
/// Baseline: after W warm-up connections are open and idle (JIT, thread pool, pools and Akka are warm).
/// Figure: (heap or RSS with W+N open) − (baseline), divided by N. Then all are closed and what is retained is printed.
/// </summary>
public static class IdleServer
{
    public static int Run(string[] args)
    {
        var mode = IdleClient.Arg(args, "--mode") ?? "ours";
        var n = int.Parse(IdleClient.Arg(args, "--n") ?? "1000", CultureInfo.InvariantCulture);
        var warmup = int.Parse(IdleClient.Arg(args, "--warmup") ?? "200", CultureInfo.InvariantCulture);
        if (mode is not ("ours" or "streams")) throw new ArgumentException("--mode ours|streams");
        var starttls = args.Contains("--starttls");
        var tls = args.Contains("--tls") || starttls;
        var tls12 = args.Contains("--tls12");
        var replyBytes = int.Parse(IdleClient.Arg(args, "--reply-bytes") ?? "0", CultureInfo.InvariantCulture);
        var diag = args.Contains("--diag");
        var tracked = new System.Collections.Concurrent.ConcurrentBag<SocketConnection>();
        if (tls && mode == "streams") throw new ArgumentException("--tls: Akka.Streams has no TLS stage; only mode ours");

        var system = ActorSystem.Create("idle", "akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING\nakka.log-dead-letters = off");
        IAsyncDisposable? listener = null;
        Socket? streamsListen = null;
        int port;
        if (mode == "ours")
        {
            var l = new SocketListener(new IPEndPoint(IPAddress.Loopback, 0),
                new TransportOptions { Certificates = tls ? ServerCertificates.Single(CertificateLoader.LoadOrCreateSelfSigned(Path.Combine(Path.GetTempPath(), "actors-bench-cert"), ["example.com"])) : null },
                directTls: tls && !starttls,
                maxConnections: 100_000, backlog: 4096, onConnection: c =>
                {
                    Interlocked.Increment(ref Counters.Opened);
                    if (diag) tracked.Add(c);
                    var actor = system.ActorOf(Props.Create(typeof(OursConnectionActor), c, replyBytes));
                    c.Start(actor);
                });
            l.Start();
            listener = l;
            port = l.LocalEndPoint.Port;
        }
        else
        {
            var materializer = system.Materializer();
            streamsListen = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            streamsListen.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            streamsListen.Listen(4096);
            port = ((IPEndPoint)streamsListen.LocalEndPoint!).Port;
            var listen = streamsListen;
            _ = Task.Run(async () =>
            {
                while (true)
                {
                    Socket s;
                    try { s = await listen.AcceptAsync(); }
                    catch (Exception ex) when (ex is SocketException or ObjectDisposedException) { return; }
                    Interlocked.Increment(ref Counters.Opened);
                    StreamsConnection.Start(s, system, materializer);
                }
            });
        }

        using var client = StartClient(port, tls, starttls, tls12);
        var label = mode + (starttls ? "+starttls" : tls ? "+tls" : "") + (tls12 ? "+tls12" : "") + (replyBytes > 0 ? $"+reply{replyBytes}" : "");
        Console.WriteLine($"mode={label} n={n} warmup={warmup} port={port} gc={(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")} pid={Environment.ProcessId}");

        var start = Mem.Measure();
        Command(client, $"open {warmup}");
        WaitFor(() => Interlocked.Read(ref Counters.Stanzas) >= warmup, "warm-up stanzas");
        Thread.Sleep(1000);
        var baseline = Mem.Measure();
        var opensslBaseline = OpenSslAllocations.BytesInUse();
        OpenSslAllocations.Start();

        var sw = Stopwatch.StartNew();
        var reply = Command(client, $"open {n}");
        WaitFor(() => Interlocked.Read(ref Counters.Stanzas) >= warmup + n, "stanzas");
        var openMs = sw.ElapsedMilliseconds;
        Thread.Sleep(2000);
        var loaded = Mem.Measure();
        if (diag) TlsDiag.Print(tracked);
        if (OpenSslAllocations.Enabled)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  openssl: bytes in use grew by {(OpenSslAllocations.BytesInUse() - opensslBaseline) / 1024.0 / n:F2} KiB per connection"));
            OpenSslAllocations.Report(n);
        }
        var hold = int.Parse(IdleClient.Arg(args, "--hold-seconds") ?? "0", CultureInfo.InvariantCulture);
        if (hold > 0)
        {
            // time to take a heap snapshot of the loaded state (dotnet-gcdump collect -p <pid>)
            Console.WriteLine($"HOLD pid={Environment.ProcessId} for {hold} s");
            Thread.Sleep(TimeSpan.FromSeconds(hold));
        }

        var closeReply = Command(client, "close");
        WaitFor(() => Interlocked.Read(ref Counters.Closed) >= warmup + n, "closes");
        Thread.Sleep(2000);
        var after = Mem.Measure();
        Command(client, "exit");

        double Per(long a, long b) => (a - b) / 1024.0 / n;
        var ci = CultureInfo.InvariantCulture;
        Console.WriteLine($"  client: {reply}; {closeReply}");
        Console.WriteLine($"  start    heap {Mem.MiB(start.Heap)} MiB, RSS {Mem.MiB(start.Rss)} MiB, native {Mem.MiB(start.Native)} MiB, threads {start.Threads}");
        Console.WriteLine($"  baseline heap {Mem.MiB(baseline.Heap)} MiB, RSS {Mem.MiB(baseline.Rss)} MiB, native {Mem.MiB(baseline.Native)} MiB, threads {baseline.Threads} ({warmup} idle connections)");
        Console.WriteLine($"  loaded   heap {Mem.MiB(loaded.Heap)} MiB, RSS {Mem.MiB(loaded.Rss)} MiB, native {Mem.MiB(loaded.Native)} MiB, threads {loaded.Threads} ({warmup + n} idle connections, {n} opened and parsed in {openMs} ms)");
        Console.WriteLine($"  closed   heap {Mem.MiB(after.Heap)} MiB, RSS {Mem.MiB(after.Rss)} MiB, native {Mem.MiB(after.Native)} MiB, threads {after.Threads}");
        Console.WriteLine(string.Create(ci,
            $"RESULT mode={label} n={n} heapKiBPerConn={Per(loaded.Heap, baseline.Heap):F2} rssKiBPerConn={Per(loaded.Rss, baseline.Rss):F2} nativeKiBPerConn={Per(loaded.Native, baseline.Native):F2} " +
            $"heapRetainedKiBPerConnAfterClose={Per(after.Heap, baseline.Heap):F2} openMs={openMs}"));

        streamsListen?.Dispose();
        listener?.DisposeAsync().AsTask().Wait();
        system.Terminate().Wait(TimeSpan.FromSeconds(10));
        return 0;
    }

    private static Process StartClient(int port, bool tls, bool starttls, bool tls12)
    {
        var host = Environment.ProcessPath!;
        var psi = new ProcessStartInfo(host) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet") psi.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
        foreach (var a in new[] { "client", "--port", port.ToString(CultureInfo.InvariantCulture) }) psi.ArgumentList.Add(a);
        if (tls) psi.ArgumentList.Add("--tls");
        if (starttls) psi.ArgumentList.Add("--starttls");
        if (tls12) psi.ArgumentList.Add("--tls12");
        return Process.Start(psi)!;
    }

    private static string Command(Process client, string command)
    {
        client.StandardInput.WriteLine(command);
        client.StandardInput.Flush();
        return client.StandardOutput.ReadLine() ?? throw new InvalidOperationException("client exited");
    }

    private static void WaitFor(Func<bool> condition, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > TimeSpan.FromMinutes(3))
                throw new TimeoutException($"timed out waiting for {what}: stanzas={Counters.Stanzas} opened={Counters.Opened} closed={Counters.Closed}");
            Thread.Sleep(20);
        }
    }
}
