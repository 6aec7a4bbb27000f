using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;

namespace Actors.Plugins.Turn;

/// <summary>
/// One peer data connection of an RFC 6062 TCP allocation: a TCP connection between the relayed transport address and a
/// peer, made by a Connect (§5.2) or accepted on the relay's listening socket (§5.3), named by its CONNECTION-ID until a
/// ConnectionBind on a new client connection (§5.4) pairs it with a client data connection; from then on the bytes of
/// each are written as they are to the other. Until then nothing is read from the peer: the kernel buffers what it sends
/// and its window closes when that is full (the RFC's "adjusts its advertised TCP receive window").
/// </summary>
internal sealed class PeerConnection
{
    /// <summary>RFC 6062 §5.2/§5.3: a peer data connection not bound within 30 s is closed.</summary>
    public const long BindMs = 30_000;

    private const int Connecting = 0, Pending = 1, Bound = 2, Closed = 3;
    private int _state;
    private Socket? _peer;
    private TcpClientPath? _client;

    public PeerConnection(uint id, Allocation allocation, IPEndPoint peer)
    {
        Id = id;
        Allocation = allocation;
        Peer = peer;
    }

    public uint Id { get; }
    public Allocation Allocation { get; }
    public IPEndPoint Peer { get; }
    public Socket? PeerSocket => Volatile.Read(ref _peer);
    /// <summary>When the connection is closed unless bound by then (Environment.TickCount64 ms).</summary>
    public long BindBy { get; private set; } = long.MaxValue;
    public bool IsClosed => Volatile.Read(ref _state) == Closed;
    public bool IsPending => Volatile.Read(ref _state) == Pending;

    /// <summary>The peer side is up (connected or accepted): ConnectionBind may now name it, for 30 s.</summary>
    public bool Connected(Socket peer, long now)
    {
        Volatile.Write(ref _peer, peer);
        BindBy = now + BindMs;
        if (Interlocked.CompareExchange(ref _state, Pending, Connecting) == Connecting) return true;
        peer.Dispose(); // closed while connecting
        return false;
    }

    /// <summary>RFC 6062 §5.4: pairs the connection with <paramref name="client"/>; false when it is not pending (bound
    /// already, or closed).</summary>
    public bool TryBind(TcpClientPath client)
    {
        if (Interlocked.CompareExchange(ref _state, Bound, Pending) != Pending) return false;
        Volatile.Write(ref _client, client);
        return true;
    }

    /// <summary>Closes both sides; the owner's tables are cleaned by <see cref="TurnServer"/>.</summary>
    public void Close()
    {
        if (Interlocked.Exchange(ref _state, Closed) == Closed) return;
        Allocation.Connections.TryRemove(new KeyValuePair<IPEndPoint, PeerConnection>(Peer, this));
        Volatile.Read(ref _peer)?.Dispose();
        Volatile.Read(ref _client)?.Dispose();
    }
}

/// <summary>RFC 6062 TCP relays: Allocate with REQUESTED-TRANSPORT TCP, Connect, ConnectionBind, ConnectionAttempt, and
/// the relaying of bytes between a client data connection and its peer data connection.</summary>
internal sealed partial class TurnServer
{
    /// <summary>RFC 6062 §5.2: the server waits at least 30 s for a connection to a peer before 447.</summary>
    private static readonly TimeSpan PeerConnectTimeout = TimeSpan.FromSeconds(30);
    private const int RelayChunk = 16 * 1024;

    /// <summary>Peer data connections by CONNECTION-ID, server-wide (a ConnectionBind arrives on a new connection).</summary>
    private readonly ConcurrentDictionary<uint, PeerConnection> _peerConnections = new();

    private PeerConnection? NewPeerConnection(Allocation allocation, IPEndPoint peer)
    {
        Span<byte> bytes = stackalloc byte[4];
        for (var attempt = 0; attempt < 16; attempt++)
        {
            RandomNumberGenerator.Fill(bytes);
            var id = BinaryPrimitives.ReadUInt32BigEndian(bytes);
            if (id == 0) continue;
            var connection = new PeerConnection(id, allocation, peer);
            if (!_peerConnections.TryAdd(id, connection)) continue;
            if (allocation.Connections.TryAdd(peer, connection)) return connection;
            _peerConnections.TryRemove(id, out _);
            return null; // one for this peer already
        }
        return null;
    }

    private void ClosePeerConnection(PeerConnection connection)
    {
        connection.Close();
        _peerConnections.TryRemove(new KeyValuePair<uint, PeerConnection>(connection.Id, connection));
    }

