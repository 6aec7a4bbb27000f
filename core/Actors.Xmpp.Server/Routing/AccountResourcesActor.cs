using Actors.Xmpp.Server.Accounts;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Xml;
using Akka.Actor;

namespace Actors.Xmpp.Server.Routing;

/// <summary>
/// The per-account resources entity (issue 9, item 5e): holds an account's bound resources (session, availability,
/// priority, bound-at) and delivers every stanza addressed to the account's JIDs by RFC 6121 §8.5 from that table,
/// so that routing reads no shared memory. A sibling of the account's <see cref="UserActor"/> under
/// <see cref="UsersActor"/> (the same Tell-by-key shape: the clustering issue puts both in one shard region),
/// non-persistent, passivated when it holds no resource and nothing arrived for a while.
/// <list type="bullet">
/// <item>Fed by what the sessions already send: <see cref="UserActor.SessionStarted"/>, <see cref="UserActor.ResourcePresence"/>
/// and <see cref="UserActor.SessionEnded"/> (the parent hands it a copy before the user actor gets them), and
/// <see cref="OwnPresence"/>, a session's broadcast presence, which it also reflects to the account's other available
/// resources (RFC 6121 §4.2.2, §4.4.2, §4.5.2).</item>
/// <item>Stanzas arrive as <see cref="RouteStanza"/> from <see cref="StanzaRouter.Route"/> after the inbound hooks;
/// subscription stanzas, probes and IQs to the bare JID go on to the user actor and the IQ handlers as before.</item>
/// <item>Whether the account exists is learnt once per incarnation (<see cref="IAccountStore.FindAsync"/>, piped to
/// itself when it does not complete at once; stanzas wait in arrival order meanwhile). Creation and removal reach it
/// through the parent (<see cref="AccountCreated"/>, <see cref="AccountRemoved"/>). For a name with no account it
/// answers as RFC 6121 §8.5.1 says and passivates at once; the parent then answers that name itself for a while
/// (its bounded negative cache).</item>
/// </list>
/// Order (RFC 6120 §10.1): the stanzas of one sender session to this account are told by that session's thread, in
/// order, to the parent, which forwards them in order to this one mailbox (waiting stanzas are replayed in order,
/// passivation buffers in the parent are replayed in order), and this actor tells each resource's session in the
/// order it handles them: per-pair FIFO holds along sender session → parent → entity → recipient session.
/// </summary>
public sealed class AccountResourcesActor : UntypedActor, IWithUnboundedStash, IWithTimers
{
    // ---- protocol ---------------------------------------------------------------------------------------------

    /// <summary>A stanza for this account (its 'to' is <paramref name="To"/>, bare or full), after the inbound hooks.</summary>
    /// <paramref name="Trace"/>: the routing session's span (<see cref="Diagnostics.XmppTracing"/>), none while untraced.
    public sealed record RouteStanza(Element Stanza, Jid From, Jid To, System.Diagnostics.ActivityContext Trace = default);

    /// <summary>A session's broadcast presence: its availability and priority now, and what to reflect to the account's
    /// other available resources (null: nothing, when a plugin took the broadcast). The sending session delivers its
    /// own copy itself (RFC 6121 §4.2.2), through its own mailbox.</summary>
    public sealed record OwnPresence(Jid Resource, IActorRef Session, bool Available, int Priority, Element? Broadcast);

    /// <summary>A paced page for one bound resource (<c>ISessionDelivery</c>): forwarded to that resource's session, which
    /// answers the asker <see cref="SessionMessages.PageWritten"/>; answered not written here when the account has no
    /// such resource. The delivery is decided by the entity, as every other one, not by a registry read.</summary>
    public sealed record DeliverPageTo(Jid Resource, SessionMessages.DeliverPage Page);

    /// <summary>XEP-0198 resumption on another node (a cluster): the session of this account named
    /// <paramref name="SessionId"/> is asked to hand itself over to <paramref name="Requester"/> (that node's sessions
    /// supervisor), which gets <see cref="Sessions.SessionsActor.AttachFailed"/> from here when there is no such session,
    /// its node is unreachable, or it is being handed over already. From then until the successor registers
    /// (<see cref="UserActor.SessionMoved"/>) or the hand-over is refused, what this entity would send that session waits
    /// here, so that every stanza is in the state handed over or reaches the successor, once.</summary>
    public sealed record ResumeSession(string SessionId, uint Handled, IActorRef Requester);

