using System.Buffers;
using System.Net.Sockets;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Xml;
using Akka;
using Akka.Actor;
using Akka.IO;
using Akka.Streams;
using Akka.Streams.Dsl;
using Akka.Streams.Stage;

namespace Actors.Benchmarks.IdleConnections;

/// <summary>
/// Mode <c>streams</c>: the same stages as SocketConnection, as one Akka.Streams graph materialized per connection
/// with a shared materializer: socket source (zero-byte reads) → framing (XmppFramer) → Sink.ActorRefWithAck to the
/// connection actor; Source.Queue (back-pressure) → socket sink. Not production code (no TLS stage, no limits on
/// the outbound side beyond the queue): just faithful enough to measure what a materialized graph costs per idle
/// connection.
/// </summary>
internal static class StreamsConnection
{
    public static void Start(Socket socket, ActorSystem system, IMaterializer materializer)
    {
        socket.NoDelay = true;
        var actor = system.ActorOf(Props.Create(typeof(StreamsConnectionActor)));
        var graph = RunnableGraph.FromGraph(GraphDsl.Create(
            Source.Queue<ByteString>(16, OverflowStrategy.Backpressure),
            (b, queue) =>
            {
                var source = b.Add(new SocketSourceStage(socket, 8 * 1024));
                var framing = b.Add(new FramingStage());
                var toActor = b.Add(Sink.ActorRefWithAck<Element>(actor, StreamsConnectionActor.Init,
                    StreamsConnectionActor.Ack, StreamsConnectionActor.Completed, ex => new Status.Failure(ex)));
                var sink = b.Add(new SocketSinkStage(socket));
                b.From(source.Outlet).Via(framing).To(toActor);
                b.From(queue.Outlet).To(sink.Inlet);
                return ClosedShape.Instance;
            }));
        var outbound = graph.Run(materializer);
        actor.Tell(new StreamsConnectionActor.Outbound(outbound));
    }
}

internal sealed class StreamsConnectionActor : UntypedActor
{
    public sealed record Outbound(ISourceQueueWithComplete<ByteString> Queue);
    public static readonly object Init = "init", Ack = "ack", Completed = "completed";
    /// <summary>The framing stage emits this element for the stream header (the stage's outlet type is Element).</summary>
    public const string StreamOpenName = "stream:stream";

    private static readonly ByteString Header = ByteString.FromBytes(Wire.ServerHeader);
    private ISourceQueueWithComplete<ByteString>? _out;
    private int _pendingHeaders;

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case Outbound o:
                _out = o.Queue;
                for (; _pendingHeaders > 0; _pendingHeaders--) _ = _out.OfferAsync(Header);
                break;
            case Element e:
                if (e.Name == StreamOpenName)
                {
                    if (_out is null) _pendingHeaders++;
                    else _ = _out.OfferAsync(Header);
                }
                else Interlocked.Increment(ref Counters.Stanzas);
                Sender.Tell(Ack);
                break;
            case string s when ReferenceEquals(s, Init):
                Sender.Tell(Ack);
                break;
            case string s when ReferenceEquals(s, Completed):
            case Status.Failure:
                Interlocked.Increment(ref Counters.Closed);
                _out?.Complete();
                Context.Stop(Self);
                break;
        }
    }
}

/// <summary>Reads the socket: a zero-byte read parks the stage without a buffer; a buffer is rented only to copy
/// out what has arrived.</summary>
internal sealed class SocketSourceStage : GraphStage<SourceShape<ByteString>>
{
    private readonly Socket _socket;
    private readonly int _bufferBytes;
    public Outlet<ByteString> Out { get; } = new("socket.out");

    public SocketSourceStage(Socket socket, int bufferBytes)
    {
        _socket = socket;
        _bufferBytes = bufferBytes;
        Shape = new SourceShape<ByteString>(Out);
    }

    public override SourceShape<ByteString> Shape { get; }

    protected override GraphStageLogic CreateLogic(Attributes inheritedAttributes) => new Logic(this);

    private sealed class Logic : OutGraphStageLogic
    {
        private readonly SocketSourceStage _stage;
        private Action<bool>? _onReadable;

        public Logic(SocketSourceStage stage) : base(stage.Shape)
        {
            _stage = stage;
            SetHandler(stage.Out, this);
        }

        public override void PreStart() => _onReadable = GetAsyncCallback<bool>(OnReadable);

        public override void OnPull() => _ = WaitReadableAsync();

        private async Task WaitReadableAsync()
        {
            bool ok;
            try
            {
                await _stage._socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None).ConfigureAwait(false);
                ok = true;
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                ok = false;
            }
            _onReadable!(ok);
        }

