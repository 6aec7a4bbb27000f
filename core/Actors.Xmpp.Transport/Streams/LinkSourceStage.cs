using System.Buffers;
using System.Net.Sockets;
using Akka.Streams;
using Akka.Streams.Stage;

namespace Actors.Xmpp.Transport.Streams;

/// <summary>
/// The link's inbound bytes (<see cref="LinkChannel"/>: the socket, or TLS over it) as an Akka.Streams source (the
/// project's own stage, not Akka's <c>Tcp()</c>, which leaks per closed connection: ../shared/docs/stack-findings.md).
/// It reads only when pulled: on each pull it parks on a zero-byte read, so an idle link holds no buffer, then reads
/// what has arrived into a pooled buffer and pushes a copy. It completes when the peer closes or the channel is closed
/// (by <see cref="LinkSinkStage"/>), and never blocks a thread.
/// </summary>
public sealed class LinkSourceStage : GraphStage<SourceShape<ReadOnlyMemory<byte>>>
{
    private readonly LinkChannel _channel;
    private readonly int _readBytes;

    public LinkSourceStage(LinkChannel channel, int readBytes = 8 * 1024)
    {
        _channel = channel;
        _readBytes = readBytes;
        Shape = new SourceShape<ReadOnlyMemory<byte>>(Out);
    }

    public Outlet<ReadOnlyMemory<byte>> Out { get; } = new("link.in");
    public override SourceShape<ReadOnlyMemory<byte>> Shape { get; }

    protected override GraphStageLogic CreateLogic(Attributes inheritedAttributes) => new Logic(this);

    private sealed class Logic : OutGraphStageLogic
    {
        private readonly LinkSourceStage _stage;
        private Action<ReadOnlyMemory<byte>?>? _onRead;

        public Logic(LinkSourceStage stage) : base(stage.Shape)
        {
            _stage = stage;
            SetHandler(stage.Out, this);
        }

        public override void PreStart() => _onRead = GetAsyncCallback<ReadOnlyMemory<byte>?>(OnRead);

        public override void OnPull() => _ = ReadAsync();

        private async Task ReadAsync()
        {
            ReadOnlyMemory<byte>? read = null;
            try
            {
                await _stage._channel.ReadAsync(Memory<byte>.Empty).ConfigureAwait(false);
                var buffer = ArrayPool<byte>.Shared.Rent(_stage._readBytes);
                try
                {
                    var n = await _stage._channel.ReadAsync(buffer.AsMemory(0, _stage._readBytes)).ConfigureAwait(false);
                    if (n > 0) read = buffer.AsSpan(0, n).ToArray();
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
            catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException or InvalidOperationException)
            {
                read = null; // reset, TLS failure, or closed by our own side: the end of the inbound stream
            }
            _onRead!(read);
        }

        private void OnRead(ReadOnlyMemory<byte>? read)
        {
            if (read is null) CompleteStage();
            else Push(_stage.Out, read.Value);
        }
    }
}