    /// <summary>From a session asked to hand itself over that refused (XEP-0198 §5): it is routed to again.</summary>
    public sealed record HandOverRefused(Jid Resource, IActorRef Session);

    /// <summary>The bound resources, answered with <see cref="ResourceList"/> (a restarted user actor adopts them).</summary>
    public sealed record ListResources
    {
        public static readonly ListResources Instance = new();
    }

    public sealed record ResourceList(IReadOnlyList<SessionEntry> Resources);

    /// <summary>A cluster: asked of every node (its <see cref="Cluster.NodeInfoActor"/>) by an entity that starts, so that
    /// an entity restarted on another node (its node died, or its shard moved) learns the account's sessions that live
    /// on: answered with <see cref="SessionsOnNode"/>, from that node's session registry.</summary>
    public sealed record FindSessions(Jid Account);

    /// <summary>A node's bound sessions of the account a <see cref="FindSessions"/> named.</summary>
    public sealed record SessionsOnNode(IReadOnlyList<SessionEntry> Sessions);

    /// <summary>From the parent: an account of this name was created.</summary>
    public sealed record AccountCreated
    {
        public static readonly AccountCreated Instance = new();
    }

    /// <summary>From the parent: the account is being removed (what follows is answered as for no account).</summary>
    public sealed record AccountRemoved
    {
        public static readonly AccountRemoved Instance = new();
    }

    /// <summary>To the parent: this name has no account (it may answer the name itself for a while).</summary>
    public sealed record NoAccount(Jid Account);

    /// <summary>From the parent, its shard handing it off (a cluster): stop now, behind what the mailbox held (those
    /// stanzas were routed); stanzas still waiting for the account's existence go back to the parent, which sends them
    /// on to the next incarnation.</summary>
    public sealed record HandOff
    {
        public static readonly HandOff Instance = new();
    }

    /// <summary>The stop message of passivation (everything sent before it has been handled).</summary>
    public sealed record Stop
    {
        public static readonly Stop Instance = new();
    }

    /// <param name="PassivateAfter">With no bound resource and no message for this long, the entity passivates.</param>
    /// <param name="WatchSessions">A cluster: the entity watches its sessions, so that the sessions of a node that
    /// crashed (they never tell <see cref="UserActor.SessionEnded"/>) leave the table once that node is downed, and
    /// stanzas to them go offline or bounce as for any ended session.</param>
    /// <param name="CensusTimeout">A cluster: how long a starting entity waits for the nodes' <see cref="SessionsOnNode"/>
    /// before it routes (an answer that comes later is still taken in).</param>
    public sealed record Settings(TimeSpan PassivateAfter, bool WatchSessions = false, TimeSpan? CensusTimeout = null)
    {
        public static readonly Settings Default = new(TimeSpan.FromMinutes(2));

        public TimeSpan Census => CensusTimeout ?? TimeSpan.FromSeconds(3);
    }

    /// <summary>An exception of this entity: its parent resumes it (the table is kept, the message is lost).</summary>
    public sealed class Failure(Exception cause) : Exception("the resources entity failed: " + cause.Message, cause);

    private sealed record Existence(bool Exists, bool LookupFailed = false);

    private sealed record CensusTimedOut
    {
        public static readonly CensusTimedOut Instance = new();
    }

    /// <summary>To the parent: a stop was asked while idle, but a session bound meanwhile: keep this incarnation.</summary>
    public sealed record CancelPassivation
    {
        public static readonly CancelPassivation Instance = new();
    }

    public static Props Props(Jid account, StanzaRouter router, IAccountStore accounts, Settings settings) =>
        ActorProps.Of(() => new AccountResourcesActor(account, router, accounts, settings));

    // ---- state -----------------------------------------------------------------------------------------------

    private enum Known { Unknown, Exists, Missing }

