using System.Buffers;
using System.Net;
using System.Net.WebSockets;
using Actors.Xmpp.Security;
using Actors.Xmpp.Transport.Buffers;
using Actors.Xmpp.Transport.Connections;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Xml;
using Akka.Actor;

namespace Actors.Xmpp.Transport.WebSockets;

/// <summary>
/// One XMPP stream over a WebSocket (RFC 7395), accepted by the HTTP host with the 'xmpp' subprotocol. Each message
/// is one XML element (§3.3.3), parsed by <see cref="XmppFramer"/> with the limits and rules of a TCP stream (restricted
/// XML, the stanza size and nesting limits; a message over the stanza limit is a &lt;policy-violation/&gt;); the
/// framing elements become the same <see cref="TransportEvents"/> as a TCP stream header and close: &lt;open/&gt; is
/// <see cref="TransportEvents.StreamOpened"/>, &lt;close/&gt; is <see cref="TransportEvents.StreamClosed"/>. Outbound,
/// each stanza, stream-level element, &lt;open/&gt; and &lt;close/&gt; is one text message (<see cref="WebSocketFraming"/>),
/// queued and sent by one asynchronous writer, bounded like TCP's outbound buffer. There is no STARTTLS (TLS is the
/// HTTP host's, wss:); keep-alives are the WebSocket's own pings (RFC 7395 §3.8), sent by the WebSocket at the
/// interval the host accepted it with. Idle, it parks on a zero-byte receive and holds no read buffer.
/// </summary>
public sealed class WebSocketConnection : ITransportConnection, IFramerSink
{
    private static long _ids;
    // each message is parsed as the only child of a root that declares nothing: it must be a standalone document
    private static readonly byte[] MessageRootOpen = "<m>"u8.ToArray();
    private static readonly byte[] MessageRootClose = "</m>"u8.ToArray();
    private static readonly TimeSpan CloseHandshakeTimeout = TimeSpan.FromSeconds(5);

    private readonly WebSocket _socket;
    private readonly TransportOptions _options;
    private readonly string? _seeOtherUri;
    private readonly XmppFramer _framer;
    private Admission.ReadShaper? _shaper; // replaced by Reshape (the account's class) from the owner's thread
    private int _stanzasThisMessage;
    private readonly object _writeLock = new();
    private readonly TaskCompletionSource _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IActorRef _owner = ActorRefs.Nobody;

    // outbound (under _writeLock)
    private readonly Queue<PooledBufferWriter> _outbound = new();
    private bool _writing;
    private bool _closeAfterFlush;
    private volatile bool _closed;
    private long _queuedBytes;
    private long _writtenBytes;

    public int QueuedOutboundBytes => (int)Math.Clamp(Volatile.Read(ref _queuedBytes) - Volatile.Read(ref _writtenBytes), 0, int.MaxValue);
    private Queue<(long Bytes, TaskCompletionSource<bool> Receipt)>? _receipts;

    // inbound
    private int _inFlight;
    private TaskCompletionSource? _resume;
    private OutboundPressure _pressure; // (mutable struct, under _writeLock) the peer's unread bytes: reading pauses, or it is dropped
    private bool _streamOpen;              // an <open/> was received and no restart asked for another since
    private volatile bool _restartRequested;
    private volatile bool _authenticated;
    private int _maxMessageBytes;          // the stanza limit now (smaller before authentication, XEP-0205 §2)
    private long _stanzaStartedTicks;      // a message arriving in fragments: when its first one came (0: none)
    private Element? _parsed;              // the element of the message being parsed
    private int _parsedCount;
    private FramerErrorCondition? _parseError;

    /// <param name="socket">The accepted WebSocket (subprotocol 'xmpp').</param>
    /// <param name="remoteEndPoint">The client's address (the forwarded one behind a trusted proxy).</param>
    /// <param name="secure">Whether the client reached the server over TLS (wss:, or a trusted TLS-terminating proxy).</param>
    /// <param name="seeOtherUri">When set, every stream is answered with &lt;close see-other-uri/&gt; (RFC 7395 §3.6.1).</param>
    public WebSocketConnection(WebSocket socket, TransportOptions options, EndPoint? remoteEndPoint, bool secure, string? seeOtherUri = null)
    {
        _socket = socket;
        _options = options;
        _pressure = new OutboundPressure(options);
        _seeOtherUri = string.IsNullOrEmpty(seeOtherUri) ? null : seeOtherUri;
        _framer = new XmppFramer(this, options.Framer);
        _maxMessageBytes = options.MaxStanzaBytesBeforeAuthentication > 0
            ? Math.Min(options.MaxStanzaBytesBeforeAuthentication, options.Framer.MaxStanzaBytes)
            : options.Framer.MaxStanzaBytes;
        _framer.MaxStanzaBytes = _maxMessageBytes;
        RemoteEndPoint = remoteEndPoint;
        _shaper = options.Shaper.For(remoteEndPoint);
        IsSecure = secure;
        Id = "w" + Interlocked.Increment(ref _ids).ToString(System.Globalization.CultureInfo.InvariantCulture);
        LastReceivedTicks = LastSentTicks = Environment.TickCount64;
    }

