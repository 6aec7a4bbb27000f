using System.Buffers;
using System.Globalization;
using System.Net;
using Actors.Xmpp.Security;
using Actors.Xmpp.Server.Stanzas;
using Actors.Xmpp.Transport.Buffers;
using Actors.Xmpp.Transport.Connections;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Transport.WebSockets;
using Actors.Xmpp.Xml;
using Akka.Actor;

namespace Actors.Xmpp.Server.Http.Bosh;

/// <summary>The answer to one BOSH request: an HTTP status and the &lt;body/&gt; (none for a legacy HTTP error).</summary>
public readonly record struct BoshResponse(int StatusCode, byte[]? Body);

/// <summary>
/// One BOSH session (XEP-0124, XEP-0206) as an XMPP stream: the <see cref="ITransportConnection"/> the connection actor
/// sees, fed by HTTP requests. Requests are processed strictly in 'rid' order (§14: a request ahead of a missing one
/// waits, within the window of 'requests'; one outside it or already forgotten is item-not-found; one already answered
/// gets the same response again, §14.3); their payloads go to the owner as stanzas, xmpp:restart='true' as a new
/// stream header (XEP-0206 §5), type='terminate' as the stream close (§13). Processed requests are held (at most
/// 'hold', §10; more than 'requests' unanswered at once is a policy-violation, §11) until there is something to send,
/// their 'wait' passes, or the session pauses (§12); what the owner sends waits for the next held request. With no
/// request held for 'inactivity' seconds (or the pause asked for) the session is gone, like a TCP connection lost.
/// Deadlines are one entry per session on the server's <see cref="TimerWheel"/>.
/// </summary>
public sealed class BoshConnection : ITransportConnection
{
    private static long _ids;

    private sealed class Deadline(BoshConnection connection) : TimerWheel.Entry
    {
        internal override void Fire() => connection.OnDeadline();
    }

    private sealed class Held(long rid, long dueAt)
    {
        public readonly long Rid = rid;
        public readonly long DueAt = dueAt;
        public readonly TaskCompletionSource<BoshResponse> Answer = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private readonly BoshSessions _sessions;
    private readonly TransportOptions _options;
    private readonly TimerWheel _timers;
    private readonly Deadline _deadline;
    private readonly StreamHeader _creationHeader;
    private readonly long _creationRid;
    private readonly object _lock = new();
    private IActorRef _owner = ActorRefs.Nobody;

    // under _lock
    private long _nextRid;                        // the next rid to process
    private SortedList<long, (Element Body, Held Held)>? _early; // requests ahead of a missing one
    private readonly List<Held> _held = new(2);   // processed, unanswered, in rid order
    private readonly Queue<(long Rid, BoshResponse Response)> _answered = new(); // the last 'requests' answers (§14.3)
    private PooledBufferWriter _payload = new();  // what the owner sent, not yet in a response

    public int QueuedOutboundBytes => Volatile.Read(ref _payload).WrittenCount;
    private bool _creationAnswered;
    private string? _authId;
    private string? _streamFrom;
    private bool _restartExpected;
    private bool _terminateDue;                   // the owner closed the stream: the next response terminates
    private bool _clientTerminated;               // ... because the client asked (§13: answered with an empty body)
    private string? _terminateCondition;
    private Element? _streamError;
    private bool _ended;
    private long _pauseMillis;                    // the inactivity of the current pause (§12), 0: none
    private long _lastEmptyRequestAt = long.MinValue;
    private bool _lastResponseEmpty;
    private long _queuedBytes, _writtenBytes;
    private Queue<(long Bytes, TaskCompletionSource<bool> Receipt)>? _receipts;
    private int _inFlight;

