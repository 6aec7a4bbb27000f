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
            Math.Max(0, server.Options.Limits.MaxDirectedPresenceTargets));
    }

    // a cluster: sessions whose bind result waits for their entity's Registered
    private readonly bool _clustered;
    private readonly Dictionary<IActorRef, (IActorRef Connection, Opened Opened)> _awaitingRegistration = new();

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
                break;
            case Abandoned m:
                Context.Child(m.SessionId).Tell(new SessionActor.Close(m.Connection));
                break;
            case Attach m:
            {
                // the id comes from a client (a resumption request): only an id of our own shape names a child
                var session = WellFormedId(m.SessionId) ? Context.Child(m.SessionId) : ActorRefs.Nobody;
                if (session.IsNobody()) Sender.Tell(new AttachFailed(m.SessionId));
                else session.Forward(new SessionActor.Attach(m.Account, m.Client, m.Connection, m.Handled));
                break;
            }
            case AttachAbandoned m:
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

    private static bool WellFormedId(string id)
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
