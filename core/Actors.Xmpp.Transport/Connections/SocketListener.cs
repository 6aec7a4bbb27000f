using System.Net;
using System.Net.Sockets;

namespace Actors.Xmpp.Transport.Connections;

/// <summary>
/// Accepts TCP connections with back-pressure: at most <c>maxConnections</c> are open at once; past that, accepting
/// waits until one closes (the kernel backlog holds the rest). Each accepted socket becomes a
/// <see cref="SocketConnection"/> handed to <c>onConnection</c>, which must call <see cref="SocketConnection.Start"/>.
/// </summary>
public sealed class SocketListener : IAsyncDisposable
{
    private readonly Socket _listen;
    private readonly SemaphoreSlim _slots;
    private readonly TransportOptions _options;
    private readonly bool _directTls;
    private readonly Action<SocketConnection> _onConnection;
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private int _open;

    public SocketListener(IPEndPoint endpoint, TransportOptions options, bool directTls, int maxConnections, int backlog,
        Action<SocketConnection> onConnection)
    {
        _options = options;
        _directTls = directTls;
        _onConnection = onConnection;
        _slots = new SemaphoreSlim(maxConnections, maxConnections);
        _listen = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        // SO_REUSEADDR only (a restart can bind while old connections sit in TIME_WAIT). Not .NET's ReuseAddress:
        // on Linux it also sets SO_REUSEPORT, which would let a second server bind the same port and silently
        // take half of the connections.
        if (OperatingSystem.IsLinux()) _listen.SetRawSocketOption(1 /* SOL_SOCKET */, 2 /* SO_REUSEADDR */, BitConverter.GetBytes(1));
        _listen.Bind(endpoint);
        _listen.Listen(backlog);
        LocalEndPoint = (IPEndPoint)_listen.LocalEndPoint!;
    }

    public IPEndPoint LocalEndPoint { get; }
    public int OpenConnections => Volatile.Read(ref _open);

    public void Start() => _loop = AcceptLoopAsync();

    private async Task AcceptLoopAsync()
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                await _slots.WaitAsync(token).ConfigureAwait(false);
                var socket = await _listen.AcceptAsync(token).ConfigureAwait(false);
                SocketConnection connection;
                try
                {
                    connection = new SocketConnection(socket, _options, _directTls, OnClosed); // socket options may fail on a peer gone already
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
                Interlocked.Increment(ref _open);
                _onConnection(connection);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (SocketException)
            {
                _slots.Release(); // a failed accept (peer gone already): keep listening
            }
            catch (ObjectDisposedException)
            {
                return;
            }
        }
    }

    private void OnClosed(SocketConnection _)
    {
        Interlocked.Decrement(ref _open);
        _slots.Release();
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listen.Dispose();
        if (_loop is not null)
        {
            try { await _loop.ConfigureAwait(false); } catch (OperationCanceledException) { }
        }
        _stop.Dispose();
    }
}
