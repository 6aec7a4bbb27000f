using System.Net;
using System.Net.Sockets;
using Actors.Xmpp.Server;
using Actors.Xmpp.Server.S2s;

namespace Actors.Xmpp.Tests.S2s;

/// <summary>Which inbound server-to-server streams are shaped (Xmpp:S2s:Inbound*; the shaping itself:
/// <c>StreamLinkSpec</c>).</summary>
public sealed class InboundShapingSpec
{
    private static async Task<Socket> AcceptedFromLoopbackAsync(List<Socket> keep)
    {
        var listen = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listen.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listen.Listen(1);
        var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var accept = listen.AcceptAsync();
        await peer.ConnectAsync(listen.LocalEndPoint!);
        var accepted = await accept;
        keep.AddRange([listen, peer, accepted]);
        return accepted;
    }

    [Fact]
    public async Task A_peer_is_shaped_at_the_default_rate_unless_loopback_is_exempt_or_the_rates_are_off()
    {
        var sockets = new List<Socket>();
        try
        {
            var socket = await AcceptedFromLoopbackAsync(sockets);
            var options = new XmppServerOptions();
            Assert.Null(InboundLinkActor.Shaping(options, socket)); // loopback, exempt by default

            options.Limits.ExemptLoopback = false;
            var shaping = InboundLinkActor.Shaping(options, socket);
            Assert.NotNull(shaping);
            Assert.Equal(200_000, shaping.BytesPerSecond); // ejabberd's default s2s shaper
            Assert.True(shaping.BurstBytes >= options.Limits.MaxStanzaBytes);
            Assert.Equal(0, shaping.StanzasPerSecond);

            options.S2s.InboundBytesPerSecond = 0;
            Assert.Null(InboundLinkActor.Shaping(options, socket));
            options.S2s.InboundStanzasPerSecond = 50;
            Assert.Equal(50, InboundLinkActor.Shaping(options, socket)!.StanzasPerSecond);
        }
        finally
        {
            foreach (var s in sockets) s.Dispose();
        }
    }
}
