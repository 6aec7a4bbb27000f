using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Threading.Channels;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Xml;
using Xunit;

namespace Actors.Xmpp.Testing;

/// <summary>
/// A raw XMPP client for tests: writes strings, reads the server's output through <see cref="XmppFramer"/> (a
/// background reader queues the events), and knows just enough of STARTTLS, SASL PLAIN/SCRAM and bind to log in.
/// Two styles over the same queue: step by step (<see cref="NextAsync"/>, <see cref="ExpectStreamErrorAsync"/>, ...) for
/// stream-level tests, and transcripts (scansion's "Romeo sends / Romeo receives": <see cref="Sends"/>,
/// <see cref="Receives(string)"/>, <see cref="Query"/>) for stanza-level tests, where a stanza that does not match is kept
/// for a later <see cref="Receives(string)"/>. Every wait has a timeout (<see cref="Timeout"/>: 5 s unless told otherwise).
/// </summary>
public sealed class XmppTestClient : IFramerSink, IAsyncDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);

    public abstract record Event;
    public sealed record HeaderEvent(StreamHeader Header) : Event;
    public sealed record StanzaEvent(Element Element) : Event;
    public sealed record StreamCloseEvent : Event;
    public sealed record FramingErrorEvent(FramerErrorCondition Condition, string Text) : Event;
    /// <summary>The socket was closed (EOF) or reset.</summary>
    public sealed record ClosedEvent(string Reason) : Event;

    private readonly TcpClient _tcp;
    private readonly XmppFramer _framer;
    private readonly Channel<Event> _events = Channel.CreateUnbounded<Event>();
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly List<Element> _held = new();  // skipped by Receives, kept for later
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private string? _boundJid;
    private Stream _stream;
    private Task? _reader;
    private volatile TaskCompletionSource? _paused; // PauseReading: the reader waits on it before its next read
    private bool _pauseAfterChunk;      // set by the sink on <proceed/>: stop reading so TLS can take over the socket
    private volatile bool _resetBeforeNextChunk;
    private bool _acceptsStartTls;      // a peer server's receiving side (AcceptAsync): <starttls/> pauses the reader too
    private int _ids;

    private XmppTestClient(TcpClient tcp, Stream stream)
    {
        _tcp = tcp;
        _stream = stream;
        _framer = new XmppFramer(this, FramerLimits.Trusted(16 * 1024 * 1024, 256));
    }

    /// <summary>The full JID bound by <see cref="BindAsync"/>.</summary>
    public Jid Jid { get; private set; } = null!;
    /// <summary>Who this client is in failure messages (the user name after a login).</summary>
    public string Name { get; set; } = "client";
    /// <summary>The features of the last stream opened by a login.</summary>
    public Element? Features { get; private set; }
    /// <summary>How long each wait lasts when no timeout is given.</summary>
    public TimeSpan Timeout { get; set; } = DefaultTimeout;
    /// <summary>Sends &lt;/stream:stream&gt; before closing the socket in <see cref="DisposeAsync"/> (set by the
    /// transcript-style <see cref="LoginAsync(IPEndPoint, string, string, string, string?)"/>).</summary>
    public bool CloseStreamOnDispose { get; set; }
    /// <summary>Completes when the server closes the stream or the connection (faulted on unparseable output).</summary>
    public Task Closed => _closed.Task;
    public string Domain { get; set; } = TestServer.Domain;
    public bool IsTls => _stream is SslStream;
    public SslStream? Tls => _stream as SslStream;

    // ------------------------------------------------------------------ connecting

    /// <summary>TCP connect (and the TLS handshake first for <paramref name="directTls"/>); no stream header yet.</summary>
    public static async Task<XmppTestClient> ConnectAsync(IPEndPoint endPoint, bool directTls = false)
    {
        var tcp = new TcpClient(AddressFamily.InterNetwork) { NoDelay = true };
        using (var cts = new CancellationTokenSource(DefaultTimeout))
            await tcp.ConnectAsync(endPoint, cts.Token);
        Stream stream = tcp.GetStream();
        if (directTls) stream = await HandshakeAsync(stream);
        var client = new XmppTestClient(tcp, stream);
        client.StartReader();
        return client;
    }

    /// <summary>Accepts one connection on <paramref name="listener"/>: this client is then the receiving side of a
    /// server-to-server stream (a peer server driven by hand).</summary>
    public static async Task<XmppTestClient> AcceptAsync(TcpListener listener, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var tcp = await listener.AcceptTcpClientAsync(cts.Token);
        tcp.NoDelay = true;
        var client = new XmppTestClient(tcp, tcp.GetStream()) { _acceptsStartTls = true, Timeout = timeout };
        client.StartReader();
        return client;
    }

    /// <summary>STARTTLS as a peer server's initiating side (RFC 6120 §5.4.2 on an s2s stream): &lt;starttls/&gt;,
    /// &lt;proceed/&gt;, the handshake for <paramref name="targetHost"/> with <paramref name="clientCertificate"/>
    /// (XEP-0178); the caller opens the new stream.</summary>
    public Task StartTlsAsPeerAsync(string targetHost, X509Certificate2? clientCertificate) =>
        StartTlsPresentingAsync(targetHost, clientCertificate, "xmpp-server");

    /// <summary>STARTTLS on a client stream presenting <paramref name="clientCertificate"/> (XEP-0178's SASL EXTERNAL);
    /// the caller opens the new stream.</summary>
    public Task StartTlsWithCertificateAsync(X509Certificate2 clientCertificate, string targetHost = TestServer.Domain) =>
        StartTlsPresentingAsync(targetHost, clientCertificate, "xmpp-client");

    private async Task StartTlsPresentingAsync(string targetHost, X509Certificate2? clientCertificate, string alpn)
    {
        await SendAsync("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
        var proceed = await NextAsync();
        Assert.True(proceed.Is("proceed", Ns.Tls), $"expected <proceed/>, got {proceed}");
        await _reader!.WaitAsync(Timeout);
        _pauseAfterChunk = false;
        var ssl = new SslStream(_stream, leaveInnerStreamOpen: true);
        using (var cts = new CancellationTokenSource(Timeout))
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = targetHost,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                ApplicationProtocols = [new SslApplicationProtocol(alpn)],
                ClientCertificates = clientCertificate is null ? null : new X509CertificateCollection { clientCertificate },
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
            }, cts.Token);
        _stream = ssl;
        _framer.Reset();
        StartReader();
    }

    /// <summary>The receiving side's STARTTLS (an <see cref="AcceptAsync"/> client): waits for &lt;starttls/&gt;,
    /// answers &lt;proceed/&gt;, runs the handshake as the server with <paramref name="certificate"/> asking for the
    /// initiating server's certificate, which is returned (null: none).</summary>
    public async Task<X509Certificate2?> AcceptStartTlsAsync(X509Certificate2 certificate)
    {
        var starttls = await NextAsync();
        Assert.True(starttls.Is("starttls", Ns.Tls), $"expected <starttls/>, got {starttls}");
        await _reader!.WaitAsync(Timeout);
        _pauseAfterChunk = false;
        await SendAsync("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
        var ssl = new SslStream(_stream, leaveInnerStreamOpen: true);
        using (var cts = new CancellationTokenSource(Timeout))
            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificate = certificate,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                ClientCertificateRequired = true,
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
            }, cts.Token);
        _stream = ssl;
        _framer.Reset();
        StartReader();
        return ssl.RemoteCertificate is { } remote ? X509CertificateLoader.LoadCertificate(remote.GetRawCertData()) : null;
    }

    /// <summary>On a peer's receiving side, before sending SASL success: the next bytes read start a new stream.</summary>
    public void ResetFramingBeforeNextRead() => _resetBeforeNextChunk = true;

    private static async Task<SslStream> HandshakeAsync(Stream inner)
    {
        var ssl = new SslStream(inner, leaveInnerStreamOpen: true, (_, _, _, _) => true); // the server's certificate is self-signed
        using var cts = new CancellationTokenSource(DefaultTimeout);
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = TestServer.Domain,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            ApplicationProtocols = [new SslApplicationProtocol("xmpp-client")],
        }, cts.Token);
        return ssl;
    }

    private void StartReader() => _reader = Task.Run(ReadLoopAsync);

    private async Task ReadLoopAsync()
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                if (_paused is { } paused) await paused.Task;
                var n = await _stream.ReadAsync(buffer);
                if (n == 0)
                {
                    _events.Writer.TryWrite(new ClosedEvent("EOF"));
                    _closed.TrySetResult();
                    return;
                }
                if (_resetBeforeNextChunk)
                {
                    _resetBeforeNextChunk = false;
                    _framer.Reset();
                }
                _framer.Feed(buffer.AsSpan(0, n));
                if (_pauseAfterChunk) return; // StartTlsAsync restarts the reader on the TLS stream
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or AuthenticationException or InvalidOperationException)
        {
            _events.Writer.TryWrite(new ClosedEvent(ex.GetType().Name + ": " + ex.Message));
            _closed.TrySetResult();
        }
    }

    void IFramerSink.OnStreamOpen(StreamHeader header) => _events.Writer.TryWrite(new HeaderEvent(header));

    void IFramerSink.OnStanza(Element stanza)
    {
        if (stanza.Is("proceed", Ns.Tls) || (_acceptsStartTls && stanza.Is("starttls", Ns.Tls))) _pauseAfterChunk = true;
        if (stanza.Is("success", Ns.Sasl)) _framer.Reset(); // the server's next bytes are a new stream header
        _events.Writer.TryWrite(new StanzaEvent(stanza));
    }

    void IFramerSink.OnStreamClose()
    {
        _events.Writer.TryWrite(new StreamCloseEvent());
        _closed.TrySetResult();
    }

    void IFramerSink.OnError(FramerErrorCondition condition, string text)
    {
        _events.Writer.TryWrite(new FramingErrorEvent(condition, text));
        _closed.TrySetException(new InvalidOperationException($"unparseable server output ({condition}: {text})"));
    }

    // ------------------------------------------------------------------ sending

    public async Task SendAsync(string xml) => await SendBytesAsync(Encoding.UTF8.GetBytes(xml));

    public async Task SendBytesAsync(byte[] data)
    {
        await _writeLock.WaitAsync();
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _stream.WriteAsync(data, cts.Token);
            await _stream.FlushAsync(cts.Token);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Sends, ignoring a connection the server has closed meanwhile (for hostile input the server cuts off).</summary>
    public async Task TrySendBytesAsync(byte[] data)
    {
        try { await SendBytesAsync(data); }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException) { }
    }

    public string NextId() => "t" + Interlocked.Increment(ref _ids).ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static string Header(string? to = TestServer.Domain, string? version = "1.0", string ns = "jabber:client",
        string streamNs = "http://etherx.jabber.org/streams", string? lang = "en", string? from = null)
    {
        var sb = new StringBuilder("<?xml version='1.0'?><stream:stream xmlns='").Append(ns).Append("' xmlns:stream='").Append(streamNs).Append('\'');
        if (to is not null) sb.Append(" to='").Append(to).Append('\'');
        if (from is not null) sb.Append(" from='").Append(from).Append('\'');
        if (version is not null) sb.Append(" version='").Append(version).Append('\'');
        if (lang is not null) sb.Append(" xml:lang='").Append(lang).Append('\'');
        return sb.Append('>').ToString();
    }

    // ------------------------------------------------------------------ receiving

    /// <summary>The next event from the server (a stanza kept by <see cref="Receives(string)"/> first).</summary>
    public async Task<Event> NextEventAsync(TimeSpan? timeout = null)
    {
        if (_held.Count > 0)
        {
            var held = _held[0];
            _held.RemoveAt(0);
            return new StanzaEvent(held);
        }
        var t = timeout ?? Timeout;
        using var cts = new CancellationTokenSource(t);
        try
        {
            return await _events.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"nothing from the server within {t.TotalSeconds:0.#} s");
        }
    }

    /// <summary>The next top-level element; fails on anything else (header, close, EOF).</summary>
    public async Task<Element> NextAsync(TimeSpan? timeout = null)
    {
        var e = await NextEventAsync(timeout);
        return e is StanzaEvent s ? s.Element : throw new Xunit.Sdk.XunitException($"expected an element, got {Describe(e)}");
    }

    /// <summary>Skips elements until one matches (at most 50, each within the timeout).</summary>
    public async Task<Element> NextMatchingAsync(Func<Element, bool> match, TimeSpan? timeout = null)
    {
        for (var i = 0; i < 50; i++)
        {
            var e = await NextAsync(timeout);
            if (match(e)) return e;
        }
        throw new Xunit.Sdk.XunitException("no matching element among the next 50");
    }

    public async Task<StreamHeader> ExpectStreamHeaderAsync(TimeSpan? timeout = null)
    {
        var e = await NextEventAsync(timeout);
        return e is HeaderEvent h ? h.Header : throw new Xunit.Sdk.XunitException($"expected a stream header, got {Describe(e)}");
    }

    public async Task<Element> ExpectFeaturesAsync()
    {
        var f = await NextAsync();
        Assert.True(f.Is("features", Ns.Streams), $"expected <stream:features/>, got {f}");
        return f;
    }

    /// <summary>
    /// &lt;stream:error&gt; with the RFC 6120 condition, then &lt;/stream:stream&gt; and the socket close.
    /// A stream header before the error is skipped (the server sends one if none was sent yet); with
    /// <paramref name="skipStanzas"/> other elements before the error are skipped too.
    /// </summary>
    public async Task<Element> ExpectStreamErrorAsync(string condition, bool skipStanzas = false, TimeSpan? timeout = null)
    {
        Element? error = null;
        for (var i = 0; i < 100 && error is null; i++)
        {
            var e = await NextEventAsync(timeout);
            switch (e)
            {
                case HeaderEvent:
                    continue;
                case StanzaEvent { Element: var el } when el.Is("error", Ns.Streams):
                    error = el;
                    break;
                case StanzaEvent when skipStanzas:
                    continue;
                default:
                    throw new Xunit.Sdk.XunitException($"expected <stream:error><{condition}/>, got {Describe(e)}");
            }
        }
        Assert.NotNull(error);
        var first = error!.Elements().FirstOrDefault(c => c.Namespace == Ns.StreamErrors && c.Name != "text");
        Assert.True(first is not null && first.Name == condition, $"expected stream error <{condition}/>, got {error}");
        var close = await NextEventAsync(timeout);
        Assert.True(close is StreamCloseEvent, $"expected </stream:stream> after the stream error, got {Describe(close)}");
        await ExpectClosedAsync(timeout);
        return error;
    }

    /// <summary>The server closes the TCP connection (EOF or reset) and sends nothing else.</summary>
    public async Task ExpectClosedAsync(TimeSpan? timeout = null)
    {
        var e = await NextEventAsync(timeout);
        Assert.True(e is ClosedEvent, $"expected the connection to close, got {Describe(e)}");
    }

    private static string Describe(Event e) => e switch
    {
        StanzaEvent s => s.Element.ToString(),
        HeaderEvent h => $"stream header <{h.Header.Name} xmlns='{h.Header.Namespace}'>",
        StreamCloseEvent => "</stream:stream>",
        FramingErrorEvent f => $"unparseable server output ({f.Condition}: {f.Text})",
        ClosedEvent c => $"connection closed ({c.Reason})",
        _ => e.ToString(),
    };

    // ------------------------------------------------------------------ negotiation helpers

    /// <summary>Sends a stream header, expects the server's header and features; returns the features.</summary>
    public async Task<Element> OpenStreamAsync(string? to = TestServer.Domain)
    {
        await SendAsync(Header(to));
        await ExpectStreamHeaderAsync();
        return await ExpectFeaturesAsync();
    }

    /// <summary>STARTTLS (RFC 6120 §5.4) and the stream restart; returns the features of the new stream.</summary>
    public async Task<Element> StartTlsAsync()
    {
        await SendAsync("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
        var proceed = await NextAsync();
        Assert.True(proceed.Is("proceed", Ns.Tls), $"expected <proceed/>, got {proceed}");
        await _reader!.WaitAsync(Timeout); // the reader stopped after the chunk with <proceed/>
        _pauseAfterChunk = false;
        _stream = await HandshakeAsync(_stream);
        _framer.Reset();
        StartReader();
        return await OpenStreamAsync();
    }

    /// <summary>Sends SASL PLAIN and returns the server's answer (success or failure), without restarting.</summary>
    public async Task<Element> SendAuthPlainAsync(string user, string password, string mechanism = "PLAIN")
    {
        var payload = Convert.ToBase64String(Encoding.UTF8.GetBytes("\0" + user + "\0" + password));
        await SendAsync($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='{mechanism}'>{payload}</auth>");
        return await NextAsync();
    }

    /// <summary>SASL PLAIN, then the stream restart; returns the post-auth features.</summary>
    public async Task<Element> AuthPlainAsync(string user, string password = TestServer.Password)
    {
        var answer = await SendAuthPlainAsync(user, password);
        Assert.True(answer.Is("success", Ns.Sasl), $"expected <success/>, got {answer}");
        return await OpenStreamAsync();
    }

    /// <summary>Client side of SCRAM-SHA-1/256/512 (RFC 5802) without channel binding; returns the server's
    /// final answer (success, after the server signature is verified, or failure), without restarting.</summary>
    /// <param name="channelBinding">null for SCRAM-{hash} with the "n" GS2 flag (or <paramref name="gs2Header"/>);
    /// "tls-server-end-point" for SCRAM-{hash}-PLUS bound to the server certificate (RFC 5929).</param>
    public async Task<Element> SendAuthScramAsync(string hash, string user, string password, string? channelBinding = null, string? gs2Header = null,
        bool wrongBindingData = false)
    {
        var name = hash switch
        {
            "SHA-1" => HashAlgorithmName.SHA1,
            "SHA-256" => HashAlgorithmName.SHA256,
            "SHA-512" => HashAlgorithmName.SHA512,
            _ => throw new ArgumentException(hash),
        };
        var length = hash switch { "SHA-1" => 20, "SHA-256" => 32, _ => 64 };
        var clientNonce = Convert.ToBase64String(RandomNumberGenerator.GetBytes(18));
        var clientFirstBare = $"n={user},r={clientNonce}";
        var gs2 = channelBinding is null ? gs2Header ?? "n,," : $"p={channelBinding},,";
        byte[] cbData = [];
        if (channelBinding is not null)
        {
            Assert.Equal("tls-server-end-point", channelBinding);
            cbData = Actors.Xmpp.Transport.Tls.TlsChannelBinding.ServerEndPoint(Tls!.RemoteCertificate!);
            if (wrongBindingData) cbData[0] ^= 0xFF; // what a man in the middle with another certificate would send
        }
        var mechanism = "SCRAM-" + hash + (channelBinding is null ? "" : "-PLUS");
        await SendAsync($"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='{mechanism}'>{B64(gs2 + clientFirstBare)}</auth>");
        var challenge = await NextAsync();
        if (!challenge.Is("challenge", Ns.Sasl)) return challenge;
        var serverFirst = Encoding.UTF8.GetString(Convert.FromBase64String(challenge.Text));
        var attrs = ParseScram(serverFirst);
        var nonce = attrs["r"];
        Assert.StartsWith(clientNonce, nonce);
        var salt = Convert.FromBase64String(attrs["s"]);
        var iterations = int.Parse(attrs["i"], System.Globalization.CultureInfo.InvariantCulture);

        var clientFinalWithoutProof = $"c={Convert.ToBase64String([.. Encoding.UTF8.GetBytes(gs2), .. cbData])},r={nonce}";
        var authMessage = Encoding.UTF8.GetBytes(clientFirstBare + "," + serverFirst + "," + clientFinalWithoutProof);
        var salted = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, name, length);
        var clientKey = CryptographicOperations.HmacData(name, salted, "Client Key"u8.ToArray());
        var storedKey = CryptographicOperations.HashData(name, clientKey);
        var clientSignature = CryptographicOperations.HmacData(name, storedKey, authMessage);
        var proof = new byte[clientKey.Length];
        for (var i = 0; i < proof.Length; i++) proof[i] = (byte)(clientKey[i] ^ clientSignature[i]);
        var serverKey = CryptographicOperations.HmacData(name, salted, "Server Key"u8.ToArray());
        var serverSignature = CryptographicOperations.HmacData(name, serverKey, authMessage);

        await SendAsync($"<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{B64(clientFinalWithoutProof + ",p=" + Convert.ToBase64String(proof))}</response>");
        var final = await NextAsync();
        if (final.Is("success", Ns.Sasl))
        {
            var serverFinal = ParseScram(Encoding.UTF8.GetString(Convert.FromBase64String(final.Text)));
            Assert.Equal(Convert.ToBase64String(serverSignature), serverFinal["v"]);
        }
        return final;
    }

    public async Task<Element> AuthScramAsync(string hash, string user, string password = TestServer.Password, string? channelBinding = null)
    {
        var answer = await SendAuthScramAsync(hash, user, password, channelBinding);
        Assert.True(answer.Is("success", Ns.Sasl), $"expected <success/>, got {answer}");
        return await OpenStreamAsync();
    }

    private static string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));

    private static Dictionary<string, string> ParseScram(string message)
    {
        var d = new Dictionary<string, string>();
        foreach (var part in message.Split(','))
            if (part.Length >= 2 && part[1] == '=') d[part[..1]] = part[2..];
        return d;
    }

    /// <summary>Binds a resource (null: the server picks one); returns the full JID.</summary>
    public async Task<string> BindAsync(string? resource)
    {
        var id = NextId();
        var inner = resource is null ? "" : $"<resource>{resource}</resource>";
        await SendAsync($"<iq type='set' id='{id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>{inner}</bind></iq>");
        var result = await NextAsync();
        Assert.True(result.Name == "iq" && result.Type == "result" && result.Id == id, $"expected the bind result, got {result}");
        var jid = result.Child("bind", Ns.Bind)?.ChildText("jid", Ns.Bind);
        Assert.False(string.IsNullOrEmpty(jid), $"no JID in {result}");
        _boundJid = jid;
        Jid = Jid.Parse(jid!);
        return jid!;
    }

    /// <summary>Connects, (STARTTLS when <paramref name="tls"/>), SASL PLAIN, bind. With <paramref name="available"/>,
    /// also sends initial presence and waits for its reflection.</summary>
    public static async Task<XmppTestClient> LoginAsync(TestServer server, string user, string? resource = "test",
        bool tls = false, bool available = false, int? priority = null)
    {
        var c = await ConnectAsync(server.C2sEndPoint);
        c.Name = user;
        try
        {
            await c.OpenStreamAsync();
            if (tls) await c.StartTlsAsync();
            await c.AuthPlainAsync(user);
            await c.BindAsync(resource);
            if (available)
            {
                var prio = priority is null ? "" : $"<priority>{priority}</priority>";
                await c.SendAsync($"<presence>{prio}</presence>");
                await c.NextMatchingAsync(e => e.Name == "presence" && e.From == c._boundJid);
            }
            return c;
        }
        catch
        {
            await c.DisposeAsync();
            throw;
        }
    }

    /// <summary>XEP-0199 ping to the server; fails unless the result comes back (other stanzas before it are skipped).</summary>
    /// <param name="timeout">How long the answer may take (default 5 s): longer behind a flood the server works through first.</param>
    public async Task PingServerAsync(TimeSpan? timeout = null)
    {
        var id = NextId();
        await SendAsync($"<iq type='get' id='{id}' to='{Domain}'><ping xmlns='urn:xmpp:ping'/></iq>");
        var reply = await NextMatchingAsync(e => e.Name == "iq" && e.Id == id, timeout);
        Assert.Equal("result", reply.Type);
    }

    /// <summary>Pings the server and fails if a message of type error arrives before the answer: proves that
    /// nothing bounced stanzas sent before the ping (one stream is answered in order).</summary>
    public async Task ExpectNoBounceAsync()
    {
        var id = NextId();
        await SendAsync($"<iq type='get' id='{id}' to='{Domain}'><ping xmlns='urn:xmpp:ping'/></iq>");
        for (var i = 0; i < 50; i++)
        {
            var e = await NextAsync();
            if (e.Type == "error") throw new Xunit.Sdk.XunitException($"unexpected error stanza: {e}");
            if (e.Name == "iq" && e.Id == id) return;
        }
        throw new Xunit.Sdk.XunitException("no ping answer among the next 50 stanzas");
    }

    /// <summary>Sends an IQ and returns the reply with the same id.</summary>
    public async Task<Element> IqAsync(string type, string payload, string? to = null)
    {
        var id = NextId();
        var toAttr = to is null ? "" : $" to='{to}'";
        await SendAsync($"<iq type='{type}' id='{id}'{toAttr}>{payload}</iq>");
        return await NextMatchingAsync(e => e.Name == "iq" && e.Id == id);
    }

    // ------------------------------------------------------------------ transcripts

    /// <summary>Connects, authenticates as <paramref name="user"/> with SASL PLAIN (no TLS) and binds
    /// <paramref name="resource"/> ("test" when null); <see cref="Features"/> holds the post-auth features. For
    /// transcript-style tests: 10 s <see cref="Timeout"/>, the stream closed on dispose.</summary>
    public static async Task<XmppTestClient> LoginAsync(IPEndPoint server, string user, string password, string domain = TestServer.Domain, string? resource = null)
    {
        var c = await ConnectAsync(server);
        c.Name = user;
        c.Domain = domain;
        c.Timeout = TimeSpan.FromSeconds(10);
        c.CloseStreamOnDispose = true;
        try
        {
            c.Features = await c.OpenStreamAsync(domain);
            var answer = await c.SendAuthPlainAsync(user, password);
            if (!answer.Is("success", Ns.Sasl)) throw new InvalidOperationException($"{user}: login failed: {answer}");
            c.Features = await c.OpenStreamAsync(domain);
            await c.BindAsync(resource ?? "test");
            return c;
        }
        catch
        {
            await c.DisposeAsync();
            throw;
        }
    }

    /// <summary>Sends XML text as it is (a stanza, or anything else).</summary>
    public Task SendRaw(string xml) => SendAsync(xml);

    /// <summary>Sends a stanza (XML text).</summary>
    public Task Sends(string xml) => SendAsync(xml);

    /// <summary>The next stanza matching <paramref name="expected"/> (see <see cref="StanzaAssert.IsMatch"/>: the name,
    /// namespace, attributes, children and text given must match; others are ignored). Stanzas that do not match are
    /// kept for later; fails when the stream or the connection closes first or nothing matches within <see cref="Timeout"/>.</summary>
    public Task<Element> Receives(string expected)
    {
        var pattern = Element.Parse(expected);
        return Receives(e => StanzaAssert.IsMatch(pattern, e), expected);
    }

    /// <summary>The next stanza <paramref name="match"/> accepts; <paramref name="description"/> names it in the failure message.</summary>
    public async Task<Element> Receives(Func<Element, bool> match, string description)
    {
        for (var i = 0; i < _held.Count; i++)
        {
            if (!match(_held[i])) continue;
            var e = _held[i];
            _held.RemoveAt(i);
            return e;
        }
        using var cts = new CancellationTokenSource(Timeout);
        try
        {
            while (true)
            {
                var e = await _events.Reader.ReadAsync(cts.Token);
                switch (e)
                {
                    case StanzaEvent { Element: var el } when match(el):
                        return el;
                    case StanzaEvent { Element: var el }:
                        _held.Add(el);
                        break;
                    case HeaderEvent:
                        break;
                    default:
                        throw new Xunit.Sdk.XunitException($"{Name} did not receive {description}: {Describe(e)}{Unmatched()}");
                }
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{Name} did not receive {description} within {Timeout.TotalSeconds:0.#} s{Unmatched()}");
        }
    }

    private string Unmatched() => _held.Count == 0 ? "; nothing else arrived" : "; got instead:\n" + string.Join("\n", _held);

    /// <summary>Sends an IQ (XML text with an id) and returns its reply (result or error).</summary>
    public async Task<Element> Query(string iqXml)
    {
        var iq = Element.Parse(iqXml);
        await Sends(iqXml);
        return await Receives(e => e.Is("iq", Ns.Client) && e.Id == iq.Id, $"<iq id='{iq.Id}'/> (the reply)");
    }

    /// <summary>Whether the server disco-advertises <paramref name="feature"/> at <paramref name="to"/> (ejabberd's is_feature_advertised).</summary>
    public async Task<bool> IsFeatureAdvertised(string feature, string to = TestServer.Domain, string? node = null)
    {
        var id = "disco-" + Guid.NewGuid().ToString("N")[..8];
        var nodeAttr = node is null ? "" : $" node='{node}'";
        var reply = await Query($"<iq type='get' id='{id}' to='{to}'><query xmlns='{Ns.DiscoInfo}'{nodeAttr}/></iq>");
        return reply.Child("query", Ns.DiscoInfo)?.Elements("feature", Ns.DiscoInfo).Any(f => f.Attr("var") == feature) == true;
    }

    /// <summary>Parses one element of XML text (default namespace jabber:client): <c>Element.Parse</c>.</summary>
    public static Element Parse(string xml) => Element.Parse(xml);

    /// <summary>Loose match (<see cref="StanzaAssert.IsMatch"/>).</summary>
    public static bool Matches(Element expected, Element actual) => StanzaAssert.IsMatch(expected, actual);

    // ------------------------------------------------------------------ flow control and closing

    /// <summary>Stops reading from the socket (after the read in progress): a client that does not keep up. With
    /// <paramref name="receiveBufferBytes"/> the socket's receive buffer is fixed at that size (no kernel autotuning), so
    /// that what the server can still write before it blocks is bounded the same on every machine.</summary>
    public void PauseReading(int? receiveBufferBytes = null)
    {
        if (receiveBufferBytes is { } bytes) _tcp.Client.ReceiveBufferSize = bytes;
        _paused = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public void ResumeReading()
    {
        var p = _paused;
        _paused = null;
        p?.TrySetResult();
    }

    public async Task CloseAsync()
    {
        await SendAsync("</stream:stream>");
    }

    /// <summary>Closes the TCP connection without a stream close.</summary>
    public void Abort()
    {
        try { _tcp.Client.Close(0); } catch (ObjectDisposedException) { }
    }

    /// <summary>The client vanishes without closing: its kernel drops whatever arrives for it from now on
    /// (<see cref="VanishingPeer"/>); only the server's dead-peer detection can end its session.</summary>
    public void Vanish() => VanishingPeer.Vanish(_tcp.Client);

    public async ValueTask DisposeAsync()
    {
        ResumeReading();
        if (CloseStreamOnDispose)
        {
            try { await SendAsync("</stream:stream>"); }
            catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException) { }
        }
        try { _stream.Dispose(); } catch (Exception ex) when (ex is IOException or ObjectDisposedException) { }
        _tcp.Dispose();
        if (_reader is not null)
        {
            try { await _reader.WaitAsync(DefaultTimeout); } catch (Exception ex) when (ex is TimeoutException or IOException or ObjectDisposedException) { }
        }
        _writeLock.Dispose();
    }
}
