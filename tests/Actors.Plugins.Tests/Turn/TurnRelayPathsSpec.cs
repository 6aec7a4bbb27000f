using System.Net;
using System.Globalization;
using Actors.Plugins.Turn;
using Actors.Xmpp.Testing;

namespace Actors.Plugins.Tests.Turn;

/// <summary>
/// The two ways the server reads UDP: the epoll poller thread (Linux, the plugin's UdpPoller) and the portable async
/// receive loops (other systems, Xmpp:Turn:UdpPoller off, and TCP clients). The same relaying rules hold on both: RFC 8656 §11 Send/Data through
/// a permission, §12 ChannelData both ways, a burst from a peer delivered whole and in order, and an allocation deleted
/// while its peer keeps sending leaves the rest relaying.
/// </summary>
public sealed class TurnRelayPathsSpec
{
    private static readonly byte[] Hello = "hello"u8.ToArray();

    private static async Task<(TestServer Server, IPEndPoint EndPoint)> StartAsync(bool poller)
    {
        var port = TurnServerFixture.FreePort();
        var server = await TestServer.StartAsync(["turn"], TurnServerFixture.Settings(port, new Dictionary<string, string?>
        {
            ["Xmpp:Turn:AllowLoopbackPeers"] = "true",
            ["Xmpp:Turn:UdpPoller"] = poller.ToString(CultureInfo.InvariantCulture),
        }));
        return (server, new IPEndPoint(IPAddress.Loopback, port));
    }

    private static async Task<TurnTestClient> ClientAsync(IPEndPoint server, string user)
    {
        var c = await TurnTestClient.ConnectAsync(server, tcp: false);
        (c.Username, c.Password) = TurnServerFixture.Credentials(user);
        return c;
    }

    private static void AssertSuccess(StunMessage m) =>
        Assert.True(m.Class == StunClass.SuccessResponse, $"expected success, got error {TurnTestClient.ErrorCode(m)}");

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Rfc8656_11_and_12_udp_relaying_send_data_and_channels(bool poller)
    {
        var (server, endPoint) = await StartAsync(poller);
        await using var _ = server;
        using var peer = new UdpPeer();
        await using var c = await ClientAsync(endPoint, "paths@localhost");
        var relayed = TurnTestClient.Address(await c.AllocateAsync(), StunAttr.XorRelayedAddress);

        // §11.2/§11.3 through a permission
        AssertSuccess(await c.AuthenticatedAsync(StunMethod.CreatePermission, b => b.XorAddress(StunAttr.XorPeerAddress, peer.EndPoint)));
        await c.SendIndicationAsync(peer.EndPoint, Hello);
        var (from, data) = await peer.ReceiveAsync();
        Assert.Equal(relayed, from);
        Assert.Equal(Hello, data);
        await peer.SendAsync(relayed, [1, 2, 3, 4, 5]);
        var indication = await c.ReceiveAsync();
        Assert.Equal(StunMethod.Data, indication.Indication!.Method);
        Assert.Equal(peer.EndPoint, TurnTestClient.Address(indication.Indication, StunAttr.XorPeerAddress));
        Assert.Equal([1, 2, 3, 4, 5], indication.Data);

        // §12: bound, the peer's datagrams come back as ChannelData, and the client's go out on the channel
        const ushort channel = 0x4002;
        AssertSuccess(await c.AuthenticatedAsync(StunMethod.ChannelBind, b => b
            .Bytes(StunAttr.ChannelNumber, [0x40, 0x02, 0, 0]).XorAddress(StunAttr.XorPeerAddress, peer.EndPoint)));
        await c.SendChannelDataAsync(channel, Hello);
        Assert.Equal(Hello, (await peer.ReceiveAsync()).Data);

        // a burst from the peer: every datagram, in order, on the channel
        const int burst = 100;
        for (var i = 0; i < burst; i++) await peer.SendAsync(relayed, [(byte)i, 0xAB]);
        for (var i = 0; i < burst; i++)
        {
            var r = await c.ReceiveAsync();
            Assert.Equal(channel, r.Channel);
            Assert.Equal([(byte)i, 0xAB], r.Data);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Rfc8656_7_5_an_allocation_deleted_while_its_peer_sends_leaves_the_others_relaying(bool poller)
    {
        var (server, endPoint) = await StartAsync(poller);
        await using var _ = server;
        using var peer = new UdpPeer();
        await using var gone = await ClientAsync(endPoint, "gone@localhost");
        await using var kept = await ClientAsync(endPoint, "kept@localhost");
        var goneRelayed = TurnTestClient.Address(await gone.AllocateAsync(), StunAttr.XorRelayedAddress);
        var keptRelayed = TurnTestClient.Address(await kept.AllocateAsync(), StunAttr.XorRelayedAddress);
        AssertSuccess(await gone.AuthenticatedAsync(StunMethod.CreatePermission, b => b.XorAddress(StunAttr.XorPeerAddress, peer.EndPoint)));
        AssertSuccess(await kept.AuthenticatedAsync(StunMethod.CreatePermission, b => b.XorAddress(StunAttr.XorPeerAddress, peer.EndPoint)));

        using var sending = new CancellationTokenSource();
        var flood = Task.Run(async () =>
        {
            while (!sending.IsCancellationRequested)
            {
                await peer.SendAsync(goneRelayed, Hello);
                await Task.Delay(1);
            }
        });
        Assert.Equal(Hello, (await gone.ReceiveAsync()).Data);
        AssertSuccess(await gone.AuthenticatedAsync(StunMethod.Refresh, b => b.UInt32(StunAttr.Lifetime, 0))); // deleted
        await Task.Delay(200); // the flood goes on into the deleted allocation's closed port

        await peer.SendAsync(keptRelayed, [9, 9]);
        Assert.Equal([9, 9], (await kept.ReceiveAsync()).Data);
        sending.Cancel();
        await flood;
    }
}
