using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Actors.Xmpp.Server;
using Actors.Xmpp.Server.Diagnostics;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace Actors.Plugins.Tests;

/// <summary>Issue 16, tracing: a stanza's path across actors is one trace (W3C trace context from actor to actor,
/// beside the stanza), recorded by OpenTelemetry: an in-memory exporter here, OTLP when Xmpp:Tracing is set.</summary>
public sealed class TracingSpec
{
    /// <summary>The in-memory exporter's collection, safe to read while server threads end spans.</summary>
    private sealed class Spans : System.Collections.ObjectModel.Collection<Activity>
    {
        private readonly object _gate = new();
        protected override void InsertItem(int index, Activity item) { lock (_gate) base.InsertItem(index, item); }
        public Activity[] Snapshot() { lock (_gate) return this.ToArray(); }
    }

    private static string? Tag(Activity a, string key) => a.GetTagItem(key) as string;

    /// <summary>All spans of the trace whose root is the connection's span of the stanza <paramref name="id"/>, once
    /// <paramref name="expected"/> of them have ended (the recipient's span may end after its client read the stanza).</summary>
    private static async Task<(Activity Root, Activity[] Trace)> TraceOf(Spans spans, string id, int expected)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var all = spans.Snapshot();
            var root = Array.Find(all, a => a.OperationName == XmppTracing.Spans.ClientStanza && Tag(a, XmppTracing.Tags.StanzaId) == id);
            if (root is not null)
            {
                var trace = Array.FindAll(all, a => a.TraceId == root.TraceId);
                if (trace.Length >= expected || DateTime.UtcNow > deadline) return (root, trace);
            }
            else if (DateTime.UtcNow > deadline) throw new Xunit.Sdk.XunitException($"no span of the stanza {id}");
            await Task.Delay(50);
        }
    }

    private static Activity Single(Activity[] trace, string name) => Assert.Single(trace, a => a.OperationName == name);

    private static void AssertChild(Activity parent, Activity child)
    {
        Assert.Equal(parent.TraceId, child.TraceId);
        Assert.Equal(parent.SpanId, child.ParentSpanId);
    }

    [Fact]
    public async Task A_message_between_two_clients_is_one_trace_connection_session_account_recipient_session()
    {
        var spans = new Spans();
        using var tracer = XmppTracing.Configure(Sdk.CreateTracerProviderBuilder(), new XmppServerOptions.TracingSettings())
            .AddInMemoryExporter(spans).Build();
        await using var server = await TestServer.StartAsync([]);
        await server.AddUserAsync("trace-a");
        await server.AddUserAsync("trace-b");
        await using var a = await XmppTestClient.LoginAsync(server, "trace-a");
        await using var b = await XmppTestClient.LoginAsync(server, "trace-b");
        var id = "trace-" + Guid.NewGuid().ToString("N");
        await a.SendAsync($"<message to='{b.Jid}' type='chat' id='{id}'><body>traced</body></message>");
        var received = await b.NextMatchingAsync(e => e.Name == "message" && e.Id == id);

        var (root, trace) = await TraceOf(spans, id, expected: 4);
        Assert.Equal(4, trace.Length);
        Assert.Equal(default, root.ParentSpanId); // the connection that read it begins the trace
        Assert.Equal(ActivityKind.Server, root.Kind);
        var route = Single(trace, XmppTracing.Spans.SessionRoute);
        var account = Single(trace, XmppTracing.Spans.AccountRoute);
        var deliver = Single(trace, XmppTracing.Spans.SessionDeliver);
        AssertChild(root, route);
        AssertChild(route, account);
        AssertChild(account, deliver);
        foreach (var span in trace)
        {
            Assert.Equal("message", Tag(span, XmppTracing.Tags.StanzaKind));
            Assert.Equal("chat", Tag(span, XmppTracing.Tags.StanzaType));
            Assert.Equal(id, Tag(span, XmppTracing.Tags.StanzaId));
            Assert.Equal(XmppTracing.SourceName, span.Source.Name);
        }
        // the context travels beside the stanza: the recipient gets the stanza as sent, stamped, with nothing of the trace
        Assert.Equal("traced", Assert.Single(received.Elements()).Text);
        Assert.DoesNotContain(root.TraceId.ToHexString(), received.ToString());
        Assert.DoesNotContain("traceparent", received.ToString());
    }

    [Fact]
    public async Task A_message_to_a_bare_jid_fans_out_from_the_account_span_to_each_resource_it_goes_to()
    {
        var spans = new Spans();
        using var tracer = XmppTracing.Configure(Sdk.CreateTracerProviderBuilder(), new XmppServerOptions.TracingSettings())
            .AddInMemoryExporter(spans).Build();
        await using var server = await TestServer.StartAsync([]);
        await server.AddUserAsync("trace-c");
        await server.AddUserAsync("trace-d");
        await using var c = await XmppTestClient.LoginAsync(server, "trace-c");
        // RFC 6121 §8.5.2.1.1: a headline to the bare JID goes to every available resource of non-negative priority
        await using var d1 = await XmppTestClient.LoginAsync(server, "trace-d", "one", available: true);
        await using var d2 = await XmppTestClient.LoginAsync(server, "trace-d", "two", available: true);
        var id = "trace-" + Guid.NewGuid().ToString("N");
        await c.SendAsync($"<message to='trace-d@{TestServer.Domain}' type='headline' id='{id}'><body>to all</body></message>");
        await d1.NextMatchingAsync(e => e.Name == "message" && e.Id == id);
        await d2.NextMatchingAsync(e => e.Name == "message" && e.Id == id);

        var (root, trace) = await TraceOf(spans, id, expected: 5);
        var route = Single(trace, XmppTracing.Spans.SessionRoute);
        var account = Single(trace, XmppTracing.Spans.AccountRoute);
        AssertChild(root, route);
        AssertChild(route, account);
        var deliveries = Array.FindAll(trace, s => s.OperationName == XmppTracing.Spans.SessionDeliver);
        Assert.Equal(2, deliveries.Length);
        foreach (var deliver in deliveries) AssertChild(account, deliver);
        Assert.Equal(5, trace.Length);
    }

    [Fact]
    public async Task With_Xmpp_Tracing_OtlpEndpoint_the_server_exports_its_spans_over_OTLP_http_protobuf()
    {
        // a collector: takes OTLP/HTTP requests (RFC 9112 framing, Content-Length bodies) and answers 200
        using var collector = new TcpListener(IPAddress.Loopback, 0);
        collector.Start();
        var bodies = new System.Collections.Concurrent.ConcurrentQueue<(string Head, byte[] Body)>();
        using var stop = new CancellationTokenSource();
        var serving = Collect(collector, bodies, stop.Token);
        var endpoint = $"http://127.0.0.1:{((IPEndPoint)collector.LocalEndpoint).Port}/v1/traces";

        var id = "trace-" + Guid.NewGuid().ToString("N");
        await using (var server = await TestServer.StartAsync([], new Dictionary<string, string?>
                     {
                         ["Xmpp:Tracing:OtlpEndpoint"] = endpoint,
                         ["Xmpp:Tracing:OtlpProtocol"] = XmppServerOptions.TracingSettings.HttpProtobuf,
                     }))
        {
            await server.AddUserAsync("trace-e");
            await using var e = await XmppTestClient.LoginAsync(server, "trace-e");
            await using var f = await XmppTestClient.LoginAsync(server, "alice");
            await e.SendAsync($"<message to='{f.Jid}' type='chat' id='{id}'><body>exported</body></message>");
            await f.NextMatchingAsync(m => m.Name == "message" && m.Id == id);
        } // stopping the server exports what its tracer still holds

        var deadline = DateTime.UtcNow.AddSeconds(20);
        var seen = new HashSet<string>();
        while (DateTime.UtcNow < deadline && seen.Count < 4)
        {
            foreach (var (head, body) in bodies)
            {
                Assert.StartsWith("POST /v1/traces HTTP/1.1", head);
                Assert.Contains("content-type: application/x-protobuf", head.ToLowerInvariant());
                if (!Contains(body, id)) continue;
                foreach (var name in new[] { XmppTracing.Spans.ClientStanza, XmppTracing.Spans.SessionRoute, XmppTracing.Spans.AccountRoute,
                             XmppTracing.Spans.SessionDeliver })
                    if (Contains(body, name)) seen.Add(name);
                Assert.True(Contains(body, XmppTracing.ServiceName)); // the resource's service.name
            }
            if (seen.Count < 4) await Task.Delay(100);
        }
        stop.Cancel();
        collector.Stop();
        await serving;
        Assert.Equal(4, seen.Count);
    }

    // protobuf writes strings as their UTF-8 bytes
    private static bool Contains(byte[] body, string text) => body.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text)) >= 0;

    private static async Task Collect(TcpListener listener, System.Collections.Concurrent.ConcurrentQueue<(string, byte[])> bodies, CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var client = await listener.AcceptTcpClientAsync(stop);
                _ = Serve(client, bodies, stop);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException) { }
    }

    private static async Task Serve(TcpClient client, System.Collections.Concurrent.ConcurrentQueue<(string, byte[])> bodies, CancellationToken stop)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var buffer = new List<byte>();
                var chunk = new byte[8192];
                while (!stop.IsCancellationRequested)
                {
                    // one request: the head up to CRLFCRLF, then Content-Length bytes
                    int headEnd;
                    while ((headEnd = IndexOf(buffer, "\r\n\r\n"u8)) < 0)
                    {
                        var n = await stream.ReadAsync(chunk, stop);
                        if (n == 0) return;
                        buffer.AddRange(chunk.AsSpan(0, n));
                    }
                    var head = Encoding.ASCII.GetString(buffer.GetRange(0, headEnd).ToArray());
                    var length = 0;
                    foreach (var line in head.Split("\r\n"))
                        if (line.StartsWith("content-length:", StringComparison.OrdinalIgnoreCase)) length = int.Parse(line[15..].Trim());
                    while (buffer.Count < headEnd + 4 + length)
                    {
                        var n = await stream.ReadAsync(chunk, stop);
                        if (n == 0) return;
                        buffer.AddRange(chunk.AsSpan(0, n));
                    }
                    bodies.Enqueue((head, buffer.GetRange(headEnd + 4, length).ToArray()));
                    buffer.RemoveRange(0, headEnd + 4 + length);
                    await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"u8.ToArray(), stop);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException) { }
        }
    }

    private static int IndexOf(List<byte> buffer, ReadOnlySpan<byte> pattern) =>
        System.Runtime.InteropServices.CollectionsMarshal.AsSpan(buffer).IndexOf(pattern);
}
