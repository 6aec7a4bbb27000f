using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using Actors.Xmpp.Server.C2s;
using Actors.Xmpp.Transport.Buffers;
using Actors.Xmpp.Transport.Connections;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Xml;
using Akka.Actor;
using Microsoft.AspNetCore.Http;

namespace Actors.Xmpp.Server.Http.Bosh;

/// <summary>
/// The BOSH endpoint (XEP-0124, XEP-0206): reads each POSTed &lt;body/&gt; (with the framer's rules and the stanza
/// size limit), creates sessions (a request without 'sid', §7), finds the session of the others by 'sid' (unknown:
/// item-not-found, §17.2) and writes their answers. Each session is a <see cref="BoshConnection"/> handed to the
/// connections supervisor like a TCP connection.
/// </summary>
public sealed class BoshSessions
{
    private static readonly byte[] RootOpen = "<r>"u8.ToArray();
    private static readonly byte[] RootClose = "</r>"u8.ToArray();

    private readonly ServerContext _server;
    private readonly TransportOptions _transport;
    private readonly IActorRef _connections;
    private readonly Transport.Admission.ConnectionAdmission? _admission;
    private readonly ConcurrentDictionary<string, BoshConnection> _sessions = new(StringComparer.Ordinal);
    private volatile bool _stopped;

    /// <param name="admission">Per-address caps (XEP-0205 §3): a session counts as one connection of its client's
    /// address from its creation to its end; null: none.</param>
    public BoshSessions(ServerContext server, TransportOptions transport, IActorRef connections,
        Transport.Admission.ConnectionAdmission? admission = null)
    {
        _admission = admission;
        _server = server;
        _transport = transport;
        _connections = connections;
    }

    public int Count => _sessions.Count;

    public void Start() => _stopped = false;

    public void Stop()
    {
        _stopped = true;
        foreach (var session in _sessions.Values) session.Abort();
    }

    internal void Remove(BoshConnection session)
    {
        if (_sessions.TryRemove(new KeyValuePair<string, BoshConnection>(session.Sid, session))
            && session.RemoteEndPoint is System.Net.IPEndPoint client)
            _admission?.Release(client.Address);
    }

    public async Task HandleAsync(HttpContext context, HttpClientInfo client)
    {
        var response = context.Response;
        // browsers on other origins (XEP-0124 §? leaves it to HTTP: CORS)
        response.Headers.AccessControlAllowOrigin = "*";
        response.Headers.AccessControlAllowHeaders = "Content-Type";
        response.Headers.AccessControlAllowMethods = "POST, OPTIONS";
        if (HttpMethods.IsOptions(context.Request.Method)) return;
        if (!HttpMethods.IsPost(context.Request.Method))
        {
            response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            return;
        }
        var answer = await AnswerAsync(context.Request, client).ConfigureAwait(false);
        response.StatusCode = answer.StatusCode;
        if (answer.Body is null) return;
        response.ContentType = BoshProtocol.ContentType;
        response.ContentLength = answer.Body.Length;
        await response.Body.WriteAsync(answer.Body, context.RequestAborted).ConfigureAwait(false);
    }

    private async Task<BoshResponse> AnswerAsync(HttpRequest request, HttpClientInfo client)
    {
        if (_stopped) return new BoshResponse(200, TerminateBody(BoshProtocol.Conditions.SystemShutdown));
        var limit = _transport.Framer.MaxStanzaBytes;
        var content = new PooledBufferWriter();
        try
        {
            while (true)
            {
                var read = await request.Body.ReadAsync(content.GetMemory(8192)).ConfigureAwait(false);
                if (read == 0) break;
                content.Advance(read);
                if (content.WrittenCount > limit)
                    return new BoshResponse(200, TerminateBody(BoshProtocol.Conditions.PolicyViolation)); // §17.2: over the limit
            }
            var body = Parse(content.WrittenSpan);
            // §17.2 bad-request: not one <body xmlns='http://jabber.org/protocol/httpbind'/>
            if (body is null || !body.Is("body", BoshProtocol.Namespace))
                return new BoshResponse(200, TerminateBody(BoshProtocol.Conditions.BadRequest));
            var sid = body.Attr("sid");
            var beforeAuthentication = _transport.MaxStanzaBytesBeforeAuthentication;
            if (sid is null)
            {
                if (beforeAuthentication > 0 && content.WrittenCount > beforeAuthentication)
                    return new BoshResponse(200, TerminateBody(BoshProtocol.Conditions.PolicyViolation));
                return await CreateAsync(body, client).ConfigureAwait(false);
            }
            if (!_sessions.TryGetValue(sid, out var session))
                return new BoshResponse(200, TerminateBody(BoshProtocol.Conditions.ItemNotFound));
            if (beforeAuthentication > 0 && !session.IsAuthenticated && content.WrittenCount > beforeAuthentication)
            {
                // XEP-0205 §2: a stream not yet authenticated is held to the smaller limit; §17.2's terminal error ends it
                session.Abort();
                return new BoshResponse(200, TerminateBody(BoshProtocol.Conditions.PolicyViolation));
            }
            return await session.Request(body).ConfigureAwait(false);
        }
        finally { content.Reset(); }
    }

