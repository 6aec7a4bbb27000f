namespace Actors.Xmpp.Plugins;

/// <summary>
/// The host's SOCKS5 bytestream relay (host-provided: ctx.Require&lt;IByteStreamRelay&gt;()): the TCP side of an
/// XEP-0065 proxy. The host accepts the connections, runs RFC 1928's handshake (the no-authentication method and CONNECT
/// to a DOMAINNAME, port 0: the hash that names a bytestream), pairs the two connections that name the same hash, and on
/// <see cref="IByteStreamListener.ActivateAsync"/> relays their bytes both ways. The plugin does the XMPP side (discovery,
/// who may activate what) and computes the hash (XEP-0065 §5.3.2: SHA1(SID + Requester JID + Target JID), hex).
/// </summary>
public interface IByteStreamRelay
{
    /// <summary>Starts a listener; disposing it stops accepting and closes its connections that are not relaying yet
    /// (relays in progress run to their end). Throws when the address cannot be bound.</summary>
    IByteStreamListener Listen(ByteStreamListenerOptions options);
}

/// <summary>Where and how a <see cref="IByteStreamRelay"/> listener serves.</summary>
/// <param name="Address">The local address to bind (an IP address; "0.0.0.0" or "::" for all).</param>
/// <param name="Port">The TCP port (0: any free port; see <see cref="IByteStreamListener.Port"/>).</param>
public sealed record ByteStreamListenerOptions(string Address, int Port)
{
    /// <summary>The most bytes per second each direction of one relay carries (0: no limit).</summary>
    public int BytesPerSecond { get; init; }
    /// <summary>How long a connection may take from its first byte to the end of its SOCKS5 request.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>How long a connection may wait for its bytestream to be activated: past it, it is closed (XEP-0065 §11.3:
    /// requests that are never activated).</summary>
    public TimeSpan ActivationTimeout { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>The most connections open at once (handshaking, waiting or relaying); further ones wait in the backlog.</summary>
    public int MaxConnections { get; init; } = 1000;
}

/// <summary>A running listener of <see cref="IByteStreamRelay"/>.</summary>
public interface IByteStreamListener : IDisposable
{
    /// <summary>The bound port.</summary>
    int Port { get; }

    /// <summary>Starts relaying between the two connections that asked for <paramref name="hash"/> (compared without
    /// regard to the case of its hex digits). <paramref name="owner"/> is who the relay counts against (the requester's
    /// bare JID); when it already has <paramref name="maxPerOwner"/> relays running (0: no limit) both connections are
    /// closed and the answer is <see cref="ByteStreamActivation.OwnerLimit"/>.</summary>
    Task<ByteStreamActivation> ActivateAsync(string hash, string owner, int maxPerOwner);
}

/// <summary>The outcome of <see cref="IByteStreamListener.ActivateAsync"/>.</summary>
public enum ByteStreamActivation
{
    /// <summary>Both connections are now relayed to each other.</summary>
    Activated,
    /// <summary>No connection asked for this hash (or it timed out).</summary>
    NoConnection,
    /// <summary>Only one connection asked for this hash: the other party has not connected.</summary>
    OneConnection,
    /// <summary>The bytestream is relaying already.</summary>
    AlreadyActive,
    /// <summary>The owner has its maximum of relays running; both connections were closed.</summary>
    OwnerLimit,
}
