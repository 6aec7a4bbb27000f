using System.Net;
using Actors.Xmpp.Security;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Transport.Connections;

/// <summary>
/// The seam between a transport (bytes, TLS, framing) and the protocol (the connection actor), in the spirit of
/// Kestrel's ConnectionContext. All methods are thread-safe and never block: sends are queued into a bounded
/// outbound buffer drained by the transport. The stream's own framing (RFC 6120's header and closing tag, RFC 7395's
/// &lt;open/&gt; and &lt;close/&gt;, the features wrapper, keep-alives) lives below this interface: the protocol asks
/// to open a stream, send features, send a stanza, close (with a stream error) or keep alive, and each transport
/// renders that in its own framing (TCP: <see cref="TcpStreamFraming"/>).
/// </summary>
public interface ITransportConnection
{
    string Id { get; }
    EndPoint? RemoteEndPoint { get; }
    bool IsSecure { get; }
    /// <summary>Whether STARTTLS can be offered (a TCP transport with a certificate, not yet secure).</summary>
    bool CanStartTls { get; }
    /// <summary>The certificate the client presented in the TLS handshake, kept only when it chains to the
    /// authorities of <see cref="TransportOptions.ClientCertificates"/> (asked for only then), or null.</summary>
    System.Security.Cryptography.X509Certificates.X509Certificate2? PeerCertificate => null;
    /// <summary>Channel-binding data of the TLS layer, null on a plain connection.</summary>
    IChannelBinding? ChannelBinding { get; }
    /// <summary>Environment.TickCount64 of the last bytes received.</summary>
    long LastReceivedTicks { get; }
    /// <summary>Environment.TickCount64 of the last bytes queued for sending.</summary>
    long LastSentTicks { get; }
    /// <summary>Bytes queued for the peer and not yet handed to the network (a peer that does not read makes it grow
    /// towards <see cref="TransportOptions.MaxOutboundBytes"/>). Read from other threads: a recent value, not an exact one.</summary>
    int QueuedOutboundBytes => 0;

    /// <summary>Environment.TickCount64 of the read in which the stanza now partly received began; 0 when no stanza is
    /// partly received (see <see cref="TransportEvents.StanzaStarted"/>). A transport that frames whole messages has none.</summary>
    long StanzaStartedTicks => 0;

    /// <summary>Starts reading: every <see cref="TransportEvents"/> message goes to <paramref name="owner"/> (the connection actor).</summary>
    void Start(Akka.Actor.IActorRef owner);
    /// <summary>Opens the server's side of the stream (RFC 6120 §4.7; again after each stream restart).</summary>
    bool OpenStream(StreamOpening opening);
    /// <summary>Queues the stream features (RFC 6120 §4.3.2): <paramref name="features"/> is the
    /// &lt;features xmlns='http://etherx.jabber.org/streams'/&gt; element, the transport frames it.</summary>
    bool SendFeatures(Element features);
    /// <summary>Queues one stanza, serialized for the stream's content namespace. False if the connection is closing
    /// or its outbound buffer is over its bound (the transport then closes the connection).</summary>
    bool Send(Element element, string? contextNamespace);
    /// <summary>Closes the server's side of the stream: the stream error if one is given (RFC 6120 §4.9, an
    /// &lt;error xmlns='http://etherx.jabber.org/streams'/&gt; element), then the stream close (§4.4), then the connection
    /// once what is queued is flushed. ConnectionLost follows.</summary>
    void CloseStream(Element? streamError);
    /// <summary>Keeps an idle stream alive (RFC 6120 §4.6.1: a whitespace keep-alive on TCP).</summary>
    bool KeepAlive();
    /// <summary>A write receipt: completes with true once every byte queued before the call has been written out to
    /// the transport (for TCP: accepted by the socket), or with false as soon as the connection is lost first (what was
    /// queued may not have left). Never blocks; for paced deliveries (the offline mailbox), not for every stanza. The
    /// default suits a transport whose <see cref="Send"/> hands the bytes over before it returns (in-memory).</summary>
    Task<bool> WhenWritten() => Task.FromResult(true);
    /// <summary>Acknowledges one <see cref="TransportEvents.StanzaReceived"/> (read back-pressure).</summary>
    void Processed();
    /// <summary>The next bytes start a new stream (RFC 6120 §4.3.3 restart): reset the framer before feeding them.</summary>
    void RestartStream();
    /// <summary>The stream is authenticated: from its restart on, the full stanza limit applies (before, a transport
    /// may hold the client to a smaller one, XEP-0205 §2). Call before <see cref="RestartStream"/>.</summary>
    void Authenticated() { }
    /// <summary>From now on the connection's reads are shaped by <paramref name="limits"/> (the authenticated account's
    /// class, <c>Xmpp:Limits:AccountClasses</c>); a transport that is not shaped ignores it.</summary>
    void Reshape(Admission.ShaperLimits limits) { }
    /// <summary>Start TLS on the next bytes from the peer (after &lt;proceed/&gt; was queued). Ends with TlsEstablished or TlsFailed.</summary>
    void StartTls();
    /// <summary>Flushes what is queued, then closes without a stream close (a TLS handshake under way has no stream
    /// to close). ConnectionLost follows.</summary>
    void Close();
    /// <summary>Closes now, dropping anything queued.</summary>
    void Abort();
}
