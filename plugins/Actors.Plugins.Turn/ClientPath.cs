using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Actors.Plugins.Turn;

/// <summary>The way back to a client: its 5-tuple's transport (RFC 8656 §2: client address, server address,
/// protocol). UDP replies go out of the listener socket to the client's address; TCP ones onto its connection.</summary>
internal abstract class ClientPath
{
    public abstract IPEndPoint Remote { get; }
    public abstract IPAddress Local { get; }
    public abstract bool IsTcp { get; }
    public abstract ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken ct);

    /// <summary>A ChannelData message (RFC 8656 §12.4): channel, length, data; over TCP padded to 4 bytes (§12.5).</summary>
    public ValueTask SendChannelDataAsync(ushort channel, ReadOnlySpan<byte> data, byte[] scratch, CancellationToken ct)
    {
        var length = StunWire.ChannelDataHeaderLength + data.Length;
        var total = IsTcp ? (length + 3) & ~3 : length;
        BinaryPrimitives.WriteUInt16BigEndian(scratch, channel);
        BinaryPrimitives.WriteUInt16BigEndian(scratch.AsSpan(2), (ushort)data.Length);
        data.CopyTo(scratch.AsSpan(StunWire.ChannelDataHeaderLength));
        scratch.AsSpan(length, total - length).Clear();
        return SendAsync(scratch.AsMemory(0, total), ct);
    }
}

/// <summary>A UDP client: replies leave the listener socket, synchronously (a UDP send does not wait for the peer), to
/// the client's address serialized once.</summary>
internal sealed class UdpClientPath(Socket listener, IPEndPoint remote, IPAddress local) : ClientPath
{
    public override IPEndPoint Remote { get; } = remote;
    public override IPAddress Local { get; } = local;
    public override bool IsTcp => false;
    /// <summary>The client's address as the socket layer has it: the key of its allocation, and where sends go.</summary>
    public SocketAddress Address { get; } = remote.Serialize();

    public override ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken ct)
    {
        try
        {
            listener.SendTo(message.Span, SocketFlags.None, Address);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // UDP: a datagram that cannot go out is lost, as on the wire
        }
        return ValueTask.CompletedTask;
    }
}

/// <summary>A TCP client connection: one writer at a time.</summary>
internal sealed class TcpClientPath(Socket socket, IPEndPoint remote, IPAddress local) : ClientPath, IDisposable
{
    private readonly SemaphoreSlim _writer = new(1, 1);

    public override IPEndPoint Remote { get; } = remote;
    public override IPAddress Local { get; } = local;
    public override bool IsTcp => true;
    public Socket Socket => socket;
    /// <summary>The allocation made on this connection (RFC 8656 §7: at most one per 5-tuple), if any.</summary>
    public Allocation? Allocation { get; set; }

    public override async ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken ct)
    {
        await _writer.WaitAsync(ct);
        try
        {
            while (!message.IsEmpty)
            {
                var n = await socket.SendAsync(message, SocketFlags.None, ct);
                message = message[n..];
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // the read loop sees the connection end and deletes the allocation
        }
        finally
        {
            _writer.Release();
        }
    }

    public void Dispose()
    {
        socket.Dispose();
    }
}
