using System.Security.Cryptography;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Server.Sasl;
using Actors.Xmpp.Server.Sessions;
using Actors.Xmpp.Server.Stanzas;
using Actors.Xmpp.Stanzas;
using Actors.Xmpp.Transport.Connections;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Xml;
using Akka.Actor;
using Akka.Event;

namespace Actors.Xmpp.Server.C2s;

/// <summary>
/// One client-to-server stream (RFC 6120 §4-§7): stream headers and features, STARTTLS, SASL, resource binding,
/// stream errors and close. To bind a resource it asks the <see cref="SessionsActor"/> for a <see cref="SessionActor"/>
/// and then hands it every stanza; the session outlives this actor (it is detached when the connection is lost,
/// closed when the stream is). It sees the client only through <see cref="ITransportConnection"/> (open a stream, send
/// features, send a stanza, close with a stream error, keep alive: the framing is the transport's) and
/// <see cref="TransportEvents"/>, so WebSocket and BOSH transports can feed the same actor. Its deadlines
/// (negotiation, idle timeout, keep-alive) are entries on the server's <see cref="TimerWheel"/>, not timers of its own.
/// </summary>
public sealed class C2sConnectionActor : UntypedActor
{
    /// <summary>Close the stream with this stream error (RFC 6120 §4.9).</summary>
    /// <param name="ApplicationSpecific">§4.9.4: an application-specific condition element, or null.</param>
    public sealed record CloseWithStreamError(string Condition, string? Text = null, Element? ApplicationSpecific = null)
    {
        public static readonly CloseWithStreamError Conflict = new(StreamErrors.Conflict, "replaced by a new session with the same resource");
        public static readonly CloseWithStreamError SystemShutdown = new(StreamErrors.SystemShutdown, "the server is shutting down");
    }

    private sealed record Tick
    {
        public static readonly Tick Instance = new();
    }

    private sealed record NegotiationTimeout
    {
        public static readonly NegotiationTimeout Instance = new();
    }

    private sealed record AuthenticationTimeout
    {
        public static readonly AuthenticationTimeout Instance = new();
    }

    /// <summary>The deadline of the stanza partly received (<see cref="ITransportConnection.StanzaStartedTicks"/>) may be due.</summary>
    private sealed record StanzaDeadline
    {
        public static readonly StanzaDeadline Instance = new();
    }

    /// <summary>Send this stanza to the client (answers computed off the actor thread, piped back).</summary>
    internal sealed record SendStanza(Element Stanza);

    /// <summary>The answer of a pre-authentication handler that did not complete at once; input was held meanwhile.</summary>
    private sealed record PreAuthAnswered(Element Answer);

    /// <summary>The answer of an account lookup that did not complete at once (<see cref="IAccountStore.FindAsync"/>).</summary>
    private sealed record CredentialsFound(ISaslMechanism Mechanism, UserCredentials? Credentials, Exception? Failure);

    private readonly ServerContext _server;
    private readonly ITransportConnection _conn;
    private readonly IActorRef _sessions;
    private ILoggingAdapter? _log;
    private TimerWheel.Timer? _negotiationDeadline;
    private TimerWheel.Timer? _nextTick;
    private TimerWheel.Timer? _stanzaDeadline;
    private long _connectedTicks;

    private bool _headerSent;
    private bool _closing;
    private bool _tlsStarting;     // <proceed/> sent, handshake not finished: nothing more may go out in plain text
    private string _domain;
    private string _lang = "en";
    private Jid? _account;         // after SASL success
    private Jid? _bound;           // after resource binding; until then the stream is negotiating
    private IActorRef? _session;
    private string? _sessionId;    // asked the sessions supervisor for a session: binding until it is open
    private bool _resuming;        // XEP-0198: _sessionId is a session being resumed, not one being opened
    private string? _bindIqId;
    private Element? _bindIq;      // the bind request until the session is open (for its error reply)
    private List<Element>? _heldForSession; // stanzas received while the session is being opened
    private ISaslMechanism? _sasl;
    private int _saslFailures;
    private bool _credentialsChecked; // the current SASL exchange got as far as a credential check
    private bool _loginAttemptOpen;   // the login throttle counted an exchange of this stream that has not ended
    private Queue<Element>? _heldInput;  // stanzas that arrived while an account lookup was pending, in order

    // made when something is logged, not per connection: Context.GetLogger() makes a new adapter at each call
    private ILoggingAdapter Log => _log ??= Context.GetLogger();

    // what Log.IsDebugEnabled would say, without making the adapter: each login logs at debug level, which is
    // usually off
    private bool DebugEnabled => _log?.IsDebugEnabled ?? Context.System.EventStream.LogLevel <= LogLevel.DebugLevel;

    /// <param name="sessions">The sessions supervisor (<see cref="SessionsActor"/>).</param>
    public static Props Props(ServerContext server, ITransportConnection connection, IActorRef sessions) =>
        ActorProps.Of(() => new C2sConnectionActor(server, connection, sessions));

    public C2sConnectionActor(ServerContext server, ITransportConnection connection, IActorRef sessions)
    {
        _server = server;
        _conn = connection;
        _sessions = sessions;
        _domain = server.Domains[0];
    }

