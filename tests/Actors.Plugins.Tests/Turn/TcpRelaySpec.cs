using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Actors.Plugins.Turn;

namespace Actors.Plugins.Tests.Turn;

/// <summary>
/// RFC 6062 TCP relays on the built-in TURN server, section by section, with a small client over a TCP control
/// connection and plain sockets as peers and data connections: Allocate with REQUESTED-TRANSPORT TCP (§5.1), Connect
/// (§5.2, 446 and 447), incoming peer connections and ConnectionAttempt (§5.3), ConnectionBind (§5.4) and the relaying of
/// bytes with half-close; and TURN over TLS (RFC 8656 §3.1).
/// </summary>
public sealed class TcpRelaySpec(TurnServerFixture fixture) : IClassFixture<TurnServerFixture>
{
    private static string User(string name) => name + "-" + Guid.NewGuid().ToString("N")[..8] + "@localhost";

    private static void AssertSuccess(StunMessage m) =>
        Assert.True(m.Class == StunClass.SuccessResponse, $"expected success, got error {TurnTestClient.ErrorCode(m)}");

    private static void AssertError(int code, StunMessage m)
    {
        Assert.Equal(StunClass.ErrorResponse, m.Class);
        Assert.Equal(code, TurnTestClient.ErrorCode(m));
    }

    private async Task<(TurnTestClient Client, IPEndPoint Relayed)> TcpAllocationAsync(string user)
    {
        var c = await fixture.ClientAsync(User(user), tcp: true);
        var response = await c.AllocateAsync(StunWire.TransportTcp);
        AssertSuccess(response);
        return (c, TurnTestClient.Address(response, StunAttr.XorRelayedAddress));
    }

