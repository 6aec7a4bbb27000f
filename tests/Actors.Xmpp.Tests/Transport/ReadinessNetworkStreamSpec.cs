using System.Net;
using System.Net.Sockets;
using Actors.Xmpp.Transport.Connections;

namespace Actors.Xmpp.Tests.Transport;

public sealed class ReadinessNetworkStreamSpec : IDisposable
{
    private readonly Socket _server;
    private readonly Socket _client;

    public ReadinessNetworkStreamSpec()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        _client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _client.Connect(listener.LocalEndPoint!);
        _server = listener.Accept();
    }

    public void Dispose()
    {
        _server.Dispose();
        _client.Dispose();
    }

    [Fact]
    public async Task Zero_byte_read_waits_for_data_and_leaves_it_to_read()
    {
        await using var stream = new ReadinessNetworkStream(_server);
        var wait = stream.ReadAsync(Memory<byte>.Empty);
        Assert.False(wait.IsCompleted); // nothing sent yet

        _client.Send("hello"u8);
        Assert.Equal(0, await wait.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        var buffer = new byte[16];
        Assert.Equal(5, await stream.ReadAsync(buffer));
        Assert.Equal("hello"u8.ToArray(), buffer[..5]);

        // consumed: the next zero-byte read parks again
        Assert.False(stream.ReadAsync(Memory<byte>.Empty).IsCompleted);
    }

    [Fact]
    public async Task Zero_byte_read_completes_at_end_of_stream()
    {
        await using var stream = new ReadinessNetworkStream(_server);
        var wait = stream.ReadAsync(Memory<byte>.Empty);
        _client.Shutdown(SocketShutdown.Send);
        Assert.Equal(0, await wait.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(0, await stream.ReadAsync(new byte[16]));
    }

    [Fact]
    public async Task Data_already_there_completes_at_once()
    {
        _client.Send("x"u8);
        await using var stream = new ReadinessNetworkStream(_server);
        Assert.Equal(0, await stream.ReadAsync(Memory<byte>.Empty).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(1, await stream.ReadAsync(new byte[4]));
    }
}