    protected override void PreStart()
    {
        _connectedTicks = Environment.TickCount64;
        var limits = _server.Options.Limits;
        // until authenticated the shorter of the two deadlines; after, what is left of the negotiation's
        _negotiationDeadline = limits.AuthenticationTimeoutSeconds > 0 && limits.AuthenticationTimeoutSeconds < limits.NegotiationTimeoutSeconds
            ? _server.Timers.Schedule(Self, AuthenticationTimeout.Instance, TimeSpan.FromSeconds(limits.AuthenticationTimeoutSeconds))
            : _server.Timers.Schedule(Self, NegotiationTimeout.Instance, TimeSpan.FromSeconds(limits.NegotiationTimeoutSeconds));
        ScheduleTick(_connectedTicks);
    }

    protected override void PostStop()
    {
        Hosting.IdleHeapTrimmer.Released(Context.System);
        _negotiationDeadline?.Cancel();
        _nextTick?.Cancel();
        _stanzaDeadline?.Cancel();
        EndLoginAttempt(failedCheck: false); // the connection went away mid-exchange: no password was found wrong
        if (_session is not null) _session.Tell(new SessionActor.Detach(Self)); // lost without a stream close
        else if (_resuming) _sessions.Tell(new SessionsActor.AttachAbandoned(_sessionId!, Self)); // it stays resumable
        else if (_sessionId is not null && _bound is null) _sessions.Tell(new SessionsActor.Abandoned(_sessionId, Self));
        _conn.Abort();
    }

    // ------------------------------------------------------------------ messages
    // Every message is handled here. The stream negotiates (header, STARTTLS, SASL, binding) until a resource is
    // bound (_bound set), then its stanzas go to the session; the cases marked "negotiating" apply only before that
    // and are unhandled after it. One switch rather than ReceiveActor's Receive<T> tables, which each instance
    // builds and keeps (a delegate per handler): there is a connection per login.
    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case TransportEvents.StanzaReceived m when _sessionId is not null && _bound is null:
                (_heldForSession ??= new List<Element>()).Add(m.Element); // processed once the session is open
                break;
            case TransportEvents.StanzaReceived m:
                if (_heldInput is not null)
                {
                    _heldInput.Enqueue(m.Element); // acknowledged (Processed) when handled
                    break;
                }
                var toSession = false;
                try
                {
                    if (_bound is null) NegotiationStanza(m.Element);
                    else toSession = BoundStanza(m.Element);
                }
                finally
                {
                    if (!toSession) _conn.Processed();
                }
                break;
            case TransportEvents.StreamOpened m:
                OnStreamOpened(m.Header);
                break;
            case TransportEvents.StreamClosed:
                CloseStream();
                break;
            case TransportEvents.FramingFailed m:
                StreamError(FramingCondition(m.Condition), m.Text);
                break;
            case TransportEvents.ConnectionLost:
                Context.Stop(Self);
                break;
            case CloseWithStreamError m:
                StreamError(m.Condition, m.Text, m.ApplicationSpecific);
                break;
            case CredentialsFound m when _bound is null: // negotiating
                OnCredentialsFound(m);
                break;
            case Tick:
                OnTick();
                break;
            case NegotiationTimeout:
                // binding cancels the timer; a timeout that was already on its way is ignored
                if (_bound is null) StreamError(StreamErrors.ConnectionTimeout, "stream negotiation took too long");
                break;
            case AuthenticationTimeout:
                if (_account is null) StreamError(StreamErrors.ConnectionTimeout, "authentication took too long");
                break;
            case TransportEvents.StanzaStarted:
                if (_stanzaDeadline is null) ScheduleStanzaDeadline(Environment.TickCount64);
                break;
            case StanzaDeadline:
                _stanzaDeadline = null;
                ScheduleStanzaDeadline(Environment.TickCount64);
                break;
            case SessionsActor.Opened m when m.SessionId == _sessionId && _bound is null:
                OnSessionOpened(m);
                break;
            case SessionsActor.OpenRefused m when m.SessionId == _sessionId && _bound is null:
                OnBindRefused(m);
                break;
            case SessionActor.Attached m when _resuming && m.SessionId == _sessionId:
                OnResumed(m);
                break;
            case SessionsActor.AttachFailed m when _resuming && m.SessionId == _sessionId:
                OnResumeFailed(m);
                break;
            case SendStanza m when _bound is null: // negotiating
                SendToClient(m.Stanza);
                break;
            case PreAuthAnswered m when _bound is null: // negotiating
                SendToClient(m.Answer);
                ReplayHeldInput();
                break;
            case TransportEvents.TlsEstablished when _bound is null: // negotiating
                _headerSent = false; // the client now sends a new header
                _tlsStarting = false;
                break;
            case TransportEvents.TlsFailed m when _bound is null: // negotiating
                if (DebugEnabled) Log.Debug("TLS handshake failed on {0}: {1}", _conn.Id, m.Reason);
                Context.Stop(Self);
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    // ------------------------------------------------------------------ stream header (RFC 6120 §4.7)
    private void OnStreamOpened(StreamHeader header)
    {
        var lang = header.Attr("xml:lang");
        if (!string.IsNullOrEmpty(lang)) _lang = lang; // §4.7.4: reply in the client's language where we can (we only have 'en' texts)
        if (header.Namespace != Ns.Streams)
        {
            StreamError(StreamErrors.InvalidNamespace, "the stream namespace must be " + Ns.Streams);
            return;
        }
        if (header.Name != "stream")
        {
            StreamError(StreamErrors.InvalidXml, "the root element must be <stream:stream>"); // §4.9.3.11 (not a stream header at all)
            return;
        }
        if (header.DefaultNamespace != Ns.Client)
        {
            StreamError(StreamErrors.InvalidNamespace, "the content namespace must be " + Ns.Client);
            return;
        }
        var to = header.Attr("to");
        if (to is not null)
        {
            var domain = Jid.NormalizeDomain(to);
            if (domain is null || !_server.Serves(domain))
            {
                StreamError(StreamErrors.HostUnknown, $"this server does not serve '{to}'");
                return;
            }
            if (_account is not null && domain != _domain)
            {
                StreamError(StreamErrors.HostUnknown, "the domain changed during the stream restart");
                return;
            }
            _domain = domain;
        }
        var version = header.Attr("version");
        if (!SupportedVersion(version))
        {
            StreamError(StreamErrors.UnsupportedVersion, "this server speaks XMPP version 1.0 only");
            return;
        }
        SendHeader(header.Attr("from"));
        _conn.SendFeatures(Features());
    }

