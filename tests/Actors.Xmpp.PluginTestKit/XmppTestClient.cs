using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using Actors.Xmpp;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.PluginTestKit;

/// <summary>
/// A raw TCP XMPP client for transcript-style tests (scansion's "Romeo sends / Romeo receives"): plain stream,
/// SASL PLAIN, bind; then <see cref="Sends"/> XML and <see cref="Receives"/> a stanza matching an expected
/// fragment (attributes and child elements given must match; others are ignored).
/// </summary>
public sealed class XmppTestClient : IAsyncDisposable
{
    private readonly TcpClient _tcp = new();
    private NetworkStream _stream = null!;
    private readonly Channel<Element> _inbox = Channel.CreateUnbounded<Element>();
    private readonly List<Element> _held = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _reader;
    private Sink _sink = null!;

    public string Name { get; }
    public Jid Jid { get; private set; } = null!;
    public Element? Features { get; private set; }
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);
    public Task Closed => _closed.Task;

    private XmppTestClient(string name) => Name = name;

    /// <summary>Connects, authenticates as <paramref name="user"/> and binds a resource.</summary>
    public static async Task<XmppTestClient> LoginAsync(IPEndPoint server, string user, string password, string domain = "localhost", string? resource = null)
    {
        var c = new XmppTestClient(user);
        await c._tcp.ConnectAsync(server);
        c._stream = c._tcp.GetStream();
        c._sink = new Sink(c._inbox.Writer, c._closed);
        c._reader = c.ReadLoop();
        await c.OpenStream(domain);
        c.Features = await c.Next();
        var auth = Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{user}\0{password}"));
        await c.SendRaw($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{auth}</auth>");
        var success = await c.Next();
        if (success.Name != "success") throw new InvalidOperationException($"{user}: login failed: {success}");
        c._sink.Framer.Reset();
        await c.OpenStream(domain);
        c.Features = await c.Next();
        await c.SendRaw($"<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{resource ?? "test"}</resource></bind></iq>");
        var bound = await c.Next();
        c.Jid = Jid.Parse(bound.Child("bind", Ns.Bind)!.ChildText("jid", Ns.Bind)!);
        return c;
    }

    private Task OpenStream(string domain) =>
        SendRaw($"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='{domain}' version='1.0'>");

    public async Task SendRaw(string xml)
    {
        var bytes = Encoding.UTF8.GetBytes(xml);
        await _stream.WriteAsync(bytes);
    }

    /// <summary>Sends a stanza (XML text).</summary>
    public Task Sends(string xml) => SendRaw(xml);

    /// <summary>The next stanza matching <paramref name="expected"/> (stanzas that do not match are kept for later).</summary>
    public async Task<Element> Receives(string expected)
    {
        var pattern = Parse(expected);
        for (var i = 0; i < _held.Count; i++)
        {
            if (!Matches(pattern, _held[i])) continue;
            var e = _held[i];
            _held.RemoveAt(i);
            return e;
        }
        using var cts = new CancellationTokenSource(Timeout);
        try
        {
            while (true)
            {
                var e = await _inbox.Reader.ReadAsync(cts.Token);
                if (Matches(pattern, e)) return e;
                _held.Add(e);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException)
        {
            throw new TimeoutException($"{Name} did not receive {expected} within {Timeout.TotalSeconds} s; got instead:\n" +
                                               string.Join("\n", _held.Select(h => h.ToString())));
        }
    }

    /// <summary>Sends an IQ and returns its reply (result or error).</summary>
    public async Task<Element> Query(string iqXml)
    {
        var iq = Parse(iqXml);
        await Sends(iqXml);
        return await Receives($"<iq id='{iq.Id}'/>");
    }

    /// <summary>Whether the server disco-advertises <paramref name="feature"/> at <paramref name="to"/> (ejabberd's is_feature_advertised).</summary>
    public async Task<bool> IsFeatureAdvertised(string feature, string to = "localhost", string? node = null)
    {
        var id = "disco-" + Guid.NewGuid().ToString("N")[..8];
        var nodeAttr = node is null ? "" : $" node='{node}'";
        var reply = await Query($"<iq type='get' id='{id}' to='{to}'><query xmlns='http://jabber.org/protocol/disco#info'{nodeAttr}/></iq>");
        return reply.Child("query", Ns.DiscoInfo)?.Elements("feature", Ns.DiscoInfo).Any(f => f.Attr("var") == feature) == true;
    }

    private async Task<Element> Next()
    {
        using var cts = new CancellationTokenSource(Timeout);
        return await _inbox.Reader.ReadAsync(cts.Token);
    }

    private async Task ReadLoop()
    {
        var buffer = new byte[16384];
        try
        {
            while (true)
            {
                var n = await _stream.ReadAsync(buffer);
                if (n == 0) break;
                lock (_sink) _sink.Framer.Feed(buffer.AsSpan(0, n));
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or SocketException)
        {
        }
        _closed.TrySetResult();
        _inbox.Writer.TryComplete();
    }

    /// <summary>Parses one element of XML text (default namespace jabber:client).</summary>
    public static Element Parse(string xml)
    {
        Element? result = null;
        var sink = new Sink(null, null) { OnElement = e => result = e };
        sink.Framer.Feed(Encoding.UTF8.GetBytes("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>" + xml));
        return result ?? throw new ArgumentException("not a complete element: " + xml);
    }

    /// <summary>Loose match: name, namespace, the expected attributes, each expected child (recursively), and text if given.</summary>
    public static bool Matches(Element expected, Element actual)
    {
        if (expected.Name != actual.Name || expected.Namespace != actual.Namespace) return false;
        foreach (var a in expected.Attributes)
            if (a.Name != "xmlns" && actual.Attr(a.Name, a.Namespace) != a.Value) return false;
        foreach (var child in expected.Elements())
            if (!actual.Elements().Any(c => Matches(child, c))) return false;
        var text = expected.Text.Trim();
        return text.Length == 0 || actual.Text.Trim() == text;
    }

    public async ValueTask DisposeAsync()
    {
        try { await SendRaw("</stream:stream>"); } catch (Exception ex) when (ex is IOException or ObjectDisposedException or SocketException) { }
        _tcp.Dispose();
        if (_reader is not null) await _reader.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { });
    }

    private sealed class Sink : IFramerSink
    {
        private readonly ChannelWriter<Element>? _out;
        private readonly TaskCompletionSource? _closed;

        public Sink(ChannelWriter<Element>? output, TaskCompletionSource? closed)
        {
            _out = output;
            _closed = closed;
            Framer = new XmppFramer(this);
        }

        public XmppFramer Framer { get; }
        public Action<Element>? OnElement { get; init; }
        public void OnStreamOpen(StreamHeader header) { }
        public void OnStanza(Element stanza)
        {
            OnElement?.Invoke(stanza);
            _out?.TryWrite(stanza);
        }
        public void OnStreamClose() => _closed?.TrySetResult();
        public void OnError(FramerErrorCondition condition, string text) => _closed?.TrySetException(new InvalidOperationException(text));
    }
}
