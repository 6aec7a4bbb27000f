using System.Net.Sockets;

namespace Actors.Xmpp.Transport.Connections;

/// <summary>
/// TCP keep-alive on an accepted connection: how the server finds a peer that went away without closing (RFC 6120
/// §4.6.1 leaves the method to the server; ejabberd turns on SO_KEEPALIVE too). After <see cref="Idle"/> without a
/// packet from the peer the kernel sends a probe, then one every <see cref="Interval"/>; after <see cref="Probes"/>
/// unanswered it fails the connection (ETIMEDOUT), the pending read ends and the connection closes. The kernel does all
/// of it: an idle connection costs the server process no wake-up, unlike a whitespace keep-alive written from user
/// space. An answered probe also keeps NAT and firewall state alive.
/// </summary>
public sealed record TcpKeepAlive(TimeSpan Idle, TimeSpan Interval, int Probes)
{
    /// <summary>How long after the peer's last packet a dead peer is found at the latest.</summary>
    public TimeSpan DeadAfter => Idle + Interval * Probes;

    /// <summary>Turns it on for <paramref name="socket"/> (whole seconds: the kernel's resolution).</summary>
    public void Apply(Socket socket)
    {
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, Seconds(Idle));
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, Seconds(Interval));
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, Math.Max(1, Probes));
    }

    private static int Seconds(TimeSpan t) => (int)Math.Clamp(Math.Ceiling(t.TotalSeconds), 1, int.MaxValue);
}
