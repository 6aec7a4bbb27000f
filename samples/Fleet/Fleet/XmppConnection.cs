using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Text;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Xml;

namespace Samples.Fleet;

/// <summary>
/// A small XMPP client connection (RFC 6120) for simulated devices and the dashboard: one TCP socket, one async read
/// loop feeding the repository's <see cref="XmppFramer"/>, STARTTLS when offered (the server's certificate is not
/// checked: the simulator runs against test servers with self-signed certificates), SASL SCRAM-SHA-1 (RFC 5802, the
/// server signature verified), resource binding, XEP-0077 registration, and IQ requests matched to their answers by
/// id. Stanzas that are not answers go to <see cref="StanzaReceived"/>, called on the read loop: handlers must not block.
/// </summary>
public sealed class XmppConnection : IFramerSink, IAsyncDisposable
{
    private static readonly FramerLimits Limits = new(MaxStanzaBytes: 64 * 1024, MaxDepth: 32);
    private readonly TcpClient _tcp;
    private readonly XmppFramer _framer;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Dictionary<string, TaskCompletionSource<Element>> _pending = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly string _domain;
    private readonly int _bufferBytes;
    private Stream _stream;
    // the negotiation steps wait for the next top-level element here (before the stream is ready)
    private TaskCompletionSource<Element>? _next;
    private TaskCompletionSource? _header;
    private bool _pauseAfterChunk;
    private Task? _reader;
    private long _ids;