    public string Id { get; }
    public EndPoint? RemoteEndPoint { get; }
    public bool IsSecure { get; }
    /// <summary>Never: TLS over WebSocket is the HTTP layer's (wss:), there is no STARTTLS (RFC 7395 §3.3.3 leaves it out).</summary>
    public bool CanStartTls => false;
    public IChannelBinding? ChannelBinding => null;
    public long LastReceivedTicks { get; private set; }
    public long LastSentTicks { get; private set; }
    /// <summary>When the first fragment of a message still incomplete arrived (the stanza deadline against a client
    /// that trickles a message in fragments, as against a TCP slowloris); 0 between messages.</summary>
    public long StanzaStartedTicks => Volatile.Read(ref _stanzaStartedTicks);
    /// <summary>Completes when the connection is gone (the HTTP request that upgraded to it may then end).</summary>
    public Task Completion => _completed.Task;

    public void Start(IActorRef owner)
    {
        _owner = owner;
        _ = RunAsync();
    }

    // ---------------------------------------------------------------- inbound
    private async Task RunAsync()
    {
        var reason = "closed by peer";
        try
        {
            while (!_closed)
            {
                var resume = _resume;
                if (resume is not null) await resume.Task.ConfigureAwait(false);
                // and while the peer has too much unread (OutboundPressure)
                Task? drained;
                lock (_writeLock) drained = _closed ? null : _pressure.ReadingMayGoOn(_queuedBytes - _writtenBytes);
                if (drained is not null) await drained.ConfigureAwait(false);
                // zero-byte receive: park without a buffer until a frame arrives
                var first = await _socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
                if (first.MessageType == WebSocketMessageType.Close)
                {
                    await AnswerCloseAsync().ConfigureAwait(false);
                    break;
                }
                var message = new PooledBufferWriter();
                var messageBytes = 0;
                try
                {
                    var tooLarge = false;
                    var binary = first.MessageType == WebSocketMessageType.Binary;
                    var end = first.EndOfMessage && first.Count > 0;
                    var partial = false;
                    while (!end)
                    {
                        var r = await _socket.ReceiveAsync(message.GetMemory(_options.ReadBufferBytes), CancellationToken.None).ConfigureAwait(false);
                        if (r.MessageType == WebSocketMessageType.Close)
                        {
                            await AnswerCloseAsync().ConfigureAwait(false);
                            return;
                        }
                        binary |= r.MessageType == WebSocketMessageType.Binary;
                        message.Advance(r.Count);
                        end = r.EndOfMessage;
                        if (message.WrittenCount > _maxMessageBytes)
                        {
                            tooLarge = true;
                            break;
                        }
                        if (!end && !partial)
                        {
                            // the message is arriving in pieces: its clock starts (once per message)
                            partial = true;
                            LastReceivedTicks = Environment.TickCount64;
                            Volatile.Write(ref _stanzaStartedTicks, LastReceivedTicks);
                            _owner.Tell(TransportEvents.StanzaStartedInstance);
                        }
                    }
                    if (partial) Volatile.Write(ref _stanzaStartedTicks, 0);
                    messageBytes = message.WrittenCount;
                    LastReceivedTicks = Environment.TickCount64;
                    if (tooLarge)
                        Fail(FramerErrorCondition.PolicyViolation, $"a message may hold at most {_maxMessageBytes} bytes");
                    else if (binary)
                        Fail(FramerErrorCondition.NotWellFormed, "XMPP over WebSocket is carried in text messages (RFC 7395 §3.3.3)");
                    else
                        OnMessage(message.WrittenSpan);
                }
                finally
                {
                    message.Reset();
                }
                // over its rate: the next message waits (RFC 7395 frames whole messages; a message is never cut)
                var stanzas = _stanzasThisMessage;
                _stanzasThisMessage = 0;
                if (Volatile.Read(ref _shaper) is { } shaper && shaper.Consume(messageBytes, stanzas) is { Ticks: > 0 } pause)
                    await Task.Delay(pause).ConfigureAwait(false);
                if (_parseError is not null)
                {
                    // the stream is dead: read nothing more; the owner sends the stream error and closes
                    await _completed.Task.ConfigureAwait(false);
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            reason = ex.Message;
        }
        finally
        {
            Shutdown(reason);
        }
    }

    /// <summary>The client began the WebSocket closing handshake: complete it (RFC 6455 §5.5.1). A client that
    /// closes the WebSocket without a &lt;close/&gt; first has lost its stream (RFC 7395 §3.6).</summary>
    private async Task AnswerCloseAsync()
    {
        if (_socket.State != WebSocketState.CloseReceived) return;
        lock (_writeLock)
        {
            if (_writing) return; // a send is under way; the shutdown aborts
            _closed = true;
        }
        await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).ConfigureAwait(false);
    }

    private void Fail(FramerErrorCondition condition, string text)
    {
        _parseError = condition;
        _owner.Tell(new TransportEvents.FramingFailed(condition, text));
    }

    /// <summary>One message: exactly one complete element (RFC 7395 §3.3.3), parsed as a standalone document.</summary>
    private void OnMessage(ReadOnlySpan<byte> utf8)
    {
        _parsed = null;
        _parsedCount = 0;
        _framer.Reset();
        _framer.Feed(MessageRootOpen);
        _framer.Feed(utf8);
        if (!_framer.Faulted) _framer.Feed(MessageRootClose);
        if (_parseError is not null) return;
        if (_parsedCount != 1 || _parsed is null)
        {
            Fail(FramerErrorCondition.NotWellFormed, "a message must hold exactly one XML element (RFC 7395 §3.3.3)");
            return;
        }
        var element = _parsed;
        _parsed = null;
        if (_restartRequested)
        {
            _restartRequested = false;
            _streamOpen = false;
            if (_authenticated && _maxMessageBytes != _options.Framer.MaxStanzaBytes)
                _framer.MaxStanzaBytes = _maxMessageBytes = _options.Framer.MaxStanzaBytes;
        }
        if (element.Is(WebSocketFraming.Open, WebSocketFraming.Namespace) && !_streamOpen)
        {
            _streamOpen = true;
            if (_seeOtherUri is not null)
            {
                // §3.6.1: the server sends the client elsewhere instead of opening the stream
                Enqueue(static (o, uri) => WebSocketFraming.WriteClose(o, uri), _seeOtherUri);
                Close();
                return;
            }
            // the RFC 6120 stream header this <open/> stands for: its attributes, the stream namespace, and the
            // content namespace that every stanza over this binding declares (jabber:client)
            _owner.Tell(new TransportEvents.StreamOpened(new StreamHeader("stream", Ns.Streams, Ns.Client, element.Attributes)));
            return;
        }
        if (!_streamOpen)
        {
            // not an <open/>: the header is wrong, the connection actor answers with the stream error (RFC 6120 §4.9.3)
            _streamOpen = true;
            _owner.Tell(new TransportEvents.StreamOpened(new StreamHeader(element.Name, element.Namespace, Ns.Client, element.Attributes)));
            return;
        }
        if (element.Is(WebSocketFraming.Close, WebSocketFraming.Namespace))
        {
            _owner.Tell(TransportEvents.StreamClosedInstance);
            return;
        }
        if (Interlocked.Increment(ref _inFlight) >= _options.MaxStanzasInFlight)
        {
            lock (_writeLock) _resume ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        _owner.Tell(new TransportEvents.StanzaReceived(element));
    }

    void IFramerSink.OnStreamOpen(StreamHeader header) { } // the message root

    void IFramerSink.OnStanza(Element stanza)
    {
        _stanzasThisMessage++;
        _parsedCount++;
        _parsed = stanza;
    }

    void IFramerSink.OnStreamClose() { }

    void IFramerSink.OnError(FramerErrorCondition condition, string text)
    {
        if (_parseError is null) Fail(condition, text);
    }

    public void Processed()
    {
        if (Interlocked.Decrement(ref _inFlight) > _options.MaxStanzasInFlight / 2) return;
        TaskCompletionSource? resume;
        lock (_writeLock)
        {
            resume = _resume;
            _resume = null;
        }
        resume?.TrySetResult();
    }

    /// <summary>RFC 7395 §3.7: after a restart the client opens a new stream with a new &lt;open/&gt;.</summary>
    public void RestartStream() => _restartRequested = true;

    /// <summary>From the restart on, messages may be as large as the full stanza limit.</summary>
    public void Authenticated() => _authenticated = true;

    public void Reshape(Admission.ShaperLimits limits) => Volatile.Write(ref _shaper, limits.For(RemoteEndPoint));

    public void StartTls() => throw new NotSupportedException("no STARTTLS over WebSocket (RFC 7395)");

    // ---------------------------------------------------------------- outbound
    public bool OpenStream(StreamOpening opening) => Enqueue(static (o, s) => WebSocketFraming.WriteOpen(o, s), opening);

    public bool SendFeatures(Element features) => Enqueue(static (o, f) => WebSocketFraming.WriteStreamElement(o, f), features);

    public bool Send(Element element, string? contextNamespace) =>
        Enqueue(static (o, e) => e.WriteTo(o, contextNamespace: null), element); // standalone: the stanza declares its namespace

    public void CloseStream(Element? streamError)
    {
        // RFC 7395 §3.5: the error in a message of its own, then §3.6: <close/>, then the WebSocket's closing handshake
        if (streamError is not null) Enqueue(static (o, e) => WebSocketFraming.WriteStreamElement(o, e), streamError);
        Enqueue(static (o, _) => WebSocketFraming.WriteClose(o), (string?)null);
        Close();
    }

    /// <summary>Nothing to queue: the WebSocket pings the client itself at the interval it was accepted with
    /// (RFC 7395 §3.8 prefers WebSocket pings to whitespace, which a message cannot carry).</summary>
    public bool KeepAlive() => !_closed && !_closeAfterFlush;

    public Task<bool> WhenWritten()
    {
        lock (_writeLock)
        {
            if (_writtenBytes >= _queuedBytes) return Task.FromResult(true);
            if (_closed) return Task.FromResult(false);
            var receipt = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            (_receipts ??= new Queue<(long, TaskCompletionSource<bool>)>()).Enqueue((_queuedBytes, receipt));
            return receipt.Task;
        }
    }

    private bool Enqueue<T>(Action<IBufferWriter<byte>, T> write, T state)
    {
        lock (_writeLock)
        {
            if (_closed || _closeAfterFlush) return false;
            var message = new PooledBufferWriter();
            write(message, state);
            _queuedBytes += message.WrittenCount;
            _outbound.Enqueue(message);
            LastSentTicks = Environment.TickCount64;
            if (_pressure.Overflowing(_queuedBytes - _writtenBytes))
            {
                // the peer does not read: drop it rather than buffer without bound
                _closed = true;
                _ = Task.Run(() => Shutdown("outbound buffer full (peer not reading)"));
                return false;
            }
            if (!_writing)
            {
                _writing = true;
                _pressure.WriterStarted();
                _ = FlushAsync();
            }
            return true;
        }
    }

    private async Task FlushAsync()
    {
        while (true)
        {
            PooledBufferWriter? message = null;
            var closeNow = false;
            lock (_writeLock)
            {
                if (_closed || _outbound.Count == 0)
                {
                    _writing = false;
                    closeNow = !_closed && _closeAfterFlush;
                }
                else message = _outbound.Dequeue();
            }
            if (message is null)
            {
                if (closeNow) await CloseHandshakeAsync().ConfigureAwait(false);
                return;
            }
            try
            {
                await _socket.SendAsync(message.WrittenMemory, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
            {
                message.Reset();
                lock (_writeLock) _writing = false;
                Shutdown(ex.Message);
                return;
            }
            lock (_writeLock)
            {
                _writtenBytes += message.WrittenCount;
                message.Reset();
                _pressure.Written(_queuedBytes - _writtenBytes);
                var receipts = _receipts;
                if (receipts is not null)
                    while (receipts.Count > 0 && receipts.Peek().Bytes <= _writtenBytes) receipts.Dequeue().Receipt.TrySetResult(true);
            }
        }
    }

    /// <summary>The WebSocket closing handshake (RFC 6455 §7.1.2) once everything queued is sent; the read loop ends
    /// with the client's Close frame, or the connection is dropped if none comes.</summary>
    private async Task CloseHandshakeAsync()
    {
        try
        {
            if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).ConfigureAwait(false);
            if (_socket.State == WebSocketState.Closed)
            {
                Shutdown("closed");
                return;
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
            Shutdown(ex.Message);
            return;
        }
        _ = Task.Delay(CloseHandshakeTimeout).ContinueWith(static (_, s) => ((WebSocketConnection)s!).Shutdown("no Close frame from the client"),
            this, TaskScheduler.Default);
    }

    public void Close()
    {
        lock (_writeLock)
        {
            if (_closed || _closeAfterFlush) return;
            _closeAfterFlush = true;
            if (_writing) return; // the writer closes when drained
            _writing = true;
        }
        _ = FlushAsync();
    }

    public void Abort() => Shutdown("aborted");

    private int _shutdown;

    private void Shutdown(string reason)
    {
        if (Interlocked.Exchange(ref _shutdown, 1) == 1) return;
        _closed = true;
        if (_socket.State != WebSocketState.Closed) _socket.Abort();
        _socket.Dispose();
        lock (_writeLock)
        {
            if (!_writing)
                while (_outbound.Count > 0) _outbound.Dequeue().Reset();
            _resume?.TrySetResult();
            _resume = null;
            _pressure.Closed();
            if (_receipts is not null)
                while (_receipts.Count > 0) _receipts.Dequeue().Receipt.TrySetResult(false);
        }
        _completed.TrySetResult();
        _owner.Tell(new TransportEvents.ConnectionLost(reason));
    }
}