    private readonly Jid _account;
    private readonly StanzaRouter _router;
    private readonly IAccountStore _accounts;
    private readonly Settings _settings;
    private readonly List<SessionEntry> _resources = new(2);
    private Known _known;
    private List<RouteStanza>? _waiting; // stanzas that arrived before the existence lookup answered
    private bool _idleArmed;
    private bool _passivating;
    private bool _lookupFailed; // the directory could not answer: no answer is cached for the name
    // sessions being handed over to another node, and what waits for their successor (null: none, the usual case)
    private Dictionary<IActorRef, List<(object Message, IActorRef Sender)>>? _handingOver;

    public AccountResourcesActor(Jid account, StanzaRouter router, IAccountStore accounts, Settings settings)
    {
        _account = account.Bare;
        _router = router;
        _accounts = accounts;
        _settings = settings;
        _unreachable = Cluster.UnreachableNodes.Of(Context.System);
    }

    private readonly Cluster.UnreachableNodes _unreachable;
    private int _censusPending; // a cluster: the nodes that have not answered this incarnation's FindSessions yet

    public IStash Stash { get; set; } = null!;
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>A resource that can be given a stanza now: available, and not on a node this one cannot reach (a
    /// clustered node: its sessions leave the routing view at once, as if ended, until the node is back or downed).</summary>
    private bool Deliverable(SessionEntry r) => r.Available && !_unreachable.Holds(r.Session);

    /// <summary>The index of the session bound at <paramref name="full"/> that can be reached now (-1: none).</summary>
    private int ReachableIndexOf(Jid full)
    {
        var i = IndexOf(full);
        return i >= 0 && _unreachable.Holds(_resources[i].Session) ? -1 : i;
    }

    protected override void PostStop() => Hosting.IdleHeapTrimmer.Released(Context.System);

    protected override void PreStart()
    {
        ValueTask<Sasl.UserCredentials?> lookup;
        try
        {
            lookup = _accounts.FindAsync(_account);
        }
        catch (AccountStoreException)
        {
            Self.Tell(new Existence(false, LookupFailed: true)); // the directory cannot answer: as for no account, not cached
            return;
        }
        if (lookup.IsCompletedSuccessfully) _known = lookup.Result is null ? Known.Missing : Known.Exists; // in memory: no wait
        else lookup.AsTask().PipeTo(Self, success: c => new Existence(c is not null), failure: _ => new Existence(false, LookupFailed: true));
        if (_settings.WatchSessions) StartCensus();
        ArmIdleTimer();
    }

    // ---- a cluster: the sessions that outlive this entity's previous incarnation ------------------------------

    /// <summary>
    /// This incarnation may follow one on a node that died or gave its shard away: nothing told it of the account's
    /// sessions on the other nodes, and a stanza routed before it knows them would go offline instead of to them. So
    /// it asks every reachable member's <see cref="Cluster.NodeInfoActor"/> (<see cref="FindSessions"/>) and keeps
    /// every other message in its stash until all have answered or <see cref="Settings.Census"/> has passed; the
    /// sessions found are watched like those that bind here.
    /// </summary>
    private void StartCensus()
    {
        var cluster = Akka.Cluster.Cluster.Get(Context.System);
        var query = new FindSessions(_account);
        foreach (var member in cluster.State.Members)
        {
            if (member.Status is not (Akka.Cluster.MemberStatus.Up or Akka.Cluster.MemberStatus.WeaklyUp or Akka.Cluster.MemberStatus.Leaving
                or Akka.Cluster.MemberStatus.Exiting) || cluster.State.Unreachable.Contains(member)) continue;
            Context.ActorSelection(new RootActorPath(member.Address) / "user" / Cluster.NodeInfoActor.Name).Tell(query, Self);
            _censusPending++;
        }
        if (_censusPending == 0) return;
        Timers.StartSingleTimer(nameof(CensusTimedOut), CensusTimedOut.Instance, _settings.Census);
        BecomeStacked(Census);
    }

    private void Census(object message)
    {
        switch (message)
        {
            case SessionsOnNode m:
                Adopt(m.Sessions);
                if (--_censusPending == 0) EndCensus();
                break;
            case CensusTimedOut:
                EndCensus(); // a node that did not answer in time: its sessions are taken in when its answer comes
                break;
            case Existence or Terminated:
                OnReceive(message);
                break;
            case ReceiveTimeout:
                break; // armed again once the census ends
            default:
                Stash.Stash();
                break;
        }
    }

    private void EndCensus()
    {
        _censusPending = 0;
        Timers.Cancel(nameof(CensusTimedOut));
        Context.UnbecomeStacked();
        Stash.UnstashAll();
        _idleArmed = false;
        SetReceiveTimeout(null);
        ArmIdleTimer();
    }

    /// <summary>Sessions a node reported: each one bound at a resource this entity does not hold yet is taken in, with
    /// its presence (a resource it holds was bound or told since the node answered: that is newer).</summary>
    private void Adopt(IReadOnlyList<SessionEntry> sessions)
    {
        for (var i = 0; i < sessions.Count; i++)
        {
            var s = sessions[i];
            if (!s.Jid.Bare.Equals(_account) || IndexOf(s.Jid) >= 0) continue;
            _resources.Add(s);
            Context.Watch(s.Session); // a session that ended meanwhile is Terminated at once, and leaves the table
        }
    }

    protected override bool AroundReceive(Receive receive, object message)
    {
        try
        {
            return base.AroundReceive(receive, message);
        }
        catch (Exception ex) when (ex is not Failure)
        {
            throw new Failure(ex); // the parent resumes (see UsersActor): the table of live sessions must not be lost
        }
    }

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case RouteStanza m:
                if (_known == Known.Unknown) (_waiting ??= new List<RouteStanza>()).Add(m);
                else
                {
                    Route(m);
                    if (_known == Known.Missing && _resources.Count == 0) Passivate();
                }
                break;
            case UserActor.SessionStarted m:
                // a session authenticated as this account: it exists (the parent keeps a removed account's away)
                if (_known != Known.Exists)
                {
                    _known = Known.Exists;
                    ReplayWaiting();
                }
                Bound(m.Resource, m.Session);
                m.Registered?.Tell(new Sessions.SessionsActor.Registered(m.Session)); // a cluster: the bind result may go now
                break;
            case OwnPresence m:
                // the presence of a session another one replaced (RFC 6120 §7.7.2.2) is not reflected: the resource lives on
                if (!SetPresence(m.Resource, m.Session, m.Available, m.Priority) && IndexOf(m.Resource) >= 0) break;
                if (m.Broadcast is not null) Reflect(m.Resource, m.Broadcast);
                break;
            case UserActor.ResourcePresence m:
                _ = SetPresence(m.Resource, m.Session, m.Available, m.Priority);
                break;
            case UserActor.SessionEnded m:
                Ended(m.Resource, m.Session);
                break;
            case ResumeSession m:
                ResumeElsewhere(m);
                break;
            case HandOverRefused m:
                Release(m.Session);
                break;
            case UserActor.SessionMoved m:
                Moved(m);
                break;
            case Terminated t:
                SessionDied(t.ActorRef);
                break;
            case ListResources:
                Sender.Tell(new ResourceList(_resources.ToArray()));
                break;
            case SessionsOnNode m: // a node that answered after the census timed out
                Adopt(m.Sessions);
                break;
            case CensusTimedOut:
                break;
            case DeliverPageTo m:
            {
                var i = ReachableIndexOf(m.Resource);
                if (i >= 0) ToSession(_resources[i].Session, m.Page, Sender); // the session answers the asker once written
                else Sender.Tell(new SessionMessages.PageWritten(m.Page.PageId, false));
                break;
            }
            case Existence e:
                if (_known != Known.Unknown) break; // creation, removal or a session told it meanwhile
                _known = e.Exists ? Known.Exists : Known.Missing;
                _lookupFailed = e.LookupFailed;
                ReplayWaiting();
                break;
            case AccountCreated:
                _known = Known.Exists;
                ReplayWaiting();
                break;
            case AccountRemoved:
                _known = Known.Missing;
                _resources.Clear(); // the user actor closes the sessions; nothing more is delivered to them
                ReplayWaiting();
                break;
            case ReceiveTimeout:
                SetReceiveTimeout(null);
                _idleArmed = false;
                if (_resources.Count == 0) Passivate();
                return;
            case HandOff:
                foreach (var waiting in _waiting ?? [])
                    Context.Parent.Tell(new UsersActor.Envelope(_account, waiting), Self);
                _waiting = null;
                Context.Stop(Self);
                return;
            case Stop:
                if (_resources.Count == 0)
                {
                    Context.Stop(Self);
                    return;
                }
                // a session bound between the idle decision and the stop: this incarnation holds it, so it stays
                _passivating = false;
                Context.Parent.Tell(CancelPassivation.Instance);
                break;
            default:
                Unhandled(message);
                break;
        }
        ArmIdleTimer();
    }

    private void ReplayWaiting()
    {
        var waiting = _waiting;
        _waiting = null;
        if (waiting is not null)
            for (var i = 0; i < waiting.Count; i++) Route(waiting[i]);
        if (_known == Known.Missing && _resources.Count == 0) Passivate();
    }

    /// <summary>No account (RFC 6121 §8.5.1): answered, then gone at once; the parent caches the name.</summary>
    private void Passivate()
    {
        if (_passivating) return;
        _passivating = true;
        if (_known == Known.Missing && !_lookupFailed) Context.Parent.Tell(new NoAccount(_account));
        Context.Parent.Tell(new UsersActor.Passivate(Stop.Instance));
    }

    /// <summary>The receive timeout runs only while no resource is bound (an account with sessions stays).</summary>
    private void ArmIdleTimer()
    {
        var idle = _resources.Count == 0 && !_passivating;
        if (idle == _idleArmed) return;
        _idleArmed = idle;
        SetReceiveTimeout(idle ? _settings.PassivateAfter : null);
    }

    // ---- the table -------------------------------------------------------------------------------------------

    private int IndexOf(Jid full)
    {
        for (var i = 0; i < _resources.Count; i++)
            if (_resources[i].Jid.Equals(full)) return i;
        return -1;
    }

    private void Bound(Jid full, IActorRef session)
    {
        var entry = new SessionEntry(full, session, false, 0, Environment.TickCount64);
        var i = IndexOf(full);
        if (i >= 0) _resources[i] = entry; // RFC 6120 §7.7.2.2: the new session takes the resource (the old one is closed)
        else _resources.Add(entry);
        if (_settings.WatchSessions) Context.Watch(session);
    }

    /// <summary>False when <paramref name="session"/> does not hold <paramref name="full"/> (replaced or ended).</summary>
    private bool SetPresence(Jid full, IActorRef session, bool available, int priority)
    {
        var i = IndexOf(full);
        if (i < 0 || !_resources[i].Session.Equals(session)) return false;
        var e = _resources[i];
        if (e.Available != available || e.Priority != priority) _resources[i] = e with { Available = available, Priority = priority };
        return true;
    }

    private void Ended(Jid full, IActorRef session)
    {
        // the session waits for this before it stops, handing back what reaches it meanwhile: what this entity told it
        // before is in its mailbox ahead of this answer, and nothing is told it after
        session.Tell(SessionMessages.EndSeenInstance);
        var i = IndexOf(full);
        if (i < 0 || !_resources[i].Session.Equals(session)) return;
        _resources.RemoveAt(i);
        if (_settings.WatchSessions) Context.Unwatch(session);
        Release(session); // ended during a hand-over: what waited is routed as for a resource that is gone
    }

    // ---- XEP-0198 resumption on another node -------------------------------------------------------------------

    /// <summary>Tells a session, unless it is being handed over: then the message waits for its successor.</summary>
    private void ToSession(IActorRef session, object message, IActorRef sender)
    {
        if (_handingOver is not null && _handingOver.TryGetValue(session, out var waiting)) waiting.Add((message, sender));
        else session.Tell(message, sender);
    }

    private void ResumeElsewhere(ResumeSession m)
    {
        var found = -1;
        for (var i = 0; i < _resources.Count; i++)
            if (_resources[i].Session.Path.Name == m.SessionId) found = i;
        if (found < 0 || _unreachable.Holds(_resources[found].Session) || (_handingOver?.ContainsKey(_resources[found].Session) ?? false))
        {
            m.Requester.Tell(new Sessions.SessionsActor.AttachFailed(m.SessionId)); // XEP-0198 §5: item-not-found
            return;
        }
        var session = _resources[found].Session;
        (_handingOver ??= new()).Add(session, new List<(object, IActorRef)>());
        session.Tell(new Sessions.SessionActor.HandOver(_account, m.Handled), m.Requester);
    }

    /// <summary>The successor registered: it takes the old session's place (presence and bind time unchanged), gets
    /// what waited for it, and the old session learns where to relay what others still send it.</summary>
    private void Moved(UserActor.SessionMoved m)
    {
        var i = IndexOf(m.Resource);
        if (i >= 0 && _resources[i].Session.Equals(m.From))
        {
            _resources[i] = _resources[i] with { Session = m.To };
            if (_settings.WatchSessions)
            {
                Context.Unwatch(m.From);
                Context.Watch(m.To);
            }
        }
        else
        {
            // the old session's end came first (its node was downed): the successor binds the resource anew
            Bound(m.Resource, m.To);
            _ = SetPresence(m.Resource, m.To, m.Available, m.Priority);
        }
        if (_handingOver is not null && _handingOver.Remove(m.From, out var waiting))
        {
            if (_handingOver.Count == 0) _handingOver = null;
            for (var k = 0; k < waiting.Count; k++) m.To.Tell(waiting[k].Message, waiting[k].Sender);
        }
        m.From.Tell(new Sessions.SessionActor.MovedTo(m.To));
    }

    /// <summary>A hand-over that will not complete (refused, or the session ended): what waited goes to the session if it
    /// still holds its resource, else is routed as for a resource that is gone (pages: not written).</summary>
    private void Release(IActorRef session)
    {
        if (_handingOver is null || !_handingOver.Remove(session, out var waiting)) return;
        if (_handingOver.Count == 0) _handingOver = null;
        var holds = false;
        for (var i = 0; i < _resources.Count; i++)
            if (_resources[i].Session.Equals(session)) holds = true;
        for (var k = 0; k < waiting.Count; k++)
        {
            var (message, sender) = waiting[k];
            if (holds) session.Tell(message, sender);
            else if (message is SessionMessages.DeliverPage page) sender.Tell(new SessionMessages.PageWritten(page.PageId, false));
            else if (message is SessionMessages.Deliver d && Jid.TryParse(d.Stanza.From, out var from) && from is not null
                     && Jid.TryParse(d.Stanza.To, out var to) && to is not null)
                Route(new RouteStanza(d.Stanza, from, to));
        }
    }

    /// <summary>A watched session died without ending (its node crashed and was downed): it ends as if it had told
    /// so, through the parent, so that the user actor learns it too (unavailable presence to the contacts).</summary>
    private void SessionDied(IActorRef session)
    {
        for (var i = 0; i < _resources.Count; i++)
            if (_resources[i].Session.Equals(session))
                Context.Parent.Tell(new UsersActor.Envelope(_account, new UserActor.SessionEnded(_resources[i].Jid, session)));
    }

    /// <summary>RFC 6121 §4.2.2 / §4.5.2: a resource's broadcast presence to the account's other available resources.</summary>
    private void Reflect(Jid from, Element presence)
    {
        for (var i = 0; i < _resources.Count; i++)
        {
            var r = _resources[i];
            if (!Deliverable(r) || r.Jid.Equals(from)) continue;
            var copy = presence.Clone();
            copy.To = r.Jid.ToString();
            ToSession(r.Session, new SessionMessages.Deliver(copy, Diagnostics.XmppTracing.Current), Self);
        }
    }

    // ---- RFC 6121 §8.5 ---------------------------------------------------------------------------------------

    private void Route(RouteStanza m)
    {
        // the span the deliveries below are told in (their Deliver records carry its context)
        using var span = Diagnostics.XmppTracing.Start(Diagnostics.XmppTracing.Spans.AccountRoute, System.Diagnostics.ActivityKind.Internal,
            m.Trace, m.Stanza);
        if (_known == Known.Missing)
        {
            _router.ToNoAccount(m.Stanza, m.From, m.To); // §8.5.1
            return;
        }
        if (m.To.Resource is null) ToBareJid(m.Stanza, m.From, m.To);
        else ToFullJid(m.Stanza, m.From, m.To);
    }

    private void ToBareJid(Element stanza, Jid from, Jid to)
    {
        if (_router.Addresses.TryAccount(stanza, from, to)) return; // a namespace a plugin owns (plugin contract v2)
        switch (stanza.Name)
        {
            case "iq":
                _router.HandleAccountIq(stanza, from, to);
                return;
            case "message":
                MessageToBare(stanza, from, to);
                return;
            case "presence":
                if (stanza.Type is "subscribe" or "subscribed" or "unsubscribe" or "unsubscribed" or "probe")
                {
                    // RFC 6121 §3 inbound subscription processing and §4.3 probes: the contact's user actor decides
                    // (a probe, from a server or a client, is answered by the contact's server and never reaches its clients)
                    _router.Users?.Tell(to, new UserActor.InboundPresence(stanza, from));
                    return;
                }
                // §8.5.2.1.1: presence goes to every available resource
                for (var i = 0; i < _resources.Count; i++)
                    if (Deliverable(_resources[i])) ToSession(_resources[i].Session, new SessionMessages.Deliver(stanza, Diagnostics.XmppTracing.Current), Self);
                return;
        }
    }

    private void MessageToBare(Element stanza, Jid from, Jid to)
    {
        var type = stanza.Type ?? "normal";
        if (type == "error") return; // §8.5.2.1.1 / §8.5.2.2.1: silently dropped
        if (type == "groupchat")
        {
            _router.Bounce(stanza, "service-unavailable"); // §8.5.2.1.1 groupchat to a bare JID
            return;
        }
        // §8.5.2.1.1: normal and chat go to the highest-priority available resource(s); headline to all of
        // the available resources with non-negative priority. Negative priority never receives bare-JID messages.
        var best = int.MinValue;
        for (var i = 0; i < _resources.Count; i++)
            if (Deliverable(_resources[i]) && _resources[i].Priority >= 0 && _resources[i].Priority > best) best = _resources[i].Priority;
        if (best == int.MinValue)
        {
            _router.Undeliverable(stanza, from, to, type); // §8.5.2.2: no available resource
            return;
        }
        for (var i = 0; i < _resources.Count; i++)
        {
            var r = _resources[i];
            if (!Deliverable(r) || r.Priority < 0) continue;
            if (type == "headline" || r.Priority == best) ToSession(r.Session, new SessionMessages.Deliver(stanza, Diagnostics.XmppTracing.Current), Self);
        }
    }

    private void ToFullJid(Element stanza, Jid from, Jid to)
    {
        if (stanza.Name == "presence" && stanza.Type is "probe" or "subscribe" or "subscribed" or "unsubscribe" or "unsubscribed")
        {
            // RFC 6121 §3 / §4.3: subscription stanzas and probes are processed for the bare JID (probes never reach a client)
            ToBareJid(stanza, from, to.Bare);
            return;
        }
        var i = ReachableIndexOf(to);
        if (i >= 0)
        {
            ToSession(_resources[i].Session, new SessionMessages.Deliver(stanza, Diagnostics.XmppTracing.Current), Self); // §8.5.3.1: a connected resource gets it
            return;
        }
        // RFC 6121 §8.5.3.2: no session with that resource
        switch (stanza.Name)
        {
            case "message":
                var type = stanza.Type ?? "normal";
                if (type == "error") return;
                if (type == "groupchat")
                {
                    _router.Bounce(stanza, "service-unavailable");
                    return;
                }
                MessageToBare(stanza, from, to.Bare); // §8.5.3.2.1: normal, chat, headline: as if to the bare JID
                return;
            case "presence":
                return; // §8.5.3.2.2: presence to an unavailable resource (subscription stanzas went to the bare JID above)
            case "iq":
                if (stanza.Type is "get" or "set") _router.Bounce(stanza, "service-unavailable"); // §8.5.3.2.3
                return;
        }
    }
}
