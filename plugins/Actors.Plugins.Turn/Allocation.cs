using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Actors.Plugins.Turn;

/// <summary>
/// One TURN allocation (RFC 8656 §2.2): the relayed transport address (a UDP socket of its own), the 5-tuple it
/// belongs to, its credentials, its time to expiry, its permissions (§9: peer IP address → expiry) and channel
/// bindings (§12: channel number ↔ peer transport address). Times are <see cref="Environment.TickCount64"/>
/// milliseconds; the server's sweep removes what expired.
/// </summary>
internal sealed class Allocation : IDisposable
{
    /// <summary>RFC 8656 §9: a permission lives 300 s unless refreshed.</summary>
    public const long PermissionMs = 300_000;
    /// <summary>RFC 8656 §12: a channel binding lives 600 s unless refreshed.</summary>
    public const long ChannelMs = 600_000;
    /// <summary>RFC 8656 §12: after a binding expires, its channel and its peer stay reserved for 5 more minutes.</summary>
    public const long ChannelQuarantineMs = 300_000;
    /// <summary>Permissions one allocation holds at once (each is a peer IP address): past it, CreatePermission gets
    /// 508, so that one client cannot grow the server's memory without bound.</summary>
    public const int MaxPermissions = 1000;

    private readonly ConcurrentDictionary<IPAddress, long> _permissions = new();
    private readonly ConcurrentDictionary<ushort, ChannelBinding> _channels = new();
    private readonly ConcurrentDictionary<IPEndPoint, ChannelBinding> _channelsByPeer = new();
    private readonly Lock _gate = new();
    private long _expiresAt;

    public Allocation(ClientPath client, Socket relay, IPEndPoint relayed, string username, string user, byte[] key, bool tcpRelay = false)
    {
        TcpRelay = tcpRelay;
        Client = client;
        Relay = relay;
        Relayed = relayed;
        Username = username;
        User = user;
        Key = key;
    }

    public ClientPath Client { get; }
    /// <summary>The relayed transport address's socket: UDP, or for a TCP relay (RFC 6062 §5.1) a listening TCP
    /// socket.</summary>
    public Socket Relay { get; }
    /// <summary>RFC 6062: an allocation with REQUESTED-TRANSPORT TCP; its peers are TCP connections
    /// (<see cref="Connections"/>), no channels, no Send or Data indications.</summary>
    public bool TcpRelay { get; }
    /// <summary>RFC 6062 §5.2/§5.3: the peer data connections of a TCP relay (being made, waiting for their
    /// ConnectionBind, or relaying), by the peer's transport address: a second Connect to the same peer gets 446.</summary>
    public ConcurrentDictionary<IPEndPoint, PeerConnection> Connections { get; } = new();
    /// <summary>Peer data connections one TCP allocation holds at once: past it a Connect gets 508 and a peer's
    /// connection is closed, so that one client cannot grow the server's sockets without bound.</summary>
    public const int MaxConnections = 256;
    public IPEndPoint Relayed { get; }
    /// <summary>RFC 8656 §7.2: later requests on this allocation must use the same username (else 441).</summary>
    public string Username { get; }
    /// <summary>The quota key (the user of the TURN REST username).</summary>
    public string User { get; }
    public byte[] Key { get; }
    public CancellationTokenSource Stopping { get; } = new();

    /// <summary>The Allocate request that made this allocation and its response: a retransmission of that request
    /// gets the same response (RFC 8656 §7.2, the note on retransmissions).</summary>
    public byte[]? AllocateTransaction { get; set; }
    public byte[]? AllocateResponse { get; set; }

    public long ExpiresAt => Volatile.Read(ref _expiresAt);
    public void Refresh(long now, int seconds) => Volatile.Write(ref _expiresAt, now + seconds * 1000L);
    public bool Expired(long now) => now >= ExpiresAt;

    public AddressFamily Family => Relayed.AddressFamily;

    /// <summary>Its relay socket's reader on the server's <see cref="UdpPoller"/> (UDP clients on Linux), else null.</summary>
    public PolledSocket? Reader { get; set; }

