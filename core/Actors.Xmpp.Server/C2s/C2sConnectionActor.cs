using System.Buffers;
using System.Security.Cryptography;
using System.Text;
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
/// stream errors and close. Once a resource is bound it spawns the <see cref="SessionActor"/> and hands it every
/// stanza. It sees the client only through <see cref="ITransportConnection"/> and <see cref="TransportEvents"/>,
/// so WebSocket and BOSH transports can feed the same actor.
/// </summary>
public sealed class C2sConnectionActor : UntypedActor, IWithTimers
{
    /// <summary>Close the stream with this stream error (RFC 6120 §4.9).</summary>
    public sealed record CloseWithStreamError(string Condition, string? Text = null)
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

    /// <summary>Send this stanza to the client (answers computed off the actor thread, piped back).</summary>
    internal sealed record SendStanza(Element Stanza);

    /// <summary>The answer of an account lookup that did not complete at once (<see cref="IAccountStore.FindAsync"/>).</summary>
    private sealed record CredentialsFound(ISaslMechanism Mechanism, UserCredentials? Credentials, Exception? Failure);

    private readonly ServerContext _server;
    private readonly ITransportConnection _conn;
    private ILoggingAdapter? _log;

    private bool _headerSent;
    private bool _closing;
    private bool _tlsStarting;     // <proceed/> sent, handshake not finished: nothing more may go out in plain text
    private string _domain;
    private string _lang = "en";
    private Jid? _account;         // after SASL success
    private Jid? _bound;           // after resource binding; until then the stream is negotiating
    private IActorRef? _session;
    private ISaslMechanism? _sasl;
    private int _saslFailures;
    private bool _credentialsChecked; // the current SASL exchange got as far as a credential check
    private Queue<Element>? _heldInput;  // stanzas that arrived while an account lookup was pending, in order

    public ITimerScheduler Timers { get; set; } = null!;

    // made when something is logged, not per connection: Context.GetLogger() makes a new adapter at each call
    private ILoggingAdapter Log => _log ??= Context.GetLogger();

    // what Log.IsDebugEnabled would say, without making the adapter: each login logs at debug level, which is
    // usually off
    private bool DebugEnabled => _log?.IsDebugEnabled ?? Context.System.EventStream.LogLevel <= LogLevel.DebugLevel;

    public static Props Props(ServerContext server, ITransportConnection connection) =>
        ActorProps.Of(() => new C2sConnectionActor(server, connection));

    public C2sConnectionActor(ServerContext server, ITransportConnection connection)
    {
        _server = server;
        _conn = connection;
        _domain = server.Domains[0];
    }

    protected override void PreStart()
    {
        Timers.StartSingleTimer("negotiation", NegotiationTimeout.Instance,
            TimeSpan.FromSeconds(_server.Options.Limits.NegotiationTimeoutSeconds));
        var tick = Math.Max(1, Math.Min(_server.Options.Limits.KeepAliveSeconds > 0 ? _server.Options.Limits.KeepAliveSeconds : 60,
            _server.Options.Limits.IdleTimeoutSeconds));
        Timers.StartPeriodicTimer("tick", Tick.Instance, TimeSpan.FromSeconds(tick));
    }

    protected override void PostStop() => _conn.Abort();

