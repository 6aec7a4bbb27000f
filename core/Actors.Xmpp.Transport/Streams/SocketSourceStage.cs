using System.Buffers;
using System.Net.Sockets;
using Akka.Streams;
using Akka.Streams.Stage;

namespace Actors.Xmpp.Transport.Streams;

/// <summary>
/// The socket's inbound bytes as an Akka.Streams source (the project's own stage, not Akka's <c>Tcp()</c>, which leaks
/// per closed connection: ../shared/docs/stack-findings.md). On each pull it parks on a zero-byte read, so an idle link
/// holds no buffer, then reads what has arrived into a pooled buffer and pushes a copy. It completes when the peer
/// closes or the socket is closed (by <see cref="SocketSinkStage"/>), and never blocks a thread.
/// </summary>
public sealed class SocketSourceStage : GraphStage<SourceShape<ReadOnlyMemory<byte>>>
{
    private readonly Socket _socket;
    private readonly int _readBytes;

    public SocketSourceStage(Socket socket, int readBytes = 8 * 1024)
    {
        _socket = socket;
        _readBytes = readBytes;
        Shape = new SourceShape<ReadOnlyMemory<byte>>(Out);
    }

    public Outlet<ReadOnlyMemory<byte>> Out { get; } = new("socket.in");
    public override SourceShape<ReadOnlyMemory<byte>> Shape { get; }

    protected override GraphStageLogic CreateLogic(Attributes inheritedAttributes) => new Logic(this);

    private sealed class Logic : OutGraphStageLogic
    {
        private readonly SocketSourceStage _stage;
        private Action<ReadOnlyMemory<byte>?>? _onRead;

        public Logic(SocketSourceStage stage) : base(stage.Shape)
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
                await _stage._socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None).ConfigureAwait(false);
                var buffer = ArrayPool<byte>.Shared.Rent(_stage._readBytes);
                try
                {
                    var n = await _stage._socket.ReceiveAsync(buffer.AsMemory(0, _stage._readBytes), SocketFlags.None).ConfigureAwait(false);
                    if (n > 0) read = buffer.AsSpan(0, n).ToArray();
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                read = null; // reset, or closed by our own side: the end of the inbound stream
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
