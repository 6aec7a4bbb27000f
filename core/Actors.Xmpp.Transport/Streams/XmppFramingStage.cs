using Actors.Xmpp.Transport.Connections;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Xml;
using Akka.Streams;
using Akka.Streams.Stage;

namespace Actors.Xmpp.Transport.Streams;

/// <summary>
/// <see cref="XmppFramer"/> as a flow stage: bytes in, <see cref="TransportEvents"/> out (StreamOpened, StanzaReceived,
/// StreamClosed, FramingFailed), the same events a <see cref="SocketConnection"/> tells its actor. A framing error is
/// emitted as FramingFailed (the owner sends the stream error it maps to) and ends the stage; nothing after it is read.
/// Upstream is pulled only when downstream asked for an event and none is ready, so that with
/// <see cref="OwnerSinkStage"/> nothing is read past the element the owner is handling. A restart asked for with
/// <see cref="FramingRestart.Request"/> (after STARTTLS or SASL success, before the owner acknowledges) makes the next
/// bytes the start of a new stream.
/// </summary>
public sealed class XmppFramingStage : GraphStage<FlowShape<ReadOnlyMemory<byte>, object>>
{
    private readonly FramerLimits _limits;
    private readonly FramingRestart _restart;

    public XmppFramingStage(FramerLimits limits, FramingRestart? restart = null)
    {
        _limits = limits;
        _restart = restart ?? new FramingRestart();
        Shape = new FlowShape<ReadOnlyMemory<byte>, object>(In, Out);
    }

    public Inlet<ReadOnlyMemory<byte>> In { get; } = new("framing.in");
    public Outlet<object> Out { get; } = new("framing.out");
    public override FlowShape<ReadOnlyMemory<byte>, object> Shape { get; }

    protected override GraphStageLogic CreateLogic(Attributes inheritedAttributes) => new Logic(this);

    private sealed class Logic : InAndOutGraphStageLogic, IFramerSink
    {
        private readonly XmppFramingStage _stage;
        private readonly XmppFramer _framer;
        private readonly Queue<object> _ready = new(2);
        private bool _ended; // stream closed or framing failed: emit what is ready, then complete

        public Logic(XmppFramingStage stage) : base(stage.Shape)
        {
            _stage = stage;
            _framer = new XmppFramer(this, stage._limits);
            SetHandler(stage.In, this);
            SetHandler(stage.Out, this);
        }

        public override void OnPush()
        {
            if (_stage._restart.Take()) _framer.Reset();
            _framer.Feed(Grab(_stage.In).Span);
            Emit();
        }

        public override void OnPull() => Emit();

        public override void OnUpstreamFinish()
        {
            _ended = true;
            if (_ready.Count == 0) CompleteStage();
        }

        private void Emit()
        {
            if (_ready.Count > 0)
            {
                if (!IsAvailable(_stage.Out)) return;
                Push(_stage.Out, _ready.Dequeue());
                if (_ready.Count > 0 || !_ended) return; // read on only when asked for the next event
            }
            if (_ended) CompleteStage();
            else if (IsAvailable(_stage.Out) && !HasBeenPulled(_stage.In) && !IsClosed(_stage.In)) Pull(_stage.In);
        }

        void IFramerSink.OnStreamOpen(StreamHeader header) => _ready.Enqueue(new TransportEvents.StreamOpened(header));

        void IFramerSink.OnStanza(Element stanza) => _ready.Enqueue(new TransportEvents.StanzaReceived(stanza));

        void IFramerSink.OnStreamClose()
        {
            _ready.Enqueue(TransportEvents.StreamClosedInstance);
            _ended = true;
        }

        void IFramerSink.OnError(FramerErrorCondition condition, string text)
        {
            _ready.Enqueue(new TransportEvents.FramingFailed(condition, text));
            _ended = true;
        }
    }
}

/// <summary>A stream restart asked for by the link's owner (RFC 6120 §5.4.3.3, §6.4.6), taken by the framing stage
/// before it parses the next bytes.</summary>
public sealed class FramingRestart
{
    private int _requested;

    public void Request() => Volatile.Write(ref _requested, 1);

    internal bool Take() => Interlocked.Exchange(ref _requested, 0) != 0;
}
