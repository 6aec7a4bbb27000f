using System.Buffers;
using System.Net.Sockets;
using Actors.Xmpp.Transport.Buffers;
using Actors.Xmpp.Transport.Connections;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Xml;
using Akka.Actor;
using Akka.Streams;
using Akka.Streams.Dsl;

namespace Actors.Xmpp.Transport.Streams;

/// <summary>
/// One server-to-server or component link as an Akka.Streams graph of the project's own stages, feeding the actor that
/// owns it:
/// <code>
///   LinkSourceStage ─► [Throttle: bytes] ─► XmppFramingStage ─► [Throttle: stanzas] ─► OwnerSinkStage(owner)
///                                                        (one event in flight, no read-ahead; Throttles with LinkShaping)
///   LinkOutboxStage(LinkOutbox: bounded, fails on overflow) ─► LinkSinkStage   (the owner's writes, coalesced while
///                                                                              one is under way, and TLS handshakes)
/// </code>
/// both on one <see cref="LinkChannel"/> (the socket, then TLS over it).
/// The owner receives <see cref="Init"/>, then <see cref="TransportEvents"/> (StreamOpened, StanzaReceived, StreamClosed,
/// FramingFailed) and must answer each with <see cref="Ack"/> to its sender; <see cref="TransportEvents.ConnectionLost"/>
/// comes last. For STARTTLS (RFC 6120 §5.4.3.3) the owner keeps the acknowledgement of &lt;starttls/&gt; or
/// &lt;proceed/&gt;, calls <see cref="StartTls"/> (after its &lt;proceed/&gt;, as the receiving side), waits for
/// <see cref="TransportEvents.TlsEstablished"/> (or TlsFailed), calls <see cref="RestartStream"/>, then acknowledges:
/// nothing was read in between. After SASL success the same, without TLS. A peer that does not read past <c>outboundElements</c> queued writes fails the queue, which closes the
/// socket. Links are few and long-lived, so the graph per link costs nothing that matters (the c2s path stays on
/// plain classes, docs/benchmarks.md). Used by its owner only (not thread-safe).
/// </summary>
public sealed class StreamLink
{
    /// <summary>The first message of the inbound side; answer with <see cref="Ack"/>.</summary>
    public static readonly object Init = new LinkInit();
    /// <summary>The owner's answer to <see cref="Init"/> and to each event (ask for the next one).</summary>
    public static readonly object Ack = new LinkAck();

    private sealed record LinkInit;
    private sealed record LinkAck;

    private readonly LinkOutbox _out;
    private readonly LinkChannel _channel;
    private readonly FramingRestart _restart;
    private readonly PooledBufferWriter _writer = new();
    private bool _completed;

    private StreamLink(LinkOutbox outbound, LinkChannel channel, FramingRestart restart)
    {
        _out = outbound;
        _channel = channel;
        _restart = restart;
    }

    /// <summary>The TLS stream once negotiated (null before).</summary>
    public System.Net.Security.SslStream? Tls => _channel.Tls;

    /// <summary>Materializes the link's graph on <paramref name="socket"/> for <paramref name="owner"/> (call from the
    /// owner's PreStart with a materializer of its system). With <paramref name="shaping"/>, what is read is shaped
    /// (Akka.Streams' Throttle, shaping mode): bytes before the framer, stanzas after it; a peer over the rates is read
    /// later (its bytes wait in its TCP window), nothing is dropped.</summary>
    public static StreamLink Run(Socket socket, IActorRef owner, IMaterializer materializer, FramerLimits limits, int outboundElements = 1024,
        LinkShaping? shaping = null)
    {
        socket.NoDelay = true;
        var channel = new LinkChannel(socket);
        var restart = new FramingRestart();
        var toOwner = new OwnerSinkStage(owner, new TransportEvents.ConnectionLost("closed"), ex => new TransportEvents.ConnectionLost(ex.Message));
        var bytes = Source.FromGraph(new LinkSourceStage(channel));
        if (shaping is { BytesPerSecond: > 0 } byteRate)
            bytes = bytes.Throttle(byteRate.BytesPerSecond, TimeSpan.FromSeconds(1), Math.Max(1, byteRate.BurstBytes),
                static chunk => chunk.Length, ThrottleMode.Shaping);
        var events = bytes.Via(new XmppFramingStage(limits, restart));
        if (shaping is { StanzasPerSecond: > 0 } stanzaRate)
            events = events.Throttle(stanzaRate.StanzasPerSecond, TimeSpan.FromSeconds(1), Math.Max(1, stanzaRate.BurstStanzas),
                static e => e is TransportEvents.StanzaReceived ? 1 : 0, ThrottleMode.Shaping);
        events.To(toOwner).Run(materializer);
        var outbound = new LinkOutbox(outboundElements);
        Source.FromGraph(new LinkOutboxStage(outbound)).To(new LinkSinkStage(channel, owner)).Run(materializer);
        return new StreamLink(outbound, channel, restart);
    }

    /// <summary>Runs <paramref name="upgrade"/>'s TLS handshake after what is queued is written; the owner is told
    /// TlsEstablished or TlsFailed (on failure the connection closes, RFC 6120 §5.4.3.2). Direct TLS (XEP-0368):
    /// call it before anything else.</summary>
    public void StartTls(TlsUpgrade upgrade)
    {
        if (_completed) return;
        _out.AppendTls(upgrade);
    }

    /// <summary>The next bytes read start a new stream (call before acknowledging the event that ended the old one).</summary>
    public void RestartStream() => _restart.Request();

    /// <summary>Queues raw bytes (a stream header, a closing tag).</summary>
    public void Send(ReadOnlySpan<byte> bytes)
    {
        if (_completed) return;
        _out.Append(bytes);
    }

    /// <summary>Queues one element serialized for the stream's content namespace.</summary>
    public void Send(Element element, string contentNamespace)
    {
        if (_completed) return;
        element.WriteTo(_writer, contentNamespace);
        _out.Append(_writer.WrittenSpan);
        _writer.Reset();
    }

    /// <summary>Writes what is queued, then closes the socket.</summary>
    public void Complete()
    {
        if (_completed) return;
        _completed = true;
        _out.Complete();
    }
}

/// <summary>The read shaper of a link (ejabberd's <c>s2s_shaper</c>, Prosody's mod_limits <c>s2sin</c>): bytes per second
/// after a burst of <paramref name="BurstBytes"/>, stanzas per second after a burst of <paramref name="BurstStanzas"/>;
/// a rate of 0 does not shape.</summary>
public sealed record LinkShaping(int BytesPerSecond, int BurstBytes, int StanzasPerSecond = 0, int BurstStanzas = 1);
