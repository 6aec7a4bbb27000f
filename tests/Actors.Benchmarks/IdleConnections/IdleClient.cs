using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;

namespace Actors.Benchmarks.IdleConnections;

/// <summary>
/// The client side of the idle-connection measurement, run as a child process of <see cref="IdleServer"/> so its
/// sockets and memory are not counted in the server's figures. Commands on stdin, one line each:
/// <c>open K</c> (open K connections, each sends a stream header and one small message, then stays idle),
/// <c>close</c> (close them all), <c>exit</c>. Every command is answered with one line on stdout.
/// </summary>
public static class IdleClient
{
    public static int Run(string[] args)
    {
        var port = int.Parse(Arg(args, "--port") ?? throw new ArgumentException("--port"));
        var parallel = int.Parse(Arg(args, "--parallel") ?? "200");
        var endpoint = new IPEndPoint(IPAddress.Loopback, port);
        var tls = args.Contains("--tls");
        var starttls = args.Contains("--starttls");
        var protocols = args.Contains("--tls12") ? System.Security.Authentication.SslProtocols.Tls12 : System.Security.Authentication.SslProtocols.None;
        var sockets = new List<IDisposable>();
        string? line;
        while ((line = Console.ReadLine()) is not null)
        {
            var parts = line.Split(' ');
            switch (parts[0])
            {
                case "open":
                {
                    var k = int.Parse(parts[1]);
                    var sw = Stopwatch.StartNew();
                    var opened = OpenAsync(endpoint, k, parallel, tls, starttls, protocols).GetAwaiter().GetResult();
                    sockets.AddRange(opened);
                    Console.WriteLine($"opened {opened.Count} in {sw.ElapsedMilliseconds} ms; client RSS {Mem.MiB(Mem.RssBytes())} MiB");
                    break;
                }
                case "close":
                {
                    // plain connections: check that the server's reply (its stream header) arrived on every one
                    var replied = 0;
                    foreach (var s in sockets)
                        if (s is Socket plain && plain.Available >= Wire.ServerHeader.Length) replied++;
                    var total = sockets.Count;
                    foreach (var s in sockets) s.Dispose();
                    sockets.Clear();
                    Console.WriteLine(tls ? $"closed {total} (TLS: reply not checked)" : $"closed {total}; server reply waiting on {replied} of {total}");
                    break;
                }
                case "exit":
                    Console.WriteLine("bye");
                    return 0;
            }
        }
        return 0;
    }

    private static async Task<List<IDisposable>> OpenAsync(IPEndPoint endpoint, int count, int parallel, bool tls, bool starttls, System.Security.Authentication.SslProtocols protocols)
    {
        var result = new IDisposable[count];
        using var gate = new SemaphoreSlim(parallel);
        var tasks = new Task[count];
        for (var i = 0; i < count; i++)
        {
            await gate.WaitAsync();
            var index = i;
            tasks[i] = Task.Run(async () =>
            {
                try
                {
                    var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    await s.ConnectAsync(endpoint);
                    if (!tls)
                    {
                        await s.SendAsync(Wire.ClientHello);
                        result[index] = s;
                        return;
                    }
                    if (starttls) await NegotiateStartTlsAsync(s);
                    var ssl = new SslStream(new NetworkStream(s, ownsSocket: true), false, (_, _, _, _) => true);
                    await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                    {
                        TargetHost = "example.com",
                        EnabledSslProtocols = protocols,
                        ApplicationProtocols = [new SslApplicationProtocol("xmpp-client")],
                    });
                    await ssl.WriteAsync(Wire.ClientHello);
                    await ssl.FlushAsync();
                    result[index] = ssl;
                }
                finally
                {
                    gate.Release();
                }
            });
        }
        await Task.WhenAll(tasks);
        return result.ToList();
    }

    /// <summary>Stream header and &lt;starttls/&gt; in plain text, then waits for the server's &lt;proceed/&gt;.</summary>
    private static async Task NegotiateStartTlsAsync(Socket s)
    {
        await s.SendAsync(Wire.StartTlsRequest);
        var buffer = new byte[4096];
        var received = new System.Text.StringBuilder();
        while (!received.ToString().Contains("<proceed", StringComparison.Ordinal))
        {
            var n = await s.ReceiveAsync(buffer);
            if (n == 0) throw new IOException("closed before <proceed/>");
            received.Append(System.Text.Encoding.UTF8.GetString(buffer, 0, n));
        }
    }

    internal static string? Arg(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