    // ------------------------------------------------------------------ messages
    // Every message is handled here. The stream negotiates (header, STARTTLS, SASL, binding) until a resource is
    // bound (_bound set), then its stanzas go to the session; the cases marked "negotiating" apply only before that
    // and are unhandled after it. One switch rather than ReceiveActor's Receive<T> tables, which each instance
    // builds and keeps (a delegate per handler): there is a connection per login.
    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case TransportEvents.StanzaReceived m:
                if (_heldInput is not null)
                {
                    _heldInput.Enqueue(m.Element); // acknowledged (Processed) when handled
                    break;
                }
                try
                {
                    if (_bound is null) NegotiationStanza(m.Element);
                    else BoundStanza(m.Element);
                }
                finally { _conn.Processed(); }
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
                StreamError(m.Condition, m.Text);
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
            case SendStanza m when _bound is null: // negotiating
                SendToClient(m.Stanza);
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
        SendStreamElement(Features());
    }

    /// <summary>RFC 6120 §4.7.5: major version 1 is required; a higher major version gets our 1.0 header.</summary>
    private static bool SupportedVersion(string? version)
    {
        if (version is null) return false;
        var dot = version.IndexOf('.');
        if (dot <= 0 || !int.TryParse(version.AsSpan(0, dot), out var major) || !int.TryParse(version.AsSpan(dot + 1), out _)) return false;
        return major >= 1;
    }

    private void SendHeader(string? clientFrom)
    {
        var id = Convert.ToHexString(RandomNumberGenerator.GetBytes(10)).ToLowerInvariant();
        var sb = new StringBuilder(256);
        sb.Append("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='")
          .Append(id).Append("' from='").Append(_domain).Append('\'');
        if (clientFrom is not null && Jid.TryParse(clientFrom, out var from) && from is not null)
            sb.Append(" to='").Append(Escape(from.ToString())).Append('\'');
        sb.Append(" version='1.0' xml:lang='").Append(Escape(_lang)).Append("'>");
        _conn.SendRaw(Encoding.UTF8.GetBytes(sb.ToString()));
        _headerSent = true;
    }

    /// <summary>
    /// &lt;stream:features/&gt; and &lt;stream:error/&gt; with the 'stream' prefix our header declares: RFC 6120 §4.8.5
    /// lets implementations accept only that prefix for the stream namespace, so a redeclared default namespace
    /// (&lt;features xmlns='http://etherx.jabber.org/streams'/&gt;) would break such clients.
    /// </summary>
    private void SendStreamElement(Element e)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        buffer.Write(Encoding.UTF8.GetBytes("<stream:" + e.Name + ">"));
        foreach (var child in e.Elements()) child.WriteTo(buffer, Ns.Client);
        buffer.Write(Encoding.UTF8.GetBytes("</stream:" + e.Name + ">"));
        _conn.SendRaw(buffer.WrittenSpan);
    }

    private static string Escape(string s) => s.Replace("&", "&amp;").Replace("'", "&apos;").Replace("<", "&lt;").Replace(">", "&gt;");

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
                foreach (var name in _server.Sasl.Advertise(_conn.IsSecure, _conn.ChannelBinding))
                    mechanisms.AddChild("mechanism").AddText(name);
                if (_conn.ChannelBinding is { } cb && cb.SupportedTypes.Count > 0)
                {
                    // XEP-0440: which channel-binding types the server supports
                    var cbs = features.AddChild("sasl-channel-binding", Ns.SaslChannelBinding);
                    foreach (var type in cb.SupportedTypes) cbs.AddChild("channel-binding").SetAttr("type", type);
                }
                if (_server.Options.Registration.Enabled) features.AddChild("register", Ns.RegisterFeature);
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
            foreach (var extra in _server.Iq.StreamFeatures()) features.Add(extra); // plugins (XEP-0115 caps, ...)
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
            if (payload?.Namespace == Ns.Register && (_conn.IsSecure || !_server.Options.Tls.Required))
            {
                InBandRegistration.Handle(_server, _domain, iq, payload).PipeTo(Self, success: r => new SendStanza(r));
                return;
            }
            if (payload?.Namespace == Ns.Register)
            {
                SendToClient(StanzaErrors.Reply(iq, "not-authorized", "negotiate TLS first"));
                return;
            }
            StreamError(StreamErrors.NotAuthorized, "authenticate first");
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
                if (!_server.LoginLimiter.Allowed(_conn.RemoteEndPoint))
                {
                    SaslFailure("temporary-auth-failure", "too many failed logins from your address; try again later", count: false);
                    return;
                }
                var name = e.Attr("mechanism");
                var mechanism = name is null ? null : _server.Sasl.Create(name, _conn.IsSecure, _conn.ChannelBinding, _domain);
                if (mechanism is null)
                {
                    SaslFailure("invalid-mechanism", null, count: false);
                    return;
                }
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
        // then what arrived meanwhile, in order (it may start another lookup, which holds the rest again)
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
            try
            {
                if (_bound is null) NegotiationStanza(e);
                else BoundStanza(e);
            }
            finally { _conn.Processed(); }
        }
    }

    private void SaslFailure(string condition, string? text, bool count = true, bool clear = true)
    {
        if (clear) _sasl = null;
        var failure = new Element("failure", Ns.Sasl);
        failure.AddChild(condition);
        if (text is not null) failure.AddChild("text").SetAttr("xml:lang", "en").AddText(text);
        SendToClient(failure);
        // only a failed credential check is a failed login; a client probing mechanisms or channel-binding types
        // (slixmpp tries every -PLUS mechanism first) is not
        if (!count || !_credentialsChecked) return;
        _credentialsChecked = false;
        _server.LoginLimiter.Failed(_conn.RemoteEndPoint);
        // RFC 6120 §6.4.5: allow a few retries, then close the stream
        if (++_saslFailures >= _server.Options.Auth.MaxFailuresPerStream)
            StreamError(StreamErrors.PolicyViolation, "too many failed authentication attempts");
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
        var session = Context.ActorOf(SessionActor.Props(full, _conn, Self, _server.Sessions, _server.Router), "session");
        _bound = full;
        _session = session;
        var replaced = _server.Sessions.Register(new SessionEntry(full, session, false, 0, Environment.TickCount64));
        // §7.7.2.2: the server's policy is to terminate the older session with <conflict/>
        replaced?.Session.Tell(SessionMessages.ReplacedInstance);

        var result = StanzaErrors.IqResult(new Element("iq", Ns.Client).SetAttr("id", iq.Id));
        result.SetAttr("from", null).SetAttr("to", null);
        result.Add(new Element("bind", Ns.Bind, new Element("jid", Ns.Bind, full.ToString())));
        SendToClient(result);
        Timers.Cancel("negotiation"); // _bound is set: from the next message on, the stream is bound
    }

    private static string GenerateResource() =>
        "actors-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(6)).ToLowerInvariant();

    // ------------------------------------------------------------------ after binding
    private void BoundStanza(Element e)
    {
        if (e.Namespace != Ns.Client || e.Name is not ("message" or "presence" or "iq"))
        {
            if (e.Namespace is Ns.Sasl or Ns.Tls)
            {
                StreamError(StreamErrors.PolicyViolation, "the stream is already authenticated");
                return;
            }
            StreamError(StreamErrors.UnsupportedStanzaType, $"<{e.Name} xmlns='{e.Namespace}'/> is not a stanza");
            return;
        }
        if (e.Name == "iq" && e.Type == "set" && e.To is null && e.FirstChild() is { } payload)
        {
            if (payload.Is("session", Ns.Session))
            {
                // RFC 3921 §3 session establishment, kept for old clients: a no-op that succeeds
                SendToClient(StanzaErrors.IqResult(new Element("iq", Ns.Client).SetAttr("id", e.Id)).SetAttr("from", null).SetAttr("to", null));
                return;
            }
            if (payload.Is("bind", Ns.Bind))
            {
                SendToClient(StanzaErrors.Reply(e, "not-allowed", "a resource is bound already"));
                return;
            }
        }
        _session!.Tell(new SessionActor.FromClient(e));
    }

    // ------------------------------------------------------------------ close, errors, timers
    private void OnTick()
    {
        var now = Environment.TickCount64;
        var limits = _server.Options.Limits;
        if (limits.IdleTimeoutSeconds > 0 && now - _conn.LastReceivedTicks > limits.IdleTimeoutSeconds * 1000L)
        {
            StreamError(StreamErrors.ConnectionTimeout, "no traffic from the client");
            return;
        }
        if (limits.KeepAliveSeconds > 0 && !_closing && !_tlsStarting && now - _conn.LastSentTicks >= limits.KeepAliveSeconds * 1000L - 500)
            _conn.SendRaw(" "u8); // whitespace keep-alive (RFC 6120 §4.6.1)
    }

    internal void SendToClient(Element? stanza)
    {
        if (stanza is not null) _conn.Send(stanza, Ns.Client);
    }

    internal ServerContext Server => _server;
    internal ITransportConnection Connection => _conn;
    internal string Domain => _domain;

    private void StreamError(string condition, string? text)
    {
        if (_closing) return;
        if (DebugEnabled) Log.Debug("{0}: stream error {1}: {2}", _conn.Id, condition, text);
        if (!_tlsStarting) // during the TLS handshake there is no stream to put an error on: just close (RFC 6120 §5.4.3.2)
        {
            if (!_headerSent) SendHeader(null); // §4.9.1.2: an error needs an open stream
            SendStreamElement(StreamErrors.Create(condition, text));
        }
        CloseStream();
    }

    /// <summary>Our side of the close (RFC 6120 §4.4): the closing tag, then the TCP close once it is flushed.</summary>
    private void CloseStream()
    {
        if (_closing) return;
        _closing = true;
        if (!_tlsStarting)
        {
            if (!_headerSent) SendHeader(null);
            _conn.SendRaw(StreamErrors.StreamClose);
        }
        _conn.Close();
        if (_session is not null)
        {
            Context.Stop(_session); // unavailable presence and unregistration happen in its PostStop
            _session = null;
        }
    }

    private static string FramingCondition(FramerErrorCondition c) => c switch
    {
        FramerErrorCondition.RestrictedXml => StreamErrors.RestrictedXml,
        FramerErrorCondition.PolicyViolation => StreamErrors.PolicyViolation,
        FramerErrorCondition.BadNamespacePrefix => StreamErrors.BadNamespacePrefix,
        FramerErrorCondition.UnsupportedEncoding => StreamErrors.UnsupportedEncoding,
        FramerErrorCondition.InvalidXml => StreamErrors.InvalidXml,
        _ => StreamErrors.NotWellFormed,
    };
}
