using System.Net.Sockets;
using Actors.Xmpp.Transport.Connections;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Xml;
using Akka.Actor;
using Akka.Streams;

namespace Actors.Xmpp.Transport.Streams;

/// <summary>
/// The actor that owns a <see cref="StreamLink"/> (a component link, an inbound or outbound server-to-server stream):
/// it runs the link, hands each event to the subclass and then acknowledges it (the link reads nothing more until
/// then), holds the acknowledgements while a TLS handshake runs (<see cref="StartTls"/> ... <see cref="ResumeAfterTls"/>),
/// stops when the connection is gone, and completes the link when it stops.
/// </summary>
public abstract class StreamLinkActor : ReceiveActor
{
    private bool _holdAck;
    private IActorRef? _heldAckTo;

    protected StreamLinkActor()
    {
        Receive<TransportEvents.StreamOpened>(m => { OnStreamOpened(m.Header); Acknowledge(); });
        Receive<TransportEvents.StanzaReceived>(m => { OnElement(m.Element); Acknowledge(); });
        Receive<TransportEvents.StreamClosed>(_ => { OnPeerClosedStream(); Acknowledge(); });
        Receive<TransportEvents.FramingFailed>(m => { OnFramingFailed(m.Condition, m.Text); Acknowledge(); });
        Receive<TransportEvents.TlsEstablished>(_ => OnTlsEstablished());
        Receive<TransportEvents.TlsFailed>(m => OnTlsFailed(m.Reason));
        Receive<TransportEvents.ConnectionLost>(_ => OnConnectionLost());
        Receive<object>(_ => Acknowledge(), m => ReferenceEquals(m, StreamLink.Init));
    }

    /// <summary>The link (null until <see cref="RunLink"/>).</summary>
    protected StreamLink? Link { get; private set; }

    /// <summary>Materializes the link on <paramref name="socket"/> with this actor as its owner.</summary>
    protected StreamLink RunLink(Socket socket, IMaterializer materializer, FramerLimits limits, int outboundElements,
        LinkShaping? shaping = null) =>
        Link = StreamLink.Run(socket, Self, materializer, limits, outboundElements, shaping);

    /// <summary>Queues <paramref name="upgrade"/> behind what is written and reads nothing until
    /// <see cref="ResumeAfterTls"/> (RFC 6120 §5.4.3.3: the bytes after &lt;starttls/&gt; or &lt;proceed/&gt; are the
    /// handshake's).</summary>
    protected void StartTls(TlsUpgrade upgrade)
    {
        _holdAck = true;
        Link!.StartTls(upgrade);
    }

    /// <summary>TLS is established: the next bytes start a new stream; reading resumes.</summary>
    protected void ResumeAfterTls()
    {
        Link!.RestartStream();
        _holdAck = false;
        _heldAckTo?.Tell(StreamLink.Ack);
        _heldAckTo = null;
    }

    protected abstract void OnStreamOpened(StreamHeader header);

    /// <summary>A complete top-level element of the peer's stream.</summary>
    protected abstract void OnElement(Element element);

    /// <summary>The peer closed its stream (RFC 6120 §4.4).</summary>
    protected abstract void OnPeerClosedStream();

    /// <summary>The peer's XML broke the stream (the stream error for <paramref name="condition"/> is the subclass's).</summary>
    protected abstract void OnFramingFailed(FramerErrorCondition condition, string text);

    protected virtual void OnTlsEstablished() { }

    /// <summary>The handshake failed; the link has closed the connection (RFC 6120 §5.4.3.2).</summary>
    protected virtual void OnTlsFailed(string reason) { }

    /// <summary>The connection is gone (always the link's last event): stops the actor.</summary>
    protected virtual void OnConnectionLost() => Context.Stop(Self);

    protected override void PostStop() => Link?.Complete();

    private void Acknowledge()
    {
        if (_holdAck) _heldAckTo = Sender;
        else Sender.Tell(StreamLink.Ack);
    }
}
