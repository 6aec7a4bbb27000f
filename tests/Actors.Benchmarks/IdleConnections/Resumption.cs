using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Xml;
using System.Xml.Linq;

namespace Actors.Benchmarks.IdleConnections;

/// <summary>
/// XEP-0198 resumption of N sessions at once, against any XMPP server on loopback (plain TCP, SASL PLAIN, so the
/// server must allow PLAIN without TLS there). Phase 1 logs in N accounts PREFIX{START}.., binds, enables stream
/// management with resume='true', sends initial presence and pings the server, counting the stanzas it handles; then
/// every connection is reset (RST, as a phone losing its network) and the tool waits until the server is idle. Phase 2
/// opens N connections at once (all in flight), authenticates each and sends &lt;resume previd h/&gt;, and reports the
/// time until every &lt;resumed/&gt; arrived, the latency of each resumption (connect to &lt;resumed/&gt;: TCP, stream
/// header, SASL PLAIN, stream restart, resume) and the server CPU used (utime+stime of PID) per resumption.
/// <code>
/// Actors.Benchmarks resume --port P --pid PID --n N [--host 127.0.0.1] [--domain localhost] [--prefix u]
///     [--password pw] [--start 0] [--concurrency 100] [--hold-seconds 40]
/// </code>
/// </summary>
public static class Resumption
{
    private const string Sm = "urn:xmpp:sm:3";
    private const string Client = "jabber:client";

    public static int Run(string[] args)
    {
        string Arg(string name, string? fallback = null) => ToolArgs.Get(args, name, fallback);
        var host = Arg("host", "127.0.0.1");
        if (!host.StartsWith("127.", StringComparison.Ordinal)) throw new ArgumentException("loopback servers only");
        var port = int.Parse(Arg("port"), CultureInfo.InvariantCulture);
        var pid = int.Parse(Arg("pid"), CultureInfo.InvariantCulture);
        var n = int.Parse(Arg("n"), CultureInfo.InvariantCulture);
        var domain = Arg("domain", "localhost");
        var prefix = Arg("prefix", "u");
        var password = Arg("password", "pw");
        var start = int.Parse(Arg("start", "0"), CultureInfo.InvariantCulture);
        var concurrency = int.Parse(Arg("concurrency", "100"), CultureInfo.InvariantCulture);
        var hold = int.Parse(Arg("hold-seconds", "40"), CultureInfo.InvariantCulture);

        // phase 1: N resumable sessions
        var sessions = new Session?[n];
        var failed = 0;
        using (var gate = new SemaphoreSlim(concurrency))
        {
            var logins = new Task[n];
            for (var i = 0; i < n; i++)
            {
                var index = i;
                logins[i] = Task.Run(async () =>
                {
                    await gate.WaitAsync();
                    try { sessions[index] = await Session.LoginAsync(host, port, domain, prefix + (start + index).ToString(CultureInfo.InvariantCulture), password); }
                    catch (Exception ex) when (ex is IOException or SocketException or XmlException or InvalidOperationException or OperationCanceledException)
                    {
                        if (Interlocked.Increment(ref failed) <= 5) Console.Error.WriteLine($"login {index}: {ex.Message}");
                    }
                    finally { gate.Release(); }
                });
            }
            Task.WaitAll(logins);
        }
        var live = sessions.Where(s => s is not null).Select(s => s!).ToList();
        Console.WriteLine($"{live.Count} resumable sessions ({failed} failed)");
        foreach (var s in live) s.Reset();
        WaitIdle(pid, hold);
        Thread.Sleep(2000);

        // phase 2: all at once
        var cpu0 = CpuTicks(pid);
        var clock = Stopwatch.StartNew();
        var latencies = new double[live.Count];
        var refused = 0;
        var resumptions = new Task[live.Count];
        for (var i = 0; i < live.Count; i++)
        {
            var index = i;
            resumptions[i] = Task.Run(async () =>
            {
                var t0 = clock.Elapsed;
                try
                {
                    if (await live[index].ResumeAsync(host, port, domain, password)) latencies[index] = (clock.Elapsed - t0).TotalMilliseconds;
                    else latencies[index] = double.NaN;
                }
                catch (Exception ex) when (ex is IOException or SocketException or XmlException or InvalidOperationException or OperationCanceledException)
                {
                    latencies[index] = double.NaN;
                    if (Interlocked.Increment(ref refused) <= 5) Console.Error.WriteLine($"resume {index}: {ex.Message}");
                }
            });
        }
        Task.WaitAll(resumptions);
        var wall = clock.Elapsed.TotalSeconds;
        WaitIdle(pid, hold);
        var cpuMs = (CpuTicks(pid) - cpu0) * 10.0;
        var ok = latencies.Where(l => !double.IsNaN(l)).OrderBy(l => l).ToArray();
        double P(double q) => ok.Length == 0 ? double.NaN : ok[Math.Min(ok.Length - 1, (int)Math.Ceiling(q * ok.Length) - 1)];
        Console.WriteLine(FormattableString.Invariant(
            $"resumed {ok.Length}/{live.Count} at once in {wall:F2} s; latency p50 {P(0.5):F0} ms, p99 {P(0.99):F0} ms, max {P(1):F0} ms; server CPU {cpuMs:F0} ms = {cpuMs / Math.Max(1, ok.Length):F2} ms per resumption"));
        foreach (var s in live) s.Reset();
        return ok.Length == live.Count && failed == 0 ? 0 : 1;
    }

    /// <summary>One client: its socket, and what it needs to resume (the id and how many stanzas it handled).</summary>
    private sealed class Session
    {
        private Socket? _socket;
        private readonly string _user;
        private string _previd = "";
        private uint _handled;

