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
///   SocketSourceStage ─► XmppFramingStage ─► Sink.ActorRefWithAck(owner)        (read back-pressure: one event in flight)
///   Source.Queue(bounded, fail on overflow) ─► SocketSinkStage                   (the owner's writes)
/// </code>
/// The owner receives <see cref="Init"/>, then <see cref="TransportEvents"/> (StreamOpened, StanzaReceived, StreamClosed,
/// FramingFailed) and must answer each with <see cref="Ack"/> to its sender; <see cref="TransportEvents.ConnectionLost"/>
/// comes last. A peer that does not read past <c>outboundElements</c> queued writes fails the queue, which closes the
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

    private readonly ISourceQueueWithComplete<ReadOnlyMemory<byte>> _out;
    private readonly PooledBufferWriter _writer = new();
    private bool _completed;

    private StreamLink(ISourceQueueWithComplete<ReadOnlyMemory<byte>> outbound) => _out = outbound;

    /// <summary>Materializes the link's graph on <paramref name="socket"/> for <paramref name="owner"/> (call from the
    /// owner's PreStart with a materializer of its system).</summary>
    public static StreamLink Run(Socket socket, IActorRef owner, IMaterializer materializer, FramerLimits limits, int outboundElements = 1024)
    {
        socket.NoDelay = true;
        var toOwner = Sink.ActorRefWithAck<object>(owner, Init, Ack, new TransportEvents.ConnectionLost("closed"),
            ex => new TransportEvents.ConnectionLost(ex.Message));
        Source.FromGraph(new SocketSourceStage(socket))
            .Via(new XmppFramingStage(limits))
            .To(toOwner)
            .Run(materializer);
        var outbound = Source.Queue<ReadOnlyMemory<byte>>(outboundElements, OverflowStrategy.Fail)
            .To(new SocketSinkStage(socket))
            .Run(materializer);
        return new StreamLink(outbound);
    }

    /// <summary>Queues raw bytes (a stream header, a closing tag).</summary>
    public void Send(ReadOnlySpan<byte> bytes)
    {
        if (_completed) return;
        Offer(bytes.ToArray());
    }

    /// <summary>Queues one element serialized for the stream's content namespace.</summary>
    public void Send(Element element, string contentNamespace)
    {
        if (_completed) return;
        element.WriteTo(_writer, contentNamespace);
        ReadOnlyMemory<byte> bytes = _writer.WrittenSpan.ToArray();
        _writer.Reset();
        Offer(bytes);
    }

    /// <summary>Writes what is queued, then closes the socket.</summary>
    public void Complete()
    {
        if (_completed) return;
        _completed = true;
        _out.Complete();
    }

    private void Offer(ReadOnlyMemory<byte> bytes)
    {
        // the queue fails the stream on overflow (the socket closes and the owner gets ConnectionLost); the offer's
        // own task then faults and is observed here so that it is not reported as unobserved
        var offered = _out.OfferAsync(bytes);
        if (!offered.IsCompleted) _ = offered.ContinueWith(static t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
        else if (offered.IsFaulted) _ = offered.Exception;
    }
}
