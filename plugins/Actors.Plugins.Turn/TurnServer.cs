using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Actors.Xmpp.Plugins;
using Microsoft.Extensions.Logging;

namespace Actors.Plugins.Turn;

/// <summary>
/// The STUN (RFC 8489) and TURN (RFC 8656) server: a UDP socket and a TCP listener on one port, an allocation per
/// client 5-tuple, each with a relay UDP socket of its own. No actors (plugins define none, and a message per packet
/// would cost more than the packet): on Linux one <see cref="UdpPoller"/> thread reads the UDP listener and the relays
/// of UDP clients synchronously (elsewhere, and for TCP clients, an async receive loop per socket); permissions and
/// channels are lock-free tables the readers look up (<see cref="Allocation"/>), written by the request handling that
/// owns the allocation's lifetime; expiry by the plugin's periodic sweep (<see cref="Sweep"/>). Started and stopped
/// with the plugin (<see cref="Start"/>, <see cref="Dispose"/>).
/// </summary>
internal sealed partial class TurnServer : IDisposable
{
    /// <summary>RFC 8656 §7.2: the default allocation lifetime, 600 s.</summary>
    public const int DefaultLifetimeSeconds = 600;
    private const int MaxDatagram = 65535;
    private const string Software = "Actors TURN";
    /// <summary>Socket receive buffers: every client's datagrams share the listener's, and a relay's burst waits in its
    /// own while the loop is not scheduled (a loaded machine drops what does not fit). The kernel caps them at
    /// net.core.rmem_max.</summary>
    private const int ListenerBufferBytes = 4 << 20;
    internal const int RelayBufferBytes = 1 << 20;

    private readonly TurnOptions _options;
    private readonly LongTermCredentials _credentials;
    private readonly ILogger _log;
    private readonly RelayPorts _ports;
    /// <summary>UDP allocations by the client's serialized address (compared by content: a received datagram's source
    /// is looked up without making an IPEndPoint).</summary>
    private readonly ConcurrentDictionary<SocketAddress, Allocation> _udpAllocations = new();
    private readonly ConcurrentDictionary<Allocation, byte> _all = new();
    private readonly ConcurrentDictionary<TcpClientPath, byte> _connections = new();
    private readonly Lock _quotaGate = new();
    private readonly Dictionary<string, int> _perUser = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private readonly IPAddress? _relayAddress;
    private Socket? _udp;
    private Socket? _tcp;
    private Socket? _tls;
    private UdpPoller? _poller;
    private readonly IServerCertificates? _certificates;

    /// <summary><paramref name="certificates"/>: the server's own, for the TLS listener (RFC 8656 §3.1, turns:), when
    /// <see cref="TurnOptions.TlsPort"/> is set.</summary>
    public TurnServer(TurnOptions options, string realm, ILogger log, IServerCertificates? certificates = null)
    {
        _options = options;
        _certificates = certificates;
        _log = log;
        _credentials = new LongTermCredentials(options.Secret!, realm, TimeSpan.FromSeconds(options.NonceSeconds));
        _ports = string.IsNullOrEmpty(options.RelayPorts) ? new RelayPorts(0, 0)
            : TurnOptions.TryRelayPorts(options.RelayPorts, out var min, out var max) ? new RelayPorts(min, max) : new RelayPorts(0, 0);
        _relayAddress = string.IsNullOrEmpty(options.RelayAddress) ? null : IPAddress.Parse(options.RelayAddress);
    }

    public IPEndPoint? UdpEndPoint => _udp?.LocalEndPoint as IPEndPoint;
    public IPEndPoint? TlsEndPoint => _tls?.LocalEndPoint as IPEndPoint;
    public int AllocationCount => _all.Count;