        private void OnReadable(bool ok)
        {
            if (!ok)
            {
                CompleteStage();
                return;
            }
            var buffer = ArrayPool<byte>.Shared.Rent(_stage._bufferBytes);
            try
            {
                var n = _stage._socket.Receive(buffer, 0, _stage._bufferBytes, SocketFlags.None, out var error);
                if (error == SocketError.WouldBlock) { _ = WaitReadableAsync(); return; }
                if (n <= 0 || error != SocketError.Success)
                {
                    CompleteStage();
                    return;
                }
                Push(_stage.Out, ByteString.CopyFrom(buffer, 0, n));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }
}

/// <summary>Writes what the outbound queue emits; pulls the next element when the write has completed.</summary>
internal sealed class SocketSinkStage : GraphStage<SinkShape<ByteString>>
{
    private readonly Socket _socket;
    public Inlet<ByteString> Inlet { get; } = new("socket.in");

    public SocketSinkStage(Socket socket)
    {
        _socket = socket;
        Shape = new SinkShape<ByteString>(Inlet);
    }

    public override SinkShape<ByteString> Shape { get; }

    protected override GraphStageLogic CreateLogic(Attributes inheritedAttributes) => new Logic(this);

    private sealed class Logic : InGraphStageLogic
    {
        private readonly SocketSinkStage _stage;
        private Action<bool>? _onWritten;

        public Logic(SocketSinkStage stage) : base(stage.Shape)
        {
            _stage = stage;
            SetHandler(stage.Inlet, this);
        }

        public override void PreStart()
        {
            _onWritten = GetAsyncCallback<bool>(ok =>
            {
                if (ok) Pull(_stage.Inlet);
                else CompleteStage();
            });
            Pull(_stage.Inlet);
        }

        public override void OnPush() => _ = WriteAsync(Grab(_stage.Inlet));

        private async Task WriteAsync(ByteString bytes)
        {
            bool ok;
            try
            {
                await _stage._socket.SendAsync(bytes.ToArray(), SocketFlags.None).ConfigureAwait(false);
                ok = true;
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                ok = false;
            }
            _onWritten!(ok);
        }

        public override void OnUpstreamFinish()
        {
            try { _stage._socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
            _stage._socket.Dispose();
            CompleteStage();
        }
    }
}

/// <summary>XmppFramer as a flow stage: bytes in, stanzas (and a marker element for the stream header) out.</summary>
internal sealed class FramingStage : GraphStage<FlowShape<ByteString, Element>>
{
    public Inlet<ByteString> In { get; } = new("framing.in");
    public Outlet<Element> Out { get; } = new("framing.out");

    public FramingStage() => Shape = new FlowShape<ByteString, Element>(In, Out);

    public override FlowShape<ByteString, Element> Shape { get; }

    protected override GraphStageLogic CreateLogic(Attributes inheritedAttributes) => new Logic(this);

    private sealed class Logic : InAndOutGraphStageLogic, IFramerSink
    {
        private readonly FramingStage _stage;
        private readonly XmppFramer _framer;
        private Queue<Element>? _ready;
        private string? _error;
        private bool _closed;

        public Logic(FramingStage stage) : base(stage.Shape)
        {
            _stage = stage;
            _framer = new XmppFramer(this);
            SetHandler(stage.In, this);
            SetHandler(stage.Out, this);
        }

        public override void OnPush()
        {
            _framer.Feed(Grab(_stage.In).ToReadOnlySpan());
            if (_error is not null)
            {
                FailStage(new InvalidOperationException(_error));
                return;
            }
            if (_ready is { Count: > 0 })
            {
                if (IsAvailable(_stage.Out)) Push(_stage.Out, _ready.Dequeue());
            }
            else if (_closed) CompleteStage();
            else Pull(_stage.In);
        }

        public override void OnPull()
        {
            if (_ready is { Count: > 0 }) Push(_stage.Out, _ready.Dequeue());
            else if (_closed) CompleteStage();
            else if (!HasBeenPulled(_stage.In)) Pull(_stage.In);
        }

        void IFramerSink.OnStreamOpen(StreamHeader header) =>
            (_ready ??= new Queue<Element>(2)).Enqueue(new Element(StreamsConnectionActor.StreamOpenName, header.Namespace));

        void IFramerSink.OnStanza(Element stanza) => (_ready ??= new Queue<Element>(2)).Enqueue(stanza);

        void IFramerSink.OnStreamClose() => _closed = true;

        void IFramerSink.OnError(FramerErrorCondition condition, string text) => _error = condition + ": " + text;
    }
}