    /// <summary>RFC 6120 §4.7.5: major version 1 is required; a higher major version gets our 1.0 header.</summary>
    private static bool SupportedVersion(string? version)
    {
        if (version is null) return false;
        var dot = version.IndexOf('.');
        if (dot <= 0 || !int.TryParse(version.AsSpan(0, dot), out var major) || !int.TryParse(version.AsSpan(dot + 1), out _)) return false;
        return major >= 1;
    }

    /// <summary>Our side of the stream (RFC 6120 §4.7.1): 'to' is the client's 'from' when it gave a valid one (§4.7.2).</summary>
    private void SendHeader(string? clientFrom)
    {
        var id = Convert.ToHexString(RandomNumberGenerator.GetBytes(10)).ToLowerInvariant();
        string? to = null;
        if (clientFrom is not null && Jid.TryParse(clientFrom, out var from) && from is not null) to = from.ToString();
        _conn.OpenStream(new StreamOpening(Ns.Client, _domain, id, to, "1.0", _lang));
        _headerSent = true;
    }

    private Element Features()
    {
        var features = new Element("features", Ns.Streams);
        var tlsRequired = _server.Options.Tls.Required;
        if (_account is null)
        {
            if (_conn.CanStartTls)
            {
                var starttls = features.AddChild("starttls", Ns.Tls);
                if (tlsRequired) starttls.AddChild("required");
            }
            if (_conn.IsSecure || !tlsRequired)
            {
                var mechanisms = features.AddChild("mechanisms", Ns.Sasl);
                foreach (var name in _server.Sasl.Advertise(_conn.IsSecure, _conn.ChannelBinding, CertificateJids()))
                    mechanisms.AddChild("mechanism").AddText(name);
                if (_conn.ChannelBinding is { } cb && cb.SupportedTypes.Count > 0)
                {
                    // XEP-0440: which channel-binding types the server supports
                    var cbs = features.AddChild("sasl-channel-binding", Ns.SaslChannelBinding);
                    foreach (var type in cb.SupportedTypes) cbs.AddChild("channel-binding").SetAttr("type", type);
                }
                // plugins' features before authentication (XEP-0077 <register/>), where the stream may authenticate
                if (_server.Negotiation.HasFeatures(StreamStage.BeforeAuthentication))
                    _server.Negotiation.AddFeatures(StreamStage.BeforeAuthentication, StreamInfo(), features);
            }
        }
        else if (_bound is null)
        {
            features.AddChild("bind", Ns.Bind);
            features.AddChild("session", Ns.Session).AddChild("optional");
            if (_server.Router.Users is not null)
            {
                features.AddChild("ver", "urn:xmpp:features:rosterver");     // RFC 6121 §2.6.1 roster versioning
                features.AddChild("sub", "urn:xmpp:features:pre-approval");  // RFC 6121 §3.4.1 pre-approval
            }
            features.AddChild("sm", Ns.StreamManagement); // XEP-0198 §2: enable after binding, or resume instead of it
            features.AddChild("csi", Ns.Csi);             // XEP-0352 §3
            foreach (var extra in _server.Iq.StreamFeatures()) features.Add(extra); // plugins (XEP-0115 caps, ...)
            if (_server.Negotiation.HasFeatures(StreamStage.AfterAuthentication))
                _server.Negotiation.AddFeatures(StreamStage.AfterAuthentication, StreamInfo(), features);
        }
        return features;
    }

