using System.Net;
using System.Net.Sockets;

namespace Actors.Xmpp.Transport.Streams;

/// <summary>
/// Accepts the TCP connections of a link port (XEP-0114 components, server-to-server) and hands each socket to
/// <c>onLink</c>, whose owner runs a <see cref="StreamLink"/> on it. At most <c>maxLinks</c> sockets are handed out
/// without having been returned with <see cref="Release"/>; past that, accepting waits (the kernel backlog holds the rest).
/// </summary>
public sealed class LinkListener : IAsyncDisposable
{
    private readonly Socket _listen;
    private readonly SemaphoreSlim _slots;
    private readonly Action<Socket> _onLink;
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    public LinkListener(IPEndPoint endpoint, int maxLinks, Action<Socket> onLink)
    {
        _onLink = onLink;
        _slots = new SemaphoreSlim(maxLinks, maxLinks);
        _listen = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        // SO_REUSEADDR only (not .NET's ReuseAddress, which also sets SO_REUSEPORT on Linux): see SocketListener
        if (OperatingSystem.IsLinux()) _listen.SetRawSocketOption(1 /* SOL_SOCKET */, 2 /* SO_REUSEADDR */, BitConverter.GetBytes(1));
        _listen.Bind(endpoint);
        _listen.Listen(64);
        LocalEndPoint = (IPEndPoint)_listen.LocalEndPoint!;
    }

    public IPEndPoint LocalEndPoint { get; }

    public void Start() => _loop = AcceptLoopAsync();

    /// <summary>A link handed out by this listener has closed.</summary>
    public void Release() => _slots.Release();

    private async Task AcceptLoopAsync()
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                await _slots.WaitAsync(token).ConfigureAwait(false);
                Socket socket;
                try
                {
                    socket = await _listen.AcceptAsync(token).ConfigureAwait(false);
                }
                catch (SocketException)
                {
                    _slots.Release(); // a failed accept (peer gone already): keep listening
                    continue;
                }
                _onLink(socket);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
        }
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
