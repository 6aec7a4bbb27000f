using System.Buffers;
using System.Net.Sockets;
using Actors.Xmpp.Transport.Connections;
using Akka.Actor;
using Akka.Streams;
using Akka.Streams.Stage;

namespace Actors.Xmpp.Transport.Streams;

/// <summary>One write of a link: bytes, or the TLS handshake to run once the bytes before it are written;
/// <paramref name="Rented"/> (the array under the bytes) goes back to the shared pool once they are written.</summary>
public readonly record struct LinkWrite(ReadOnlyMemory<byte> Bytes, TlsUpgrade? Tls = null, byte[]? Rented = null);

/// <summary>
/// Writes the outbound bytes to the <see cref="LinkChannel"/>, one asynchronous write at a time (the next element is
/// pulled when the write has completed, so upstream buffers are the only queue). A <see cref="LinkWrite"/> with
/// <see cref="LinkWrite.Tls"/> runs that handshake on the channel after the writes before it (STARTTLS after
/// &lt;proceed/&gt;, or the client's handshake after it read &lt;proceed/&gt;) and tells the owner
/// <see cref="TransportEvents.TlsEstablished"/> or <see cref="TransportEvents.TlsFailed"/>. When upstream finishes
/// (the owner closed the stream) or fails (its bounded queue overflowed), or a write or handshake fails, the channel is
/// closed, which also ends <see cref="LinkSourceStage"/>.
/// </summary>
public sealed class LinkSinkStage : GraphStage<SinkShape<LinkWrite>>
{
    private readonly LinkChannel _channel;
    private readonly IActorRef _owner;

    public LinkSinkStage(LinkChannel channel, IActorRef owner)
    {
        _channel = channel;
        _owner = owner;
        Shape = new SinkShape<LinkWrite>(In);
    }

    public Inlet<LinkWrite> In { get; } = new("link.out");
    public override SinkShape<LinkWrite> Shape { get; }

    protected override GraphStageLogic CreateLogic(Attributes inheritedAttributes) => new Logic(this);

    private sealed class Logic : InGraphStageLogic
    {
        private readonly LinkSinkStage _stage;
        private Action<bool>? _onWritten;
        private bool _writing, _finishing;

        public Logic(LinkSinkStage stage) : base(stage.Shape)
        {
            _stage = stage;
            SetHandler(stage.In, this);
        }

        public override void PreStart()
        {
            _onWritten = GetAsyncCallback<bool>(OnWritten);
            Pull(_stage.In);
        }

        public override void OnPush()
        {
            _writing = true;
            var write = Grab(_stage.In);
            _ = write.Tls is { } tls ? UpgradeAsync(tls) : WriteAsync(write.Bytes, write.Rented);
        }

        private async Task WriteAsync(ReadOnlyMemory<byte> bytes, byte[]? rented)
        {
            var ok = true;
            try
            {
                await _stage._channel.WriteAsync(bytes).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException or InvalidOperationException or NotSupportedException)
            {
                ok = false;
            }
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
            _onWritten!(ok);
        }

        private async Task UpgradeAsync(TlsUpgrade tls)
        {
            var failure = await _stage._channel.UpgradeAsync(tls).ConfigureAwait(false);
            // told before the next write is pulled: the owner's writes after StartTls go over TLS
            _stage._owner.Tell(failure is null ? TransportEvents.TlsEstablishedInstance : new TransportEvents.TlsFailed(failure));
            _onWritten!(failure is null);
        }

        private void OnWritten(bool ok)
        {
            _writing = false;
            if (!ok || _finishing) Finish();
            else Pull(_stage.In);
        }

        public override void OnUpstreamFinish()
        {
            if (_writing) _finishing = true; // flush the write under way first
            else Finish();
        }

        public override void OnUpstreamFailure(Exception e) => Finish();

        public override void PostStop() => _stage._channel.Close(); // also when the graph is torn down (system shutdown)

        private void Finish()
        {
            _stage._channel.Close();
            CompleteStage();
        }
    }
}