    /// <summary>Binds both listeners (a port taken fails the plugin's load) and starts their loops.</summary>
    public void Start()
    {
        var bind = new IPEndPoint(IPAddress.Parse(_options.BindAddress), _options.Port);
        var udp = new Socket(bind.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        var tcp = new Socket(bind.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (bind.AddressFamily == AddressFamily.InterNetworkV6) udp.DualMode = tcp.DualMode = true;
            udp.SetSocketOption(bind.AddressFamily == AddressFamily.InterNetwork ? SocketOptionLevel.IP : SocketOptionLevel.IPv6,
                SocketOptionName.PacketInformation, true);
            udp.ReceiveBufferSize = ListenerBufferBytes;
            udp.SendBufferSize = ListenerBufferBytes;
            udp.Bind(bind);
            tcp.Bind(bind);
            tcp.Listen(512);
        }
        catch
        {
            udp.Dispose();
            tcp.Dispose();
            throw;
        }
        _udp = udp;
        _tcp = tcp;
        if (_options.TlsPort > 0 && _certificates is not null)
        {
            var tls = new Socket(bind.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                if (bind.AddressFamily == AddressFamily.InterNetworkV6) tls.DualMode = true;
                tls.Bind(new IPEndPoint(bind.Address, _options.TlsPort));
                tls.Listen(512);
            }
            catch
            {
                tls.Dispose();
                udp.Dispose();
                tcp.Dispose();
                throw;
            }
            _tls = tls;
            _ = AcceptLoopAsync(tls, secure: true);
        }
        _poller = _options.UdpPoller ? UdpPoller.TryCreate(_log) : null;
        if (_poller is not null) _poller.Add(new ListenerReader(this, udp));
        else _ = UdpLoopAsync(udp);
        _ = AcceptLoopAsync(tcp, secure: false);
    }

    public void Dispose()
    {
        _stopping.Cancel();
        _poller?.Dispose();
        _udp?.Dispose();
        _tcp?.Dispose();
        _tls?.Dispose();
        foreach (var connection in _connections.Keys) connection.Dispose();
        foreach (var connection in _peerConnections.Values) ClosePeerConnection(connection);
        foreach (var allocation in _all.Keys) Delete(allocation);
        _ports.SweepReservations(long.MaxValue);
    }

    /// <summary>Deletes expired allocations and drops expired permissions and channels (run every second).</summary>
    public void Sweep()
    {
        var now = Environment.TickCount64;
        _ports.SweepReservations(now);
        SweepPeerConnections(now);
        foreach (var allocation in _all.Keys)
        {
            if (allocation.Expired(now)) Delete(allocation);
            else allocation.Sweep(now);
        }
    }

    // ---------------------------------------------------------------- UDP

    private async Task UdpLoopAsync(Socket udp)
    {
        var buffer = new byte[MaxDatagram];
        var bound = ((IPEndPoint)udp.LocalEndPoint!).Address;
        // bound to one address, the source is all a datagram needs (received into one reused SocketAddress); bound to
        // any, the address it arrived on is asked for too (the relayed address is made on it)
        var specific = !bound.Equals(IPAddress.Any) && !bound.Equals(IPAddress.IPv6Any);
        var from = new SocketAddress(udp.AddressFamily);
        EndPoint any = new IPEndPoint(udp.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, 0);
        while (!_stopping.IsCancellationRequested)
        {
            int length;
            IPAddress local;
            try
            {
                if (specific)
                {
                    length = await udp.ReceiveFromAsync(buffer, SocketFlags.None, from, _stopping.Token);
                    local = bound;
                }
                else
                {
                    var received = await udp.ReceiveMessageFromAsync(buffer, SocketFlags.None, any, _stopping.Token);
                    length = received.ReceivedBytes;
                    local = received.PacketInformation.Address;
                    from = received.RemoteEndPoint.Serialize();
                }
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.MessageSize)
            {
                continue; // an ICMP error for an earlier reply, or an oversized datagram
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (!_stopping.IsCancellationRequested) _log.LogError(ex, "TURN: the UDP listener stopped");
                return;
            }
            try
            {
                OnDatagram(udp, buffer.AsSpan(0, length), from, local);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                _log.LogWarning(ex, "TURN: a datagram failed");
            }
        }
    }

    /// <summary>One datagram on the listener: ChannelData relayed, STUN answered; all synchronous (UDP sends do not
    /// wait).</summary>
    private void OnDatagram(Socket udp, ReadOnlySpan<byte> datagram, SocketAddress from, IPAddress local)
    {
        if (datagram.Length < StunWire.ChannelDataHeaderLength) return;
        var first = datagram[0] & 0xC0;
        if (first == 0x40)
        {
            // RFC 8656 §12.6: ChannelData from the client; over UDP the length may be less than the datagram (padding)
            if (_udpAllocations.TryGetValue(from, out var allocation) && !allocation.TcpRelay) RelayChannelData(allocation, datagram);
            return;
        }
        if (first != 0) return;
        UdpClientPath path;
        if (_udpAllocations.TryGetValue(from, out var existing)) path = (UdpClientPath)existing.Client;
        else path = new UdpClientPath(udp, (IPEndPoint)AnyEndPoint(udp.AddressFamily).Create(from), local);
        if (OnStun(datagram, path, existing) is { } reply) path.Send(reply);
    }

    /// <summary>The listener on the <see cref="UdpPoller"/>: one datagram per readiness, into the poller's buffer.</summary>
    private sealed class ListenerReader : PolledSocket
    {
        private readonly TurnServer _server;
        private readonly IPAddress _bound;
        private readonly bool _specific;
        private readonly SocketAddress _from;
        private EndPoint _any;

        public ListenerReader(TurnServer server, Socket udp) : base(udp)
        {
            _server = server;
            _bound = ((IPEndPoint)udp.LocalEndPoint!).Address;
            // bound to one address, the source is all a datagram needs; bound to any, the address it arrived on is
            // asked for too (the relayed address is made on it)
            _specific = !_bound.Equals(IPAddress.Any) && !_bound.Equals(IPAddress.IPv6Any);
            _from = new SocketAddress(udp.AddressFamily);
            _any = AnyEndPoint(udp.AddressFamily);
        }

        public override void OnReadable(byte[] buffer, byte[] scratch)
        {
            int length;
            IPAddress local;
            SocketAddress from;
            try
            {
                if (_specific)
                {
                    length = Socket.ReceiveFrom(buffer, SocketFlags.None, _from);
                    local = _bound;
                    from = _from;
                }
                else
                {
                    var flags = SocketFlags.None;
                    length = Socket.ReceiveMessageFrom(buffer, ref flags, ref _any, out var information);
                    local = information.Address;
                    from = _any.Serialize();
                }
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.MessageSize)
            {
                return; // an ICMP error for an earlier reply, or an oversized datagram
            }
            _server.OnDatagram(Socket, buffer.AsSpan(0, length), from, local);
        }
    }

    private static IPEndPoint AnyEndPoint(AddressFamily family) =>
        new(family == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, 0);

    // ---------------------------------------------------------------- TCP

    /// <summary>RFC 8656 §3.1: TURN over TCP, and over TLS (<paramref name="secure"/>: the TLS listener, turns:) with
    /// the server's certificate for the name the client asked for (SNI); the handshake is bounded in time.</summary>
    private async Task AcceptLoopAsync(Socket listener, bool secure)
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(_stopping.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (!_stopping.IsCancellationRequested) _log.LogError(ex, "TURN: the TCP listener stopped");
                return;
            }
            socket.NoDelay = true;
            if (secure) _ = TlsHandshakeAsync(socket);
            else Serve(new TcpClientPath(socket, new NetworkStream(socket, ownsSocket: false), (IPEndPoint)socket.RemoteEndPoint!,
                ((IPEndPoint)socket.LocalEndPoint!).Address, tls: false));
        }
    }

    private void Serve(TcpClientPath path)
    {
        _connections[path] = 0;
        _ = ConnectionLoopAsync(path);
    }

    /// <summary>How long a TLS client has for its handshake.</summary>
    private static readonly TimeSpan TlsHandshakeTimeout = TimeSpan.FromSeconds(20);

    private async Task TlsHandshakeAsync(Socket socket)
    {
        var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            timeout.CancelAfter(TlsHandshakeTimeout);
            var certificates = _certificates!;
            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificateSelectionCallback = (_, name) => certificates.For(name),
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                ClientCertificateRequired = false,
            }, timeout.Token);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            await ssl.DisposeAsync();
            socket.Dispose();
            return;
        }
        Serve(new TcpClientPath(socket, ssl, (IPEndPoint)socket.RemoteEndPoint!, ((IPEndPoint)socket.LocalEndPoint!).Address, tls: true));
    }

    /// <summary>RFC 8656 §12.5 / RFC 8489 §6.2.2: over TCP the stream carries STUN messages (first two bits 00, length
    /// in the header) and ChannelData messages (01, padded to 4 bytes). Anything else ends the connection; so does its
    /// end the allocation made on it (RFC 8656 §7).</summary>
    private async Task ConnectionLoopAsync(TcpClientPath path)
    {
        var buffer = new byte[StunWire.HeaderLength + MaxDatagram + 4];
        var filled = 0;
        try
        {
            while (!_stopping.IsCancellationRequested)
            {
                var n = await path.Stream.ReadAsync(buffer.AsMemory(filled), _stopping.Token);
                if (n == 0) return;
                filled += n;
                var at = 0;
                while (filled - at >= StunWire.ChannelDataHeaderLength)
                {
                    var span = buffer.AsSpan(at, filled - at);
                    int length;
                    if ((span[0] & 0xC0) == 0x40)
                    {
                        length = (StunWire.ChannelDataHeaderLength + BinaryPrimitives.ReadUInt16BigEndian(span[2..]) + 3) & ~3;
                        if (span.Length < length) break;
                        if (path.Allocation is { TcpRelay: false } allocation) RelayChannelData(allocation, buffer.AsSpan(at, length));
                    }
                    else
                    {
                        if (span.Length < StunWire.HeaderLength) break;
                        length = StunMessage.MessageLength(span);
                        if (length < 0) return; // not STUN, not ChannelData: the stream is lost
                        if (span.Length < length) break;
                        if (OnStun(buffer.AsSpan(at, length), path, path.Allocation) is { } reply)
                            await path.SendAsync(reply, _stopping.Token);
                    }
                    at += length;
                    if (path.Bound is { } connection)
                    {
                        // RFC 6062 §5.4: a client data connection from here on; what followed the request is the
                        // client's first bytes for the peer
                        _connections.TryRemove(path, out _);
                        await RelayDataConnectionAsync(path, connection, buffer.AsMemory(at, filled - at));
                        return;
                    }
                }
                if (at > 0)
                {
                    buffer.AsSpan(at, filled - at).CopyTo(buffer);
                    filled -= at;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException or IOException)
        {
        }
        finally
        {
            _connections.TryRemove(path, out _);
            if (path.Allocation is { } allocation) Delete(allocation);
            path.Dispose();
        }
    }

    // ---------------------------------------------------------------- relaying

    /// <summary>ChannelData from the client (RFC 8656 §12.6): to the peer bound to the channel, if any. UDP sends are
    /// synchronous: the kernel takes the datagram or drops it, nothing waits for the peer.</summary>
    private static void RelayChannelData(Allocation allocation, ReadOnlySpan<byte> message)
    {
        var channel = BinaryPrimitives.ReadUInt16BigEndian(message);
        var length = BinaryPrimitives.ReadUInt16BigEndian(message[2..]);
        if (channel is < StunWire.MinChannel or > StunWire.MaxChannel || StunWire.ChannelDataHeaderLength + length > message.Length)
            return; // §12.6: an unbound or invalid channel, or a short message: discarded
        if (allocation.PeerOf(channel, Environment.TickCount64) is not { } peer) return;
        try
        {
            allocation.Relay.SendTo(message.Slice(StunWire.ChannelDataHeaderLength, length), SocketFlags.None, peer);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }

    private static void SendToPeer(Allocation allocation, ReadOnlySpan<byte> data, IPEndPoint peer)
    {
        try
        {
            allocation.Relay.SendTo(data, SocketFlags.None, peer);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Data from a peer (RFC 8656 §11.3 and §12.7), written into <paramref name="into"/> as the message for the
    /// client: ChannelData when the peer has a channel (padded to 4 bytes over TCP, §12.5), else a Data indication.
    /// Returns its length, or 0 when the peer has no permission (silently discarded).</summary>
    internal static int PeerToClient(Allocation allocation, ReadOnlySpan<byte> data, SocketAddress from, Span<byte> into)
    {
        var peer = allocation.PeerFrom(from);
        var now = Environment.TickCount64;
        if (!allocation.Permitted(peer.Address, now)) return 0;
        var channel = allocation.ChannelOf(peer, now);
        if (channel != 0) return StunWire.WriteChannelData(into, channel, data, padded: allocation.Client.IsTcp);
        Span<byte> transaction = stackalloc byte[StunWire.TransactionIdLength];
        System.Security.Cryptography.RandomNumberGenerator.Fill(transaction);
        return StunBuilder.WriteDataIndication(into, transaction, peer, data);
    }

    /// <summary>A relay socket of a UDP client on the <see cref="UdpPoller"/>: one datagram per readiness, relayed to
    /// the client out of the listener, all on the poller's thread.</summary>
    private sealed class RelayReader(Allocation allocation) : PolledSocket(allocation.Relay)
    {
        private readonly SocketAddress _from = new(allocation.Family);
        private readonly UdpClientPath _client = (UdpClientPath)allocation.Client;

        public override void OnReadable(byte[] buffer, byte[] scratch)
        {
            int length;
            try
            {
                length = Socket.ReceiveFrom(buffer, SocketFlags.None, _from);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.MessageSize)
            {
                return;
            }
            var n = PeerToClient(allocation, buffer.AsSpan(0, length), _from, scratch);
            if (n > 0) _client.Send(scratch.AsSpan(0, n));
        }
    }

    /// <summary>The relay socket's receive loop where there is no <see cref="UdpPoller"/>, and for TCP clients (whose
    /// sends may wait).</summary>
    private static async Task RelayLoopAsync(Allocation allocation)
    {
        var buffer = new byte[MaxDatagram];
        var scratch = new byte[MaxDatagram + 64];
        var from = new SocketAddress(allocation.Family);
        var ct = allocation.Stopping.Token;
        while (!ct.IsCancellationRequested)
        {
            int length;
            try
            {
                length = await allocation.Relay.ReceiveFromAsync(buffer, SocketFlags.None, from, ct);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.MessageSize)
            {
                continue;
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            var n = PeerToClient(allocation, buffer.AsSpan(0, length), from, scratch);
            if (n == 0) continue;
            try
            {
                await allocation.Client.SendAsync(scratch.AsMemory(0, n), ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    // ---------------------------------------------------------------- STUN messages

    /// <summary>A STUN message from a client: the reply to send it, or null.</summary>
    private byte[]? OnStun(ReadOnlySpan<byte> bytes, ClientPath path, Allocation? allocation)
    {
        var parse = StunMessage.Parse(bytes, out var message);
        if (parse == StunParse.NotStun || message is null) return null;
        if (message.Class == StunClass.Indication)
        {
            // RFC 8489 §6.3.2: an indication that is malformed or carries an unknown comprehension-required attribute is
            // discarded; the server takes Send indications only (RFC 8656 §11.2)
            if (parse == StunParse.Ok && message.Method == StunMethod.Send && UnknownRequired(message).Count == 0)
                OnSendIndication(message, allocation);
            return null;
        }
        if (message.Class != StunClass.Request) return null; // responses are not for a server
        return Answer(message, parse, path, allocation);
    }

    /// <summary>RFC 8656 §11.2: the client's data to a peer with a permission; anything else is dropped.</summary>
    private static void OnSendIndication(StunMessage message, Allocation? allocation)
    {
        if (allocation is null || allocation.TcpRelay || message.Has(StunAttr.DontFragment)) return; // RFC 6062: no Send on a TCP relay
        if (message.Find(StunAttr.XorPeerAddress) is not { } peerAttribute || !message.TryXorAddress(peerAttribute, out var peer)
            || message.Find(StunAttr.Data) is not { } data) return;
        if (peer.AddressFamily != allocation.Family || !allocation.Permitted(peer.Address, Environment.TickCount64)) return;
        SendToPeer(allocation, message.Raw.AsSpan(data.Offset, data.Length), peer);
    }

    /// <summary>The comprehension-required attributes of a request this server does not understand (RFC 8489 §6.3.1.1).</summary>
    private static List<ushort> UnknownRequired(StunMessage message)
    {
        List<ushort>? unknown = null;
        // RFC 6062 §5.1: an Allocate for a TCP relay with DONT-FRAGMENT is understood, and refused with 400
        var tcpAllocate = message.Method == StunMethod.Allocate && RequestedTransport(message) == StunWire.TransportTcp;
        foreach (var a in message.Attributes)
        {
            if (!StunAttr.ComprehensionRequired(a.Type) || Understood(a.Type) || (tcpAllocate && a.Type == StunAttr.DontFragment)) continue;
            unknown ??= new List<ushort>(2);
            if (!unknown.Contains(a.Type)) unknown.Add(a.Type);
        }
        return unknown ?? Empty;
    }

    private static readonly List<ushort> Empty = [];

    /// <summary>The comprehension-required attributes this server implements. DONT-FRAGMENT and PASSWORD-ALGORITHM
    /// are not among them: RFC 8656 §7.2 has a server that cannot set the DF bit treat DONT-FRAGMENT as unknown (420),
    /// and PASSWORD-ALGORITHM only follows a PASSWORD-ALGORITHMS this server never offers (RFC 8489 §9.2.3).</summary>
    private static bool Understood(ushort type) => type is StunAttr.MappedAddress or StunAttr.Username or StunAttr.MessageIntegrity
        or StunAttr.ErrorCode or StunAttr.UnknownAttributes or StunAttr.ChannelNumber or StunAttr.Lifetime or StunAttr.XorPeerAddress
        or StunAttr.Data or StunAttr.Realm or StunAttr.Nonce or StunAttr.XorRelayedAddress or StunAttr.RequestedAddressFamily
        or StunAttr.RequestedTransport or StunAttr.MessageIntegritySha256 or StunAttr.Userhash or StunAttr.XorMappedAddress
        or StunAttr.EvenPort or StunAttr.ReservationToken or StunAttr.ConnectionId;

    /// <summary>The protocol REQUESTED-TRANSPORT names, or 0 (absent or malformed).</summary>
    private static byte RequestedTransport(StunMessage request) =>
        request.Find(StunAttr.RequestedTransport) is { Length: 4 } transport ? request.Value(transport)[0] : (byte)0;

    /// <summary>The response to one request, or null when none is due.</summary>
    internal byte[]? Answer(StunMessage request, StunParse parse, ClientPath path, Allocation? allocation)
    {
        if (parse == StunParse.Malformed) return Error(request, StunError.BadRequest, null);
        var unknown = UnknownRequired(request);
        if (unknown.Count > 0)
        {
            var b = StunBuilder.ResponseTo(request, success: false).Error(StunError.UnknownAttribute).Unknown(unknown);
            return Finish(b, null, 0);
        }
        switch (request.Method)
        {
            case StunMethod.Binding:
                // RFC 8489 §7.3.1: the client's reflexive transport address
                return Finish(StunBuilder.ResponseTo(request, success: true).XorAddress(StunAttr.XorMappedAddress, path.Remote), null, 0);
            case StunMethod.Allocate:
            case StunMethod.Refresh:
            case StunMethod.CreatePermission:
            case StunMethod.ChannelBind:
            case StunMethod.Connect:
            case StunMethod.ConnectionBind:
                break;
            default:
                return Error(request, StunError.BadRequest, null, "unknown method");
        }

        if (Authenticate(request, path, out var key, out var integrity, out var username, out var user) is { } challenge)
            return challenge;
        var auth = new Auth(key!, integrity);
        if (request.Method == StunMethod.Allocate) return Allocate(request, path, allocation, auth, username!, user!);
        if (request.Method == StunMethod.ConnectionBind) return ConnectionBind(request, path, auth, username!);
        if (allocation is null) return Error(request, StunError.AllocationMismatch, auth); // RFC 8656 §7.5, §9.2, §12.2
        if (!string.Equals(allocation.Username, username, StringComparison.Ordinal))
            return Error(request, StunError.WrongCredentials, auth); // §7.5: another user's credentials
        return request.Method switch
        {
            StunMethod.Refresh => Refresh(request, allocation, auth),
            StunMethod.CreatePermission => CreatePermission(request, allocation, auth),
            StunMethod.Connect => Connect(request, allocation, path, auth),
            _ => ChannelBind(request, allocation, auth),
        };
    }

    private readonly record struct Auth(byte[] Key, ushort Integrity);

    /// <summary>RFC 8489 §9.2.4, the server's long-term credential checks, in its order. Returns the error response
    /// when the request does not pass.</summary>
    private byte[]? Authenticate(StunMessage request, ClientPath path, out byte[]? key, out ushort integrity, out string? username, out string? user)
    {
        key = null;
        integrity = 0;
        username = null;
        user = null;
        var now = DateTimeOffset.UtcNow;
        if (!request.Has(StunAttr.MessageIntegrity) && !request.Has(StunAttr.MessageIntegritySha256))
            return Challenge(request, StunError.Unauthorized, path);
        var realm = request.Text(StunAttr.Realm);
        var nonce = request.Text(StunAttr.Nonce);
        username = request.Text(StunAttr.Username);
        if ((username is null && !request.Has(StunAttr.Userhash)) || realm is null || nonce is null)
            return Error(request, StunError.BadRequest, null, "USERNAME, REALM and NONCE are required");
        // a USERHASH cannot be looked up: TURN REST usernames are not a list the server keeps
        if (username is null || realm != _credentials.Realm || _credentials.KeyOf(username, now, out var who) is not { } k)
            return Challenge(request, StunError.Unauthorized, path);
        integrity = request.CheckIntegrity(k, out var valid);
        if (!valid) return Challenge(request, StunError.Unauthorized, path);
        if (!_credentials.IsValid(nonce, path.Remote.Address, now)) return Challenge(request, StunError.StaleNonce, path);
        key = k;
        user = who;
        return null;
    }

    /// <summary>401 or 438 with REALM and a fresh NONCE, without integrity (RFC 8489 §9.2.4).</summary>
    private byte[] Challenge(StunMessage request, int code, ClientPath path)
    {
        var b = StunBuilder.ResponseTo(request, success: false).Error(code)
            .Text(StunAttr.Realm, _credentials.Realm)
            .Text(StunAttr.Nonce, _credentials.NewNonce(path.Remote.Address, DateTimeOffset.UtcNow));
        return Finish(b, null, 0);
    }

    private static byte[] Error(StunMessage request, int code, Auth? auth, string? reason = null) =>
        Finish(StunBuilder.ResponseTo(request, success: false).Error(code, reason), auth?.Key, auth?.Integrity ?? 0);

    /// <summary>SOFTWARE, the integrity attribute the request used (when it was authenticated), FINGERPRINT.</summary>
    private static byte[] Finish(StunBuilder b, byte[]? key, ushort integrity)
    {
        b.Text(StunAttr.Software, Software);
        if (key is not null && integrity != 0) b.Integrity(integrity, key);
        return b.Fingerprint().ToArray();
    }

    // ---------------------------------------------------------------- Allocate (RFC 8656 §7.2)

    private byte[] Allocate(StunMessage request, ClientPath path, Allocation? existing, Auth auth, string username, string user)
    {
        if (existing is not null)
        {
            // a retransmission of the request that made it gets the same answer; anything else: 437
            if (existing.AllocateTransaction is { } tid && request.TransactionId.SequenceEqual(tid) && existing.AllocateResponse is { } again)
                return again;
            return Error(request, StunError.AllocationMismatch, auth);
        }
        if (request.Find(StunAttr.RequestedTransport) is not { Length: 4 } transport)
            return Error(request, StunError.BadRequest, auth, "REQUESTED-TRANSPORT is required");
        var protocol = request.Value(transport)[0];
        if (protocol is not (StunWire.TransportUdp or StunWire.TransportTcp)) return Error(request, StunError.UnsupportedTransportProtocol, auth);
        var tcpRelay = protocol == StunWire.TransportTcp;
        var relayAddress = _relayAddress ?? Normalize(path.Local);
        var evenPort = request.Find(StunAttr.EvenPort);
        var token = request.Find(StunAttr.ReservationToken);
        var family = request.Find(StunAttr.RequestedAddressFamily);
        if (tcpRelay)
        {
            // RFC 6062 §5.1: a TCP relay only over a TCP or TLS control connection, and without DONT-FRAGMENT,
            // EVEN-PORT or RESERVATION-TOKEN (400 each)
            if (path is not TcpClientPath) return Error(request, StunError.BadRequest, auth, "a TCP relay needs a TCP or TLS connection");
            if (request.Has(StunAttr.DontFragment) || evenPort is not null || token is not null)
                return Error(request, StunError.BadRequest, auth, "DONT-FRAGMENT, EVEN-PORT and RESERVATION-TOKEN are not for TCP relays");
        }
        // RFC 8656 §7.2: a RESERVATION-TOKEN with EVEN-PORT or with REQUESTED-ADDRESS-FAMILY is a bad request
        if (token is not null && (evenPort is not null || family is not null)) return Error(request, StunError.BadRequest, auth);
        if (evenPort is { } even && even.Length != 1) return Error(request, StunError.BadRequest, auth);
        if (token is { } t && t.Length != 8) return Error(request, StunError.BadRequest, auth);
        if (family is { } f)
        {
            var value = request.Value(f);
            if (value.Length != 4) return Error(request, StunError.BadRequest, auth);
            var wanted = value[0] switch
            {
                StunWire.FamilyIPv4 => AddressFamily.InterNetwork,
                StunWire.FamilyIPv6 => AddressFamily.InterNetworkV6,
                _ => AddressFamily.Unknown,
            };
            if (wanted != relayAddress.AddressFamily) return Error(request, StunError.AddressFamilyNotSupported, auth);
        }
        lock (_quotaGate)
        {
            if (_perUser.GetValueOrDefault(user) >= _options.MaxAllocationsPerUser)
                return Error(request, StunError.AllocationQuotaReached, auth);
            if (_all.Count >= _options.MaxAllocations) return Error(request, StunError.InsufficientCapacity, auth);
            _perUser[user] = _perUser.GetValueOrDefault(user) + 1;
        }
        Socket? relay;
        byte[]? newToken = null;
        if (token is { } reservationToken)
        {
            // §7.2: the port reserved by an earlier Allocate with EVEN-PORT R=1; unknown or expired: 508
            relay = _ports.TakeReservation(BinaryPrimitives.ReadUInt64BigEndian(request.Value(reservationToken)));
        }
        else if (evenPort is { } e)
        {
            // §7.2, §18.8: an even port; with the R bit, the next higher port is reserved for a later allocation
            var reserve = (request.Value(e)[0] & 0x80) != 0;
            relay = _ports.BindEven(relayAddress, reserve, Environment.TickCount64, out var reservation);
            if (reservation != 0) newToken = BitConverter.GetBytes(reservation);
        }
        else
        {
            relay = _ports.Bind(relayAddress, tcpRelay);
        }
        if (relay is null)
        {
            Release(user);
            return Error(request, StunError.InsufficientCapacity, auth); // no relay port free
        }
        var relayed = (IPEndPoint)relay.LocalEndPoint!;
        var allocation = new Allocation(path, relay, relayed, username, user, auth.Key, tcpRelay);
        var lifetime = Lifetime(request.UInt32(StunAttr.Lifetime));
        allocation.Refresh(Environment.TickCount64, lifetime);
        var success = StunBuilder.ResponseTo(request, success: true)
            .XorAddress(StunAttr.XorRelayedAddress, relayed)
            .UInt32(StunAttr.Lifetime, (uint)lifetime);
        if (newToken is not null) success.Bytes(StunAttr.ReservationToken, newToken);
        var response = Finish(success.XorAddress(StunAttr.XorMappedAddress, path.Remote), auth.Key, auth.Integrity);
        allocation.AllocateTransaction = request.TransactionId.ToArray();
        allocation.AllocateResponse = response;
        _all[allocation] = 0;
        if (path is TcpClientPath tcp) tcp.Allocation = allocation;
        else _udpAllocations[((UdpClientPath)path).Address] = allocation;
        if (tcpRelay)
        {
            _ = RelayAcceptLoopAsync(allocation); // §5.1: the relayed transport address accepts peers' connections
        }
        else if (_poller is not null && path is UdpClientPath)
        {
            var reader = new RelayReader(allocation);
            allocation.Reader = reader;
            _poller.Add(reader);
        }
        else
        {
            _ = RelayLoopAsync(allocation);
        }
        return response;
    }

    /// <summary>RFC 8656 §7.2/§7.5: the requested lifetime capped at the maximum, and never below the default.</summary>
    private int Lifetime(uint? requested)
    {
        if (requested is not { } r) return DefaultLifetimeSeconds;
        var capped = (int)Math.Min(r, (uint)_options.MaxLifetimeSeconds);
        return Math.Max(capped, DefaultLifetimeSeconds);
    }

    private void Delete(Allocation allocation)
    {
        if (!_all.TryRemove(allocation, out _)) return;
        if (allocation.Client is TcpClientPath tcp)
        {
            if (ReferenceEquals(tcp.Allocation, allocation)) tcp.Allocation = null;
        }
        else
        {
            _udpAllocations.TryRemove(new KeyValuePair<SocketAddress, Allocation>(((UdpClientPath)allocation.Client).Address, allocation));
        }
        if (allocation.Reader is { } reader) _poller?.Remove(reader);
        _ports.Release(allocation.Relayed.Port);
        Release(allocation.User);
        allocation.Dispose();
    }

    private void Release(string user)
    {
        lock (_quotaGate)
        {
            var n = _perUser.GetValueOrDefault(user) - 1;
            if (n <= 0) _perUser.Remove(user);
            else _perUser[user] = n;
        }
    }

    // ---------------------------------------------------------------- Refresh (RFC 8656 §7.5)

    private byte[] Refresh(StunMessage request, Allocation allocation, Auth auth)
    {
        if (request.Find(StunAttr.RequestedAddressFamily) is { } family)
        {
            var value = request.Value(family);
            var matches = value.Length == 4 && value[0] == (allocation.Family == AddressFamily.InterNetwork ? StunWire.FamilyIPv4 : StunWire.FamilyIPv6);
            if (!matches) return Error(request, StunError.PeerAddressFamilyMismatch, auth);
        }
        var requested = request.UInt32(StunAttr.Lifetime);
        uint granted;
        if (requested == 0)
        {
            Delete(allocation); // a lifetime of zero deletes the allocation
            granted = 0;
        }
        else
        {
            granted = (uint)Lifetime(requested);
            allocation.Refresh(Environment.TickCount64, (int)granted);
        }
        return Finish(StunBuilder.ResponseTo(request, success: true).UInt32(StunAttr.Lifetime, granted), auth.Key, auth.Integrity);
    }

    // ---------------------------------------------------------------- CreatePermission (RFC 8656 §9.2)

    private byte[] CreatePermission(StunMessage request, Allocation allocation, Auth auth)
    {
        var peers = new List<IPAddress>(2);
        foreach (var a in request.All(StunAttr.XorPeerAddress))
        {
            if (!request.TryXorAddress(a, out var peer)) return Error(request, StunError.BadRequest, auth);
            if (peer.AddressFamily != allocation.Family) return Error(request, StunError.PeerAddressFamilyMismatch, auth);
            if (!PeerPolicy.Allowed(peer.Address, _options)) return Error(request, StunError.Forbidden, auth);
            peers.Add(peer.Address);
        }
        if (peers.Count == 0) return Error(request, StunError.BadRequest, auth, "XOR-PEER-ADDRESS is required");
        if (allocation.PermissionCount + peers.Count > Allocation.MaxPermissions)
            return Error(request, StunError.InsufficientCapacity, auth, "too many permissions on this allocation");
        var now = Environment.TickCount64;
        foreach (var peer in peers) allocation.Permit(peer, now); // all or none: installed once every one passed
        return Finish(StunBuilder.ResponseTo(request, success: true), auth.Key, auth.Integrity);
    }

    // ---------------------------------------------------------------- ChannelBind (RFC 8656 §12.2)

    private byte[] ChannelBind(StunMessage request, Allocation allocation, Auth auth)
    {
        if (request.Find(StunAttr.ChannelNumber) is not { Length: 4 } number)
            return Error(request, StunError.BadRequest, auth, "CHANNEL-NUMBER is required");
        var channel = BinaryPrimitives.ReadUInt16BigEndian(request.Value(number));
        if (channel is < StunWire.MinChannel or > StunWire.MaxChannel)
            return Error(request, StunError.BadRequest, auth, "the channel number is not in 0x4000-0x4FFF");
        if (request.Find(StunAttr.XorPeerAddress) is not { } peerAttribute || !request.TryXorAddress(peerAttribute, out var peer))
            return Error(request, StunError.BadRequest, auth, "XOR-PEER-ADDRESS is required");
        if (peer.AddressFamily != allocation.Family) return Error(request, StunError.PeerAddressFamilyMismatch, auth);
        if (allocation.TcpRelay) return Error(request, StunError.BadRequest, auth, "channels are for UDP relays (RFC 6062)");
        if (!allocation.CanBind(channel, peer))
            return Error(request, StunError.BadRequest, auth, "the channel or the peer is bound otherwise");
        if (!PeerPolicy.Allowed(peer.Address, _options)) return Error(request, StunError.Forbidden, auth);
        allocation.Bind(channel, peer, Environment.TickCount64);
        return Finish(StunBuilder.ResponseTo(request, success: true), auth.Key, auth.Integrity);
    }

    private static IPAddress Normalize(IPAddress a) => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;
}

/// <summary>The relay ports (Xmpp:Turn:RelayPorts): with a range, a port is taken from it (508 when none is free);
/// without one, the system's ephemeral ports. Also the ports reserved by EVEN-PORT with the R bit (RFC 8656 §7.2): held
/// 30 s for the Allocate that names their RESERVATION-TOKEN.</summary>
internal sealed class RelayPorts
{
    /// <summary>RFC 8656 §7.2: a reservation is held about 30 seconds.</summary>
    public const long ReservationMs = 30_000;
    private const int EphemeralAttempts = 64;

    private readonly int _min;
    private readonly int _max;
    private readonly HashSet<int> _used = [];
    private readonly Dictionary<ulong, (Socket Socket, long ExpiresAt)> _reservations = new();
    private readonly Lock _gate = new();
    private int _next;

    public RelayPorts(int min, int max)
    {
        _min = min;
        _max = max;
        _next = min;
    }

    private bool Ranged => _min != 0;

    /// <summary>A relay socket: UDP, or with <paramref name="tcp"/> a listening TCP socket (RFC 6062 §5.1).</summary>
    public Socket? Bind(IPAddress address, bool tcp = false)
    {
        if (!Ranged) return TryBind(address, 0, tcp);
        var count = _max - _min + 1;
        for (var tried = 0; tried < count; tried++)
        {
            int port;
            lock (_gate)
            {
                port = _next;
                _next = _next == _max ? _min : _next + 1;
            }
            if (Claim(address, port, tcp) is { } socket) return socket;
        }
        return null;
    }

    /// <summary>An even port; with <paramref name="reserve"/>, the next one too, held under the returned token.</summary>
    public Socket? BindEven(IPAddress address, bool reserve, long now, out ulong token)
    {
        token = 0;
        if (!Ranged)
        {
            for (var attempt = 0; attempt < EphemeralAttempts; attempt++)
            {
                var socket = TryBind(address, 0);
                if (socket is null) return null;
                var port = ((IPEndPoint)socket.LocalEndPoint!).Port;
                if ((port & 1) == 0 && port < 65535)
                {
                    if (!reserve) return socket;
                    if (TryBind(address, port + 1) is { } next)
                    {
                        token = Reserve(next, now);
                        return socket;
                    }
                }
                socket.Dispose();
            }
            return null;
        }
        for (var port = _min + (_min & 1); port <= _max; port += 2)
        {
            if (reserve && port + 1 > _max) break;
            if (Claim(address, port) is not { } socket) continue;
            if (!reserve) return socket;
            if (Claim(address, port + 1) is { } next)
            {
                token = Reserve(next, now);
                return socket;
            }
            socket.Dispose();
            Release(port);
        }
        return null;
    }

    private ulong Reserve(Socket socket, long now)
    {
        Span<byte> bytes = stackalloc byte[8];
        ulong token;
        lock (_gate)
        {
            do
            {
                System.Security.Cryptography.RandomNumberGenerator.Fill(bytes);
                token = BitConverter.ToUInt64(bytes);
            } while (token == 0 || _reservations.ContainsKey(token));
            _reservations[token] = (socket, now + ReservationMs);
        }
        return token;
    }

    /// <summary>The socket reserved under <paramref name="token"/> (8 bytes as sent), or null.</summary>
    public Socket? TakeReservation(ulong tokenAsSent)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, tokenAsSent);
        var token = BitConverter.ToUInt64(bytes);
        lock (_gate)
        {
            if (!_reservations.Remove(token, out var held)) return null;
            if (held.ExpiresAt <= Environment.TickCount64)
            {
                held.Socket.Dispose();
                if (Ranged) _used.Remove(((IPEndPoint)held.Socket.LocalEndPoint!).Port);
                return null;
            }
            return held.Socket;
        }
    }

    /// <summary>Closes reservations that expired by <paramref name="now"/>.</summary>
    public void SweepReservations(long now)
    {
        lock (_gate)
        {
            List<ulong>? expired = null;
            foreach (var (token, held) in _reservations)
                if (held.ExpiresAt <= now) (expired ??= []).Add(token);
            if (expired is null) return;
            foreach (var token in expired)
            {
                _reservations.Remove(token, out var held);
                var port = ((IPEndPoint)held.Socket.LocalEndPoint!).Port;
                held.Socket.Dispose();
                if (Ranged) _used.Remove(port);
            }
        }
    }

    private Socket? Claim(IPAddress address, int port, bool tcp = false)
    {
        lock (_gate)
            if (!_used.Add(port)) return null;
        var socket = TryBind(address, port, tcp);
        if (socket is null) Release(port); // taken by another program
        return socket;
    }

    private static Socket? TryBind(IPAddress address, int port, bool tcp = false)
    {
        var socket = tcp ? TurnServer.RelayTcpSocket(address.AddressFamily) : new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (!tcp) socket.ReceiveBufferSize = TurnServer.RelayBufferBytes;
            socket.Bind(new IPEndPoint(address, port));
            if (tcp) socket.Listen(64);
            return socket;
        }
        catch (SocketException)
        {
            socket.Dispose();
            return null;
        }
    }

    public void Release(int port)
    {
        if (!Ranged) return;
        lock (_gate) _used.Remove(port);
    }
}