    /// <summary>Closes the peer data connections not bound in time (RFC 6062 §5.2, §5.3), and forgets closed ones.</summary>
    private void SweepPeerConnections(long now)
    {
        foreach (var connection in _peerConnections.Values)
        {
            if (connection.IsClosed) _peerConnections.TryRemove(new KeyValuePair<uint, PeerConnection>(connection.Id, connection));
            else if (connection.IsPending && now >= connection.BindBy) ClosePeerConnection(connection);
        }
    }

    /// <summary>A TCP socket bound to the relayed transport address (RFC 6062 §5.2: the local end of a connection to a
    /// peer is the relayed transport address). The listener and the connections share the port: SO_REUSEADDR, and
    /// SO_REUSEPORT where the system has it (Linux refuses a second bind to a listening port without it).</summary>
    internal static Socket RelayTcpSocket(AddressFamily family)
    {
        var socket = new Socket(family, SocketType.Stream, ProtocolType.Tcp);
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        if (OperatingSystem.IsLinux()) socket.SetRawSocketOption(SolSocket, SoReusePort, ReusePortOn);
        return socket;
    }

    private const int SolSocket = 1;
    private const int SoReusePort = 15;
    private static readonly byte[] ReusePortOn = BitConverter.GetBytes(1);

    // ---------------------------------------------------------------- Connect (RFC 6062 §5.2)

    /// <summary>Checks a Connect and starts the connection; the response (CONNECTION-ID, or 447) is sent when it is
    /// made or fails. Returns the error response when the request fails at once, else null.</summary>
    private byte[]? Connect(StunMessage request, Allocation allocation, ClientPath path, Auth auth)
    {
        if (!allocation.TcpRelay) return Error(request, StunError.BadRequest, auth, "Connect needs a TCP allocation (RFC 6062)");
        if (request.Find(StunAttr.XorPeerAddress) is not { } peerAttribute || !request.TryXorAddress(peerAttribute, out var peer))
            return Error(request, StunError.BadRequest, auth, "XOR-PEER-ADDRESS is required");
        if (peer.AddressFamily != allocation.Family) return Error(request, StunError.PeerAddressFamilyMismatch, auth);
        if (!PeerPolicy.Allowed(peer.Address, _options)) return Error(request, StunError.Forbidden, auth);
        // §5.2: a Connect being processed, or a connection pending or active, for the same peer: 446
        if (allocation.Connections.ContainsKey(peer)) return Error(request, StunError.ConnectionAlreadyExists, auth);
        if (allocation.Connections.Count >= Allocation.MaxConnections)
            return Error(request, StunError.InsufficientCapacity, auth, "too many connections on this allocation");
        if (NewPeerConnection(allocation, peer) is not { } connection) return Error(request, StunError.ConnectionAlreadyExists, auth);
        _ = ConnectAsync(request, connection, (TcpClientPath)path, auth);
        return null;
    }

    private async Task ConnectAsync(StunMessage request, PeerConnection connection, TcpClientPath path, Auth auth)
    {
        var allocation = connection.Allocation;
        Socket? socket = null;
        var connected = false;
        try
        {
            socket = RelayTcpSocket(allocation.Family);
            socket.NoDelay = true;
            socket.Bind(allocation.Relayed);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(allocation.Stopping.Token);
            timeout.CancelAfter(PeerConnectTimeout);
            await socket.ConnectAsync(connection.Peer, timeout.Token);
            connected = connection.Connected(socket, Environment.TickCount64);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            _log.LogDebug("TURN: Connect to {Peer} failed: {Error}", connection.Peer, ex.Message);
        }
        byte[] response;
        if (connected)
        {
            Span<byte> id = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(id, connection.Id);
            response = Finish(StunBuilder.ResponseTo(request, success: true).Bytes(StunAttr.ConnectionId, id), auth.Key, auth.Integrity);
        }
        else
        {
            socket?.Dispose();
            ClosePeerConnection(connection);
            if (allocation.Stopping.IsCancellationRequested) return;
            response = Error(request, StunError.ConnectionTimeoutOrFailure, auth);
        }
        try
        {
            await path.SendAsync(response, _stopping.Token);
        }
        catch (OperationCanceledException)
        {
            // the server stops
        }
    }

    // ---------------------------------------------------------------- incoming peer connections (RFC 6062 §5.3)

    private async Task RelayAcceptLoopAsync(Allocation allocation)
    {
        var ct = allocation.Stopping.Token;
        while (!ct.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await allocation.Relay.AcceptAsync(ct);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionAborted)
            {
                continue;
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            await OnPeerConnectionAsync(allocation, socket);
        }
    }

