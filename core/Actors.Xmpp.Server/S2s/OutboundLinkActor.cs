using System.Net.Sockets;
using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Server.Stanzas;
using Actors.Xmpp.Transport.Connections;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Transport.Streams;
using Actors.Xmpp.Xml;
using Akka.Actor;
using Akka.Event;
using Akka.Streams;

namespace Actors.Xmpp.Server.S2s;

/// <summary>
/// The outbound server-to-server stream from <c>local</c> to <c>remote</c> (RFC 6120 §4, the Originating Server of
/// XEP-0220), fed by a <see cref="StreamLink"/> graph. It resolves and connects (<see cref="S2sResolver"/>), opens a
/// jabber:server stream, authenticates with dialback (db:result with an XEP-0185 key, answered valid or invalid by the
/// peer after it asked this server's inbound side), then writes the stanzas it was given. While it is being set up it
/// queues at most <c>Xmpp:S2s:MaxQueuedStanzas</c> stanzas: one more is bounced with &lt;remote-server-timeout/&gt;
/// (§8.3.3.15), as is the whole queue when setting up takes longer than <c>ConnectTimeoutSeconds</c>; a domain that
/// cannot be resolved or connected, or refuses dialback, gets the queue bounced with &lt;remote-server-not-found/&gt;
/// (§8.3.3.14). The same stream carries this server's db:verify requests as the Receiving Server of <c>remote</c>'s
/// inbound streams (XEP-0220 §2.2): they go as soon as the peer's stream header arrived.
/// </summary>
public sealed class OutboundLinkActor : ReceiveActor, IWithTimers
{
    private const string SetupTimer = "setup", IdleTimer = "idle";
    private const string RemoteServerNotFound = "remote-server-not-found", RemoteServerTimeout = "remote-server-timeout";

    private readonly string _local, _remote;
    private readonly IMaterializer _materializer;
    private readonly S2sContext _context;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Queue<Element> _queue = new();
    private readonly List<S2sActor.Verify> _verifiesToSend = new();
    private readonly Dictionary<string, List<S2sActor.Verify>> _verifiesSent = new(StringComparer.Ordinal); // by stream id
    private readonly CancellationTokenSource _connecting = new();
    private StreamLink? _link;
    private string? _streamId;     // the id of the stream the peer answered with (the dialback key is bound to it)
    private bool _headerReceived, _resultSent, _established, _closing;
    private long _lastStanza;

