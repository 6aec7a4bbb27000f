using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Transport.Connections;
using Akka.Actor;
using Akka.Event;

namespace Actors.Xmpp.Server.Sessions;

/// <summary>
/// The sessions supervisor (/user/sessions): parent of every <see cref="SessionActor"/>, so that a session outlives
/// the connection that bound it. A connection actor asks it to <see cref="Open"/> a session when it binds a resource;
/// a later connection asks it to <see cref="Attach"/> to a detached session by its id (XEP-0198 resumption will). A
/// session is registered here, when it is made, in the <see cref="ISessionRegistry"/> (this node's operator view, also
/// where a resource conflict is found) and with its account (<see cref="UserActor.SessionStarted"/>, to the account's
/// resources entity, which routes, and its user actor); it unregisters itself from both when it stops. A session actor that throws is stopped, never restarted (its presence state cannot be rebuilt): its
/// PostStop broadcasts unavailable presence and closes the stream of its connection.
/// </summary>
public sealed class SessionsActor : UntypedActor
{
    /// <summary>Make the session of <paramref name="Jid"/>, attached to <paramref name="Connection"/>, under
    /// <paramref name="SessionId"/> (unguessable: the connection actor draws it). Answered with <see cref="Opened"/>.</summary>
    public sealed record Open(string SessionId, Jid Jid, ITransportConnection Client, IActorRef Connection);
    public sealed record Opened(string SessionId, Jid Jid, IActorRef Session);
    /// <summary>The account has Xmpp:Limits:MaxResourcesPerAccount resources bound already: no session was made
    /// (the bind is answered with &lt;resource-constraint/&gt;, RFC 6120 §7.6.2.1).</summary>
    public sealed record OpenRefused(string SessionId, int MaxResources);
    /// <summary>In a cluster: from the account's resources entity, the session's resource is in its table.</summary>
    public sealed record Registered(IActorRef Session);

    /// <summary>The connection that asked to <see cref="Open"/> <paramref name="SessionId"/> is gone before it
    /// learnt of the session: the session closes (nobody can resume a session whose bind it never saw).</summary>
    public sealed record Abandoned(string SessionId, IActorRef Connection);

    /// <summary>Attach the session <paramref name="SessionId"/> of <paramref name="Account"/> to a new connection.
    /// Answered with <see cref="SessionActor.Attached"/> or <see cref="AttachFailed"/>.</summary>
    /// <param name="Handled">XEP-0198 resumption: the client's 'h' (see <see cref="SessionActor.Attach"/>).</param>
    public sealed record Attach(string SessionId, Jid Account, ITransportConnection Client, IActorRef Connection, uint? Handled = null);
    /// <summary>No such session (closed, never existed, not resumable) or it belongs to another account;
    /// <paramref name="TooHigh"/> when a resumption's 'h' counts stanzas never sent.</summary>
    public sealed record AttachFailed(string SessionId, SessionActor.HandledCountTooHigh? TooHigh = null);
    /// <summary>The connection that asked to <see cref="Attach"/> <paramref name="SessionId"/> is gone before it learnt
    /// the answer: if the session attached to it, it detaches again (and waits for another resumption).</summary>
    public sealed record AttachAbandoned(string SessionId, IActorRef Connection);
    /// <summary>From a child that moved to another node: a resumption of it that reached this node goes where it is now.</summary>
    public sealed record ResumeElsewhere(Attach Request, IActorRef Connection);

    /// <summary>How long a resumption of a session held by another node waits for it (then &lt;item-not-found/&gt;).</summary>
    public static readonly TimeSpan RemoteResumeTimeout = TimeSpan.FromSeconds(15);

    private sealed record RemoteResumeTimedOut(string SessionId);
    private sealed record RemoteResumeForgotten(string SessionId);

    /// <summary>A resumption asked of the account's resources entity (the session is on another node).</summary>
    private sealed class RemoteResume(Attach request, IActorRef connection, TimerWheel.Timer deadline)
    {
        public readonly Attach Request = request;
        public readonly IActorRef Connection = connection;
        public readonly TimerWheel.Timer Deadline = deadline;
        public bool Abandoned;
    }

    /// <summary>The server stops: every session ends now (detached ones too, handing back what they hold), answered
    /// with <see cref="AllEnded"/> once all have stopped.</summary>
    public sealed record EndAll
    {
        public static readonly EndAll Instance = new();
    }
    public sealed record AllEnded
    {
        public static readonly AllEnded Instance = new();
    }

    public sealed record GetCount
    {
        public static readonly GetCount Instance = new();
    }

    public const string Name = "sessions";

    private readonly ServerContext _server;
    private readonly SessionActor.Settings _settings;
    private ILoggingAdapter? _log;

    public static Props Props(ServerContext server) => ActorProps.Of(() => new SessionsActor(server));