    // ------------------------------------------------------------------ before a resource is bound
    private void NegotiationStanza(Element e)
    {
        if (!_headerSent) return; // cannot happen: the framer delivers stanzas only after a header
        if (e.Namespace == Ns.Tls && e.Name == "starttls")
        {
            StartTls();
            return;
        }
        if (e.Namespace == Ns.Sasl)
        {
            Sasl(e);
            return;
        }
        if (e.Namespace == Ns.Client && e.Name == "iq")
        {
            NegotiationIq(e);
            return;
        }
        if (e.Namespace == Ns.StreamManagement)
        {
            StreamManagementBeforeBind(e);
            return;
        }
        if (e.Namespace == Ns.Client && e.Name is "message" or "presence")
        {
            StreamError(StreamErrors.NotAuthorized, "authenticate and bind a resource first"); // §4.9.3.12
            return;
        }
        StreamError(StreamErrors.UnsupportedStanzaType, $"<{e.Name} xmlns='{e.Namespace}'/> is not expected here");
    }

    private void StartTls()
    {
        if (!_conn.CanStartTls || _account is not null)
        {
            // RFC 6120 §5.4.2.2: failure, then close the stream
            _conn.Send(new Element("failure", Ns.Tls), Ns.Client);
            CloseStream();
            return;
        }
        _conn.StartTls();                                   // before <proceed/> can reach the client
        _conn.Send(new Element("proceed", Ns.Tls), Ns.Client);
        _headerSent = false;
        _tlsStarting = true;
    }

    private void NegotiationIq(Element iq)
    {
        var payload = iq.FirstChild();
        if (_account is null)
        {
            PreAuthIq(iq, payload);
            return;
        }
        if (iq.Type == "set" && payload is not null && payload.Is("bind", Ns.Bind))
        {
            Bind(iq, payload);
            return;
        }
        if (iq.Type == "set" && payload is not null && payload.Is("session", Ns.Session))
        {
            SendToClient(StanzaErrors.Reply(iq, "not-allowed", "bind a resource first"));
            return;
        }
        StreamError(StreamErrors.NotAuthorized, "bind a resource first");
    }

    /// <summary>
    /// An IQ before authentication: a plugin's pre-authentication handler answers it on this stream (XEP-0077
    /// registration); where TLS is required and not yet negotiated the handler is not asked (a &lt;not-authorized/&gt;
    /// stanza error). An IQ no handler takes ends the stream with &lt;not-authorized/&gt; (RFC 6120 §4.9.3.12), except a
    /// jabber:iq:register one: XEP-0077 §3.1 has a server without in-band registration (disabled, or its plugin not
    /// loaded) answer &lt;service-unavailable/&gt;.
    /// </summary>
    private void PreAuthIq(Element iq, Element? payload)
    {
        var handler = payload is not null && iq.Type is "get" or "set" ? _server.Negotiation.FindPreAuthIq(iq.Type!, payload.Namespace, payload.Name) : null;
        if (handler is null && !(payload?.Namespace == Ns.Register && iq.Type is "get" or "set"))
        {
            StreamError(StreamErrors.NotAuthorized, "authenticate first");
            return;
        }
        if (!_conn.IsSecure && _server.Options.Tls.Required)
        {
            SendToClient(StanzaErrors.Reply(iq, "not-authorized", "negotiate TLS first"));
            return;
        }
        if (handler is null)
        {
            SendToClient(StanzaErrors.Reply(iq, "service-unavailable", "in-band registration is not offered")); // XEP-0077 §3.1
            return;
        }
        ValueTask<Element> answer;
        try { answer = handler(new PreAuthIqRequest(iq, payload!, StreamInfo())); }
        catch (Exception ex) { answer = ValueTask.FromException<Element>(ex); }
        if (answer.IsCompletedSuccessfully)
        {
            SendToClient(answer.Result);
            return;
        }
        // one answer pending at a time (a registration derives keys): what the client pipelines behind it is held,
        // unacknowledged, so the transport stops reading once too much is waiting
        _heldInput = new Queue<Element>();
        var log = Log; // the adapter is thread-safe; Context is not, off this thread
        answer.AsTask().PipeTo(Self, success: r => new PreAuthAnswered(r), failure: ex =>
        {
            log.Warning(ex, "a pre-authentication handler for {0} failed", payload!.Namespace);
            return new PreAuthAnswered(StanzaErrors.Reply(iq, "internal-server-error")!);
        });
    }

    /// <summary>What plugins see of this stream (pre-authentication handlers, stream-feature providers).</summary>
    private StreamInfo StreamInfo()
    {
        var ip = (_conn.RemoteEndPoint as System.Net.IPEndPoint)?.Address;
        return new(_domain, _conn.IsSecure, ip?.ToString(), Transport.Admission.AddressGroup.Of(_conn.RemoteEndPoint)?.ToString(),
            AddressLimitsExempt: ip is not null && _server.Options.Limits.ExemptLoopback && System.Net.IPAddress.IsLoopback(ip));
    }

