using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace Actors.Xmpp.Transport.Connections;

/// <summary>
/// A <see cref="NetworkStream"/> whose zero-byte reads complete only once the socket has bytes to read (or has
/// reached end of stream or failed), so that whoever parks on a zero-byte read and rents a buffer when it completes
/// (our read loop; <see cref="System.Net.Security.SslStream"/>, which rents its 32 KiB record buffer) does not park
/// again on a real read holding that buffer.
/// <para>
/// Why: on Linux (.NET 10's SocketAsyncContext) a zero-byte receive that could not complete at once is queued, and a
/// queued one completes on the next epoll read notification without looking at the socket. Edge-triggered
/// notifications can be stale: bytes that raised one may already have been consumed by a read that completed
/// synchronously (e.g. the last read of a TLS handshake that also took the client's first data record). The next
/// zero-byte read then completes with nothing to read; SslStream rents 32 KiB and parks on a real read, for as long
/// as the connection stays idle. Measured on 10,200 idle direct-TLS connections: a third of them held such a buffer.
/// </para>
/// Every completion is therefore checked with a non-blocking poll(2) (true for readable bytes and end of stream); if
/// nothing is there, the zero-byte read is issued again. Synchronous completions are checked too: a notification that
/// arrives while the receive is being queued completes it at once, just as blindly.
/// </summary>
internal sealed class ReadinessNetworkStream : NetworkStream
{
    public ReadinessNetworkStream(Socket socket) : base(socket, ownsSocket: false) { }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!buffer.IsEmpty) return base.ReadAsync(buffer, cancellationToken);
        var wait = base.ReadAsync(Memory<byte>.Empty, cancellationToken);
        if (wait.IsCompletedSuccessfully && Socket.Poll(0, SelectMode.SelectRead)) return wait;
        return WaitReadableAsync(wait, cancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> WaitReadableAsync(ValueTask<int> wait, CancellationToken cancellationToken)
    {
        while (true)
        {
            await wait.ConfigureAwait(false);
            if (Socket.Poll(0, SelectMode.SelectRead)) return 0;
            wait = base.ReadAsync(Memory<byte>.Empty, cancellationToken);
        }
    }
}
