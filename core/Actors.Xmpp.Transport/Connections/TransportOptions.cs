using Actors.Xmpp.Transport.Framing;

namespace Actors.Xmpp.Transport.Connections;

public sealed record TransportOptions
{
    public FramerLimits Framer { get; init; } = new();
    /// <summary>The stanza limit before the stream is authenticated (<see cref="ITransportConnection.Authenticated"/>);
    /// 0: <see cref="Framer"/>'s.</summary>
    public int MaxStanzaBytesBeforeAuthentication { get; init; }
    /// <summary>Bytes queued for a peer that reads too slowly before the connection is dropped (when it has taken
    /// nothing for <see cref="OutboundStall"/>, or at four times this whatever it does); past a quarter of it the
    /// connection stops reading from the peer until it catches up (<see cref="OutboundPressure"/>).</summary>
    public int MaxOutboundBytes { get; init; } = 4 * 1024 * 1024;
    /// <summary>How long a peer with more than <see cref="MaxOutboundBytes"/> waiting may take nothing before it is
    /// dropped.</summary>
    public TimeSpan OutboundStall { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>Stanzas handed to the owner and not yet processed before reading pauses.</summary>
    public int MaxStanzasInFlight { get; init; } = 64;
    public int ReadBufferBytes { get; init; } = 8 * 1024;
    public TimeSpan TlsHandshakeTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>The certificates for STARTTLS and direct TLS (selected by SNI); null: no TLS.</summary>
    public Tls.ServerCertificates? Certificates { get; init; }
    /// <summary>TCP keep-alive on every accepted connection (dead-peer detection by the kernel); null: off.</summary>
    public TcpKeepAlive? KeepAlive { get; init; }
    /// <summary>The authorities of client certificates (XEP-0178): when set, the TLS handshake asks the client for a
    /// certificate (not required) and keeps it (<see cref="ITransportConnection.PeerCertificate"/>); null: none asked.</summary>
    public Tls.PeerCertificateVerifier? ClientCertificates { get; init; }
    /// <summary>The read rate of one client connection (TCP and WebSocket); the default shapes nothing.</summary>
    public Admission.ShaperLimits Shaper { get; init; } = new();
}