    // ------------------------------------------------------------------ SASL (RFC 6120 §6)
    private void Sasl(Element e)
    {
        if (_account is not null)
        {
            StreamError(StreamErrors.PolicyViolation, "already authenticated");
            return;
        }
        if (!_conn.IsSecure && _server.Options.Tls.Required)
        {
            SaslFailure("encryption-required", "negotiate TLS first");
            return;
        }
        switch (e.Name)
        {
            case "auth":
            {
                if (_sasl is not null)
                {
                    SaslFailure("aborted", "a SASL exchange is already in progress", clear: true);
                    return;
                }
                var name = e.Attr("mechanism");
                var mechanism = name is null ? null : _server.Sasl.Create(name, _conn.IsSecure, _conn.ChannelBinding, _domain,
                    certificateJids: CertificateJids());
                if (mechanism is null)
                {
                    SaslFailure("invalid-mechanism", null, count: false);
                    return;
                }
                // counted from the <auth/>, before anything is checked: parallel streams get no more guesses than one
                var verdict = _server.LoginLimiter.Begin(_conn.RemoteEndPoint);
                if (!verdict.Allowed)
                {
                    SaslFailure("temporary-auth-failure", verdict.Refusal, count: false);
                    return;
                }
                _loginAttemptOpen = true;
                if (!TryDecode(e, out var initial, allowAbsent: true)) return;
                _sasl = mechanism;
                _credentialsChecked = false;
                OnSaslResult(mechanism.Start(initial));
                return;
            }
            case "response":
            {
                if (_sasl is null)
                {
                    SaslFailure("malformed-request", "no SASL exchange in progress", count: false);
                    return;
                }
                if (!TryDecode(e, out var data, allowAbsent: false)) return;
                OnSaslResult(_sasl.Step(data ?? []));
                return;
            }
            case "abort":
                SaslFailure("aborted", null, count: false, clear: true);
                return;
            default:
                StreamError(StreamErrors.UnsupportedStanzaType, $"unexpected SASL element <{e.Name}/>");
                return;
        }
    }

    /// <summary>XEP-0178: the accounts of this domain the client's verified certificate names (id-on-xmppAddr bare JIDs);
    /// null without one.</summary>
    private IReadOnlyList<Jid>? CertificateJids()
    {
        if (_conn.PeerCertificate is not { } certificate) return null;
        List<Jid>? jids = null;
        foreach (var text in Transport.Tls.PeerCertificateVerifier.XmppAddrs(certificate))
            if (Jid.TryParse(text, out var jid) && jid is not null && jid.IsBare && jid.Local is not null && jid.Domain == _domain)
                (jids ??= new List<Jid>()).Add(jid);
        return jids;
    }

    /// <summary>Base64 content of auth/response; "=" is an empty response (RFC 6120 §6.4.2).</summary>
    private bool TryDecode(Element e, out byte[]? data, bool allowAbsent)
    {
        var text = e.Text.Trim();
        data = null;
        if (text.Length == 0) return true; // no content: no initial response / an empty response
        if (text == "=")
        {
            data = [];
            return true;
        }
        try
        {
            data = Convert.FromBase64String(text);
            return true;
        }
        catch (FormatException)
        {
            SaslFailure("incorrect-encoding", null, clear: true);
            return false;
        }
    }

    private void OnSaslResult(SaslResult result)
    {
        switch (result)
        {
            case SaslResult.Challenge c:
                SendToClient(new Element("challenge", Ns.Sasl).AddText(c.Data.Length == 0 ? "=" : Convert.ToBase64String(c.Data)));
                return;
            case SaslResult.NeedCredentials need:
            {
                var mechanism = _sasl!;
                if (!Jid.TryParse(need.Username + "@" + _domain, out var account) || account is null || !account.IsBare)
                {
                    OnSaslResult(mechanism.Continue(null));
                    return;
                }
                _credentialsChecked = true;
                var lookup = _server.Accounts.FindAsync(account);
                if (lookup.IsCompletedSuccessfully)
                {
                    OnSaslResult(mechanism.Continue(lookup.Result)); // in memory: answered at once
                    return;
                }
                // not in memory: the answer comes back as a message; input is held until then
                _heldInput = new Queue<Element>();
                lookup.AsTask().PipeTo(Self, Self, c => new CredentialsFound(mechanism, c, null), ex => new CredentialsFound(mechanism, null, ex));
                return;
            }
            case SaslResult.Success s:
            {
                var account = Jid.Create(s.Username, _domain);
                _account = account;
                _sasl = null;
                Diagnostics.XmppMetrics.Login(success: true);
                EndLoginAttempt(failedCheck: false);
                ResumeNegotiationDeadline();
                _conn.Authenticated();                  // the full stanza limit from the restart on
                if (_server.Shapers.For(account) is { } shaper) _conn.Reshape(shaper); // the account class's rates
                _conn.RestartStream();                  // before <success/> can reach the client
                _headerSent = false;
                SendToClient(new Element("success", Ns.Sasl).AddText(s.AdditionalData is { Length: > 0 } d ? Convert.ToBase64String(d) : ""));
                if (DebugEnabled) Log.Debug("{0} authenticated as {1}", _conn.Id, account);
                return;
            }
            case SaslResult.Failure f:
                SaslFailure(f.Condition, f.Text, clear: true);
                return;
        }
    }

