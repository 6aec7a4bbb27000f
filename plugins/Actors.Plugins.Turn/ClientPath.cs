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
        Send(message.Span);
        return ValueTask.CompletedTask;
    }

    public void Send(ReadOnlySpan<byte> message)
    {
        try
        {
            listener.SendTo(message, SocketFlags.None, Address);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // UDP: a datagram that cannot go out is lost, as on the wire
        }
    }
}

/// <summary>A TCP or TLS client connection (RFC 8656 §3.1: the control connection of a TCP or TLS 5-tuple, or, for an
/// RFC 6062 TCP relay, a client data connection before its ConnectionBind): one writer at a time.
/// <see cref="Stream"/> is the socket's <see cref="NetworkStream"/>, or the <see cref="System.Net.Security.SslStream"/>
/// over it for TLS.</summary>
internal sealed class TcpClientPath(Socket socket, Stream stream, IPEndPoint remote, IPAddress local, bool tls) : ClientPath, IDisposable
{
    private readonly SemaphoreSlim _writer = new(1, 1);

    public override IPEndPoint Remote { get; } = remote;
    public override IPAddress Local { get; } = local;
    public override bool IsTcp => true;
    public bool IsTls => tls;
    public Socket Socket => socket;
    public Stream Stream => stream;
    /// <summary>The allocation made on this connection (RFC 8656 §7: at most one per 5-tuple), if any.</summary>
    public Allocation? Allocation { get; set; }
    /// <summary>RFC 6062 §5.4: the peer data connection a ConnectionBind on this connection bound it to; from then on the
    /// connection carries that connection's bytes, no more STUN.</summary>
    public PeerConnection? Bound { get; set; }

    public override async ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken ct)
    {
        await _writer.WaitAsync(ct);
        try
        {
            await stream.WriteAsync(message, ct);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            // the read loop sees the connection end and deletes the allocation
        }
        finally
        {
            _writer.Release();
        }
    }

    /// <summary>Half-close (a relayed TCP byte stream, RFC 6062): no more bytes from the server; the other direction goes on. Over TLS
    /// a close_notify first.</summary>
    public async ValueTask ShutdownSendAsync()
    {
        try
        {
            if (stream is System.Net.Security.SslStream ssl) await ssl.ShutdownAsync();
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
        }
    }

    public void Dispose()
    {
        stream.Dispose();
        socket.Dispose();
    }
}