    internal BoshConnection(BoshSessions sessions, string sid, BoshSessionParameters parameters, StreamHeader creationHeader,
        long creationRid, EndPoint? remoteEndPoint, bool secure, TransportOptions options, TimerWheel timers)
    {
        _sessions = sessions;
        Sid = sid;
        Parameters = parameters;
        _creationHeader = creationHeader;
        _creationRid = creationRid;
        _nextRid = creationRid + 1;
        RemoteEndPoint = remoteEndPoint;
        IsSecure = secure;
        _options = options;
        _timers = timers;
        _deadline = new Deadline(this);
        Id = "b" + Interlocked.Increment(ref _ids).ToString(CultureInfo.InvariantCulture);
        LastReceivedTicks = LastSentTicks = Environment.TickCount64;
    }

    public string Sid { get; }
    public BoshSessionParameters Parameters { get; }
    public string Id { get; }
    public EndPoint? RemoteEndPoint { get; }
    public bool IsSecure { get; }
    public bool CanStartTls => false;
    public IChannelBinding? ChannelBinding => null;
    public long LastReceivedTicks { get; private set; }
    public long LastSentTicks { get; private set; }
    internal bool Ended { get { lock (_lock) return _ended; } }
    /// <summary>Whether the stream authenticated: from then on a request may carry the full stanza limit (before, the
    /// smaller pre-authentication one, XEP-0205 §2).</summary>
    internal bool IsAuthenticated => _authenticated;
    private volatile bool _authenticated;

    public void Authenticated() => _authenticated = true;

    /// <summary>Holds the session creation request (its answer carries the session's attributes, XEP-0124 §7.1).</summary>
    internal Task<BoshResponse> Creation()
    {
        lock (_lock)
        {
            var held = new Held(_creationRid, Environment.TickCount64 + Parameters.Wait * 1000L);
            _held.Add(held);
            ArmDeadline();
            return held.Answer.Task;
        }
    }

    public void Start(IActorRef owner)
    {
        _owner = owner;
        owner.Tell(new TransportEvents.StreamOpened(_creationHeader));
    }

    // ------------------------------------------------------------------ requests
    /// <summary>One request of this session (not the creation one); completes with its answer.</summary>
    internal Task<BoshResponse> Request(Element body)
    {
        lock (_lock)
        {
            LastReceivedTicks = Environment.TickCount64;
            if (_ended) return Task.FromResult(Error(BoshProtocol.Conditions.ItemNotFound));
            if (!long.TryParse(body.Attr("rid"), NumberStyles.None, CultureInfo.InvariantCulture, out var rid) || rid > BoshProtocol.MaxRid)
                return Task.FromResult(TerminateNow(BoshProtocol.Conditions.BadRequest, "no valid rid"));
            if (rid < _nextRid)
            {
                // §14.3: a request the client repeats (it lost the response): the same response again
                foreach (var (answeredRid, response) in _answered)
                    if (answeredRid == rid) return Task.FromResult(response);
                for (var i = 0; i < _held.Count; i++)
                {
                    if (_held[i].Rid != rid) continue;
                    // repeated while still held: the earlier HTTP request is given up; this one waits in its place
                    var again = new Held(rid, _held[i].DueAt);
                    _held[i].Answer.TrySetResult(new BoshResponse(200, EmptyBody()));
                    _held[i] = again;
                    return again.Answer.Task;
                }
                return Task.FromResult(TerminateNow(BoshProtocol.Conditions.ItemNotFound, "rid " + rid + " is no longer known"));
            }
            // §14.1: the window: a rid at or beyond the next expected one plus 'requests' is an error
            if (rid >= _nextRid + Parameters.Requests)
                return Task.FromResult(TerminateNow(BoshProtocol.Conditions.ItemNotFound, "rid " + rid + " is outside the window"));
            // §11: more simultaneous requests than 'requests'
            if (_held.Count + (_early?.Count ?? 0) + 1 > Parameters.Requests && !IsPauseOrTerminate(body))
                return Task.FromResult(TerminateNow(BoshProtocol.Conditions.PolicyViolation, "too many simultaneous requests"));
            var held = new Held(rid, Environment.TickCount64 + Parameters.Wait * 1000L);
            if (rid > _nextRid)
            {
                (_early ??= new SortedList<long, (Element, Held)>()).Remove(rid);
                _early.Add(rid, (body, held));
                return held.Answer.Task;
            }
            Process(body, held);
            while (!_ended && _early is { Count: > 0 } && _early.Keys[0] == _nextRid)
            {
                var (nextBody, nextHeld) = _early.Values[0];
                _early.RemoveAt(0);
                Process(nextBody, nextHeld);
            }
            Flush();
            return held.Answer.Task;
        }
    }

