using System.Buffers;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Actors.Xmpp.Security;
using Actors.Xmpp.Transport.Buffers;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Transport.Tls;
using Actors.Xmpp.Xml;
using Akka.Actor;

namespace Actors.Xmpp.Transport.Connections;

/// <summary>
/// One TCP connection: the socket stage (zero-byte reads, so an idle connection holds no read buffer), the TLS stage
/// (SslStream, switched in on STARTTLS or from the first byte for direct TLS), the framing stage
/// (<see cref="XmppFramer"/>), and a bounded outbound buffer drained by an asynchronous writer. Whole stanzas are
/// told to the owner actor; reading pauses while too many are unprocessed. No method blocks the caller.
/// </summary>
public sealed class SocketConnection : ITransportConnection, IFramerSink
{
    private static long _ids;

    private readonly Socket _socket;
    private readonly TransportOptions _options;
    private readonly bool _directTls;
    private readonly Action<SocketConnection>? _onClosed;
    private readonly XmppFramer _framer;
    private Admission.ReadShaper? _shaper; // replaced by Reshape (the account's class) from the owner's thread
    private int _stanzasThisRead;
    private readonly object _writeLock = new();
    private IActorRef _owner = ActorRefs.Nobody;
    private Stream _stream;               // NetworkStream, then SslStream
    private SslStream? _tls;
    private IChannelBinding? _channelBinding;
    private string _contentNamespace = Ns.Client; // of the stream opened last (under _writeLock)

    // outbound
    private PooledBufferWriter _pending = new();
    private PooledBufferWriter _spare = new();
    private bool _writing;
    private bool _closeAfterFlush;
    private volatile bool _closed;
    // write receipts (WhenWritten): bytes ever queued and ever written, and the receipts waiting for a count, in
    // order of their counts (all under _writeLock)
    private long _queuedBytes;
    private long _writtenBytes;
    private Queue<(long Bytes, TaskCompletionSource<bool> Receipt)>? _receipts;
    private OutboundPressure _pressure; // (mutable struct, under _writeLock) the peer's unread bytes: reading pauses, or it is dropped

    // inbound
    private int _inFlight;
    private TaskCompletionSource? _resume;
    private volatile bool _restartRequested;
    private volatile bool _authenticated;
    private long _stanzaStartedTicks;
    private bool _stanzaCompleted; // a stanza completed in the read being framed (read loop only)
    private readonly TaskCompletionSource _shutDown = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _tlsRequested;
    // RFC 6120 §5.4.3.3: after <starttls/> nothing more is read in plain text until the owner has decided: the next
    // bytes are the client's TLS handshake (once it has read <proceed/>), and a read issued before the decision would
    // hand them to the framer (a stale wake-up of the zero-byte read, then a real read, raced the owner's StartTls:
    // 1 STARTTLS login in ~5,000 under load failed, docs/reliability.md "Soak"). What follows <starttls/> in the same
    // read is dropped: a client sends nothing before <proceed/>, so it can only be injected plain text.
    private volatile bool _tlsPending;
    private const string StartTlsElement = "starttls"; // RFC 6120 §5.4.2.1
    private TaskCompletionSource? _tlsDecision; // (under _writeLock) made when <starttls/> is read; completed by StartTls or Shutdown

    // OpenSSL's memory BIOs keep the size of the largest record that went through them (see OpenSslTuning): after a
    // handshake, or a read or write of more than this many bytes, their buffers are freed once the connection idles.
    // Small records (most stanzas) leave them alone, so a chatty connection does not pay a trim per stanza.
    private const int BioTrimBytes = 512;
    private volatile bool _bioTrimDue;

