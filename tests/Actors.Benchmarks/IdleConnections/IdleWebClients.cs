using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;

namespace Actors.Benchmarks.IdleConnections;

/// <summary>
/// RSS per idle WebSocket (RFC 7395) or BOSH (XEP-0206) session of any XMPP server on loopback: reads the server's RSS
/// (/proc/PID/status), logs in N accounts PREFIX{START}..PREFIX{START+N-1} with SASL PLAIN, binds and sends initial
/// presence, keeps them idle (a BOSH client keeps one long-poll request waiting, as a browser does), waits until the
/// server is idle (under 10 % of a core for a second, at most --hold-seconds), then 3 s, reads RSS again and prints
/// KiB per session. The same accounts must exist on the server (server.sh bulk-users N PREFIX PASSWORD START).
/// <code>
/// Actors.Benchmarks idle-web --transport ws|bosh --url URL --pid PID --n N [--domain localhost] [--prefix u]
///     [--password pw] [--start 0] [--concurrency 100] [--hold-seconds 40]
/// </code>
/// </summary>
public static class IdleWebClients
{
    private const string Framing = "urn:ietf:params:xml:ns:xmpp-framing";
    private const string HttpBind = "http://jabber.org/protocol/httpbind";

    public static int Run(string[] args)
    {
        string Arg(string name, string? fallback = null) => ToolArgs.Get(args, name, fallback);
        var transport = Arg("transport");
        var url = new Uri(Arg("url"));
        var pid = int.Parse(Arg("pid"), CultureInfo.InvariantCulture);
        var n = int.Parse(Arg("n"), CultureInfo.InvariantCulture);
        var domain = Arg("domain", "localhost");
        var prefix = Arg("prefix", "u");
        var password = Arg("password", "pw");
        var start = int.Parse(Arg("start", "0"), CultureInfo.InvariantCulture);
        var concurrency = int.Parse(Arg("concurrency", "100"), CultureInfo.InvariantCulture);
        var hold = int.Parse(Arg("hold-seconds", "40"), CultureInfo.InvariantCulture);
        if (!url.IsLoopback) throw new ArgumentException("loopback servers only");

        WaitIdle(pid, hold);
        var before = RssKiB(pid);
        var clock = Stopwatch.StartNew();
        var sessions = new List<IAsyncDisposable>(n);
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = int.MaxValue, PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10) })
        { Timeout = TimeSpan.FromMinutes(5) };
        using var gate = new SemaphoreSlim(concurrency);
        var logins = new List<Task>(n);
        var failed = 0;
        for (var i = 0; i < n; i++)
        {
            var user = prefix + (start + i).ToString(CultureInfo.InvariantCulture);
            logins.Add(Task.Run(async () =>
            {
                await gate.WaitAsync();
                try
                {
                    IAsyncDisposable s = transport == "ws"
                        ? await WsSession.LoginAsync(url, domain, user, password)
                        : await BoshSession.LoginAsync(http, url, domain, user, password);
                    lock (sessions) sessions.Add(s);
                }
                catch (Exception ex)
                {
                    if (Interlocked.Increment(ref failed) <= 5) Console.Error.WriteLine($"{user}: {ex.Message}");
                }
                finally { gate.Release(); }
            }));
        }
        Task.WaitAll(logins.ToArray());
        Console.WriteLine($"{sessions.Count} {transport} sessions online in {clock.Elapsed.TotalSeconds:F1} s ({failed} failed)");
        WaitIdle(pid, hold);
        Thread.Sleep(3000);
        var after = RssKiB(pid);
        Console.WriteLine(FormattableString.Invariant(
            $"server RSS {before} KiB -> {after} KiB: {(after - before) / (double)Math.Max(1, sessions.Count):F1} KiB per idle {transport} session (n={sessions.Count})"));
        foreach (var s in sessions) s.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5));
        return failed == 0 ? 0 : 1;
    }

    private static long RssKiB(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        throw new InvalidOperationException("no VmRSS for " + pid);
    }

    private static long CpuTicks(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture); // utime + stime
    }

    /// <summary>Until the server uses under 10 % of a core over a second (clock ticks are 1/100 s), at most <paramref name="maxSeconds"/>.</summary>
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

    private static string Plain(string user, string password) => Convert.ToBase64String(Encoding.UTF8.GetBytes("\0" + user + "\0" + password));

    private sealed class WsSession : IAsyncDisposable
    {
        private readonly ClientWebSocket _ws;
        private readonly byte[] _buffer = new byte[16 * 1024];
        private WsSession(ClientWebSocket ws) => _ws = ws;

        public static async Task<WsSession> LoginAsync(Uri url, string domain, string user, string password)
        {
            var ws = new ClientWebSocket();
            ws.Options.AddSubProtocol("xmpp");
            ws.Options.KeepAliveInterval = TimeSpan.Zero;
            await ws.ConnectAsync(url, CancellationToken.None);
            var s = new WsSession(ws);
            var open = $"<open xmlns='{Framing}' to='{domain}' version='1.0'/>";
            await s.SendAsync(open);
            await s.UntilAsync("</stream:features>");
            await s.SendAsync($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{Plain(user, password)}</auth>");
            if (!(await s.UntilAsync("<success", "<failure")).Contains("<success", StringComparison.Ordinal)) throw new InvalidOperationException("authentication failed");
            await s.SendAsync(open);
            await s.UntilAsync("</stream:features>");
            await s.SendAsync("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>idle</resource></bind></iq>");
            await s.UntilAsync("</iq>");
            await s.SendAsync("<presence xmlns='jabber:client'/>");
            await s.SendAsync($"<iq xmlns='jabber:client' type='get' id='p' to='{domain}'><ping xmlns='urn:xmpp:ping'/></iq>");
            await s.UntilAsync("id='p'", "id=\"p\"");
            return s;
        }

        private Task SendAsync(string xml) => _ws.SendAsync(Encoding.UTF8.GetBytes(xml), WebSocketMessageType.Text, true, CancellationToken.None);

        private async Task<string> UntilAsync(params string[] marks)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            while (true)
            {
                var text = new StringBuilder();
                ValueWebSocketReceiveResult r;
                do
                {
                    r = await _ws.ReceiveAsync(_buffer.AsMemory(), cts.Token);
                    if (r.MessageType == WebSocketMessageType.Close) throw new InvalidOperationException("closed by the server");
                    text.Append(Encoding.UTF8.GetString(_buffer, 0, r.Count));
                } while (!r.EndOfMessage);
                var message = text.ToString();
                foreach (var m in marks)
                    if (message.Contains(m, StringComparison.Ordinal)) return message;
            }
        }

        public ValueTask DisposeAsync()
        {
            _ws.Abort();
            _ws.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    private sealed class BoshSession : IAsyncDisposable
    {
        private readonly HttpClient _http;
        private readonly Uri _url;
        private readonly string _sid;
        private long _rid;
        private readonly CancellationTokenSource _stop = new();

        private BoshSession(HttpClient http, Uri url, string sid, long rid)
        {
            _http = http;
            _url = url;
            _sid = sid;
            _rid = rid;
        }

        public static async Task<BoshSession> LoginAsync(HttpClient http, Uri url, string domain, string user, string password)
        {
            var rid = Random.Shared.NextInt64(1, 1L << 40);
            var created = await PostAsync(http, url, $"<body xmlns='{HttpBind}' xmlns:xmpp='urn:xmpp:xbosh' rid='{rid++}' to='{domain}' xml:lang='en' ver='1.11' wait='60' hold='1' xmpp:version='1.0'/>", CancellationToken.None);
            var sid = Attribute(created, "sid") ?? throw new InvalidOperationException("no sid: " + created);
            var s = new BoshSession(http, url, sid, rid);
            var features = created.Contains("mechanisms", StringComparison.Ordinal) ? created : await s.PostAsync("");
            if (!features.Contains("PLAIN", StringComparison.Ordinal)) throw new InvalidOperationException("no PLAIN: " + features);
            var auth = await s.PostAsync($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{Plain(user, password)}</auth>");
            if (!auth.Contains("<success", StringComparison.Ordinal)) throw new InvalidOperationException("authentication failed: " + auth);
            await s.PostAsync("", $" xmpp:restart='true' xmlns:xmpp='urn:xmpp:xbosh' to='{domain}' xml:lang='en'");
            var bound = await s.PostAsync("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>idle</resource></bind></iq>");
            if (!bound.Contains("<jid>", StringComparison.Ordinal)) await s.PostAsync(""); // the result may come in the next answer
            await s.PostAsync("<presence xmlns='jabber:client'/>");
            _ = s.PollAsync();
            return s;
        }

        /// <summary>An idle browser: one request always waiting at the server, re-sent when answered.</summary>
        private async Task PollAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                try { await PostAsync("", token: _stop.Token); }
                catch (Exception) when (_stop.IsCancellationRequested) { return; }
                catch (Exception) { return; }
            }
        }

        private Task<string> PostAsync(string payload, string attributes = "", CancellationToken token = default)
        {
            var rid = Interlocked.Increment(ref _rid) - 1;
            return PostAsync(_http, _url, $"<body xmlns='{HttpBind}' sid='{_sid}' rid='{rid}'{attributes}>{payload}</body>", token);
        }

        private static async Task<string> PostAsync(HttpClient http, Uri url, string body, CancellationToken token)
        {
            using var content = new StringContent(body, Encoding.UTF8, "text/xml");
            using var response = await http.PostAsync(url, content, token);
            var text = await response.Content.ReadAsStringAsync(token);
            if (text.Contains("type='terminate'", StringComparison.Ordinal) || text.Contains("type=\"terminate\"", StringComparison.Ordinal))
                throw new InvalidOperationException("terminated: " + text);
            return text;
        }

        private static string? Attribute(string xml, string name)
        {
            foreach (var quote in new[] { '\'', '"' })
            {
                var key = " " + name + "=" + quote;
                var i = xml.IndexOf(key, StringComparison.Ordinal);
                if (i < 0) continue;
                var from = i + key.Length;
                return xml[from..xml.IndexOf(quote, from)];
            }
            return null;
        }

        public ValueTask DisposeAsync()
        {
            _stop.Cancel();
            return ValueTask.CompletedTask;
        }
    }
}
