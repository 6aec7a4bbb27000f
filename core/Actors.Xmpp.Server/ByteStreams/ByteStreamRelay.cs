using System.Net;
using System.Net.Sockets;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Transport.Streams;
using Akka.Actor;
using Akka.Streams;

namespace Actors.Xmpp.Server.ByteStreams;

/// <summary>
/// <see cref="IByteStreamRelay"/>: each listener is a <see cref="LinkListener"/> (accepts, at most MaxConnections
/// sockets at once), a <see cref="Socks5Handshake"/> task per accepted socket, and a <see cref="ByteStreamPairingActor"/>
/// that pairs the sockets by hash and starts their <see cref="SocketRelay"/>. One per actor system, made by the host.
/// </summary>
public sealed class ByteStreamRelay(ActorSystem system) : IByteStreamRelay
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);
    private readonly Lazy<IMaterializer> _materializer = new(() => system.Materializer(namePrefix: "bytestreams"));
    private int _listeners;

    public IByteStreamListener Listen(ByteStreamListenerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!IPAddress.TryParse(options.Address, out var address)) throw new ArgumentException($"not an IP address: '{options.Address}'", nameof(options));
        if (options.MaxConnections < 2) throw new ArgumentOutOfRangeException(nameof(options), "a relay needs at least two connections");
        var listener = new Listener(options, AskTimeout);
        LinkListener? accept = null;
        var pairing = system.ActorOf(Props.Create(() => new ByteStreamPairingActor(options, _materializer.Value, () => Release(accept!))),
            "bytestreams-" + Interlocked.Increment(ref _listeners));
        try
        {
            accept = new LinkListener(new IPEndPoint(address, options.Port), options.MaxConnections, socket => _ = listener.HandshakeAsync(socket));
        }
        catch
        {
            pairing.Tell(PoisonPill.Instance);
            throw;
        }
        listener.Start(accept, pairing);
        return listener;
    }

    /// <summary>A slot of the listener's connections comes back. Guarded: a claim whose answer came too late (the
    /// handshake gave the socket up while the pairing took it) may be released twice.</summary>
    private static void Release(LinkListener accept)
    {
        try { accept.Release(); } catch (SemaphoreFullException) { }
    }

    private sealed class Listener(ByteStreamListenerOptions options, TimeSpan askTimeout) : IByteStreamListener
    {
        private LinkListener _accept = null!;
        private IActorRef _pairing = ActorRefs.Nobody;
        private int _disposed;

        public int Port { get; private set; }

        public void Start(LinkListener accept, IActorRef pairing)
        {
            _accept = accept;
            _pairing = pairing;
            Port = accept.LocalEndPoint.Port;
            accept.Start();
        }

        public async Task HandshakeAsync(Socket socket)
        {
            var claimed = await Socks5Handshake.AcceptAsync(socket, options.HandshakeTimeout, ClaimAsync).ConfigureAwait(false);
            if (!claimed) Release(_accept);
        }

        private async Task<bool> ClaimAsync(string hash, Socket socket)
        {
            if (Volatile.Read(ref _disposed) != 0) return false;
            try
            {
                return await _pairing.Ask<bool>(new ByteStreamPairingActor.Claim(hash, socket), askTimeout).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is AskTimeoutException or TaskCanceledException)
            {
                return false; // the listener stopped meanwhile
            }
        }

        public Task<ByteStreamActivation> ActivateAsync(string hash, string owner, int maxPerOwner)
        {
            ArgumentNullException.ThrowIfNull(hash);
            ArgumentNullException.ThrowIfNull(owner);
            var key = Socks5Handshake.HashOf(System.Text.Encoding.ASCII.GetBytes(hash));
            if (key is null) return Task.FromResult(ByteStreamActivation.NoConnection);
            return _pairing.Ask<ByteStreamActivation>(new ByteStreamPairingActor.Activate(key, owner, maxPerOwner), askTimeout);
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            _pairing.Tell(PoisonPill.Instance); // closes the connections still waiting for activation
            // the listening socket is closed synchronously (the port is free once this returns, so a reloaded plugin binds
            // it again at once); the accept loop ends on its own
            _ = _accept.DisposeAsync().AsTask();
        }
    }
}