    private XmppConnection(TcpClient tcp, string domain, int bufferBytes)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
        _domain = domain;
        _bufferBytes = bufferBytes;
        _framer = new XmppFramer(this, Limits);
    }

    /// <summary>The full JID bound.</summary>
    public string Jid { get; private set; } = "";
    public string BareJid { get; private set; } = "";
    /// <summary>Stanzas other than IQ answers to this connection's requests (read loop thread: do not block).</summary>
    public Action<Element>? StanzaReceived { get; set; }
    /// <summary>Completes when the server closes the stream or the connection ends.</summary>
    public Task Closed => _closed.Task;
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Connects and opens the stream (STARTTLS first when offered); <paramref name="bufferBytes"/> is the read buffer.</summary>
    public static async Task<XmppConnection> ConnectAsync(string host, int port, string domain, CancellationToken ct, int bufferBytes = 4096)
    {
        var tcp = new TcpClient { NoDelay = true };
        try
        {
            await tcp.ConnectAsync(host, port, ct);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
        return new XmppConnection(tcp, domain, bufferBytes);
    }

    /// <summary>Opens a stream and returns its features, after STARTTLS if the server offers it.</summary>
    private async Task<Element> OpenAsync(bool allowTls, CancellationToken ct)
    {
        var features = await OpenStreamAsync(ct);
        if (allowTls && features.Child("starttls", Protocol.StartTls) is not null)
        {
            _pauseAfterChunk = true;
            var proceed = await RequestAsync(new Element("starttls", Protocol.StartTls), ct);
            if (!proceed.Is("proceed", Protocol.StartTls)) throw new XmppException("STARTTLS refused: " + proceed);
            await _reader!.WaitAsync(ct);
            _pauseAfterChunk = false;
            var ssl = new SslStream(_stream, leaveInnerStreamOpen: false, (_, _, _, _) => true);
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = _domain,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                ApplicationProtocols = [new SslApplicationProtocol("xmpp-client")],
            }, ct);
            _stream = ssl;
            _framer.Reset();
            features = await OpenStreamAsync(ct);
        }
        return features;
    }

    private async Task<Element> OpenStreamAsync(CancellationToken ct)
    {
        _header = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var features = NextElement();
        await WriteAsync(Encoding.UTF8.GetBytes($"<?xml version='1.0'?><stream:stream xmlns='{Protocol.Client}' xmlns:stream='{Protocol.Streams}' to='{_domain}' version='1.0'>"), ct);
        _reader ??= Task.Run(ReadLoopAsync, CancellationToken.None);
        if (_reader.IsCompleted) _reader = Task.Run(ReadLoopAsync, CancellationToken.None);
        await _header.Task.WaitAsync(Timeout, ct);
        return await features.WaitAsync(Timeout, ct);
    }

    /// <summary>Logs in: stream, STARTTLS, SCRAM-SHA-1, new stream, bind <paramref name="resource"/>.</summary>
    public async Task LoginAsync(string user, string password, string resource, CancellationToken ct, bool allowTls = true)
    {
        var features = await OpenAsync(allowTls, ct);
        var mechanisms = features.Child("mechanisms", Protocol.Sasl);
        var hasScram = false;
        if (mechanisms is not null)
            foreach (var m in mechanisms.Elements("mechanism", Protocol.Sasl))
                if (m.Text == "SCRAM-SHA-1") hasScram = true;
        if (!hasScram) throw new XmppException("the server offers no SCRAM-SHA-1");
        await ScramSha1Async(user, password, ct);
        _framer.Reset();
        await OpenStreamAsync(ct);
        var bind = new Element("bind", Protocol.Bind);
        bind.AddChild("resource", Protocol.Bind).AddText(resource);
        var bound = await IqAsync(Protocol.Set, null, bind, ct);
        Jid = bound.Child("bind", Protocol.Bind)?.ChildText("jid", Protocol.Bind) ?? throw new XmppException("no JID bound: " + bound);
        var slash = Jid.IndexOf('/');
        BareJid = slash < 0 ? Jid : Jid[..slash];
    }

    /// <summary>XEP-0077 §3.1 registration of <paramref name="user"/> before login; true when created, false when the
    /// name is taken (&lt;conflict/&gt;); other errors throw.</summary>
    public async Task<bool> RegisterAsync(string user, string password, CancellationToken ct, bool allowTls = true)
    {
        await OpenAsync(allowTls, ct);
        var query = new Element("query", Protocol.Register);
        query.AddChild("username", Protocol.Register).AddText(user);
        query.AddChild("password", Protocol.Register).AddText(password);
        var answer = await SendIqAsync(Protocol.Set, _domain, query, ct);
        if (answer.Type == Protocol.Result) return true;
        if (answer.Child(Protocol.Error, Protocol.Client)?.Child("conflict", Protocol.StanzaErrors) is not null) return false;
        throw new XmppException($"registration of {user} refused: {answer}");
    }

    private async Task ScramSha1Async(string user, string password, CancellationToken ct)
    {
        var clientNonce = Convert.ToBase64String(RandomNumberGenerator.GetBytes(18));
        var clientFirstBare = $"n={user.Replace("=", "=3D", StringComparison.Ordinal).Replace(",", "=2C", StringComparison.Ordinal)},r={clientNonce}";
        const string gs2 = "n,,";
        var challenge = await RequestAsync(SaslElement("auth", gs2 + clientFirstBare, "SCRAM-SHA-1"), ct);
        if (!challenge.Is("challenge", Protocol.Sasl)) throw new XmppException($"{user}: login failed: {challenge}");
        var serverFirst = Encoding.UTF8.GetString(Convert.FromBase64String(challenge.Text));
        string? nonce = null, saltText = null, iterationText = null;
        foreach (var part in serverFirst.Split(','))
        {
            if (part.StartsWith("r=", StringComparison.Ordinal)) nonce = part[2..];
            else if (part.StartsWith("s=", StringComparison.Ordinal)) saltText = part[2..];
            else if (part.StartsWith("i=", StringComparison.Ordinal)) iterationText = part[2..];
        }
        if (nonce is null || saltText is null || iterationText is null || !nonce.StartsWith(clientNonce, StringComparison.Ordinal)
            || !int.TryParse(iterationText, System.Globalization.CultureInfo.InvariantCulture, out var iterations) || iterations is < 1 or > 1_000_000)
            throw new XmppException("bad SCRAM server-first-message");
        var salt = Convert.FromBase64String(saltText);
        var clientFinalWithoutProof = $"c={Convert.ToBase64String(Encoding.UTF8.GetBytes(gs2))},r={nonce}";
        var authMessage = Encoding.UTF8.GetBytes(clientFirstBare + "," + serverFirst + "," + clientFinalWithoutProof);
        var salted = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA1, 20);
        var clientKey = HMACSHA1.HashData(salted, "Client Key"u8);
        var storedKey = SHA1.HashData(clientKey);
        var clientSignature = HMACSHA1.HashData(storedKey, authMessage);
        for (var i = 0; i < clientKey.Length; i++) clientKey[i] ^= clientSignature[i];
        var serverSignature = HMACSHA1.HashData(HMACSHA1.HashData(salted, "Server Key"u8), authMessage);
        var outcome = await RequestAsync(SaslElement("response", clientFinalWithoutProof + ",p=" + Convert.ToBase64String(clientKey), null), ct);
        if (!outcome.Is("success", Protocol.Sasl)) throw new XmppException($"{user}: login failed: {outcome}");
        var serverFinal = Encoding.UTF8.GetString(Convert.FromBase64String(outcome.Text));
        if (serverFinal != "v=" + Convert.ToBase64String(serverSignature)) throw new XmppException($"{user}: the server's SCRAM signature does not match");
    }

    private static Element SaslElement(string name, string text, string? mechanism)
    {
        var e = new Element(name, Protocol.Sasl);
        if (mechanism is not null) e.SetAttr("mechanism", mechanism);
        e.AddText(Convert.ToBase64String(Encoding.UTF8.GetBytes(text)));
        return e;
    }

    /// <summary>Sends a top-level element and waits for the next one (negotiation only).</summary>
    private async Task<Element> RequestAsync(Element request, CancellationToken ct)
    {
        var next = NextElement();
        await SendAsync(request, ct);
        return await next.WaitAsync(Timeout, ct);
    }

    private Task<Element> NextElement()
    {
        var tcs = new TaskCompletionSource<Element>(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _next, tcs);
        return tcs.Task;
    }

    public string NextId() => "f" + Interlocked.Increment(ref _ids).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>An IQ request and its answer (result or error; RFC 6120 §8.2.3).</summary>
    public async Task<Element> SendIqAsync(string type, string? to, Element payload, CancellationToken ct)
    {
        var id = NextId();
        var iq = new Element("iq", Protocol.Client);
        iq.SetAttr("type", type).SetAttr("id", id);
        if (to is not null) iq.SetAttr("to", to);
        iq.Add(payload);
        var tcs = new TaskCompletionSource<Element>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_pending) _pending[id] = tcs;
        try
        {
            await SendAsync(iq, ct);
            return await tcs.Task.WaitAsync(Timeout, ct);
        }
        finally
        {
            lock (_pending) _pending.Remove(id);
        }
    }

    /// <summary>An IQ that must succeed: the result, or an <see cref="XmppException"/> with the error.</summary>
    public async Task<Element> IqAsync(string type, string? to, Element payload, CancellationToken ct)
    {
        var answer = await SendIqAsync(type, to, payload, ct);
        if (answer.Type != Protocol.Result) throw new XmppException($"IQ {type} to {to ?? "the server"} failed: {answer}", answer);
        return answer;
    }

    public Task SendAsync(Element stanza, CancellationToken ct = default) => WriteAsync(stanza.ToUtf8(Protocol.Client), ct);

    private async Task WriteAsync(byte[] bytes, CancellationToken ct)
    {
        await _writeLock.WaitAsync(ct);
        try
        {
            await _stream.WriteAsync(bytes, ct);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task ReadLoopAsync()
    {
        var buffer = new byte[_bufferBytes];
        try
        {
            while (true)
            {
                var n = await _stream.ReadAsync(buffer);
                if (n == 0) break;
                _framer.Feed(buffer.AsSpan(0, n));
                if (_pauseAfterChunk && _next is null) return; // <proceed/> arrived: the TLS handshake takes the socket
            }
        }
        catch (IOException) { }
        catch (ObjectDisposedException) { }
        catch (SocketException) { }
        Fail(new XmppException("connection closed"));
    }

    private void Fail(Exception reason)
    {
        _closed.TrySetResult();
        Interlocked.Exchange(ref _next, null)?.TrySetException(reason);
        _header?.TrySetException(reason);
        lock (_pending)
            foreach (var p in _pending.Values) p.TrySetException(reason);
    }

    void IFramerSink.OnStreamOpen(StreamHeader header) => _header?.TrySetResult();

    void IFramerSink.OnStanza(Element stanza)
    {
        var next = Interlocked.Exchange(ref _next, null);
        if (next is not null)
        {
            next.TrySetResult(stanza);
            return;
        }
        if (stanza.Name == "iq" && stanza.Type is Protocol.Result or Protocol.Error && stanza.Id is { } id)
        {
            TaskCompletionSource<Element>? waiting;
            lock (_pending) _pending.Remove(id, out waiting);
            if (waiting is not null)
            {
                waiting.TrySetResult(stanza);
                return;
            }
        }
        StanzaReceived?.Invoke(stanza);
    }

    void IFramerSink.OnStreamClose() => Fail(new XmppException("the server closed the stream"));

    void IFramerSink.OnError(FramerErrorCondition condition, string text) => Fail(new XmppException($"bad XML from the server ({condition}): {text}"));

    public async ValueTask DisposeAsync()
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await WriteAsync("</stream:stream>"u8.ToArray(), cts.Token);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException or SocketException or InvalidOperationException) { }
        _tcp.Dispose();
        _closed.TrySetResult();
    }
}

/// <summary>A failed XMPP step; <see cref="Stanza"/> is the error stanza when there is one.</summary>
public sealed class XmppException(string message, Element? stanza = null) : Exception(message)
{
    public Element? Stanza { get; } = stanza;
}