    /// <summary>The one element of a request, read by the framer (restricted XML, limits); null if it is not one.</summary>
    private Element? Parse(ReadOnlySpan<byte> content)
    {
        var sink = new OneElement();
        var framer = new XmppFramer(sink, _transport.Framer);
        framer.Feed(RootOpen);
        framer.Feed(content);
        if (!framer.Faulted) framer.Feed(RootClose);
        return sink.Failed || sink.Count != 1 ? null : sink.Element;
    }

    private sealed class OneElement : IFramerSink
    {
        public Element? Element;
        public int Count;
        public bool Failed;
        public void OnStreamOpen(StreamHeader header) { }
        public void OnStanza(Element stanza)
        {
            Element = stanza;
            Count++;
        }
        public void OnStreamClose() { }
        public void OnError(FramerErrorCondition condition, string text) => Failed = true;
    }

    /// <summary>XEP-0124 §7.1 session creation (with XEP-0206 §4's xmpp:version): the answer waits for the stream's
    /// header and features from the connection actor.</summary>
    private Task<BoshResponse> CreateAsync(Element body, HttpClientInfo client)
    {
        var settings = _server.Options.Http.Bosh;
        var ver = body.Attr("ver");
        var legacy = !BoshProtocol.AtLeast16(ver);
        if (!long.TryParse(body.Attr("rid"), NumberStyles.None, CultureInfo.InvariantCulture, out var rid) || rid > BoshProtocol.MaxRid
            || !OptionalCount(body.Attr("wait"), settings.MaxWaitSeconds, out var wait)
            || !OptionalCount(body.Attr("hold"), 1, out var hold))
            return Task.FromResult(legacy ? new BoshResponse(400, null) : new BoshResponse(200, TerminateBody(BoshProtocol.Conditions.BadRequest)));
        var requests = Math.Max(1, Math.Min(hold + 1, settings.MaxRequests));
        var parameters = new BoshSessionParameters(
            Wait: Math.Min(wait, settings.MaxWaitSeconds),
            Hold: Math.Min(Math.Min(hold, settings.MaxHold), requests - 1),
            Requests: requests,
            Inactivity: settings.InactivitySeconds,
            Polling: settings.PollingSeconds,
            MaxPause: settings.MaxPauseSeconds,
            Ver: BoshProtocol.Negotiate(ver),
            Legacy: legacy,
            Ack: body.Attr("ack") == "1");
        // the RFC 6120 stream header this session stands for: 'to', 'from', 'xml:lang' and XEP-0206's xmpp:version
        var attributes = new List<XAttr>(4);
        if (body.Attr("to") is { } to) attributes.Add(new XAttr("to", to, null));
        if (body.Attr("from") is { } from) attributes.Add(new XAttr("from", from, null));
        if (body.Attr("xml:lang") is { } lang) attributes.Add(new XAttr("xml:lang", lang, null));
        if (body.Attr("version", BoshProtocol.XmppNamespace) is { } version) attributes.Add(new XAttr("version", version, null));
        var header = new StreamHeader("stream", Ns.Streams, Ns.Client, attributes);
        // XEP-0205 §3: the caps of TCP connections, per address (XEP-0124 §17.2 policy-violation)
        if (client.RemoteEndPoint is System.Net.IPEndPoint address && _admission?.TryAdmit(address.Address) is not null)
            return Task.FromResult(new BoshResponse(200, TerminateBody(BoshProtocol.Conditions.PolicyViolation)));
        var sid = Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant();
        var session = new BoshConnection(this, sid, parameters, header, rid, client.RemoteEndPoint, client.Secure, _transport, _server.Timers);
        _sessions[sid] = session;
        var answer = session.Creation();
        _connections.Tell(new ConnectionsActor.Accepted(session));
        return answer;
    }

    /// <summary>A non-negative integer attribute, or <paramref name="absent"/> when it is missing.</summary>
    private static bool OptionalCount(string? text, int absent, out int value)
    {
        if (text is null)
        {
            value = absent;
            return true;
        }
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>&lt;body type='terminate' condition='...'/&gt; (XEP-0124 §17.2).</summary>
    internal static byte[] TerminateBody(string condition) =>
        System.Text.Encoding.UTF8.GetBytes("<body xmlns='" + BoshProtocol.Namespace + "' type='terminate' condition='" + condition + "'/>");
}