    private static bool IsPauseOrTerminate(Element body) => body.Attr("pause") is not null || body.Attr("type") == BoshProtocol.Terminate;

    // under _lock; rid == _nextRid
    private void Process(Element body, Held held)
    {
        _nextRid = held.Rid + 1;
        _held.Add(held);
        var now = Environment.TickCount64;
        if (_pauseMillis > 0) _pauseMillis = 0; // a request after a pause: the usual inactivity again
        var empty = body.ElementCount == 0;

        if (body.Attr("restart", BoshProtocol.XmppNamespace) is { } restart && restart is "true" or "1")
        {
            // XEP-0206 §5: only where the stream is to restart (after SASL success)
            if (!_restartExpected)
            {
                TerminateNow(BoshProtocol.Conditions.BadRequest, "no stream restart is due");
                return;
            }
            _restartExpected = false;
            _owner.Tell(new TransportEvents.StreamOpened(new StreamHeader("stream", Ns.Streams, Ns.Client, RestartAttributes(body))));
            return;
        }

        if (body.Attr("pause") is { } pauseText)
        {
            // §12: within 'maxpause'; the held requests are answered at once and inactivity becomes the pause
            if (!int.TryParse(pauseText, NumberStyles.None, CultureInfo.InvariantCulture, out var pause) || pause > Parameters.MaxPause)
            {
                TerminateNow(BoshProtocol.Conditions.PolicyViolation, "pause longer than maxpause");
                return;
            }
            _pauseMillis = Math.Max(1, pause) * 1000L;
            for (var i = _held.Count - 1; i >= 0; i--) Answer(_held[i], EmptyBody(), payload: false);
            _held.Clear();
            return;
        }

        if (empty && body.Attr("type") != BoshProtocol.Terminate)
        {
            // §11: two consecutive empty requests closer than 'polling', the first answered without payload
            if (_lastResponseEmpty && _held.Count == 1 && _lastEmptyRequestAt != long.MinValue
                && now - _lastEmptyRequestAt < Parameters.Polling * 1000L)
            {
                TerminateNow(BoshProtocol.Conditions.PolicyViolation, "polling too often");
                return;
            }
            _lastEmptyRequestAt = now;
        }
        else _lastEmptyRequestAt = long.MinValue;

        var nodes = body.Nodes;
        for (var i = 0; i < nodes.Count; i++)
        {
            if (nodes[i] is not Element stanza) continue;
            Interlocked.Increment(ref _inFlight);
            _owner.Tell(new TransportEvents.StanzaReceived(stanza));
        }
        if (body.Attr("type") == BoshProtocol.Terminate)
        {
            // §13: the client ends the session (after its payload, e.g. unavailable presence)
            _clientTerminated = true;
            _owner.Tell(TransportEvents.StreamClosedInstance);
        }
    }

    private static IReadOnlyList<XAttr> RestartAttributes(Element body)
    {
        var attributes = new List<XAttr>(3);
        if (body.Attr("to") is { } to) attributes.Add(new XAttr("to", to, null));
        if (body.Attr("xml:lang") is { } lang) attributes.Add(new XAttr("xml:lang", lang, null));
        attributes.Add(new XAttr("version", "1.0", null)); // the version of the session's stream (XEP-0206 §4)
        return attributes;
    }

