using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Actors.Xmpp.Transport.Connections;

namespace Actors.Xmpp.Transport.Streams;

/// <summary>
/// The bytes under one link: the socket, then a TLS stream over it once <see cref="UpgradeAsync"/> has run (STARTTLS
/// of RFC 6120 §5, or XEP-0368 direct TLS before the first byte). <see cref="LinkSourceStage"/> reads it and
/// <see cref="LinkSinkStage"/> writes it; the sink runs the upgrade between two writes, at a time when the source has no
/// read under way (the owner holds the acknowledgement of the event that asked for TLS, so nothing pulls the source).
/// </summary>
public sealed class LinkChannel
{
    private readonly Socket _socket;
    private SslStream? _tls;
    private int _closed;

    public LinkChannel(Socket socket) => _socket = socket;

    /// <summary>The TLS stream once negotiated (null before): its remote certificate, protocol, ALPN.</summary>
    public SslStream? Tls => Volatile.Read(ref _tls);

    /// <summary>Reads what has arrived (zero-byte reads park without a buffer on both the socket and the TLS stream).</summary>
    public ValueTask<int> ReadAsync(Memory<byte> buffer) =>
        Tls is { } tls ? tls.ReadAsync(buffer) : _socket.ReceiveAsync(buffer, SocketFlags.None);

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> bytes)
    {
        if (Tls is { } tls)
        {
            await tls.WriteAsync(bytes).ConfigureAwait(false);
            return;
        }
        while (bytes.Length > 0)
        {
            var n = await _socket.SendAsync(bytes, SocketFlags.None).ConfigureAwait(false);
            bytes = bytes[n..];
        }
    }

    /// <summary>Runs the TLS handshake of <paramref name="upgrade"/> on the socket; null on success, else why it
    /// failed. A handshake that takes longer than its timeout is ended by shutting the socket down.</summary>
    internal async Task<string?> UpgradeAsync(TlsUpgrade upgrade)
    {
        if (Tls is not null) return "TLS is already negotiated";
        var tls = new SslStream(new ReadinessNetworkStream(_socket), leaveInnerStreamOpen: false);
        using var timeout = new CancellationTokenSource(upgrade.Timeout);
        try
        {
            using (timeout.Token.UnsafeRegister(static s => ShutdownQuietly((Socket)s!), _socket))
                await upgrade.AuthenticateAsync(tls).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            return timeout.IsCancellationRequested ? "TLS handshake timed out" : ex.Message;
        }
        Volatile.Write(ref _tls, tls);
        return null;
    }

    /// <summary>Shuts the connection down and releases it (idempotent).</summary>
    public void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        ShutdownQuietly(_socket);
        Tls?.Dispose();
        _socket.Dispose();
    }

    private static void ShutdownQuietly(Socket socket)
    {
        try { socket.Shutdown(SocketShutdown.Both); }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
    }
}