    // the last peer a datagram came from, so that a stream of datagrams from one peer makes no IPEndPoint each: used by
    // the relay socket's one reader only
    private SocketAddress? _lastPeerAddress;
    private IPEndPoint? _lastPeer;

    /// <summary>The peer <paramref name="from"/> names (called by the relay socket's reader only).</summary>
    public IPEndPoint PeerFrom(SocketAddress from)
    {
        if (_lastPeerAddress is not null && _lastPeerAddress.Equals(from)) return _lastPeer!;
        var peer = (IPEndPoint)(Family == AddressFamily.InterNetwork ? AnyV4 : AnyV6).Create(from);
        _lastPeerAddress = peer.Serialize();
        _lastPeer = peer;
        return peer;
    }

    private static readonly IPEndPoint AnyV4 = new(IPAddress.Any, 0);
    private static readonly IPEndPoint AnyV6 = new(IPAddress.IPv6Any, 0);

    // ---------------------------------------------------------------- permissions (§9)

    public void Permit(IPAddress peer, long now) => _permissions[Normalize(peer)] = now + PermissionMs;

    public bool Permitted(IPAddress peer, long now) =>
        _permissions.TryGetValue(Normalize(peer), out var until) && now < until;

    public int PermissionCount => _permissions.Count;

    // ---------------------------------------------------------------- channels (§12)

    /// <summary>What a ChannelBind for (<paramref name="channel"/>, <paramref name="peer"/>) may do: false when the
    /// channel is (or lately was) bound to another peer, or the peer to another channel (then 400).</summary>
    public bool CanBind(ushort channel, IPEndPoint peer)
    {
        if (_channels.TryGetValue(channel, out var byNumber) && !byNumber.Peer.Equals(peer)) return false;
        if (_channelsByPeer.TryGetValue(peer, out var byPeer) && byPeer.Number != channel) return false;
        return true;
    }

    /// <summary>Binds or refreshes (the caller checked <see cref="CanBind"/>); the permission is installed or refreshed too.</summary>
    public void Bind(ushort channel, IPEndPoint peer, long now)
    {
        lock (_gate)
        {
            var binding = new ChannelBinding(channel, peer, peer.Serialize(), now + ChannelMs);
            _channels[channel] = binding;
            _channelsByPeer[peer] = binding;
        }
        Permit(peer.Address, now);
    }

    /// <summary>The peer of the live binding of <paramref name="channel"/>, serialized (for ChannelData from the
    /// client), or null.</summary>
    public SocketAddress? PeerOf(ushort channel, long now) =>
        _channels.TryGetValue(channel, out var b) && now < b.ExpiresAt ? b.PeerAddress : null;

    /// <summary>The live channel of <paramref name="peer"/> (for data from the peer), or 0.</summary>
    public ushort ChannelOf(IPEndPoint peer, long now) =>
        _channelsByPeer.TryGetValue(peer, out var b) && now < b.ExpiresAt ? b.Number : (ushort)0;

    /// <summary>Drops expired permissions, and bindings past their quarantine.</summary>
    public void Sweep(long now)
    {
        foreach (var (peer, until) in _permissions)
            if (now >= until) _permissions.TryRemove(new KeyValuePair<IPAddress, long>(peer, until));
        lock (_gate)
        {
            foreach (var (number, binding) in _channels)
            {
                if (now < binding.ExpiresAt + ChannelQuarantineMs) continue;
                _channels.TryRemove(number, out _);
                _channelsByPeer.TryRemove(new KeyValuePair<IPEndPoint, ChannelBinding>(binding.Peer, binding));
            }
        }
    }

    private static IPAddress Normalize(IPAddress a) => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;

    public void Dispose()
    {
        Stopping.Cancel();
        foreach (var connection in Connections.Values) connection.Close(); // RFC 6062: they go with their allocation
        Relay.Dispose(); // the relay loop ends on the closed socket (the token is left undisposed for it)
    }

    private sealed record ChannelBinding(ushort Number, IPEndPoint Peer, SocketAddress PeerAddress, long ExpiresAt);
}
