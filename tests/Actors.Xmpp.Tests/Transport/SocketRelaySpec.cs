using System.Net;
using System.Net.Sockets;
using Actors.Xmpp.Transport.Streams;
using Akka.Streams;

namespace Actors.Xmpp.Tests.Transport;

/// <summary>The SOCKS5 bytestream relay (XEP-0065): bytes both ways, and the relay's end once either party leaves, in
/// whichever order the two directions notice it (the proxy counts a bytestream off its owner's limit only then).</summary>
public sealed class SocketRelaySpec : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    /// <summary>A connected pair over loopback: the party's end and the proxy's end.</summary>
    private static async Task<(Socket Party, Socket Proxy)> PairAsync(TcpListener listener)
    {
        var party = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var accept = listener.AcceptSocketAsync();
        await party.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
        return (party, await accept);
    }

    private static async Task<byte[]> ReadAsync(Socket socket, int count)
    {
        var buffer = new byte[count];
        using var cts = new CancellationTokenSource(Wait);
        await new NetworkStream(socket, ownsSocket: false).ReadExactlyAsync(buffer, cts.Token); // EndOfStreamException if it closes first
        return buffer;
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public async Task Xep0065_6_a_mediated_relay_ends_when_either_party_closes_or_drops_its_connection(bool targetLeaves, bool reset)
    {
        var materializer = Sys.Materializer();
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        // many rounds: each direction may notice the end first, while its read is parked or between reads
        for (var round = 0; round < 50; round++)
        {
            var (target, targetProxy) = await PairAsync(listener);
            var (requester, requesterProxy) = await PairAsync(listener);
            var relay = SocketRelay.Run(targetProxy, requesterProxy, 0, materializer);
            await requester.SendAsync(new byte[] { 1, 2, 3 });
            Assert.Equal(new byte[] { 1, 2, 3 }, await ReadAsync(target, 3));
            await target.SendAsync(new byte[] { 4 });
            Assert.Equal(new byte[] { 4 }, await ReadAsync(requester, 1));
            var (leaving, staying) = targetLeaves ? (target, requester) : (requester, target);
            if (reset) leaving.LingerState = new LingerOption(true, 0);
            leaving.Close();
            var ended = await Task.WhenAny(relay, Task.Delay(Wait));
            Assert.True(ended == relay, $"round {round}: the relay did not end within {Wait.TotalSeconds} s");
            Assert.Equal(0, await staying.ReceiveAsync(new byte[1], SocketFlags.None).WaitAsync(Wait));
            staying.Dispose();
        }
    }
}
