using System.Net.Sockets;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Transport.Streams;
using Akka.Actor;
using Akka.Streams;

namespace Actors.Xmpp.Server.ByteStreams;

/// <summary>
/// The pairing of one SOCKS5 bytestream listener (XEP-0065): the connections that finished their handshake, by the hash
/// they named (at most two per hash: XEP-0065 §10.1, one Target per bytestream), each with a deadline for its
/// activation; the bytestreams relaying now, by hash and by owner (the per-owner limit). Activation starts
/// <see cref="SocketRelay"/> on the system's materializer, so relays in progress outlive this actor (a plugin reload
/// stops a listener, not the transfers it started). Sockets are only closed here, never read or written.
/// </summary>
internal sealed class ByteStreamPairingActor : ReceiveActor, IWithTimers
{
    /// <summary>A connection finished its SOCKS5 request for <paramref name="Hash"/>: answered true when this listener
    /// takes it (then it owns the socket), false when the hash has its two connections already or is relaying.</summary>
    public sealed record Claim(string Hash, Socket Socket);

    /// <summary>Relay the two connections of <paramref name="Hash"/>; answered with a <see cref="ByteStreamActivation"/>.</summary>
    public sealed record Activate(string Hash, string Owner, int MaxPerOwner);

    private sealed record Expired(string Hash);

    private sealed record RelayEnded(string Hash, string Owner);

    private sealed class Pair(Socket first)
    {
        public readonly Socket First = first;
        public Socket? Second;
    }

    private readonly Dictionary<string, Pair> _waiting = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _relaying = new(StringComparer.Ordinal); // hash -> owner
    private readonly Dictionary<string, int> _perOwner = new(StringComparer.Ordinal);
    private readonly Action _release;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="release">Called once for every socket this actor closed or whose relay ended (the listener's slot).</param>
    public ByteStreamPairingActor(ByteStreamListenerOptions options, IMaterializer materializer, Action release)
    {
        _release = release;
        Receive<Claim>(m =>
        {
            if (_relaying.ContainsKey(m.Hash))
            {
                Sender.Tell(false);
                return;
            }
            if (!_waiting.TryGetValue(m.Hash, out var pair))
            {
                _waiting[m.Hash] = new Pair(m.Socket);
                Timers.StartSingleTimer(m.Hash, new Expired(m.Hash), options.ActivationTimeout);
                Sender.Tell(true);
                return;
            }
            if (pair.Second is not null)
            {
                Sender.Tell(false); // a third party: only one Target per bytestream
                return;
            }
            pair.Second = m.Socket;
            Sender.Tell(true);
        });
        Receive<Activate>(m =>
        {
            if (_relaying.ContainsKey(m.Hash))
            {
                Sender.Tell(ByteStreamActivation.AlreadyActive);
                return;
            }
            if (!_waiting.TryGetValue(m.Hash, out var pair))
            {
                Sender.Tell(ByteStreamActivation.NoConnection);
                return;
            }
            if (pair.Second is null)
            {
                Sender.Tell(ByteStreamActivation.OneConnection);
                return;
            }
            _waiting.Remove(m.Hash);
            Timers.Cancel(m.Hash);
            var running = _perOwner.GetValueOrDefault(m.Owner);
            if (m.MaxPerOwner > 0 && running >= m.MaxPerOwner)
            {
                Close(pair.First);
                Close(pair.Second);
                Sender.Tell(ByteStreamActivation.OwnerLimit);
                return;
            }
            _relaying[m.Hash] = m.Owner;
            _perOwner[m.Owner] = running + 1;
            var self = Self;
            var ended = new RelayEnded(m.Hash, m.Owner);
            SocketRelay.Run(pair.First, pair.Second, options.BytesPerSecond, materializer)
                .ContinueWith(_ =>
                {
                    release();
                    release();
                    self.Tell(ended);
                }, TaskContinuationOptions.ExecuteSynchronously);
            Sender.Tell(ByteStreamActivation.Activated);
        });
        Receive<RelayEnded>(m =>
        {
            _relaying.Remove(m.Hash);
            if (_perOwner.TryGetValue(m.Owner, out var n))
            {
                if (n <= 1) _perOwner.Remove(m.Owner);
                else _perOwner[m.Owner] = n - 1;
            }
        });
        Receive<Expired>(m =>
        {
            // XEP-0065 §11.3: requests that are never activated do not hold the proxy's connections
            if (!_waiting.Remove(m.Hash, out var pair)) return;
            Close(pair.First);
            if (pair.Second is not null) Close(pair.Second);
        });
    }

    private void Close(Socket socket)
    {
        Socks5Handshake.Close(socket);
        _release();
    }

    protected override void PostStop()
    {
        foreach (var pair in _waiting.Values)
        {
            Close(pair.First);
            if (pair.Second is not null) Close(pair.Second);
        }
        _waiting.Clear();
    }
}
