using System.Net;
using System.Net.Sockets;
using Actors.Xmpp.Transport.Connections;
using Actors.Xmpp.Xml;
using Akka.TestKit;

namespace Actors.Xmpp.Tests.Transport;

/// <summary><see cref="ITransportConnection.WhenWritten"/> on a real socket: true once everything queued before the
/// call was written out, false when the connection is lost first.</summary>
public sealed class SocketConnectionWriteReceiptSpec : Akka.TestKit.Xunit2.TestKit, IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private SocketListener? _listener;
    private readonly TaskCompletionSource<SocketConnection> _accepted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TestProbe _owner;

    public SocketConnectionWriteReceiptSpec() => _owner = CreateTestProbe();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_listener is not null) await _listener.DisposeAsync();
    }

    private async Task<(SocketConnection Server, Socket Client)> Connect()
    {
        _listener = new SocketListener(new IPEndPoint(IPAddress.Loopback, 0), new TransportOptions { MaxOutboundBytes = 64 * 1024 * 1024 },
            directTls: false, maxConnections: 10, backlog: 10, onConnection: c =>
            {
                c.Start(_owner.Ref);
                _accepted.TrySetResult(c);
            });
        _listener.Start();
        // a small receive window, so that what the client does not read soon stops the server's writes
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await client.ConnectAsync(IPAddress.Loopback, _listener.LocalEndPoint.Port);
        return (await _accepted.Task.WaitAsync(Timeout), client);
    }

    /// <summary>Queues about 16 MiB of stanzas: more than the socket buffers of both ends hold on loopback.</summary>
    private static long QueueMuch(SocketConnection server)
    {
        var stanza = new Element("message", Ns.Client).Add(new Element("body", Ns.Client).AddText(new string('x', 16 * 1024)));
        var bytes = 0L;
        for (var i = 0; i < 1024; i++)
        {
            Assert.True(server.Send(stanza, Ns.Client));
            bytes += stanza.ToUtf8(Ns.Client).Length;
        }
        return bytes;
    }

    [Fact]
    public async Task Nothing_queued_is_written_at_once()
    {
        var (server, client) = await Connect();
        using (client)
            Assert.True(await server.WhenWritten().WaitAsync(Timeout));
    }

    [Fact]
    public async Task The_receipt_completes_true_only_after_the_peer_took_everything_queued_before_it()
    {
        var (server, client) = await Connect();
        using var _ = client;
        var queued = QueueMuch(server);
        var receipt = server.WhenWritten();
        await Task.Delay(300);
        Assert.False(receipt.IsCompleted); // the peer reads nothing: the bytes cannot all be out yet

        // read everything (not "until the receipt completes": the last read can return before the server's write
        // completion runs, and a further read would then wait for bytes that never come)
        var buffer = new byte[64 * 1024];
        var read = 0L;
        while (read < queued)
        {
            var n = await client.ReceiveAsync(buffer).WaitAsync(Timeout);
            Assert.True(n > 0);
            read += n;
        }
        Assert.True(await receipt.WaitAsync(Timeout));
        Assert.Equal(queued, read);
    }

    [Fact]
    public async Task The_receipt_completes_false_when_the_connection_is_lost_before_its_bytes_were_written()
    {
        var (server, client) = await Connect();
        QueueMuch(server);
        var receipt = server.WhenWritten();
        await Task.Delay(300);
        Assert.False(receipt.IsCompleted);
        client.Close(0); // a reset, with most of the bytes still queued
        Assert.False(await receipt.WaitAsync(Timeout));
        Assert.False(await server.WhenWritten().WaitAsync(Timeout)); // and any later receipt
    }
}