    public SocketConnection(Socket socket, TransportOptions options, bool directTls, Action<SocketConnection>? onClosed = null)
    {
        _socket = socket;
        _options = options;
        _pressure = new OutboundPressure(options);
        _directTls = directTls;
        _onClosed = onClosed;
        _socket.NoDelay = true;
        options.KeepAlive?.Apply(socket);
        // plain TCP reads through a plain NetworkStream: the readiness check (a poll(2) per wake-up) is for the TLS
        // stream (HandshakeAsync), where a stale wake-up makes SslStream park holding its 32 KiB buffer; on plain
        // connections it added a system call per read and no measurable memory saving (10,000 idle sessions)
        _stream = new NetworkStream(socket, ownsSocket: false);
        _framer = new XmppFramer(this, options.Framer);
        if (options.MaxStanzaBytesBeforeAuthentication > 0) _framer.MaxStanzaBytes = options.MaxStanzaBytesBeforeAuthentication;
        Id = "c" + Interlocked.Increment(ref _ids).ToString(System.Globalization.CultureInfo.InvariantCulture);
        RemoteEndPoint = socket.RemoteEndPoint;
        _shaper = options.Shaper.For(RemoteEndPoint);
        LastReceivedTicks = LastSentTicks = Environment.TickCount64;
    }

    public string Id { get; }
    public EndPoint? RemoteEndPoint { get; }
    public bool IsSecure => _tls is not null;
    public bool CanStartTls => _tls is null && _options.Certificates is not null && !_tlsRequested;
    public IChannelBinding? ChannelBinding => _channelBinding;
    public System.Security.Cryptography.X509Certificates.X509Certificate2? PeerCertificate { get; private set; }
    /// <summary>The socket (tests and diagnostics).</summary>
    internal Socket Socket => _socket;
    /// <summary>The TLS stream once negotiated (tests and diagnostics).</summary>
    internal SslStream? Tls => _tls;
    public long LastReceivedTicks { get; private set; }
    public long LastSentTicks { get; private set; }
    public long StanzaStartedTicks => Volatile.Read(ref _stanzaStartedTicks);