    // ------------------------------------------------------------------ answering
    // under _lock: answers what can be answered, then arms the next deadline
    private void Flush()
    {
        var now = Environment.TickCount64;
        while (_held.Count > 0 && !_ended)
        {
            var oldest = _held[0];
            if (!_creationAnswered && _authId is null && !_terminateDue) break; // the stream is not open yet
            if (_terminateDue)
            {
                var body = _clientTerminated ? EmptyBody() : TerminateBody(_terminateCondition, _streamError, withPayload: true);
                _held.RemoveAt(0);
                Answer(oldest, body, payload: true);
                for (var i = 0; i < _held.Count; i++) Answer(_held[i], body, payload: false);
                _held.Clear();
                End("closed");
                return;
            }
            // §13: the client asked to end the session: its requests wait for the owner's close (just told), which
            // answers them with an empty body; nothing written in between (the reflection of its own unavailable
            // presence, raced in by its session) goes into that answer. Should the close not come within 'wait',
            // the session ends here all the same.
            if (_clientTerminated)
            {
                if (oldest.DueAt > now) break;
                var empty = EmptyBody();
                for (var i = 0; i < _held.Count; i++) Answer(_held[i], empty, payload: false);
                _held.Clear();
                End("closed");
                return;
            }
            if (_payload.WrittenCount > 0 || !_creationAnswered)
            {
                _held.RemoveAt(0);
                Answer(oldest, Body(oldest.Rid), payload: true);
                continue;
            }
            if (_held.Count > Parameters.Hold || oldest.DueAt <= now)
            {
                // §10: no more than 'hold' waiting; 'wait' passed: an empty answer
                _held.RemoveAt(0);
                Answer(oldest, Body(oldest.Rid), payload: false);
                continue;
            }
            break;
        }
        ArmDeadline();
    }

    private void Answer(Held held, byte[] body, bool payload)
    {
        var response = new BoshResponse(200, body);
        held.Answer.TrySetResult(response);
        _answered.Enqueue((held.Rid, response));
        while (_answered.Count > Parameters.Requests) _answered.Dequeue();
        _lastResponseEmpty = !payload || _payload.WrittenCount == 0;
        if (payload)
        {
            _writtenBytes += _payload.WrittenCount;
            _payload.Reset();
            var receipts = _receipts;
            if (receipts is not null)
                while (receipts.Count > 0 && receipts.Peek().Bytes <= _writtenBytes) receipts.Dequeue().Receipt.TrySetResult(true);
        }
        LastSentTicks = Environment.TickCount64;
    }

    /// <summary>&lt;body xmlns='http://jabber.org/protocol/httpbind' ...&gt;payload&lt;/body&gt;: the session's attributes on
    /// the creation answer (§7.1, XEP-0206 §4), 'ack' when the client asked for acknowledgements and this answers an
    /// older request than the last received (§9.1).</summary>
    private byte[] Body(long rid)
    {
        var o = new PooledBufferWriter();
        try
        {
            StartBody(o);
            if (!_creationAnswered)
            {
                _creationAnswered = true;
                var p = Parameters;
                Attribute(o, "sid", Sid);
                Attribute(o, "wait", p.Wait);
                Attribute(o, "requests", p.Requests);
                Attribute(o, "hold", p.Hold);
                Attribute(o, "inactivity", p.Inactivity);
                Attribute(o, "polling", p.Polling);
                Attribute(o, "maxpause", p.MaxPause);
                Attribute(o, "ver", p.Ver);
                Attribute(o, "from", _streamFrom ?? "");
                Attribute(o, "authid", _authId ?? "");
                Attribute(o, "secure", "true"); // the connection manager is the server: nothing insecure behind it
                if (p.Ack) Attribute(o, "ack", _creationRid);
                XmlSerializer.Raw(o, " xmpp:version='1.0' xmpp:restartlogic='true'"u8);
            }
            else if (Parameters.Ack && _nextRid - 1 > rid) Attribute(o, "ack", _nextRid - 1);
            return EndBody(o, withPayload: true);
        }
        finally { o.Reset(); }
    }

