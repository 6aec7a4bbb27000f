using System.Net;
using System.Net.Sockets;
using Actors.Xmpp.Transport.Admission;

namespace Actors.Xmpp.Transport.Connections;

/// <summary>
/// Accepts TCP connections with back-pressure: at most <c>maxConnections</c> are open at once; past that, accepting
/// waits until one closes (the kernel backlog holds the rest). Each accepted socket becomes a
/// <see cref="SocketConnection"/> handed to <c>onConnection</c>, which must call <see cref="SocketConnection.Start"/>.
/// With a <see cref="ConnectionAdmission"/>, a connection over its address's caps is refused at once, before it takes a
/// slot: on a plain listener it gets the bytes <c>refusal</c> renders for the reason (a stream header and a
/// &lt;policy-violation/&gt; stream error), on a direct-TLS listener it is just closed (nothing may precede the handshake).
/// </summary>
public sealed class SocketListener : IAsyncDisposable
{
    private readonly Socket _listen;
    private readonly SemaphoreSlim _slots;
    private readonly TransportOptions _options;
    private readonly bool _directTls;
    private readonly Action<SocketConnection> _onConnection;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConnectionAdmission? _admission;
    private readonly Func<string, byte[]>? _refusal;
    private Task? _loop;
    private int _open;

    public SocketListener(IPEndPoint endpoint, TransportOptions options, bool directTls, int maxConnections, int backlog,
        Action<SocketConnection> onConnection, ConnectionAdmission? admission = null, Func<string, byte[]>? refusal = null)
    {
        _admission = admission;
        _refusal = refusal;
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
                if (_admission is not null && socket.RemoteEndPoint is IPEndPoint remote && _admission.TryAdmit(remote.Address) is { } refused)
                {
                    _slots.Release();
                    Refuse(socket, refused);
                    continue;
                }
                SocketConnection connection;
                try
                {
                    connection = new SocketConnection(socket, _options, _directTls, OnClosed); // socket options may fail on a peer gone already
                }
                catch
                {
                    if (_admission is not null && socket.RemoteEndPoint is IPEndPoint admitted) _admission.Release(admitted.Address);
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

    /// <summary>Writes the refusal (a fresh socket's send buffer is empty: the send does not wait), then closes the
    /// sending side and, a moment later, the socket: closing at once with the client's header unread would reset the
    /// connection and could discard the error before the client reads it.</summary>
    private void Refuse(Socket socket, string reason)
    {
        try
        {
            if (!_directTls && _refusal is not null)
            {
                socket.Blocking = false;
                socket.Send(_refusal(reason), SocketFlags.None, out _);
                socket.Shutdown(SocketShutdown.Send);
                _ = Task.Delay(TimeSpan.FromSeconds(1)).ContinueWith(static (_, s) => ((Socket)s!).Dispose(), socket, TaskScheduler.Default);
                return;
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException) { }
        socket.Dispose();
    }

    private void OnClosed(SocketConnection connection)
    {
        if (_admission is not null && connection.RemoteEndPoint is IPEndPoint remote) _admission.Release(remote.Address);
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
