using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Actors.Plugins.Turn;
using Actors.Xmpp.Testing;

namespace Actors.Plugins.Tests.Turn;

/// <summary>
/// The built-in STUN/TURN server (plugin 'turn') over loopback UDP and TCP with a small client: RFC 8489 Binding and
/// its error rules, RFC 8656 allocations with TURN REST long-term credentials, refresh, permissions, Send/Data
/// indications, channels, quotas and peer restrictions. Each test uses its own user names (the quota is per user).
/// </summary>
public sealed class TurnSpec(TurnServerFixture fixture) : IClassFixture<TurnServerFixture>
{
    private static string User(string name) => name + "-" + Guid.NewGuid().ToString("N")[..8] + "@localhost";
    private static readonly byte[] Hello = Encoding.UTF8.GetBytes("hello, peer");

    private static void AssertSuccess(StunMessage m) =>
        Assert.True(m.Class == StunClass.SuccessResponse, $"expected success, got error {TurnTestClient.ErrorCode(m)}");

    private static void AssertError(int code, StunMessage m)
    {
        Assert.Equal(StunClass.ErrorResponse, m.Class);
        Assert.Equal(code, TurnTestClient.ErrorCode(m));
    }

    // ---------------------------------------------------------------- RFC 8489 Binding

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Rfc8489_7_3_1_binding_answers_the_xor_mapped_address_with_a_fingerprint(bool tcp)
    {
        await using var c = await TurnTestClient.ConnectAsync(fixture.EndPoint, tcp);
        var response = await c.RequestAsync(c.Build(StunMethod.Binding, authenticate: false));
        AssertSuccess(response);
        Assert.Equal(c.LocalEndPoint, TurnTestClient.Address(response, StunAttr.XorMappedAddress));
        Assert.True(response.Has(StunAttr.Fingerprint)); // and Parse checked its value
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Rfc8489_6_3_1_1_unknown_comprehension_required_attribute_gets_420_listing_it(bool tcp)
    {
        await using var c = await TurnTestClient.ConnectAsync(fixture.EndPoint, tcp);
        var response = await c.RequestAsync(c.Build(StunMethod.Binding, b => b.UInt32(0x7ABC, 1).UInt32(0xC0DE, 2), authenticate: false));
        AssertError(StunError.UnknownAttribute, response);
        var unknown = response.Value(response.Find(StunAttr.UnknownAttributes)!.Value);
        Assert.Equal(2, unknown.Length); // 0xC0DE is comprehension-optional: not listed
        Assert.Equal(0x7ABC, BinaryPrimitives.ReadUInt16BigEndian(unknown));
    }

    [Fact]
    public async Task Rfc8489_6_3_1_a_request_with_a_malformed_attribute_gets_400()
    {
        await using var c = await TurnTestClient.ConnectAsync(fixture.EndPoint, tcp: false);
        var tid = RandomNumberGenerator.GetBytes(12);
        // USERNAME claims 16 bytes where 4 follow
        var bytes = Convert.FromHexString("00010008" + "2112a442" + Convert.ToHexString(tid) + "00060010" + "61626364");
        AssertError(StunError.BadRequest, await c.RequestAsync(bytes));
    }

    [Fact]
    public async Task Rfc8489_6_3_1_an_unknown_method_gets_400()
    {
        await using var c = await TurnTestClient.ConnectAsync(fixture.EndPoint, tcp: false);
        AssertError(StunError.BadRequest, await c.RequestAsync(c.Build(0x0FF, authenticate: false)));
    }

    // ---------------------------------------------------------------- RFC 8489 §9.2 long-term credentials

    [Fact]
    public async Task Rfc8489_9_2_4_allocate_without_integrity_gets_401_with_realm_and_nonce_and_no_integrity()
    {
        await using var c = await fixture.ClientAsync(User("a"), tcp: false);
        var response = await c.RequestAsync(c.Build(StunMethod.Allocate, b => b.Bytes(StunAttr.RequestedTransport, [17, 0, 0, 0])));
        AssertError(StunError.Unauthorized, response);
        Assert.Equal("localhost", response.Text(StunAttr.Realm));
        Assert.False(string.IsNullOrEmpty(response.Text(StunAttr.Nonce)));
        Assert.False(response.Has(StunAttr.MessageIntegrity));
    }

    [Fact]
    public async Task Rfc8489_9_2_4_a_wrong_password_gets_401()
    {
        await using var c = await fixture.ClientAsync(User("a"), tcp: false);
        c.Password = "not-the-password";
        AssertError(StunError.Unauthorized, await c.AllocateAsync());
    }

    [Fact]
    public async Task Rfc8489_9_2_4_an_expired_turn_rest_username_gets_401()
    {
        await using var c = await fixture.ClientAsync(User("a"), tcp: false);
        (c.Username, c.Password) = TurnServerFixture.Credentials(User("expired"), TimeSpan.FromSeconds(-10));
        AssertError(StunError.Unauthorized, await c.AllocateAsync());
    }

    [Fact]
    public async Task Rfc8489_9_2_4_a_nonce_the_server_did_not_give_gets_438_with_a_fresh_one()
    {
        await using var c = await fixture.ClientAsync(User("a"), tcp: false);
        await c.AllocateAsync(); // learns the realm (and allocates)
        c.Nonce = "0000000000000000" + "000000000000000000000000";
        var response = await c.RequestAsync(c.Build(StunMethod.Refresh));
        AssertError(StunError.StaleNonce, response);
        Assert.Equal("localhost", response.Text(StunAttr.Realm));
        Assert.NotEqual(c.Nonce, response.Text(StunAttr.Nonce));
        c.Nonce = response.Text(StunAttr.Nonce);
        AssertSuccess(await c.RequestAsync(c.Build(StunMethod.Refresh)));
    }

    // ---------------------------------------------------------------- RFC 8656 §7 Allocate, Refresh

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public async Task Rfc8656_7_2_allocate_with_turn_rest_credentials_gives_a_relayed_address(bool tcp, bool sha256)
    {
        await using var c = await fixture.ClientAsync(User("alloc"), tcp);
        c.Sha256 = sha256;
        var response = await c.AllocateAsync();
        AssertSuccess(response);
        var relayed = TurnTestClient.Address(response, StunAttr.XorRelayedAddress);
        Assert.Equal(IPAddress.Loopback, relayed.Address);
        Assert.NotEqual(0, relayed.Port);
        Assert.Equal(c.LocalEndPoint, TurnTestClient.Address(response, StunAttr.XorMappedAddress));
        Assert.Equal(600u, response.UInt32(StunAttr.Lifetime)); // §7.2: the default lifetime
        // RFC 8489 §9.2.4: the response carries the integrity attribute the request used, with the same key
        Assert.Equal(sha256 ? StunAttr.MessageIntegritySha256 : StunAttr.MessageIntegrity, response.CheckIntegrity(c.Key, out var valid));
        Assert.True(valid);
    }

    [Fact]
    public async Task Rfc8656_7_2_a_second_allocate_on_the_same_5_tuple_gets_437_a_retransmission_the_same_answer()
    {
        await using var c = await fixture.ClientAsync(User("twice"), tcp: false);
        var challenge = await c.RequestAsync(c.Build(StunMethod.Allocate, b => b.Bytes(StunAttr.RequestedTransport, [17, 0, 0, 0])));
        AssertError(StunError.Unauthorized, challenge);
        c.Realm = challenge.Text(StunAttr.Realm);
        c.Nonce = challenge.Text(StunAttr.Nonce);
        var request = c.Build(StunMethod.Allocate, b => b.Bytes(StunAttr.RequestedTransport, [17, 0, 0, 0]));
        var first = await c.RequestAsync(request);
        AssertSuccess(first);
        var again = await c.RequestAsync(request); // the same transaction: a retransmission
        Assert.Equal(first.Raw, again.Raw);
        AssertError(StunError.AllocationMismatch, await c.AllocateAsync()); // a new transaction

    }

    [Fact]
    public async Task Rfc8656_7_2_requested_transport_other_than_udp_or_tcp_gets_442_and_none_gets_400()
    {
        await using var c = await fixture.ClientAsync(User("transport"), tcp: false);
        // SCTP (132); TCP is RFC 6062's (TcpRelaySpec: over UDP it gets 400)
        AssertError(StunError.UnsupportedTransportProtocol,
            await c.AuthenticatedAsync(StunMethod.Allocate, b => b.Bytes(StunAttr.RequestedTransport, [132, 0, 0, 0])));
        AssertError(StunError.BadRequest, await c.AuthenticatedAsync(StunMethod.Allocate));
    }

    [Fact]
    public async Task Rfc8656_7_2_dont_fragment_unsupported_is_an_unknown_attribute_420()
    {
        await using var c = await fixture.ClientAsync(User("df"), tcp: false);
        var response = await c.RequestAsync(c.Build(StunMethod.Allocate, b => b.Bytes(StunAttr.RequestedTransport, [17, 0, 0, 0]).Bytes(StunAttr.DontFragment, [])));
        AssertError(StunError.UnknownAttribute, response);
        Assert.Equal(StunAttr.DontFragment, BinaryPrimitives.ReadUInt16BigEndian(response.Value(response.Find(StunAttr.UnknownAttributes)!.Value)));
    }

    [Fact]
    public async Task Rfc8656_7_2_requested_address_family_ipv6_on_an_ipv4_relay_gets_440()
    {
        await using var c = await fixture.ClientAsync(User("family"), tcp: false);
        AssertError(StunError.AddressFamilyNotSupported, await c.AuthenticatedAsync(StunMethod.Allocate, b =>
            b.Bytes(StunAttr.RequestedTransport, [17, 0, 0, 0]).Bytes(StunAttr.RequestedAddressFamily, [StunWire.FamilyIPv6, 0, 0, 0])));
    }

    [Fact]
    public async Task Rfc8656_7_2_even_port_with_r_reserves_the_next_port_for_the_reservation_token()
    {
        await using var c = await fixture.ClientAsync(User("even"), tcp: false);
        var first = await c.AuthenticatedAsync(StunMethod.Allocate, b => b
            .Bytes(StunAttr.RequestedTransport, [17, 0, 0, 0]).Bytes(StunAttr.EvenPort, [0x80]));
        AssertSuccess(first);
        var even = TurnTestClient.Address(first, StunAttr.XorRelayedAddress).Port;
        Assert.Equal(0, even % 2);
        var token = first.Value(first.Find(StunAttr.ReservationToken)!.Value).ToArray();
        Assert.Equal(8, token.Length);

        await using var second = await fixture.ClientAsync(User("even2"), tcp: false);
        // §7.2: a token with EVEN-PORT is a bad request; a token the server did not give: 508
        AssertError(StunError.BadRequest, await second.AuthenticatedAsync(StunMethod.Allocate, b => b
            .Bytes(StunAttr.RequestedTransport, [17, 0, 0, 0]).Bytes(StunAttr.EvenPort, [0]).Bytes(StunAttr.ReservationToken, token)));
        AssertError(StunError.InsufficientCapacity, await second.AuthenticatedAsync(StunMethod.Allocate, b => b
            .Bytes(StunAttr.RequestedTransport, [17, 0, 0, 0]).Bytes(StunAttr.ReservationToken, new byte[8])));
        var reserved = await second.AuthenticatedAsync(StunMethod.Allocate, b => b
            .Bytes(StunAttr.RequestedTransport, [17, 0, 0, 0]).Bytes(StunAttr.ReservationToken, token));
        AssertSuccess(reserved);
        Assert.Equal(even + 1, TurnTestClient.Address(reserved, StunAttr.XorRelayedAddress).Port);
        // the token is used up
        await using var third = await fixture.ClientAsync(User("even3"), tcp: false);
        AssertError(StunError.InsufficientCapacity, await third.AuthenticatedAsync(StunMethod.Allocate, b => b
            .Bytes(StunAttr.RequestedTransport, [17, 0, 0, 0]).Bytes(StunAttr.ReservationToken, token)));
    }

    [Fact]
    public async Task Rfc8656_7_2_one_allocation_more_than_the_user_quota_gets_486()
    {
        var user = User("quota");
        var clients = new List<TurnTestClient>();
        try
        {
            for (var i = 0; i < TurnServerFixture.Quota; i++)
            {
                var c = await fixture.ClientAsync(user, tcp: false);
                clients.Add(c);
                AssertSuccess(await c.AllocateAsync());
            }
            var over = await fixture.ClientAsync(user, tcp: false);
            clients.Add(over);
            AssertError(StunError.AllocationQuotaReached, await over.AllocateAsync());
            // another user is not held by it; and a deleted allocation frees its place
            await using (var other = await fixture.ClientAsync(User("quota-other"), tcp: false))
                AssertSuccess(await other.AllocateAsync());
            AssertSuccess(await clients[0].AuthenticatedAsync(StunMethod.Refresh, b => b.UInt32(StunAttr.Lifetime, 0)));
            AssertSuccess(await over.AuthenticatedAsync(StunMethod.Allocate, b => b.Bytes(StunAttr.RequestedTransport, [17, 0, 0, 0])));
        }
        finally
        {
            foreach (var c in clients) await c.DisposeAsync();
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Rfc8656_7_5_refresh_extends_up_to_the_maximum_and_zero_deletes(bool tcp)
    {
        await using var c = await fixture.ClientAsync(User("refresh"), tcp);
        AssertSuccess(await c.AllocateAsync(lifetime: 1200));
        var longer = await c.AuthenticatedAsync(StunMethod.Refresh, b => b.UInt32(StunAttr.Lifetime, 100000));
        AssertSuccess(longer);
        Assert.Equal(3600u, longer.UInt32(StunAttr.Lifetime)); // capped at the maximum (Xmpp:Turn:MaxLifetimeSeconds)
        var deleted = await c.AuthenticatedAsync(StunMethod.Refresh, b => b.UInt32(StunAttr.Lifetime, 0));
        AssertSuccess(deleted);
        Assert.Equal(0u, deleted.UInt32(StunAttr.Lifetime));
        AssertError(StunError.AllocationMismatch, await c.AuthenticatedAsync(StunMethod.Refresh));
    }

    [Fact]
    public async Task Rfc8656_7_5_refresh_with_another_users_credentials_gets_441()
    {
        await using var c = await fixture.ClientAsync(User("owner"), tcp: false);
        AssertSuccess(await c.AllocateAsync());
        (c.Username, c.Password) = TurnServerFixture.Credentials(User("intruder"));
        AssertError(StunError.WrongCredentials, await c.AuthenticatedAsync(StunMethod.Refresh));
    }

    [Fact]
    public async Task Rfc8656_9_2_create_permission_without_an_allocation_gets_437()
    {
        using var peer = new UdpPeer();
        await using var c = await fixture.ClientAsync(User("noalloc"), tcp: false);
        AssertError(StunError.AllocationMismatch,
            await c.AuthenticatedAsync(StunMethod.CreatePermission, b => b.XorAddress(StunAttr.XorPeerAddress, peer.EndPoint)));
    }

    // ---------------------------------------------------------------- RFC 8656 §9-11 permissions, Send and Data

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Rfc8656_11_send_and_data_indications_relay_through_a_permission(bool tcp)
    {
        using var peer = new UdpPeer();
        await using var c = await fixture.ClientAsync(User("send"), tcp);
        var relayed = TurnTestClient.Address(await c.AllocateAsync(), StunAttr.XorRelayedAddress);

        // §11.2: no permission yet: the Send indication is dropped
        await c.SendIndicationAsync(peer.EndPoint, Hello);
        Assert.True(await peer.NothingWithin(TimeSpan.FromMilliseconds(300)));

        AssertSuccess(await c.AuthenticatedAsync(StunMethod.CreatePermission, b => b.XorAddress(StunAttr.XorPeerAddress, peer.EndPoint)));
        await c.SendIndicationAsync(peer.EndPoint, Hello);
        var (from, data) = await peer.ReceiveAsync();
        Assert.Equal(relayed, from); // the peer sees the relayed transport address
        Assert.Equal(Hello, data);

        // §11.3: the peer's answer comes back as a Data indication with its address
        await peer.SendAsync(relayed, [1, 2, 3]);
        var received = await c.ReceiveAsync();
        Assert.NotNull(received.Indication);
        Assert.Equal(StunMethod.Data, received.Indication!.Method);
        Assert.Equal(StunClass.Indication, received.Indication.Class);
        Assert.Equal(peer.EndPoint, TurnTestClient.Address(received.Indication, StunAttr.XorPeerAddress));
        Assert.Equal([1, 2, 3], received.Data);
    }

    [Fact]
    public async Task Rfc8656_11_3_data_from_a_peer_without_permission_is_dropped()
    {
        using var permitted = new UdpPeer();
        await using var c = await fixture.ClientAsync(User("drop"), tcp: false);
        var relayed = TurnTestClient.Address(await c.AllocateAsync(), StunAttr.XorRelayedAddress);
        // a permission for 127.0.0.2 only: 127.0.0.1 peers are not permitted (permissions are per IP address, §9)
        AssertSuccess(await c.AuthenticatedAsync(StunMethod.CreatePermission,
            b => b.XorAddress(StunAttr.XorPeerAddress, new IPEndPoint(IPAddress.Parse("127.0.0.2"), 9))));
        await permitted.SendAsync(relayed, [9, 9, 9]);
        Assert.True(await c.NothingWithin(TimeSpan.FromMilliseconds(500)));
    }

    [Fact]
    public async Task Rfc8656_9_2_create_permission_without_peer_gets_400_and_a_private_peer_403()
    {
        await using var c = await fixture.ClientAsync(User("perm"), tcp: false);
        AssertSuccess(await c.AllocateAsync());
        AssertError(StunError.BadRequest, await c.AuthenticatedAsync(StunMethod.CreatePermission));
        // RFC 8656 §21.1: private ranges refused (this server allows loopback, not private: Xmpp:Turn:AllowPrivatePeers)
        var response = await c.AuthenticatedAsync(StunMethod.CreatePermission, b => b
            .XorAddress(StunAttr.XorPeerAddress, new IPEndPoint(IPAddress.Parse("127.0.0.1"), 5000))
            .XorAddress(StunAttr.XorPeerAddress, new IPEndPoint(IPAddress.Parse("10.1.2.3"), 5000)));
        AssertError(StunError.Forbidden, response);
        // an IPv6 peer on an IPv4 relay: 443
        AssertError(StunError.PeerAddressFamilyMismatch, await c.AuthenticatedAsync(StunMethod.CreatePermission,
            b => b.XorAddress(StunAttr.XorPeerAddress, new IPEndPoint(IPAddress.Parse("2001:db8::1"), 5000))));
    }

    // ---------------------------------------------------------------- RFC 8656 §12 channels

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Rfc8656_12_channel_bind_then_channel_data_both_ways(bool tcp)
    {
        using var peer = new UdpPeer();
        await using var c = await fixture.ClientAsync(User("channel"), tcp);
        var relayed = TurnTestClient.Address(await c.AllocateAsync(), StunAttr.XorRelayedAddress);
        const ushort channel = 0x4001;
        AssertSuccess(await c.AuthenticatedAsync(StunMethod.ChannelBind, b => b
            .Bytes(StunAttr.ChannelNumber, [0x40, 0x01, 0, 0]).XorAddress(StunAttr.XorPeerAddress, peer.EndPoint)));

        // 5 bytes: over TCP the ChannelData is padded to 8 (§12.5), the peer gets the 5
        byte[] payload = [1, 2, 3, 4, 5];
        await c.SendChannelDataAsync(channel, payload);
        var (from, data) = await peer.ReceiveAsync();
        Assert.Equal(relayed, from);
        Assert.Equal(payload, data);

        // the bind installed the permission too; the peer's datagram comes back on the channel (§12.7)
        await peer.SendAsync(relayed, [7, 7, 7]);
        var received = await c.ReceiveAsync();
        Assert.Null(received.Indication);
        Assert.Equal(channel, received.Channel);
        Assert.Equal([7, 7, 7], received.Data);

        // and a second one right behind it (the TCP framing found the padding)
        await peer.SendAsync(relayed, [8]);
        Assert.Equal([8], (await c.ReceiveAsync()).Data);
    }

    [Fact]
    public async Task Rfc8656_12_2_channel_bind_errors_number_range_and_rebinding_get_400()
    {
        using var peer = new UdpPeer();
        using var other = new UdpPeer();
        await using var c = await fixture.ClientAsync(User("bind"), tcp: false);
        AssertSuccess(await c.AllocateAsync());
        AssertError(StunError.BadRequest, await c.AuthenticatedAsync(StunMethod.ChannelBind, b => b
            .Bytes(StunAttr.ChannelNumber, [0x30, 0x00, 0, 0]).XorAddress(StunAttr.XorPeerAddress, peer.EndPoint)));
        AssertError(StunError.BadRequest, await c.AuthenticatedAsync(StunMethod.ChannelBind, b => b
            .Bytes(StunAttr.ChannelNumber, [0x40, 0x00, 0, 0])));
        AssertSuccess(await c.AuthenticatedAsync(StunMethod.ChannelBind, b => b
            .Bytes(StunAttr.ChannelNumber, [0x40, 0x00, 0, 0]).XorAddress(StunAttr.XorPeerAddress, peer.EndPoint)));
        // refreshing the same binding is fine; the channel to another peer, or the peer on another channel, is not
        AssertSuccess(await c.AuthenticatedAsync(StunMethod.ChannelBind, b => b
            .Bytes(StunAttr.ChannelNumber, [0x40, 0x00, 0, 0]).XorAddress(StunAttr.XorPeerAddress, peer.EndPoint)));
        AssertError(StunError.BadRequest, await c.AuthenticatedAsync(StunMethod.ChannelBind, b => b
            .Bytes(StunAttr.ChannelNumber, [0x40, 0x00, 0, 0]).XorAddress(StunAttr.XorPeerAddress, other.EndPoint)));
        AssertError(StunError.BadRequest, await c.AuthenticatedAsync(StunMethod.ChannelBind, b => b
            .Bytes(StunAttr.ChannelNumber, [0x40, 0x02, 0, 0]).XorAddress(StunAttr.XorPeerAddress, peer.EndPoint)));
    }

    [Fact]
    public async Task Rfc8656_7_a_tcp_allocation_ends_with_its_connection()
    {
        using var peer = new UdpPeer();
        var c = await fixture.ClientAsync(User("tcpend"), tcp: true);
        var relayed = TurnTestClient.Address(await c.AllocateAsync(), StunAttr.XorRelayedAddress);
        AssertSuccess(await c.AuthenticatedAsync(StunMethod.CreatePermission, b => b.XorAddress(StunAttr.XorPeerAddress, peer.EndPoint)));
        await c.DisposeAsync();
        // the relayed port is closed once the server saw the connection end: sending to it bounces (ICMP), and a new
        // socket can bind it
        var deadline = DateTime.UtcNow + TurnTestClient.Timeout;
        while (true)
        {
            try
            {
                using var probe = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork,
                    System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
                probe.Bind(relayed);
                break;
            }
            catch (System.Net.Sockets.SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }
    }
}