    private byte[] TerminateBody(string? condition, Element? streamError, bool withPayload)
    {
        var o = new PooledBufferWriter();
        try
        {
            StartBody(o);
            Attribute(o, "type", BoshProtocol.Terminate);
            if (condition is not null) Attribute(o, "condition", condition);
            if (streamError is not null)
            {
                // XEP-0206 §8: the stream error inside the terminate body
                XmlSerializer.Raw(o, ">"u8);
                if (withPayload) XmlSerializer.Raw(o, _payload.WrittenSpan);
                WebSocketFraming.WriteStreamElement(o, streamError);
                XmlSerializer.Raw(o, "</body>"u8);
                return o.WrittenSpan.ToArray();
            }
            return EndBody(o, withPayload);
        }
        finally { o.Reset(); }
    }

    private static byte[] EmptyBody() => "<body xmlns='http://jabber.org/protocol/httpbind'/>"u8.ToArray();

    private static void StartBody(PooledBufferWriter o) =>
        XmlSerializer.Raw(o, "<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' xmlns:stream='http://etherx.jabber.org/streams'"u8);

    private byte[] EndBody(PooledBufferWriter o, bool withPayload)
    {
        if (!withPayload || _payload.WrittenCount == 0) XmlSerializer.Raw(o, "/>"u8);
        else
        {
            XmlSerializer.Raw(o, ">"u8);
            XmlSerializer.Raw(o, _payload.WrittenSpan);
            XmlSerializer.Raw(o, "</body>"u8);
        }
        return o.WrittenSpan.ToArray();
    }

    private static void Attribute(PooledBufferWriter o, string name, string value)
    {
        XmlSerializer.Raw(o, " "u8);
        XmlSerializer.Utf8(o, name);
        XmlSerializer.Raw(o, "='"u8);
        XmlSerializer.Escaped(o, value, attribute: true);
        XmlSerializer.Raw(o, "'"u8);
    }

    private static void Attribute(PooledBufferWriter o, string name, long value) =>
        Attribute(o, name, value.ToString(CultureInfo.InvariantCulture));

    /// <summary>A binding error (§17.2) for one request that ended the session: every held request gets the same.</summary>
    private BoshResponse TerminateNow(string condition, string text)
    {
        var response = Parameters.Legacy
            ? new BoshResponse(BoshProtocol.LegacyStatus(condition), null)
            : new BoshResponse(200, TerminateBody(condition, null, withPayload: false));
        for (var i = 0; i < _held.Count; i++) _held[i].Answer.TrySetResult(response);
        _held.Clear();
        if (_early is not null)
        {
            foreach (var (_, held) in _early.Values) held.Answer.TrySetResult(response);
            _early.Clear();
        }
        End(condition + ": " + text);
        return response;
    }

    private BoshResponse Error(string condition) => Parameters.Legacy
        ? new BoshResponse(BoshProtocol.LegacyStatus(condition), null)
        : new BoshResponse(200, BoshSessions.TerminateBody(condition));

    // ------------------------------------------------------------------ deadlines
    // under _lock: the earliest of the held requests' 'wait', or 'inactivity' (the pause) when none is held
    private void ArmDeadline()
    {
        if (_ended) return;
        long delay;
        if (_held.Count > 0) delay = Math.Max(0, _held[0].DueAt - Environment.TickCount64);
        else delay = _pauseMillis > 0 ? _pauseMillis : Parameters.Inactivity * 1000L;
        _timers.Move(_deadline, TimeSpan.FromMilliseconds(delay));
    }

    private void OnDeadline()
    {
        lock (_lock)
        {
            if (_ended) return;
            if (_held.Count == 0 && (_early is null || _early.Count == 0))
            {
                // §12: no request for 'inactivity' seconds: the session is gone (the stream was not closed)
                End("inactivity timeout");
                return;
            }
            Flush();
        }
    }

    // under _lock
    private void End(string reason)
    {
        if (_ended) return;
        _ended = true;
        _timers.Remove(_deadline);
        _payload.Reset();
        if (_receipts is not null)
            while (_receipts.Count > 0) _receipts.Dequeue().Receipt.TrySetResult(false);
        _sessions.Remove(this);
        _owner.Tell(new TransportEvents.ConnectionLost(reason));
    }