    public SessionsActor(ServerContext server)
    {
        _server = server;
        _clustered = server.Options.Cluster.Enabled;
        var s = server.Options.Sessions;
        _settings = new SessionActor.Settings(TimeSpan.FromSeconds(Math.Max(0, s.ResumptionWindowSeconds)),
            Math.Max(0, s.MaxDetachedStanzas), server.Timers, TimeSpan.FromSeconds(Math.Max(0, s.StreamResumptionSeconds)),
            string.IsNullOrWhiteSpace(s.ResumeLocation) ? null : s.ResumeLocation,
            Math.Max(0, server.Options.Limits.MaxDirectedPresenceTargets),
            server.Options.Limits.MaxOutboundBytes / 2); // end-to-end back-pressure: bounced past half the transport's bound
    }

    // a cluster: sessions whose bind result waits for their entity's Registered
    private readonly bool _clustered;
    private readonly Dictionary<IActorRef, (IActorRef Connection, Opened Opened)> _awaitingRegistration = new();
    // a cluster: resumptions of sessions another node holds, by session id
    private readonly Dictionary<string, RemoteResume> _remoteResumes = new();
    // a cluster: sessions handed over to this node whose id is still the name of a child that moved away and relays
    private readonly Dictionary<IActorRef, (SessionActor.HandedOver State, IActorRef From)> _awaitingName = new();
    // the server stops: the sessions still ending, and who waits for them
    private HashSet<IActorRef>? _ending;
    private IActorRef? _endAllRequester;

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case Open m:
            {
                if (OverResourceCap(m.Jid))
                {
                    Sender.Tell(new OpenRefused(m.SessionId, _server.Options.Limits.MaxResourcesPerAccount));
                    break;
                }
                var session = Context.ActorOf(SessionActor.Props(m.Jid, m.Client, m.Connection, _server.Sessions, _server.Router, _settings),
                    m.SessionId);
                var replaced = _server.Sessions.Register(new SessionEntry(m.Jid, session, false, 0, Environment.TickCount64));
                // RFC 6120 §7.7.2.2: the server's policy is to terminate the older session with <conflict/>
                replaced?.Session.Tell(SessionMessages.ReplacedInstance);
                // the account's resources entity (routing) and user actor learn of the resource before the client
                // learns its full JID from the bind result, so nothing can address it before it is known. In a
                // cluster the entity may live on another node: the bind result waits for its Registered
                if (!_clustered)
                {
                    _server.Router.Users?.Tell(m.Jid.Bare, new UserActor.SessionStarted(m.Jid, session), session);
                    Sender.Tell(new Opened(m.SessionId, m.Jid, session));
                    break;
                }
                _awaitingRegistration[session] = (Sender, new Opened(m.SessionId, m.Jid, session));
                Context.Watch(session);
                _server.Router.Users?.Tell(m.Jid.Bare, new UserActor.SessionStarted(m.Jid, session, Self), session);
                break;
            }
            case Registered m:
                if (_awaitingRegistration.Remove(m.Session, out var waiting))
                {
                    Context.Unwatch(m.Session);
                    waiting.Connection.Tell(waiting.Opened);
                }
                break;
            case Terminated t:
                _awaitingRegistration.Remove(t.ActorRef); // closed before its entity answered (a removed account)
                if (_ending is null && _awaitingName.Remove(t.ActorRef, out var adoption)) Adopt(adoption.State, adoption.From);
                if (_ending is not null && _ending.Remove(t.ActorRef) && _ending.Count == 0) _endAllRequester?.Tell(AllEnded.Instance);
                break;
            case EndAll:
            {
                _endAllRequester = Sender;
                _ending = new HashSet<IActorRef>(Context.GetChildren());
                if (_ending.Count == 0)
                {
                    Sender.Tell(AllEnded.Instance);
                    break;
                }
                foreach (var child in _ending)
                {
                    Context.Watch(child);
                    child.Tell(SessionActor.End.Instance); // it hands back what it holds, then stops once its entity saw the end
                }
                break;
            }
            case ResumeElsewhere m:
                ResumeOnOtherNode(m.Request, m.Connection);
                break;
            case AttachFailed m when _remoteResumes.Remove(m.SessionId, out var failed):
                failed.Deadline.Cancel();
                if (!failed.Abandoned) failed.Connection.Tell(m);
                break;
            case RemoteResumeTimedOut m when _remoteResumes.TryGetValue(m.SessionId, out var late) && !late.Abandoned:
                // the holder did not answer (its node is gone, or unreachable): XEP-0198 §5 as for an unknown id; if its
                // state still comes (before the holder gives up on it), the session waits here detached
                late.Connection.Tell(new AttachFailed(m.SessionId));
                late.Abandoned = true;
                _server.Timers.Schedule(Self, new RemoteResumeForgotten(m.SessionId), SessionActor.HandOverTimeout);
                break;
            case RemoteResumeForgotten m:
                _remoteResumes.Remove(m.SessionId);
                break;
            case SessionActor.HandedOver m:
            {
                // only a state this node asked for, of the account that asked: another node is trusted no more than that
                if (!_remoteResumes.TryGetValue(m.SessionId, out var asked) || !m.Jid.Bare.Equals(asked.Request.Account)) break;
                var existing = Context.Child(m.SessionId);
                if (existing.IsNobody()) Adopt(m, Sender);
                else
                {
                    Context.Watch(existing); // the child that moved away from here still relays under that name
                    _awaitingName[existing] = (m, Sender);
                }
                break;
            }
            case Abandoned m:
                Context.Child(m.SessionId).Tell(new SessionActor.Close(m.Connection));
                break;
            case Attach m:
            {
                // the id comes from a client (a resumption request): only an id of our own shape names a child
                var session = WellFormedId(m.SessionId) ? Context.Child(m.SessionId) : ActorRefs.Nobody;
                if (!session.IsNobody()) session.Forward(new SessionActor.Attach(m.Account, m.Client, m.Connection, m.Handled));
                else if (_clustered && m.Handled is not null && WellFormedId(m.SessionId)) ResumeOnOtherNode(m, Sender);
                else Sender.Tell(new AttachFailed(m.SessionId));
                break;
            }
            case AttachAbandoned m:
                if (_remoteResumes.TryGetValue(m.SessionId, out var abandoned) && abandoned.Connection.Equals(m.Connection))
                {
                    abandoned.Abandoned = true; // a state that still comes makes a detached session
                    break;
                }
                // told by the same connection after its Attach: the session handles them in that order
                if (WellFormedId(m.SessionId)) Context.Child(m.SessionId).Tell(new SessionActor.Detach(m.Connection));
                break;
            case GetCount:
                Sender.Tell(Context.GetChildren().Count());
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    /// <summary>
    /// XEP-0198 resumption of a session this node does not hold (a cluster): the account's resources entity knows every
    /// session of the account by id, on any node; it asks the holder to hand the session over to this supervisor
    /// (<see cref="SessionActor.HandOver"/>), or answers <see cref="AttachFailed"/> (no such session, or its node is
    /// unreachable: item-not-found, §5). One resumption of an id at a time here.
    /// </summary>
    private void ResumeOnOtherNode(Attach m, IActorRef connection)
    {
        if (_server.Router.Users is not { } users || _remoteResumes.ContainsKey(m.SessionId))
        {
            connection.Tell(new AttachFailed(m.SessionId));
            return;
        }
        var deadline = _server.Timers.Schedule(Self, new RemoteResumeTimedOut(m.SessionId), RemoteResumeTimeout);
        _remoteResumes[m.SessionId] = new RemoteResume(m, connection, deadline);
        users.Tell(m.Account, new AccountResourcesActor.ResumeSession(m.SessionId, m.Handled!.Value, Self), Self);
    }

