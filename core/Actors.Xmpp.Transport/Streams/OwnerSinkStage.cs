using Akka.Actor;
using Akka.Streams;
using Akka.Streams.Stage;

namespace Actors.Xmpp.Transport.Streams;

/// <summary>
/// Tells each element to the actor that owns the link and pulls the next one only once the owner answered
/// <see cref="StreamLink.Ack"/> to it: there is no read-ahead, so while the owner holds an acknowledgement nothing
/// upstream reads the connection. That is what STARTTLS and the stream restarts need (RFC 6120 §5.4.3.3, §6.4.6):
/// the bytes after &lt;proceed/&gt; or &lt;success/&gt; belong to a TLS handshake or a new stream, and must not be
/// read by the old one. (Akka's <c>Sink.ActorRefWithAck</c> buffers and pulls ahead even with an input buffer of 1.)
/// The owner first gets <see cref="StreamLink.Init"/>, and last <c>onComplete</c> or <c>onFailure</c>.
/// </summary>
public sealed class OwnerSinkStage : GraphStage<SinkShape<object>>
{
    private readonly IActorRef _owner;
    private readonly object _onComplete;
    private readonly Func<Exception, object> _onFailure;

    public OwnerSinkStage(IActorRef owner, object onComplete, Func<Exception, object> onFailure)
    {
        _owner = owner;
        _onComplete = onComplete;
        _onFailure = onFailure;
        Shape = new SinkShape<object>(In);
    }

    public Inlet<object> In { get; } = new("owner.in");
    public override SinkShape<object> Shape { get; }

    protected override GraphStageLogic CreateLogic(Attributes inheritedAttributes) => new Logic(this);

    private sealed class Logic : InGraphStageLogic
    {
        private readonly OwnerSinkStage _stage;
        private IActorRef _self = ActorRefs.Nobody;
        private bool _awaitingAck;

        public Logic(OwnerSinkStage stage) : base(stage.Shape)
        {
            _stage = stage;
            SetHandler(stage.In, this);
        }

        public override void PreStart()
        {
            _self = GetStageActor(OnMessage).Ref;
            _awaitingAck = true;
            _stage._owner.Tell(StreamLink.Init, _self);
        }

        private void OnMessage((IActorRef Sender, object Message) received)
        {
            if (!ReferenceEquals(received.Message, StreamLink.Ack) || !_awaitingAck) return;
            _awaitingAck = false;
            if (!IsClosed(_stage.In) && !HasBeenPulled(_stage.In)) Pull(_stage.In);
        }

        public override void OnPush()
        {
            _awaitingAck = true;
            _stage._owner.Tell(Grab(_stage.In), _self);
        }

        public override void OnUpstreamFinish()
        {
            _stage._owner.Tell(_stage._onComplete, ActorRefs.NoSender);
            CompleteStage();
        }

        public override void OnUpstreamFailure(Exception e)
        {
            _stage._owner.Tell(_stage._onFailure(e), ActorRefs.NoSender);
            FailStage(e);
        }
    }
}