    // ------------------------------------------------------------------ ITransportConnection (from the owner)
    public bool OpenStream(StreamOpening opening)
    {
        lock (_lock)
        {
            if (_ended || _terminateDue) return false;
            // the session creation answer carries the stream's id and domain (authid, from); a restart's answer is
            // the features the owner sends next
            if (!_creationAnswered)
            {
                _authId = opening.Id;
                _streamFrom = opening.From;
            }
            return true;
        }
    }

    public bool SendFeatures(Element features) => Queue(static (o, f) => WebSocketFraming.WriteStreamElement(o, f), features);

    public bool Send(Element element, string? contextNamespace) =>
        Queue(static (o, e) => e.WriteTo(o, contextNamespace: null), element); // in <body/>: the stanza declares jabber:client

    private bool Queue<T>(Action<IBufferWriter<byte>, T> write, T state)
    {
        lock (_lock)
        {
            if (_ended || _terminateDue || _clientTerminated) return false;
            var before = _payload.WrittenCount;
            write(_payload, state);
            _queuedBytes += _payload.WrittenCount - before;
            LastSentTicks = Environment.TickCount64;
            if (_payload.WrittenCount > _options.MaxOutboundBytes)
            {
                TerminateNow(BoshProtocol.Conditions.PolicyViolation, "outbound buffer full (client not polling)");
                return false;
            }
            Flush();
            return true;
        }
    }

    public void CloseStream(Element? streamError)
    {
        lock (_lock)
        {
            if (_ended || _terminateDue) return;
            _terminateDue = true;
            if (streamError is not null && !_clientTerminated)
            {
                var condition = StreamErrorCondition(streamError);
                // XEP-0124 §17.2 has its own conditions for these; every other stream error is XEP-0206's remote-stream-error
                if (condition is StreamErrors.HostUnknown) _terminateCondition = BoshProtocol.Conditions.HostUnknown;
                else if (condition is StreamErrors.SystemShutdown) _terminateCondition = BoshProtocol.Conditions.SystemShutdown;
                else
                {
                    _terminateCondition = BoshProtocol.Conditions.RemoteStreamError;
                    _streamError = streamError;
                }
            }
            Flush();
        }
    }

    private static string? StreamErrorCondition(Element error)
    {
        foreach (var child in error.Elements())
            if (child.Namespace == Ns.StreamErrors) return child.Name;
        return null;
    }

    public bool KeepAlive() => !Ended; // held requests are answered empty when their 'wait' passes

    public Task<bool> WhenWritten()
    {
        lock (_lock)
        {
            if (_writtenBytes >= _queuedBytes) return Task.FromResult(true);
            if (_ended) return Task.FromResult(false);
            var receipt = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            (_receipts ??= new Queue<(long, TaskCompletionSource<bool>)>()).Enqueue((_queuedBytes, receipt));
            return receipt.Task;
        }
    }

    public void Processed() => Interlocked.Decrement(ref _inFlight);

    public void RestartStream()
    {
        lock (_lock) _restartExpected = true;
    }

    public void StartTls() => throw new NotSupportedException("no STARTTLS over BOSH (XEP-0206)");

    /// <summary>Ends the session without a stream close: the held requests get a terminate body.</summary>
    public void Close()
    {
        lock (_lock)
        {
            if (_ended || _terminateDue) return;
            _terminateDue = true;
            Flush();
        }
    }

    public void Abort()
    {
        lock (_lock)
        {
            if (_ended) return;
            var body = TerminateBody(BoshProtocol.Conditions.RemoteConnectionFailed, null, withPayload: false);
            for (var i = 0; i < _held.Count; i++) Answer(_held[i], body, payload: false);
            _held.Clear();
            End("aborted");
        }
    }
}

/// <summary>What a session was granted at creation (XEP-0124 §7.1).</summary>
public sealed record BoshSessionParameters(int Wait, int Hold, int Requests, int Inactivity, int Polling, int MaxPause, string Ver, bool Legacy, bool Ack);