    private void OnCredentialsFound(CredentialsFound m)
    {
        if (ReferenceEquals(_sasl, m.Mechanism))
        {
            if (m.Failure is null) OnSaslResult(m.Mechanism.Continue(m.Credentials));
            else
            {
                Log.Warning("account lookup on {0} failed: {1}", _conn.Id, m.Failure.Message);
                _credentialsChecked = false; // not the client's fault: not a failed login
                SaslFailure("temporary-auth-failure", "the account directory is not available", count: false);
            }
        }
        ReplayHeldInput();
    }

    /// <summary>What arrived while an answer was pending (an account lookup, a pre-authentication handler), in order;
    /// it may start another wait, which holds the rest again.</summary>
    private void ReplayHeldInput()
    {
        var held = _heldInput!;
        _heldInput = null;
        while (held.Count > 0 && !_closing)
        {
            if (_heldInput is not null)
            {
                while (held.Count > 0) _heldInput.Enqueue(held.Dequeue());
                return;
            }
            var e = held.Dequeue();
            var toSession = false;
            try
            {
                if (_bound is null) NegotiationStanza(e);
                else toSession = BoundStanza(e);
            }
            finally
            {
                if (!toSession) _conn.Processed();
            }
        }
    }

    private void SaslFailure(string condition, string? text, bool count = true, bool clear = true)
    {
        if (clear) _sasl = null;
        // only a failed credential check is a failed login; a client probing mechanisms or channel-binding types
        // (slixmpp tries every -PLUS mechanism first) is not. Counted before the <failure/> is written: a client that
        // reconnects the moment it reads the failure must already find it counted.
        var counted = count && _credentialsChecked;
        if (counted)
        {
            _credentialsChecked = false;
            Diagnostics.XmppMetrics.Login(success: false);
        }
        if (clear || counted) EndLoginAttempt(failedCheck: counted);
        var failure = new Element("failure", Ns.Sasl);
        failure.AddChild(condition);
        if (text is not null) failure.AddChild("text").SetAttr("xml:lang", "en").AddText(text);
        SendToClient(failure);
        if (!counted) return;
        // RFC 6120 §6.4.5: allow a few retries, then close the stream
        if (++_saslFailures >= _server.Options.Auth.MaxFailuresPerStream)
            StreamError(StreamErrors.PolicyViolation, "too many failed authentication attempts");
    }

    /// <summary>Ends the exchange the login throttle counted at its &lt;auth/&gt;, if one is open: a failed credential
    /// check keeps its count, anything else gives it back.</summary>
    private void EndLoginAttempt(bool failedCheck)
    {
        if (!_loginAttemptOpen) return;
        _loginAttemptOpen = false;
        _server.LoginLimiter.End(_conn.RemoteEndPoint, failedCheck);
    }

    /// <summary>Authenticated: the authentication deadline gives way to what is left of the negotiation's.</summary>
    private void ResumeNegotiationDeadline()
    {
        _negotiationDeadline?.Cancel();
        var left = _server.Options.Limits.NegotiationTimeoutSeconds * 1000L - (Environment.TickCount64 - _connectedTicks);
        _negotiationDeadline = _server.Timers.Schedule(Self, NegotiationTimeout.Instance, TimeSpan.FromMilliseconds(Math.Max(1, left)));
    }

    /// <summary>Slowloris: a stanza that began (<see cref="ITransportConnection.StanzaStartedTicks"/>) must be complete
    /// within Xmpp:Limits:StanzaDeadlineSeconds, however many bytes keep trickling in; else &lt;policy-violation/&gt;
    /// (RFC 6120 §4.9.3.14). One wheel entry, only while a stanza is partly received.</summary>
    private void ScheduleStanzaDeadline(long now)
    {
        var deadline = _server.Options.Limits.StanzaDeadlineSeconds * 1000L;
        var started = _conn.StanzaStartedTicks;
        if (deadline <= 0 || started == 0 || _closing) return;
        if (now - started >= deadline)
        {
            StreamError(StreamErrors.PolicyViolation, $"a stanza took more than {deadline / 1000} seconds to arrive");
            return;
        }
        _stanzaDeadline = _server.Timers.Schedule(Self, StanzaDeadline.Instance, TimeSpan.FromMilliseconds(started + deadline - now));
    }

    // ------------------------------------------------------------------ resource binding (RFC 6120 §7)
    private void Bind(Element iq, Element bind)
    {
        var account = _account!;
        var requested = bind.ChildText("resource", Ns.Bind)?.Trim();
        string resource;
        if (string.IsNullOrEmpty(requested))
        {
            resource = GenerateResource();
        }
        else
        {
            var normalized = Jid.NormalizeResource(requested);
            if (normalized is null)
            {
                SendToClient(StanzaErrors.Reply(iq, "bad-request", "the resource is not a valid resourcepart")); // §7.7.2.1
                return;
            }
            resource = normalized;
        }
        var full = account.WithResource(resource);
        // the sessions supervisor makes and registers the session (replacing an older one, §7.7.2.2); until it
        // answers, what the client sends waits
        _sessionId = SessionsActor.NewSessionId();
        _bindIqId = iq.Id;
        _bindIq = iq;
        _sessions.Tell(new SessionsActor.Open(_sessionId, full, _conn, Self));
    }

