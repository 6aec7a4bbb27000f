using System.Net;
using System.Net.Sockets;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Transport.Connections;
using Akka.TestKit;

namespace Actors.Xmpp.Tests.Transport;

/// <summary>Dead-peer detection by TCP keep-alive (RFC 6120 §4.6.1 leaves the method to the server): accepted
/// sockets carry the configured probes, and a peer that vanishes without closing loses its connection once they go
/// unanswered, with no write and no timer of the server's.</summary>
public sealed class TcpKeepAliveSpec : Akka.TestKit.Xunit2.TestKit, IAsyncLifetime
{
    private SocketListener? _listener;
    private readonly TaskCompletionSource<SocketConnection> _accepted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TestProbe _owner;

    public TcpKeepAliveSpec() => _owner = CreateTestProbe();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_listener is not null) await _listener.DisposeAsync();
    }

    private async Task<(SocketConnection Server, Socket Client)> Connect(TcpKeepAlive? keepAlive)
    {
        _listener = new SocketListener(new IPEndPoint(IPAddress.Loopback, 0), new TransportOptions { KeepAlive = keepAlive },
            directTls: false, maxConnections: 10, backlog: 10, onConnection: c =>
            {
                c.Start(_owner.Ref);
                _accepted.TrySetResult(c);
            });
        _listener.Start();
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(IPAddress.Loopback, _listener.LocalEndPoint.Port);
        return (await _accepted.Task.WaitAsync(TimeSpan.FromSeconds(10)), client);
    }

    [Fact]
    public async Task Rfc6120_4_6_1_an_accepted_connection_carries_the_configured_tcp_keepalive()
    {
        var (server, client) = await Connect(new TcpKeepAlive(TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(15), 4));
        using (client)
        {
            var socket = server.Socket;
            Assert.Equal(1, (int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive)!);
            Assert.Equal(60, (int)socket.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime)!);
            Assert.Equal(15, (int)socket.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval)!);
            Assert.Equal(4, (int)socket.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount)!);
        }
    }

    [Fact]
    public async Task Without_the_setting_an_accepted_connection_has_no_tcp_keepalive()
    {
        var (server, client) = await Connect(keepAlive: null);
        using (client)
            Assert.Equal(0, (int)server.Socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive)!);
    }

    [Fact]
    public async Task Rfc6120_4_6_1_a_peer_that_vanished_without_closing_loses_its_connection_once_the_probes_go_unanswered()
    {
        var keepAlive = new TcpKeepAlive(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1), 2);
        var (_, client) = await Connect(keepAlive);
        using (client)
        {
            var started = DateTime.UtcNow;
            VanishingPeer.Vanish(client);
            var lost = _owner.FishForMessage<TransportEvents.ConnectionLost>(_ => true, TimeSpan.FromSeconds(20));
            // not before the probes went unanswered (the kernel counts whole seconds)
            Assert.True(DateTime.UtcNow - started >= keepAlive.DeadAfter - TimeSpan.FromSeconds(1),
                $"lost after {(DateTime.UtcNow - started).TotalSeconds:0.0} s: {lost.Reason}");
        }
    }

    [Fact]
    public async Task Without_tcp_keepalive_a_vanished_peer_keeps_its_idle_connection()
    {
        var (_, client) = await Connect(keepAlive: null);
        using (client)
        {
            VanishingPeer.Vanish(client);
            _owner.ExpectNoMsg(TimeSpan.FromSeconds(5)); // what the test above detects in about 3 s goes unnoticed
        }
    }
}