        private Session(string user) => _user = user;

        public static async Task<Session> LoginAsync(string host, int port, string domain, string user, string password)
        {
            var s = new Session(user);
            var (stream, reader) = await s.AuthenticateAsync(host, port, domain, password);
            await SendAsync(stream, "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>m</resource></bind></iq>");
            await NextAsync(reader, e => e.Name.LocalName == "iq");
            await SendAsync(stream, $"<enable xmlns='{Sm}' resume='true'/>");
            var enabled = await NextAsync(reader, e => e.Name.NamespaceName == Sm && e.Name.LocalName is "enabled" or "failed");
            if (enabled.Name.LocalName != "enabled" || enabled.Attribute("id")?.Value is not { } id) throw new InvalidOperationException("no resumable session: " + enabled);
            s._previd = id;
            await SendAsync(stream, $"<presence/><iq type='get' id='p' to='{domain}'><ping xmlns='urn:xmpp:ping'/></iq>");
            // count what is handled until the ping's answer; answer the server's <r/> meanwhile
            while (true)
            {
                var e = await NextAsync(reader, _ => true);
                if (e.Name.NamespaceName == Client && e.Name.LocalName is "message" or "presence" or "iq") s._handled++;
                else if (e.Name.NamespaceName == Sm && e.Name.LocalName == "r") await SendAsync(stream, $"<a xmlns='{Sm}' h='{s._handled}'/>");
                if (e.Name.LocalName == "iq" && e.Attribute("id")?.Value == "p") break;
            }
            return s;
        }

        /// <summary>A new connection that resumes the session: true on &lt;resumed/&gt;, false on &lt;failed/&gt;.</summary>
        public async Task<bool> ResumeAsync(string host, int port, string domain, string password)
        {
            var (stream, reader) = await AuthenticateAsync(host, port, domain, password);
            await SendAsync(stream, $"<resume xmlns='{Sm}' previd='{_previd}' h='{_handled}'/>");
            var answer = await NextAsync(reader, e => e.Name.NamespaceName == Sm && e.Name.LocalName is "resumed" or "failed");
            return answer.Name.LocalName == "resumed";
        }

        /// <summary>A connection, stream, SASL PLAIN and the restarted stream's features.</summary>
        private async Task<(NetworkStream, XmlReader)> AuthenticateAsync(string host, int port, string domain, string password)
        {
            Reset();
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(host, port);
            _socket = socket;
            var stream = new NetworkStream(socket, ownsSocket: false);
            var reader = await OpenAsync(stream, domain);
            await NextAsync(reader, e => e.Name.LocalName == "features");
            var plain = Convert.ToBase64String(Encoding.UTF8.GetBytes("\0" + _user + "\0" + password));
            await SendAsync(stream, $"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{plain}</auth>");
            var outcome = await NextAsync(reader, e => e.Name.LocalName is "success" or "failure");
            if (outcome.Name.LocalName != "success") throw new InvalidOperationException("authentication failed for " + _user);
            reader = await OpenAsync(stream, domain);
            await NextAsync(reader, e => e.Name.LocalName == "features");
            return (stream, reader);
        }

        /// <summary>Closes with a reset (linger 0), as a lost network does for the server: no &lt;/stream&gt;.</summary>
        public void Reset()
        {
            if (_socket is not { } socket) return;
            _socket = null;
            try { socket.LingerState = new LingerOption(true, 0); } catch (SocketException) { }
            socket.Dispose();
        }
    }

    private static async Task<XmlReader> OpenAsync(NetworkStream stream, string domain)
    {
        await SendAsync(stream, $"<?xml version='1.0'?><stream:stream xmlns='{Client}' xmlns:stream='http://etherx.jabber.org/streams' to='{domain}' version='1.0'>");
        var reader = XmlReader.Create(stream, new XmlReaderSettings { Async = true, DtdProcessing = DtdProcessing.Prohibit, IgnoreWhitespace = true, CloseInput = false });
        while (await reader.ReadAsync())
            if (reader.NodeType == XmlNodeType.Element && reader.LocalName == "stream") return reader;
        throw new IOException("the server closed the stream");
    }

    /// <summary>The next top-level element of the stream that <paramref name="match"/> accepts (others are skipped).</summary>
    private static async Task<XElement> NextAsync(XmlReader reader, Func<XElement, bool> match)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        while (true)
        {
            if (!await reader.ReadAsync().WaitAsync(timeout.Token)) throw new IOException("the server closed the stream");
            if (reader.NodeType == XmlNodeType.EndElement && reader.Depth == 0) throw new IOException("the server ended the stream");
            if (reader.NodeType != XmlNodeType.Element || reader.Depth != 1) continue;
            using var subtree = reader.ReadSubtree();
            var e = await XElement.LoadAsync(subtree, LoadOptions.None, timeout.Token);
            if (e.Name.LocalName == "error" && e.Name.NamespaceName == "http://etherx.jabber.org/streams") throw new IOException("stream error: " + e);
            if (match(e)) return e;
        }
    }

    private static Task SendAsync(NetworkStream stream, string xml) => stream.WriteAsync(Encoding.UTF8.GetBytes(xml)).AsTask();

    private static long CpuTicks(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }

    private static void WaitIdle(int pid, int maxSeconds)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed.TotalSeconds < maxSeconds)
        {
            var t0 = CpuTicks(pid);
            Thread.Sleep(1000);
            if (CpuTicks(pid) - t0 < 10) return;
        }
    }
}