    private static TcpListener PeerListener()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return listener;
    }

    private static async Task<bool> ClosedWithin(Socket socket, TimeSpan within)
    {
        var buffer = new byte[64];
        using var cts = new CancellationTokenSource(within);
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token) > 0)
            {
            }
            return true;
        }
        catch (SocketException)
        {
            return true; // reset
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    // ---------------------------------------------------------------- §5.1 Allocate

    [Fact]
    public async Task Rfc6062_5_1_a_tcp_allocation_gets_a_relayed_address_that_listens_and_no_reservation_token()
    {
        var (c, relayed) = await TcpAllocationAsync("t1");
        await using var _ = c;
        Assert.Equal(IPAddress.Loopback, relayed.Address);
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await probe.ConnectAsync(relayed); // the relayed transport address accepts TCP connections
        var again = await c.RequestAsync(c.Build(StunMethod.Allocate, b => b.Bytes(StunAttr.RequestedTransport, [StunWire.TransportTcp, 0, 0, 0])));
        Assert.False(again.Has(StunAttr.ReservationToken));
        AssertError(StunError.AllocationMismatch, again); // one allocation per 5-tuple, as for UDP
    }

    [Fact]
    public async Task Rfc6062_5_1_a_tcp_allocation_over_udp_gets_400()
    {
        await using var c = await fixture.ClientAsync(User("t2"), tcp: false);
        AssertError(StunError.BadRequest, await c.AllocateAsync(StunWire.TransportTcp));
    }

    [Theory]
    [InlineData(StunAttr.DontFragment)]
    [InlineData(StunAttr.EvenPort)]
    [InlineData(StunAttr.ReservationToken)]
    public async Task Rfc6062_5_1_a_tcp_allocation_with_dont_fragment_even_port_or_reservation_token_gets_400(ushort attribute)
    {
        await using var c = await fixture.ClientAsync(User("t3"), tcp: true);
        var value = attribute switch
        {
            StunAttr.EvenPort => new byte[] { 0 },
            StunAttr.ReservationToken => new byte[8],
            _ => [],
        };
        AssertError(StunError.BadRequest, await c.AllocateAsync(StunWire.TransportTcp, b => b.Bytes(attribute, value)));
    }

    [Fact]
    public async Task Rfc6062_5_1_a_transport_other_than_udp_or_tcp_gets_442()
    {
        await using var c = await fixture.ClientAsync(User("t4"), tcp: true);
        AssertError(StunError.UnsupportedTransportProtocol, await c.AllocateAsync(132)); // SCTP
    }

    // ---------------------------------------------------------------- §5.2 Connect, §5.4 ConnectionBind, relaying

    [Fact]
    public async Task Rfc6062_5_2_and_5_4_connect_then_connection_bind_relays_bytes_both_ways_with_half_close()
    {
        var (c, relayed) = await TcpAllocationAsync("c1");
        await using var _ = c;
        using var listener = PeerListener();
        var peerEndPoint = (IPEndPoint)listener.LocalEndpoint;
        var accepting = listener.AcceptSocketAsync();
        var connect = await c.ConnectToPeerAsync(peerEndPoint);
        AssertSuccess(connect);
        var id = TurnTestClient.ConnectionId(connect);
        using var peer = await accepting;
        Assert.Equal(relayed, (IPEndPoint)peer.RemoteEndPoint!); // §5.2: the connection's local end is the relayed address

        // what the peer sends before the ConnectionBind waits for it; what the client sends behind its request follows
        await peer.SendAsync(Encoding.ASCII.GetBytes("early "), SocketFlags.None);
        var (data, bind) = await c.ConnectionBindAsync(id, Encoding.ASCII.GetBytes("first "));
        using var __ = data;
        AssertSuccess(bind);
        Assert.True(bind.Has(StunAttr.MessageIntegrity)); // authenticated like every request
        Assert.Equal("early ", Encoding.ASCII.GetString(await TurnTestClient.ReadExactlyAsync(data, 6)));
        Assert.Equal("first ", Encoding.ASCII.GetString(await TurnTestClient.ReadExactlyAsync(peer, 6)));

        var big = new byte[300_000]; // more than the sockets' buffers: back-pressure, not loss
        Random.Shared.NextBytes(big);
        var sending = data.SendAsync(big, SocketFlags.None);
        Assert.Equal(big, await TurnTestClient.ReadExactlyAsync(peer, big.Length));
        await sending;

        // half-close: the client's end of stream reaches the peer, which can still answer
        data.Shutdown(SocketShutdown.Send);
        Assert.True(await ClosedWithin(peer, TimeSpan.FromSeconds(20)));
        await peer.SendAsync(Encoding.ASCII.GetBytes("bye"), SocketFlags.None);
        Assert.Equal("bye", Encoding.ASCII.GetString(await TurnTestClient.ReadExactlyAsync(data, 3)));
        peer.Shutdown(SocketShutdown.Send);
        Assert.True(await ClosedWithin(data, TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task Rfc6062_5_2_a_second_connect_to_the_same_peer_gets_446()
    {
        var (c, _) = await TcpAllocationAsync("c2");
        await using var __ = c;
        using var listener = PeerListener();
        var peerEndPoint = (IPEndPoint)listener.LocalEndpoint;
        AssertSuccess(await c.ConnectToPeerAsync(peerEndPoint));
        AssertError(StunError.ConnectionAlreadyExists, await c.ConnectToPeerAsync(peerEndPoint));
    }

    [Fact]
    public async Task Rfc6062_5_2_a_connect_that_fails_gets_447()
    {
        var (c, _) = await TcpAllocationAsync("c3");
        await using var __ = c;
        var closed = TurnServerFixture.FreePort(); // nothing listens there: refused
        AssertError(StunError.ConnectionTimeoutOrFailure, await c.ConnectToPeerAsync(new IPEndPoint(IPAddress.Loopback, closed)));
    }

    [Fact]
    public async Task Rfc6062_5_2_connect_without_xor_peer_address_gets_400_and_to_a_private_peer_gets_403()
    {
        var (c, _) = await TcpAllocationAsync("c4");
        await using var __ = c;
        AssertError(StunError.BadRequest, await c.AuthenticatedAsync(StunMethod.Connect));
        AssertError(StunError.Forbidden, await c.ConnectToPeerAsync(new IPEndPoint(IPAddress.Parse("10.1.2.3"), 80)));
    }

    [Fact]
    public async Task Rfc6062_5_2_connect_without_an_allocation_gets_437_and_on_a_udp_allocation_400()
    {
        await using var none = await fixture.ClientAsync(User("c5"), tcp: true);
        using var listener = PeerListener();
        AssertError(StunError.AllocationMismatch, await none.ConnectToPeerAsync((IPEndPoint)listener.LocalEndpoint));
        await using var udp = await fixture.ClientAsync(User("c6"), tcp: true);
        AssertSuccess(await udp.AllocateAsync());
        AssertError(StunError.BadRequest, await udp.ConnectToPeerAsync((IPEndPoint)listener.LocalEndpoint));
    }

    [Fact]
    public async Task Rfc6062_5_4_connection_bind_with_an_unknown_or_used_connection_id_gets_400()
    {
        var (c, _) = await TcpAllocationAsync("b1");
        await using var __ = c;
        var (unknown, response) = await c.ConnectionBindAsync(0x12345678);
        unknown.Dispose();
        AssertError(StunError.BadRequest, response);

        using var listener = PeerListener();
        var connect = await c.ConnectToPeerAsync((IPEndPoint)listener.LocalEndpoint);
        var id = TurnTestClient.ConnectionId(connect);
        var (first, ok) = await c.ConnectionBindAsync(id);
        using var ___ = first;
        AssertSuccess(ok);
        var (second, again) = await c.ConnectionBindAsync(id); // bound already: no longer pending
        second.Dispose();
        AssertError(StunError.BadRequest, again);
    }

    [Fact]
    public async Task Rfc6062_5_4_connection_bind_with_another_users_credentials_gets_441()
    {
        var (c, _) = await TcpAllocationAsync("b2");
        await using var __ = c;
        using var listener = PeerListener();
        var id = TurnTestClient.ConnectionId(await c.ConnectToPeerAsync((IPEndPoint)listener.LocalEndpoint));
        await using var other = await fixture.ClientAsync(User("b3"), tcp: true);
        other.Realm = c.Realm;
        other.Nonce = c.Nonce;
        var (data, response) = await other.ConnectionBindAsync(id);
        data.Dispose();
        AssertError(StunError.WrongCredentials, response);
    }

    [Fact]
    public async Task Rfc6062_5_2_a_peer_data_connection_not_bound_within_30_seconds_is_closed()
    {
        var (c, _) = await TcpAllocationAsync("b4");
        await using var __ = c;
        using var listener = PeerListener();
        var accepting = listener.AcceptSocketAsync();
        var id = TurnTestClient.ConnectionId(await c.ConnectToPeerAsync((IPEndPoint)listener.LocalEndpoint));
        using var peer = await accepting;
        var started = DateTime.UtcNow;
        Assert.True(await ClosedWithin(peer, TimeSpan.FromSeconds(90)));
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromSeconds(29), "closed before its 30 s");
        var (data, late) = await c.ConnectionBindAsync(id);
        data.Dispose();
        AssertError(StunError.BadRequest, late);
    }

    // ---------------------------------------------------------------- §5.3 incoming connections

    [Fact]
    public async Task Rfc6062_5_3_a_peer_with_a_permission_is_announced_by_connection_attempt_and_relayed_after_bind()
    {
        var (c, relayed) = await TcpAllocationAsync("i1");
        await using var _ = c;
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        peer.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        AssertSuccess(await c.AuthenticatedAsync(StunMethod.CreatePermission,
            b => b.XorAddress(StunAttr.XorPeerAddress, (IPEndPoint)peer.LocalEndPoint!)));
        await peer.ConnectAsync(relayed);
        var attempt = await c.ReceiveAsync();
        Assert.NotNull(attempt.Indication);
        Assert.Equal(StunMethod.ConnectionAttempt, attempt.Indication!.Method);
        Assert.Equal(peer.LocalEndPoint, TurnTestClient.Address(attempt.Indication, StunAttr.XorPeerAddress));
        var id = TurnTestClient.ConnectionId(attempt.Indication);

        var (data, bind) = await c.ConnectionBindAsync(id);
        using var __ = data;
        AssertSuccess(bind);
        await peer.SendAsync(Encoding.ASCII.GetBytes("ping"), SocketFlags.None);
        Assert.Equal("ping", Encoding.ASCII.GetString(await TurnTestClient.ReadExactlyAsync(data, 4)));
        await data.SendAsync(Encoding.ASCII.GetBytes("pong"), SocketFlags.None);
        Assert.Equal("pong", Encoding.ASCII.GetString(await TurnTestClient.ReadExactlyAsync(peer, 4)));
    }

    [Fact]
    public async Task Rfc6062_5_3_a_peer_without_a_permission_is_closed_and_not_announced()
    {
        var (c, relayed) = await TcpAllocationAsync("i2");
        await using var _ = c;
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await peer.ConnectAsync(relayed);
        Assert.True(await ClosedWithin(peer, TimeSpan.FromSeconds(20)));
        Assert.True(await c.NothingWithin(TimeSpan.FromMilliseconds(500)));
    }

    // ---------------------------------------------------------------- the allocation's end

    [Fact]
    public async Task Rfc6062_deleting_the_allocation_closes_its_relayed_address_and_data_connections()
    {
        var (c, relayed) = await TcpAllocationAsync("d1");
        await using var _ = c;
        using var listener = PeerListener();
        var accepting = listener.AcceptSocketAsync();
        var id = TurnTestClient.ConnectionId(await c.ConnectToPeerAsync((IPEndPoint)listener.LocalEndpoint));
        using var peer = await accepting;
        var (data, bind) = await c.ConnectionBindAsync(id);
        using var __ = data;
        AssertSuccess(bind);
        AssertSuccess(await c.AuthenticatedAsync(StunMethod.Refresh, b => b.UInt32(StunAttr.Lifetime, 0)));
        Assert.True(await ClosedWithin(peer, TimeSpan.FromSeconds(20)));
        Assert.True(await ClosedWithin(data, TimeSpan.FromSeconds(20)));
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await Assert.ThrowsAsync<SocketException>(async () => await probe.ConnectAsync(relayed));
    }

    [Fact]
    public async Task Rfc6062_channel_bind_on_a_tcp_allocation_gets_400()
    {
        var (c, _) = await TcpAllocationAsync("h1");
        await using var __ = c;
        var response = await c.AuthenticatedAsync(StunMethod.ChannelBind, b => b.Bytes(StunAttr.ChannelNumber, [0x40, 0x01, 0, 0])
            .XorAddress(StunAttr.XorPeerAddress, new IPEndPoint(IPAddress.Loopback, 9)));
        AssertError(StunError.BadRequest, response);
    }

    // ---------------------------------------------------------------- RFC 8656 §3.1 over TLS

    [Fact]
    public async Task Rfc8656_3_1_over_tls_the_server_presents_its_certificate_and_answers_binding()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, fixture.TlsPort));
        await using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false));
        X509Certificate? presented = null;
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            {
                presented = certificate;
                return true;
            },
        });
        Assert.Contains("CN=localhost", presented!.Subject);
        var request = new StunBuilder(StunMethod.Binding, StunClass.Request, new byte[12]).Fingerprint().ToArray();
        await ssl.WriteAsync(request);
        var header = new byte[20];
        await ssl.ReadExactlyAsync(header);
        var body = new byte[System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(2))];
        await ssl.ReadExactlyAsync(body);
        Assert.Equal(StunParse.Ok, StunMessage.Parse([.. header, .. body], out var response));
        AssertSuccess(response!);
        Assert.Equal(socket.LocalEndPoint, TurnTestClient.Address(response!, StunAttr.XorMappedAddress));
    }
}