    /// <summary>RFC 6120 §7.6.2.1: the account has reached its limit of simultaneous resources: &lt;resource-constraint/&gt;
    /// (type wait); the stream stays open, unbound (the client may try again once a resource is gone).</summary>
    private const string XmppErrorsNamespace = "urn:xmpp:errors";

    private void OnBindRefused(SessionsActor.OpenRefused m)
    {
        _sessionId = null;
        var iq = _bindIq!;
        _bindIq = null;
        var error = StanzaErrors.Reply(iq, "resource-constraint", $"this account has {m.MaxResources} resources bound already, the most it may have");
        error?.SetAttr("from", null).SetAttr("to", null);
        // XEP-0205 §3's application-specific condition for it (XEP-0182 registry)
        error?.Child("error", Ns.Client)?.Add(new Element("resource-limit-exceeded", XmppErrorsNamespace));
        SendToClient(error);
        ReplayHeld();
    }

    private void OnSessionOpened(SessionsActor.Opened m)
    {
        _bindIq = null;
        if (_closing)
        {
            m.Session.Tell(new SessionActor.Close(Self)); // the stream closed while the session was being made
            return;
        }
        _bound = m.Jid;
        _session = m.Session;
        _negotiationDeadline?.Cancel(); // _bound is set: from the next message on, the stream is bound
        _negotiationDeadline = null;
        var result = StanzaErrors.IqResult(new Element("iq", Ns.Client).SetAttr("id", _bindIqId));
        result.SetAttr("from", null).SetAttr("to", null);
        result.Add(new Element("bind", Ns.Bind, new Element("jid", Ns.Bind, m.Jid.ToString())));
        SendToClient(result);
        ReplayHeld();
    }

    // ------------------------------------------------------------------ XEP-0198 resumption (instead of binding)
    /// <summary>Before a resource is bound only &lt;resume/&gt; is allowed, and only once authenticated (XEP-0198 §5);
    /// &lt;enable/&gt; comes after binding (§3: the server enforces the order with &lt;failed/&gt;).</summary>
    private void StreamManagementBeforeBind(Element e)
    {
        if (e.Name != "resume" || _account is null)
        {
            SendToClient(StreamManagementFailed("unexpected-request"));
            return;
        }
        var previd = e.Attr("previd");
        if (string.IsNullOrEmpty(previd) || !StreamManagement.TryParseH(e.Attr("h"), out var h))
        {
            SendToClient(StreamManagementFailed("bad-request"));
            return;
        }
        // what the client sends until the session answers waits (as during binding)
        _sessionId = previd;
        _resuming = true;
        _sessions.Tell(new SessionsActor.Attach(previd, _account, _conn, Self, h));
    }

    private static Element StreamManagementFailed(string condition) =>
        new Element("failed", Ns.StreamManagement).Add(new Element(condition, Ns.StanzaErrors));

    /// <summary>The session wrote &lt;resumed/&gt; and what the client had not acknowledged; the stream is bound to it.</summary>
    private void OnResumed(SessionActor.Attached m)
    {
        _resuming = false;
        if (_closing)
        {
            m.Session.Tell(new SessionActor.Detach(Self)); // the stream ended meanwhile: the session waits for another
            return;
        }
        _bound = m.Jid;
        _session = m.Session;
        _negotiationDeadline?.Cancel();
        _negotiationDeadline = null;
        if (DebugEnabled) Log.Debug("{0} resumed {1} ({2} stanzas retransmitted)", _conn.Id, m.Jid, m.Pending);
        ReplayHeld();
    }

    /// <summary>XEP-0198 §5: unknown or expired 'previd' (or another account's): &lt;failed/&gt; with
    /// &lt;item-not-found/&gt;, and the client may bind instead; an 'h' above what was sent ends the stream (§4).</summary>
    private void OnResumeFailed(SessionsActor.AttachFailed m)
    {
        _resuming = false;
        _sessionId = null;
        if (m.TooHigh is { } tooHigh)
        {
            var error = SessionActor.HandledCountTooHighError(tooHigh.H, tooHigh.SendCount);
            StreamError(error.Condition, error.Text, error.ApplicationSpecific);
            return;
        }
        SendToClient(StreamManagementFailed("item-not-found"));
        ReplayHeld();
    }

    /// <summary>What the client sent while the session was being opened or resumed, in order; a bind among it holds the
    /// rest again.</summary>
    private void ReplayHeld()
    {
        var held = _heldForSession;
        _heldForSession = null;
        if (held is null) return;
        for (var i = 0; i < held.Count; i++)
        {
            if (_sessionId is not null && _bound is null)
            {
                // waiting for a session again: the rest stays held (and unacknowledged) until it is there
                (_heldForSession ??= new List<Element>()).Add(held[i]);
                continue;
            }
            var toSession = false;
            try
            {
                if (_closing) continue;
                if (_bound is null) NegotiationStanza(held[i]);
                else toSession = BoundStanza(held[i]);
            }
            finally
            {
                if (!toSession) _conn.Processed();
            }
        }
    }

    private static string GenerateResource() =>
        "actors-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(6)).ToLowerInvariant();