    /// <summary>Starts the read loop; every event goes to <paramref name="owner"/>.</summary>
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
            if (_directTls && !await HandshakeAsync()) return;
            while (!_closed)
            {
                if (_tlsRequested && _tls is null)
                {
                    _tlsPending = false;
                    if (!await HandshakeAsync()) return;
                    continue;
                }
                // read back-pressure: wait while the owner has too many unprocessed stanzas
                var resume = _resume;
                if (resume is not null) await resume.Task.ConfigureAwait(false);
                // and while the peer has not read a quarter of the outbound bound: what it sends now would mostly
                // answer or bounce back to it, and it is its own reading that must catch up (TCP back-pressure)
                Task? drained;
                lock (_writeLock) drained = _closed ? null : _pressure.ReadingMayGoOn(_queuedBytes - _writtenBytes);
                if (drained is not null) await drained.ConfigureAwait(false);

                // zero-byte read: park without a buffer until data arrives
                var readable = _stream.ReadAsync(Memory<byte>.Empty);
                if (!readable.IsCompleted && _bioTrimDue && _tls is { } idleTls) ReleaseBioBuffers(idleTls);
                await readable.ConfigureAwait(false);
                if (_tlsRequested && _tls is null) continue;

                var buffer = ArrayPool<byte>.Shared.Rent(_options.ReadBufferBytes);
                int n;
                try
                {
                    n = await _stream.ReadAsync(buffer.AsMemory(0, _options.ReadBufferBytes)).ConfigureAwait(false);
                    if (n > BioTrimBytes && _tls is not null) _bioTrimDue = true;
                    if (n > 0)
                    {
                        LastReceivedTicks = Environment.TickCount64;
                        if (_restartRequested)
                        {
                            _restartRequested = false;
                            _framer.Reset();
                            if (_authenticated) _framer.MaxStanzaBytes = _options.Framer.MaxStanzaBytes;
                        }
                        if (!_framer.Faulted)
                        {
                            _framer.Feed(buffer.AsSpan(0, n));
                            WatchPartialStanza();
                        }
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
                if (n == 0) break;
                if (_tlsPending)
                {
                    Task? decided;
                    lock (_writeLock) decided = _tlsRequested || _closed ? null : _tlsDecision?.Task;
                    if (decided is not null) await decided.ConfigureAwait(false);
                    continue; // to the handshake, or out when the owner refused and closed
                }
                // over its rate: the next read waits (the bytes stay in the peer's socket and window meanwhile)
                var stanzas = _stanzasThisRead;
                _stanzasThisRead = 0;
                if (Volatile.Read(ref _shaper) is { } shaper && shaper.Consume(n, stanzas) is { Ticks: > 0 } pause)
                    await Task.Delay(pause).ConfigureAwait(false);
                if (_framer.Faulted)
                {
                    // the stream is dead: read nothing more (a hostile peer's megabytes are not worth decrypting);
                    // the owner sends the stream error and closes, and the close resets whatever the peer still sends
                    await _shutDown.Task.ConfigureAwait(false);
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or AuthenticationException or InvalidOperationException)
        {
            reason = ex.Message;
        }
        finally
        {
            Shutdown(reason);
        }
    }

    private async Task<bool> HandshakeAsync()
    {
        var certificates = _options.Certificates ?? throw new InvalidOperationException("no certificate for TLS");
        var tls = new SslStream(new ReadinessNetworkStream(_socket), leaveInnerStreamOpen: false);
        // The timeout shuts the socket down, which ends the handshake's pending I/O, rather than being passed to the
        // handshake as a token: the socket caches its receive and send operations, and a cached operation keeps the
        // registration of the last cancelable token it ran with (and so the token's source, ≈190 B) for the
        // connection's life, since later reads and writes carry no token.
        using var timeout = new CancellationTokenSource(_options.TlsHandshakeTimeout);
        try
        {
            using (timeout.Token.UnsafeRegister(static s => ShutdownQuietly((Socket)s!), _socket))
                await tls.AuthenticateAsServerAsync(_options.ClientCertificates is null ? ServerCertificates.SelectXmpp : SelectAskingForCertificate,
                    certificates, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or SocketException or ObjectDisposedException)
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            _owner.Tell(new TransportEvents.TlsFailed(timeout.IsCancellationRequested ? "TLS handshake timed out" : ex.Message));
            return false;
        }
        // kept only when it chains to the configured authorities; a copy: the handshake's object goes with the stream
        if (tls.RemoteCertificate is { } presented && _options.ClientCertificates is { } authorities)
        {
            var copy = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(presented.GetRawCertData());
            if (authorities.VerifyClient(copy, new System.Security.Cryptography.X509Certificates.X509Certificate2Collection()) is null) PeerCertificate = copy;
            else copy.Dispose();
        }
        OpenSslTuning.ReleaseBuffersWhenIdle(tls);
        _bioTrimDue = true; // the handshake's flights sized the BIO buffers
        lock (_writeLock)
        {
            _tls = tls;
            _stream = tls;
            _channelBinding = new TlsChannelBinding(tls);
        }
        _framer.Reset();
        _restartRequested = false;
        _owner.Tell(TransportEvents.TlsEstablishedInstance);
        return true;
    }

    /// <summary>The XMPP options for the name asked for, also asking for the client's certificate (XEP-0178): any is
    /// accepted here, none too; whether it names an account is the SASL layer's question, afterwards.</summary>
    private static readonly ServerOptionsSelectionCallback SelectAskingForCertificate = static (_, hello, state, _) =>
    {
        var xmpp = ((ServerCertificates)state!).XmppOptions(hello.ServerName);
        return ValueTask.FromResult(new SslServerAuthenticationOptions
        {
            ServerCertificateContext = xmpp.ServerCertificateContext,
            EnabledSslProtocols = xmpp.EnabledSslProtocols,
            AllowRenegotiation = false,
            ApplicationProtocols = xmpp.ApplicationProtocols,
            ClientCertificateRequired = true,
            RemoteCertificateValidationCallback = static (_, _, _, _) => true,
        });
    };

    private static void ShutdownQuietly(Socket socket)
    {
        try { socket.Shutdown(SocketShutdown.Both); }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
    }

    /// <summary>After each read: a stanza left partly received starts its clock (once), a completed one stops it.</summary>
    private void WatchPartialStanza()
    {
        var completed = _stanzaCompleted;
        _stanzaCompleted = false;
        if (!_framer.StanzaInProgress)
        {
            if (_stanzaStartedTicks != 0) Volatile.Write(ref _stanzaStartedTicks, 0);
            return;
        }
        if (_stanzaStartedTicks != 0 && !completed) return; // the same stanza, still arriving
        Volatile.Write(ref _stanzaStartedTicks, LastReceivedTicks);
        _owner.Tell(TransportEvents.StanzaStartedInstance);
    }

    void IFramerSink.OnStreamOpen(StreamHeader header)
    {
        if (_tlsPending) return; // after <starttls/> in the same read: dropped (see _tlsPending)
        _owner.Tell(new TransportEvents.StreamOpened(header));
    }

    void IFramerSink.OnStanza(Element stanza)
    {
        if (_tlsPending) return;
        if (_tls is null && stanza.Is(StartTlsElement, Ns.Tls))
        {
            lock (_writeLock) _tlsDecision = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _tlsPending = true; // read nothing more in plain text until the owner decides (before it is told)
        }
        _stanzaCompleted = true;
        _stanzasThisRead++;
        if (Interlocked.Increment(ref _inFlight) >= _options.MaxStanzasInFlight)
        {
            lock (_writeLock) _resume ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        _owner.Tell(new TransportEvents.StanzaReceived(stanza));
    }

    void IFramerSink.OnStreamClose()
    {
        if (!_tlsPending) _owner.Tell(TransportEvents.StreamClosedInstance);
    }

    void IFramerSink.OnError(FramerErrorCondition condition, string text)
    {
        if (!_tlsPending) _owner.Tell(new TransportEvents.FramingFailed(condition, text));
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

    public void RestartStream() => _restartRequested = true;

    public void Authenticated() => _authenticated = true;

    public void Reshape(Admission.ShaperLimits limits) => Volatile.Write(ref _shaper, limits.For(RemoteEndPoint));

    public void StartTls()
    {
        _tlsRequested = true;
        TaskCompletionSource? decision;
        lock (_writeLock) decision = _tlsDecision;
        decision?.TrySetResult();
    }

    // ---------------------------------------------------------------- outbound
    public bool Send(Element element, string? contextNamespace)
    {
        lock (_writeLock)
        {
            if (_closed || _closeAfterFlush || PlaintextForbidden) return false;
            var before = _pending.WrittenCount;
            element.WriteTo(_pending, contextNamespace);
            _queuedBytes += _pending.WrittenCount - before;
            return AfterAppend();
        }
    }

    /// <summary>Queues raw UTF-8 as it is (transport tests and tools; the protocol uses the stream operations).</summary>
    public bool SendRaw(ReadOnlySpan<byte> utf8)
    {
        lock (_writeLock)
        {
            if (_closed || _closeAfterFlush || PlaintextForbidden) return false;
            var span = _pending.GetSpan(utf8.Length);
            utf8.CopyTo(span);
            _pending.Advance(utf8.Length);
            _queuedBytes += utf8.Length;
            return AfterAppend();
        }
    }

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

    /// <summary>Completes the receipts whose bytes are all written (under _writeLock).</summary>
    private void CompleteReceipts()
    {
        var receipts = _receipts;
        if (receipts is null) return;
        while (receipts.Count > 0 && receipts.Peek().Bytes <= _writtenBytes) receipts.Dequeue().Receipt.TrySetResult(true);
    }

    public bool OpenStream(StreamOpening opening)
    {
        lock (_writeLock)
        {
            if (_closed || _closeAfterFlush || PlaintextForbidden) return false;
            _contentNamespace = opening.ContentNamespace;
            var before = _pending.WrittenCount;
            TcpStreamFraming.WriteHeader(_pending, opening);
            _queuedBytes += _pending.WrittenCount - before;
            return AfterAppend();
        }
    }

    public bool SendFeatures(Element features)
    {
        lock (_writeLock)
        {
            if (_closed || _closeAfterFlush || PlaintextForbidden) return false;
            var before = _pending.WrittenCount;
            TcpStreamFraming.WriteStreamElement(_pending, features, _contentNamespace);
            _queuedBytes += _pending.WrittenCount - before;
            return AfterAppend();
        }
    }

    public void CloseStream(Element? streamError)
    {
        lock (_writeLock)
        {
            if (!_closed && !_closeAfterFlush && !PlaintextForbidden)
            {
                var before = _pending.WrittenCount;
                if (streamError is not null) TcpStreamFraming.WriteStreamElement(_pending, streamError, _contentNamespace);
                TcpStreamFraming.Close.CopyTo(_pending.GetSpan(TcpStreamFraming.Close.Length));
                _pending.Advance(TcpStreamFraming.Close.Length);
                _queuedBytes += _pending.WrittenCount - before;
                if (!AfterAppend()) return;
            }
        }
        Close();
    }

    public bool KeepAlive()
    {
        lock (_writeLock)
        {
            if (_closed || _closeAfterFlush || PlaintextForbidden) return false;
            TcpStreamFraming.KeepAlive.CopyTo(_pending.GetSpan(1));
            _pending.Advance(TcpStreamFraming.KeepAlive.Length);
            _queuedBytes += TcpStreamFraming.KeepAlive.Length;
            return AfterAppend();
        }
    }

    /// <summary>A direct-TLS connection before its handshake completed: nothing may go out in plain text
    /// (a negotiation timeout or keep-alive would otherwise write XML into the TLS handshake). Under _writeLock.</summary>
    private bool PlaintextForbidden => _directTls && _tls is null;

    public int QueuedOutboundBytes => Volatile.Read(ref _pending).WrittenCount;

    // under _writeLock
    private bool AfterAppend()
    {
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

    private async Task FlushAsync()
    {
        while (true)
        {
            PooledBufferWriter? batch = null;
            Stream stream;
            lock (_writeLock)
            {
                stream = _stream;
                if (_pending.WrittenCount == 0 || _closed)
                {
                    _writing = false;
                    if (_closed) _spare.Reset();
                    else if (_closeAfterFlush) _ = Task.Run(() => Shutdown("closed"));
                }
                else
                {
                    batch = _pending;
                    _pending = _spare;
                    _spare = batch;
                }
            }
            if (batch is null)
            {
                // outbound idle: give back what a large write grew OpenSSL's BIO buffers to
                if (_bioTrimDue && !_closed && stream is SslStream idleTls) ReleaseBioBuffers(idleTls);
                return;
            }
            try
            {
                if (batch.WrittenCount > BioTrimBytes && stream is SslStream) _bioTrimDue = true;
                await stream.WriteAsync(batch.WrittenMemory).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or InvalidOperationException or NotSupportedException)
            {
                lock (_writeLock)
                {
                    _writing = false;
                    batch.Reset();
                }
                Shutdown(ex.Message);
                return;
            }
            lock (_writeLock)
            {
                _writtenBytes += batch.WrittenCount;
                batch.Reset();
                CompleteReceipts();
                _pressure.Written(_queuedBytes - _writtenBytes);
            }
        }
    }

    private void ReleaseBioBuffers(SslStream tls)
    {
        _bioTrimDue = false;
        OpenSslTuning.ReleaseIdleBioBuffers(tls);
    }

    public void Close()
    {
        lock (_writeLock)
        {
            if (_closed) return;
            _closeAfterFlush = true;
            if (_writing) return; // the writer closes when drained
        }
        Shutdown("closed");
    }

    public void Abort() => Shutdown("aborted");

    private int _shutdown;

    private void Shutdown(string reason)
    {
        if (Interlocked.Exchange(ref _shutdown, 1) == 1) return;
        _closed = true;
        try { _socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
        _socket.Dispose();
        _tls?.Dispose();
        lock (_writeLock)
        {
            _pending.Reset();
            if (!_writing) _spare.Reset(); // else the writer still owns it and resets it when its write ends
            _resume?.TrySetResult();
            _resume = null;
            _pressure.Closed();
            // what is still queued will not be written: its receipts fail (the written ones completed already)
            if (_receipts is not null)
                while (_receipts.Count > 0) _receipts.Dequeue().Receipt.TrySetResult(false);
        }
        _shutDown.TrySetResult();
        lock (_writeLock) _tlsDecision?.TrySetResult();
        _onClosed?.Invoke(this);
        _owner.Tell(new TransportEvents.ConnectionLost(reason));
    }
}
