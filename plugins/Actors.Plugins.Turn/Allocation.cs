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

    public Allocation(ClientPath client, Socket relay, IPEndPoint relayed, string username, string user, byte[] key)
    {
        Client = client;
        Relay = relay;
        Relayed = relayed;
        Username = username;
        User = user;
        Key = key;
    }

    public ClientPath Client { get; }
    public Socket Relay { get; }
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
        Relay.Dispose(); // the relay loop ends on the closed socket (the token is left undisposed for it)
    }

    private sealed record ChannelBinding(ushort Number, IPEndPoint Peer, SocketAddress PeerAddress, long ExpiresAt);
}