    // ------------------------------------------------------------------ after binding
    /// <summary>A top-level element after binding. True when it went to the session as a stanza: the session tells the
    /// transport it is processed once it has routed it (<see cref="SessionActor.FromClient"/>), so that reading pauses
    /// while the session is behind (and what it routes comes back to this client faster than the client reads it,
    /// see the transport's outbound pressure), not merely while this actor is.</summary>
    private bool BoundStanza(Element e)
    {
        // our side closed the stream and ended the session (a node shutting down, a stream error): what the client
        // had already sent is not handled (RFC 6120 §4.4); with XEP-0198 it sends again what was not acknowledged
        if (_session is null) return false;
        if (e.Namespace == Ns.StreamManagement)
        {
            _session!.Tell(new SessionActor.StreamManagementElement(e)); // XEP-0198: the session counts and acknowledges
            return false;
        }
        if (e.Namespace == Ns.Csi && e.Name is "active" or "inactive")
        {
            // XEP-0352: the session holds unimportant stanzas while the client is inactive
            _session!.Tell(e.Name == "active" ? SessionActor.ClientState.IsActive : SessionActor.ClientState.IsInactive);
            return false;
        }
        if (e.Namespace != Ns.Client || e.Name is not ("message" or "presence" or "iq"))
        {
            if (e.Namespace is Ns.Sasl or Ns.Tls)
            {
                StreamError(StreamErrors.PolicyViolation, "the stream is already authenticated");
                return false;
            }
            StreamError(StreamErrors.UnsupportedStanzaType, $"<{e.Name} xmlns='{e.Namespace}'/> is not a stanza");
            return false;
        }
        // (the session answers the legacy session IQ and a second bind itself: what it sends is what XEP-0198 counts)
        // the root of the stanza's trace (XmppTracing): its context travels beside the stanza, never in it
        using var span = Diagnostics.XmppTracing.StartRoot(Diagnostics.XmppTracing.Spans.ClientStanza, System.Diagnostics.ActivityKind.Server, e);
        _session!.Tell(new SessionActor.FromClient(e, span is null ? default : span.Context, _conn));
        return true;
    }

    // ------------------------------------------------------------------ close, errors, timers
    private void OnTick()
    {
        _nextTick = null;
        if (_closing) return;
        var now = Environment.TickCount64;
        var limits = _server.Options.Limits;
        if (limits.IdleTimeoutSeconds > 0 && now - _conn.LastReceivedTicks > limits.IdleTimeoutSeconds * 1000L)
        {
            StreamError(StreamErrors.ConnectionTimeout, "no traffic from the client");
            return;
        }
        if (limits.KeepAliveSeconds > 0 && !_tlsStarting && now - _conn.LastSentTicks >= limits.KeepAliveSeconds * 1000L - 500)
            _conn.KeepAlive(); // whitespace keep-alive on TCP (RFC 6120 §4.6.1)
        ScheduleTick(now);
    }

    /// <summary>One wheel entry per connection, due at its next deadline: the idle timeout or the keep-alive.</summary>
    private void ScheduleTick(long now)
    {
        var limits = _server.Options.Limits;
        var due = long.MaxValue;
        if (limits.IdleTimeoutSeconds > 0) due = _conn.LastReceivedTicks + limits.IdleTimeoutSeconds * 1000L + 1;
        if (limits.KeepAliveSeconds > 0) due = Math.Min(due, _conn.LastSentTicks + limits.KeepAliveSeconds * 1000L);
        if (due == long.MaxValue) return;
        _nextTick = _server.Timers.Schedule(Self, Tick.Instance, TimeSpan.FromMilliseconds(Math.Max(1000, due - now)));
    }

    internal void SendToClient(Element? stanza)
    {
        if (stanza is not null) _conn.Send(stanza, Ns.Client);
    }

    internal ServerContext Server => _server;
    internal ITransportConnection Connection => _conn;
    internal string Domain => _domain;

    private void StreamError(string condition, string? text, Element? applicationSpecific = null)
    {
        if (_closing) return;
        if (DebugEnabled) Log.Debug("{0}: stream error {1}: {2}", _conn.Id, condition, text);
        CloseStream(StreamErrors.Create(condition, text, applicationSpecific));
    }

    /// <summary>Our side of the close (RFC 6120 §4.4), after the stream error if there is one (§4.9): the transport
    /// writes them, then closes the connection once they are flushed. The session ends with the stream.</summary>
    private void CloseStream(Element? streamError = null)
    {
        if (_closing) return;
        _closing = true;
        if (_tlsStarting)
        {
            // during the TLS handshake there is no stream to put an error on or to close: just close (RFC 6120 §5.4.3.2)
            _conn.Close();
        }
        else
        {
            if (!_headerSent) SendHeader(null); // §4.9.1.2: an error needs an open stream
            _conn.CloseStream(streamError);
        }
        _nextTick?.Cancel();
        _nextTick = null;
        if (_session is not null)
        {
            _session.Tell(new SessionActor.Close(Self)); // unavailable presence and unregistration happen in its PostStop
            _session = null;
        }
    }

    private static string FramingCondition(FramerErrorCondition c) => StreamErrors.ForFraming(c);
}
