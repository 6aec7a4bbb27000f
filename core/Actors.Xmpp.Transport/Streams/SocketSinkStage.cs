using System.Net.Sockets;
using Akka.Streams;
using Akka.Streams.Stage;

namespace Actors.Xmpp.Transport.Streams;

/// <summary>
/// Writes the outbound bytes to the socket, one asynchronous write at a time (the next element is pulled when the
/// write has completed, so upstream buffers are the only queue). When upstream finishes (the owner closed the stream)
/// or fails (its bounded queue overflowed), or a write fails, the socket is shut down and closed, which also ends
/// <see cref="SocketSourceStage"/>.
/// </summary>
public sealed class SocketSinkStage : GraphStage<SinkShape<ReadOnlyMemory<byte>>>
{
    private readonly Socket _socket;

    public SocketSinkStage(Socket socket)
    {
        _socket = socket;
        Shape = new SinkShape<ReadOnlyMemory<byte>>(In);
    }

    public Inlet<ReadOnlyMemory<byte>> In { get; } = new("socket.out");
    public override SinkShape<ReadOnlyMemory<byte>> Shape { get; }

    protected override GraphStageLogic CreateLogic(Attributes inheritedAttributes) => new Logic(this);

    private sealed class Logic : InGraphStageLogic
    {
        private readonly SocketSinkStage _stage;
        private Action<bool>? _onWritten;
        private bool _writing, _finishing;

        public Logic(SocketSinkStage stage) : base(stage.Shape)
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
            _ = WriteAsync(Grab(_stage.In));
        }

        private async Task WriteAsync(ReadOnlyMemory<byte> bytes)
        {
            var ok = true;
            try
            {
                var memory = bytes;
                while (memory.Length > 0)
                {
                    var n = await _stage._socket.SendAsync(memory, SocketFlags.None).ConfigureAwait(false);
                    memory = memory[n..];
                }
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                ok = false;
            }
            _onWritten!(ok);
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

        public override void PostStop() => CloseSocket(); // also when the graph is torn down (system shutdown)

        private void Finish()
        {
            CloseSocket();
            CompleteStage();
        }

        private void CloseSocket()
        {
            try { _stage._socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
            _stage._socket.Dispose();
        }
    }
}
