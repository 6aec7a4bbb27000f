using System.Net;
using Actors.Xmpp.Security;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Transport.Connections;

/// <summary>
/// The seam between a transport (bytes, TLS, framing) and the protocol (the connection actor), in the spirit of
/// Kestrel's ConnectionContext. All methods are thread-safe and never block: sends are queued into a bounded
/// outbound buffer drained by the transport.
/// </summary>
public interface ITransportConnection
{
    string Id { get; }
    EndPoint? RemoteEndPoint { get; }
    bool IsSecure { get; }
    /// <summary>Whether STARTTLS can be offered (a TCP transport with a certificate, not yet secure).</summary>
    bool CanStartTls { get; }
    /// <summary>Channel-binding data of the TLS layer, null on a plain connection.</summary>
    IChannelBinding? ChannelBinding { get; }
    /// <summary>Environment.TickCount64 of the last bytes received.</summary>
    long LastReceivedTicks { get; }
    /// <summary>Environment.TickCount64 of the last bytes queued for sending.</summary>
    long LastSentTicks { get; }

    /// <summary>Queues one stanza, serialized for the stream's content namespace. False if the connection is closing
    /// or its outbound buffer is over its bound (the transport then closes the connection).</summary>
    bool Send(Element element, string? contextNamespace);
    /// <summary>Queues raw UTF-8 (stream headers, the closing tag, whitespace keep-alives).</summary>
    bool SendRaw(ReadOnlySpan<byte> utf8);
    /// <summary>A write receipt: completes with true once every byte queued (by <see cref="Send"/> or
    /// <see cref="SendRaw"/>) before the call has been written out to the transport (for TCP: accepted by the
    /// socket), or with false as soon as the connection is lost first (what was queued may not have left). Never
    /// blocks; for paced deliveries (the offline mailbox), not for every stanza. The default suits a transport whose
    /// <see cref="Send"/> hands the bytes over before it returns (in-memory).</summary>
    Task<bool> WhenWritten() => Task.FromResult(true);
    /// <summary>Acknowledges one <see cref="TransportEvents.StanzaReceived"/> (read back-pressure).</summary>
    void Processed();
    /// <summary>The next bytes start a new stream (RFC 6120 §4.3.3 restart): reset the framer before feeding them.</summary>
    void RestartStream();
    /// <summary>Start TLS on the next bytes from the peer (after &lt;proceed/&gt; was queued). Ends with TlsEstablished or TlsFailed.</summary>
    void StartTls();
    /// <summary>Flushes what is queued, then closes. ConnectionLost follows.</summary>
    void Close();
    /// <summary>Closes now, dropping anything queued.</summary>
    void Abort();
}