    /// <summary>§5.3: a peer without a permission (or one the server refuses to relay to) is closed at once; otherwise
    /// the client hears of it in a ConnectionAttempt indication.</summary>
    private async Task OnPeerConnectionAsync(Allocation allocation, Socket socket)
    {
        var peer = Normalize((IPEndPoint)socket.RemoteEndPoint!);
        var now = Environment.TickCount64;
        if (!PeerPolicy.Allowed(peer.Address, _options) || !allocation.Permitted(peer.Address, now)
            || allocation.Connections.Count >= Allocation.MaxConnections
            || NewPeerConnection(allocation, peer) is not { } connection)
        {
            socket.Dispose();
            return;
        }
        socket.NoDelay = true;
        if (!connection.Connected(socket, now))
        {
            ClosePeerConnection(connection);
            return;
        }
        Span<byte> id = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(id, connection.Id);
        var indication = new StunBuilder(StunMethod.ConnectionAttempt, StunClass.Indication, RandomNumberGenerator.GetBytes(StunWire.TransactionIdLength))
            .Bytes(StunAttr.ConnectionId, id)
            .XorAddress(StunAttr.XorPeerAddress, peer);
        try
        {
            await allocation.Client.SendAsync(Finish(indication, null, 0), _stopping.Token);
        }
        catch (OperationCanceledException)
        {
            ClosePeerConnection(connection); // the server stops
        }
    }

    private static IPEndPoint Normalize(IPEndPoint e) => e.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(e.Address.MapToIPv4(), e.Port) : e;

    // ---------------------------------------------------------------- ConnectionBind (RFC 6062 §5.4)

    private byte[] ConnectionBind(StunMessage request, ClientPath path, Auth auth, string username)
    {
        if (path is not TcpClientPath data) return Error(request, StunError.BadRequest, auth, "ConnectionBind needs a TCP or TLS connection");
        if (data.Allocation is not null || data.Bound is not null)
            return Error(request, StunError.BadRequest, auth, "ConnectionBind needs a connection of its own");
        if (request.Find(StunAttr.ConnectionId) is not { Length: 4 } attribute)
            return Error(request, StunError.BadRequest, auth, "CONNECTION-ID is required");
        var id = BinaryPrimitives.ReadUInt32BigEndian(request.Value(attribute));
        if (!_peerConnections.TryGetValue(id, out var connection) || !connection.IsPending)
            return Error(request, StunError.BadRequest, auth, "no pending connection has this CONNECTION-ID");
        if (!string.Equals(connection.Allocation.Username, username, StringComparison.Ordinal))
            return Error(request, StunError.WrongCredentials, auth);
        if (!connection.TryBind(data)) return Error(request, StunError.BadRequest, auth, "no pending connection has this CONNECTION-ID");
        data.Bound = connection;
        return Finish(StunBuilder.ResponseTo(request, success: true), auth.Key, auth.Integrity);
    }

    /// <summary>A bound client data connection (after its ConnectionBind response went out): its bytes to the peer and
    /// the peer's to it, as they are, each direction awaiting the other side's write before reading more (back-pressure:
    /// a slow reader closes the sender's window), an end of stream passed on as a half-close, and both connections closed
    /// once both directions ended or either failed. <paramref name="early"/>: what the client sent behind its
    /// ConnectionBind request.</summary>
    private async Task RelayDataConnectionAsync(TcpClientPath client, PeerConnection connection, ReadOnlyMemory<byte> early)
    {
        var peerSocket = connection.PeerSocket!;
        using var peer = new NetworkStream(peerSocket, ownsSocket: false);
        try
        {
            if (!early.IsEmpty) await peer.WriteAsync(early, _stopping.Token);
            var up = PumpAsync(client.Stream, peer, () =>
            {
                ShutdownSend(peerSocket);
                return ValueTask.CompletedTask;
            });
            var down = PumpAsync(peer, client.Stream, client.ShutdownSendAsync);
            await Task.WhenAll(up, down);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
        finally
        {
            ClosePeerConnection(connection);
        }

        async Task PumpAsync(Stream from, Stream to, Func<ValueTask> halfClose)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(RelayChunk);
            try
            {
                while (true)
                {
                    var n = await from.ReadAsync(buffer, _stopping.Token);
                    if (n == 0)
                    {
                        await halfClose();
                        return;
                    }
                    await to.WriteAsync(buffer.AsMemory(0, n), _stopping.Token);
                }
            }
            catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
            {
                ClosePeerConnection(connection); // a reset or an error on either side ends both
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private static void ShutdownSend(Socket socket)
    {
        try
        {
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }
}