    public OutboundLinkActor(string local, string remote, IMaterializer materializer, S2sContext context)
    {
        _local = local;
        _remote = remote;
        _materializer = materializer;
        _context = context;
        Receive<S2sRoutes.Outbound>(m => OnStanza(m));
        Receive<S2sActor.Verify>(OnVerifyRequest);
        Receive<Connected>(m => OnConnected(m.Socket));
        Receive<ConnectFailed>(m => Fail(RemoteServerNotFound, m.Reason));
        Receive<SetupTimedOut>(_ => { if (!_established) Fail(RemoteServerTimeout, $"{_remote} was not reached in time"); });
        Receive<IdleCheck>(_ => OnIdleCheck());
        Receive<S2sActor.SystemShutdown>(_ => Close(StreamErrors.SystemShutdown, null, RemoteServerTimeout, "the server is shutting down"));
        Receive<TransportEvents.StreamOpened>(m => { OnStreamOpened(m.Header); Sender.Tell(StreamLink.Ack); });
        Receive<TransportEvents.StanzaReceived>(m => { OnElement(m.Element); Sender.Tell(StreamLink.Ack); });
        Receive<TransportEvents.StreamClosed>(_ =>
        {
            Close(null, null, _established ? RemoteServerTimeout : RemoteServerNotFound, $"{_remote} closed the stream");
            Sender.Tell(StreamLink.Ack);
        });
        Receive<TransportEvents.FramingFailed>(m =>
        {
            Close(StreamErrors.ForFraming(m.Condition), m.Text, RemoteServerNotFound, $"{_remote} sent bad XML");
            Sender.Tell(StreamLink.Ack);
        });
        Receive<TransportEvents.ConnectionLost>(m =>
        {
            Close(null, null, _established ? RemoteServerTimeout : RemoteServerNotFound, $"the connection to {_remote} was lost");
            Context.Stop(Self);
        });
        ReceiveAny(m =>
        {
            if (ReferenceEquals(m, StreamLink.Init)) Sender.Tell(StreamLink.Ack);
            else Unhandled(m);
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string local, string remote, IMaterializer materializer, S2sContext context) =>
        ActorProps.Of(() => new OutboundLinkActor(local, remote, materializer, context));

    private sealed record Connected(Socket Socket);
    private sealed record ConnectFailed(string Reason);

    private sealed record SetupTimedOut
    {
        public static readonly SetupTimedOut Instance = new();
    }

    private sealed record IdleCheck
    {
        public static readonly IdleCheck Instance = new();
    }

    protected override void PreStart()
    {
        var settings = _context.Settings;
        Timers.StartSingleTimer(SetupTimer, SetupTimedOut.Instance, TimeSpan.FromSeconds(Math.Max(1, settings.ConnectTimeoutSeconds)));
        _context.Resolver.ConnectAsync(_remote, _connecting.Token).PipeTo(Self,
            success: socket => new Connected(socket),
            failure: ex => new ConnectFailed(ex is S2sUnreachableException or OperationCanceledException ? ex.Message : $"{_remote}: {ex.Message}"));
    }

    protected override void PostStop()
    {
        _connecting.Cancel();
        _connecting.Dispose();
        BounceQueue(RemoteServerTimeout, $"the link to {_remote} stopped");
        AnswerVerifies(false, RemoteServerTimeout);
        _link?.Complete();
    }

    private void OnStanza(S2sRoutes.Outbound m)
    {
        if (_closing)
        {
            Context.Parent.Tell(m); // for the next link (LinkClosing went first)
            return;
        }
        if (_established)
        {
            Write(m.Stanza);
            return;
        }
        if (_queue.Count >= _context.Settings.MaxQueuedStanzas)
        {
            _context.Router.Bounce(m.Stanza, RemoteServerTimeout, $"too many stanzas wait for {_remote}"); // §8.3.3.15
            return;
        }
        _queue.Enqueue(m.Stanza);
    }

    private void Write(Element stanza)
    {
        _lastStanza = Environment.TickCount64;
        _link!.Send(stanza.Namespace == Ns.Client ? stanza.CloneIn(Ns.Client, Ns.Server) : stanza, Ns.Server);
    }

    private void OnVerifyRequest(S2sActor.Verify m)
    {
        if (_closing)
        {
            Context.Parent.Forward(m);
            return;
        }
        if (_headerReceived) SendVerify(m);
        else _verifiesToSend.Add(m);
    }

    private void SendVerify(S2sActor.Verify m)
    {
        // XEP-0220 §2.2: from the Receiving Server (local), to the Authoritative Server (remote), the stream id of the
        // inbound stream the key came on
        _link!.Send(S2sStreams.Dialback(S2sStreams.Verify, m.Local, m.Remote, id: m.StreamId, key: m.Key), Ns.Server);
        if (!_verifiesSent.TryGetValue(m.StreamId, out var waiting)) _verifiesSent[m.StreamId] = waiting = new List<S2sActor.Verify>(1);
        waiting.Add(m);
    }

    private void OnConnected(Socket socket)
    {
        if (_closing)
        {
            socket.Dispose();
            return;
        }
        var o = _context.Server.Options;
        _link = StreamLink.Run(socket, Self, _materializer, new FramerLimits(o.Limits.MaxStanzaBytes, o.Limits.MaxDepth),
            Math.Max(64, _context.Settings.MaxQueuedStanzas * 2));
        _link.Send(S2sStreams.Header(_local, _remote, id: null)); // RFC 6120 §4.7: from and to, no id
    }

    private void OnStreamOpened(StreamHeader header)
    {
        if (_closing) return;
        if (_headerReceived)
        {
            Close(StreamErrors.NotWellFormed, "a second stream header", RemoteServerNotFound, $"{_remote} restarted the stream");
            return;
        }
        _headerReceived = true;
        if (header.Name != "stream" || header.Namespace != Ns.Streams || header.DefaultNamespace != Ns.Server)
        {
            Close(StreamErrors.InvalidNamespace, "a server stream's content namespace is " + Ns.Server, RemoteServerNotFound, $"{_remote} is not an XMPP server");
            return;
        }
        _streamId = header.Attr("id");
        if (string.IsNullOrEmpty(_streamId))
        {
            // XEP-0220 needs the stream id for the key (RFC 6120 §4.7.3: the receiving entity MUST send one)
            Close(StreamErrors.InvalidXml, "the stream header has no id", RemoteServerNotFound, $"{_remote} sent no stream id");
            return;
        }
        foreach (var v in _verifiesToSend) SendVerify(v);
        _verifiesToSend.Clear();
        if (!S2sStreams.SupportsFeatures(header)) SendResult(); // a pre-1.0 peer sends no features: dialback straight away
    }

    private void OnElement(Element element)
    {
        if (_closing) return;
        if (S2sStreams.IsStreamFeatures(element))
        {
            if (_resultSent) return;
            if (element.Child(S2sStreams.StartTls, Ns.Tls) is { } tls && tls.Child(S2sStreams.Required, Ns.Tls) is not null)
            {
                Close(null, null, RemoteServerNotFound, $"{_remote} requires TLS, which this server's outbound streams do not offer yet");
                return;
            }
            SendResult(); // XEP-0220 §2.1 (also when the peer does not announce the feature: older servers do not)
            return;
        }
        if (element.Is(S2sStreams.Result, Ns.Dialback))
        {
            OnResult(element);
            return;
        }
        if (element.Is(S2sStreams.Verify, Ns.Dialback))
        {
            OnVerifyAnswer(element);
            return;
        }
        if (S2sStreams.IsStreamError(element))
        {
            var condition = element.Nodes.OfType<Element>().FirstOrDefault(e => e.Namespace == Ns.StreamErrors)?.Name ?? StreamErrors.UndefinedCondition;
            _log.Info("s2s {0} → {1}: stream error {2}", _local, _remote, condition);
            Close(null, null, RemoteServerNotFound, $"{_remote} closed the stream with <{condition}/>");
            return;
        }
        // an outbound stream carries no stanzas from the peer (RFC 6120 §4.1: unidirectional without XEP-0288)
        Close(StreamErrors.UnsupportedStanzaType, "this stream is outbound only", RemoteServerTimeout, $"{_remote} broke the stream");
    }

    private void SendResult()
    {
        _resultSent = true;
        var key = _context.Keys.Generate(_remote, _local, _streamId!);
        _link!.Send(S2sStreams.Dialback(S2sStreams.Result, _local, _remote, key: key), Ns.Server);
    }

    /// <summary>XEP-0220 §2.4: the Receiving Server's verdict on this stream's key.</summary>
    private void OnResult(Element result)
    {
        if (result.From != _remote || result.To != _local) return; // not about this stream's pair
        switch (result.Type)
        {
            case S2sStreams.Valid:
                _established = true;
                Timers.Cancel(SetupTimer);
                Context.Parent.Tell(new S2sActor.LinkEstablished(_local, _remote));
                _log.Debug("s2s {0} → {1} established", _local, _remote);
                while (_queue.Count > 0) Write(_queue.Dequeue());
                _lastStanza = Environment.TickCount64;
                var idle = TimeSpan.FromSeconds(Math.Max(1, _context.Settings.IdleTimeoutSeconds));
                Timers.StartPeriodicTimer(IdleTimer, IdleCheck.Instance, idle / 2);
                break;
            case S2sStreams.Invalid:
                Fail(RemoteServerNotFound, $"{_remote} refused this server's dialback key");
                break;
            default:
                var condition = S2sStreams.ErrorCondition(result) ?? "undefined-condition";
                Fail(RemoteServerNotFound, $"{_remote} refused dialback: {condition}");
                break;
        }
    }

    /// <summary>XEP-0220 §2.3: the Authoritative Server's answer to a db:verify this link sent.</summary>
    private void OnVerifyAnswer(Element answer)
    {
        if (answer.Id is not { } id || !_verifiesSent.Remove(id, out var waiting)) return;
        var valid = answer.Type == S2sStreams.Valid && answer.From == _remote && answer.To == _local;
        var error = answer.Type == S2sStreams.Error ? S2sStreams.ErrorCondition(answer) ?? "undefined-condition" : null;
        foreach (var v in waiting) v.ReplyTo.Tell(new S2sActor.Verified(v.Local, v.Remote, v.StreamId, valid, error));
    }

    private void OnIdleCheck()
    {
        if (_closing || _verifiesSent.Count > 0) return;
        if (Environment.TickCount64 - _lastStanza >= _context.Settings.IdleTimeoutSeconds * 1000L)
            Close(null, null, RemoteServerTimeout, "idle"); // RFC 6120 §4.4: an idle stream is closed without error
    }

    /// <summary>Setting up failed: the queue is bounced with <paramref name="condition"/> and the parent backs off.</summary>
    private void Fail(string condition, string reason)
    {
        if (_closing) return;
        _log.Info("s2s {0} → {1}: {2}", _local, _remote, reason);
        Context.Parent.Tell(new S2sActor.LinkFailed(_local, _remote, condition, reason));
        Close(null, null, condition, reason);
    }

    /// <summary>Ends the link: the parent stops routing here, the queue is bounced, pending verifications fail, and
    /// the stream closes (after a stream error when <paramref name="streamError"/> is given).</summary>
    private void Close(string? streamError, string? text, string bounceCondition, string reason)
    {
        if (_closing) return;
        _closing = true;
        Context.Parent.Tell(new S2sActor.LinkClosing(_local, _remote));
        Timers.CancelAll();
        _connecting.Cancel();
        BounceQueue(bounceCondition, reason);
        AnswerVerifies(false, bounceCondition);
        if (_link is null)
        {
            Context.Stop(Self);
            return;
        }
        if (!_headerReceived && streamError is null)
        {
            _link.Send(TcpStreamFraming.Close);
        }
        else _link.Send(S2sStreams.Close(streamError, text));
        _link.Complete(); // ConnectionLost follows and stops the actor
    }

    private void BounceQueue(string condition, string reason)
    {
        while (_queue.Count > 0) _context.Router.Bounce(_queue.Dequeue(), condition, reason);
    }

    private void AnswerVerifies(bool valid, string condition)
    {
        foreach (var v in _verifiesToSend) v.ReplyTo.Tell(new S2sActor.Verified(v.Local, v.Remote, v.StreamId, valid, condition));
        _verifiesToSend.Clear();
        foreach (var waiting in _verifiesSent.Values)
            foreach (var v in waiting) v.ReplyTo.Tell(new S2sActor.Verified(v.Local, v.Remote, v.StreamId, valid, condition));
        _verifiesSent.Clear();
    }
}
