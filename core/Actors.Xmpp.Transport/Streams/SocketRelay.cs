using System.Net.Sockets;
using Akka;
using Akka.Streams;
using Akka.Streams.Dsl;

namespace Actors.Xmpp.Transport.Streams;

/// <summary>
/// Relays two sockets to each other as two Akka.Streams graphs of the project's own stages (a SOCKS5 bytestream, XEP-0065):
/// <code>
///   LinkSourceStage(a) ─► Throttle(bytes per second) ─► LinkSinkStage(b)
///   LinkSourceStage(b) ─► Throttle(bytes per second) ─► LinkSinkStage(a)
/// </code>
/// Back-pressure end to end: a socket is read only when the other one has written the previous chunk, so a slow reader
/// slows its writer down and nothing queues in between beyond one chunk per stage. When one side closes (or fails),
/// the sink writes what it holds and closes the other socket, whose source then ends the other direction: the relay
/// ends as a whole, and the task completes once both directions have.
/// </summary>
public static class SocketRelay
{
    /// <summary>The largest read: big enough for loopback speed, small enough to throttle smoothly.</summary>
    public const int MaxChunkBytes = 64 * 1024;

    /// <param name="bytesPerSecond">Each direction's limit (0: none).</param>
    public static Task Run(Socket a, Socket b, int bytesPerSecond, IMaterializer materializer)
    {
        // the links' channels (plain sockets here, never TLS): one per socket, read by one direction, written by the other
        var channelA = new LinkChannel(a);
        var channelB = new LinkChannel(b);
        var ab = Direction(channelA, channelB, bytesPerSecond, materializer);
        var ba = Direction(channelB, channelA, bytesPerSecond, materializer);
        return Task.WhenAll(ab, ba);
    }

    /// <summary>The chunk size a limit reads with: at most a quarter of a second's worth, so that shaping stays even.</summary>
    public static int ChunkBytes(int bytesPerSecond) =>
        bytesPerSecond <= 0 ? MaxChunkBytes : Math.Clamp(bytesPerSecond / 4, 512, MaxChunkBytes);

    private static Task Direction(LinkChannel from, LinkChannel to, int bytesPerSecond, IMaterializer materializer)
    {
        var chunk = ChunkBytes(bytesPerSecond);
        Source<ReadOnlyMemory<byte>, NotUsed> source = Source.FromGraph(new LinkSourceStage(from, chunk));
        if (bytesPerSecond > 0)
            source = source.Throttle(bytesPerSecond, TimeSpan.FromSeconds(1), Math.Max(bytesPerSecond, chunk),
                static (ReadOnlyMemory<byte> bytes) => bytes.Length, ThrottleMode.Shaping);
        return source.Select(static bytes => new LinkWrite(bytes)).WatchTermination(Keep.Right)
            .To(new LinkSinkStage(to, Akka.Actor.ActorRefs.Nobody)).Run(materializer);
    }
}