    /// <summary>The session another node handed over (<paramref name="from"/> is its old actor): made here under the same
    /// id, attached to the connection that resumed (it writes &lt;resumed/&gt; and retransmits), or detached when that
    /// connection is gone or the answer came too late; then the account's entity and user actor route to it
    /// (<see cref="UserActor.SessionMoved"/>), and the old actor relays what still reaches it.</summary>
    private void Adopt(SessionActor.HandedOver state, IActorRef from)
    {
        _remoteResumes.Remove(state.SessionId, out var resume);
        resume?.Deadline.Cancel();
        var attach = resume is { Abandoned: false } ? resume : null;
        var session = Context.ActorOf(SessionActor.Adopted(state, attach?.Request.Client, attach?.Connection, _server.Sessions,
            _server.Router, _settings), state.SessionId);
        var replaced = _server.Sessions.Register(new SessionEntry(state.Jid, session, state.Available, state.Priority, Environment.TickCount64));
        replaced?.Session.Tell(SessionMessages.ReplacedInstance); // a stream bound the same resource here meanwhile
        _server.Router.Users?.Tell(state.Jid.Bare, new UserActor.SessionMoved(state.Jid, from, session, state.Available, state.Priority), session);
        // (answered too late, or the connection is gone: the session waits detached for another resumption)
        attach?.Connection.Tell(new SessionActor.Attached(state.SessionId, state.Jid, session, state.Unacked.Count));
    }

    /// <summary>Binding <paramref name="full"/> would bind one resource more than the account may have at once (a
    /// bind that replaces a session of the same resource adds none). Counts the sessions of this node's registry,
    /// detached ones included (they hold their resource until closed).</summary>
    private bool OverResourceCap(Jid full)
    {
        var max = _server.Options.Limits.MaxResourcesPerAccount;
        if (max <= 0) return false;
        var resources = _server.Sessions.Resources(full.Bare);
        if (resources.Count < max) return false;
        for (var i = 0; i < resources.Count; i++)
            if (resources[i].Jid == full) return false;
        return true;
    }

    /// <summary>A new session id: 128 random bits, hex (also a valid actor name).</summary>
    public static string NewSessionId() =>
        Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)).ToLowerInvariant();

    /// <summary>An id of the shape <see cref="NewSessionId"/> draws (32 lowercase hex digits).</summary>
    internal static bool WellFormedId(string id)
    {
        if (id.Length != 32) return false;
        foreach (var c in id)
            if (c is not ((>= '0' and <= '9') or (>= 'a' and <= 'f'))) return false;
        return true;
    }

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(ex =>
    {
        (_log ??= Context.GetLogger()).Error(ex, "session actor failed; closing that session");
        return Directive.Stop;
    });
}
