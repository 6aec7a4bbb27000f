using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using Actors.Xmpp.Persistence;
using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Server.Stanzas;
using Actors.Xmpp.Stanzas;
using Actors.Xmpp.Server.Users.Events;
using Actors.Xmpp.Xml;
using Actors.Xmpp.Server.Runtime;
using Actors.Xmpp.Server.Lifecycle;
using Actors.Xmpp.Plugins;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using Akka.Persistence.Journal;

namespace Actors.Xmpp.Server.Users;

/// <summary>
/// The event-sourced actor of one account (persistence id "user:&lt;bare JID&gt;"): roster and roster versions
/// (RFC 6121 §2), subscription states (§3, Appendix A), presence broadcast and probes (§4) and the last unavailable
/// presence (§4.3.2, which the 'last' plugin reports as XEP-0012 last activity). The private XML (XEP-0049), vCard
/// (XEP-0054), block list (XEP-0191) and offline messages (XEP-0160) it kept in release 1 are still read from old
/// journals (<see cref="UserState"/>) for the plugins that took them over (<see cref="PluginStores.LegacyUserData"/>),
/// never written (the offline messages are dropped with <see cref="DropLegacyOffline"/> once the plugin holds them).
/// Reached by JID through <see cref="IUserDirectory"/>; it reaches its own sessions by the IActorRef they report
/// and everything else through the <see cref="StanzaRouter"/>.
/// </summary>
public sealed class UserActor : UntypedPersistentActor, IWithTimers
{
    public ITimerScheduler Timers { get; set; } = null!;

    // ---- protocol ---------------------------------------------------------------------------------------------

    /// <summary>An IQ addressed to this account's bare JID (roster). Answered with an Element.</summary>
    public sealed record HandleIq(Element Iq, Jid From);

    /// <summary>A session bound a resource.</summary>
    /// <param name="Registered">In a cluster, who the account's resources entity tells <see cref="Sessions.SessionsActor.Registered"/>
    /// once the resource is in its table (the bind result waits for it: the entity may be on another node).</param>
    public sealed record SessionStarted(Jid Resource, IActorRef Session, IActorRef? Registered = null);

    /// <summary>A resource's broadcast presence (no 'to'): available or unavailable (RFC 6121 §4.2, §4.4, §4.5).</summary>
    public sealed record ResourcePresence(Jid Resource, IActorRef Session, Element Presence, bool Available, int Priority);

    /// <summary>A session ended (after its unavailable presence, if any, was reported).</summary>
    public sealed record SessionEnded(Jid Resource, IActorRef Session);

    /// <summary>XEP-0198 resumption on another node: the session <paramref name="From"/> of <paramref name="Resource"/> was
    /// handed over to <paramref name="To"/>, with its presence (<paramref name="Available"/>, <paramref name="Priority"/>).
    /// The resources entity and the user actor put the new one in its place, keeping what they knew of the resource: no
    /// presence is broadcast, the resource never went away.</summary>
    public sealed record SessionMoved(Jid Resource, IActorRef From, IActorRef To, bool Available, int Priority);

    /// <summary>A subscription stanza sent by the user (RFC 6121 §3, outbound processing), stamped with the bare JID.</summary>
    public sealed record OutboundSubscription(Element Stanza, Jid To);

    /// <summary>A subscription stanza or probe addressed to the user (inbound processing).</summary>
    public sealed record InboundPresence(Element Stanza, Jid From);

    /// <summary>
    /// Sent by a recovered user actor to the available sessions its account's resources entity lists: each answers (through the user
    /// directory, after anything it sent before) with a <see cref="PresenceReport"/>.
    /// </summary>
    public sealed record ReportPresence
    {
        public static readonly ReportPresence Instance = new();
    }

    /// <summary>
    /// A session's state that only lives in the user actor's memory: its last broadcast presence (null when
    /// unavailable) and whether it requested the roster (RFC 6121 §2.1.6).
    /// </summary>
    public sealed record PresenceReport(Jid Resource, IActorRef Session, Element? Presence, bool RosterRequested);

    /// <summary>
    /// From the offline plugin's store once it holds the offline messages of release 1 (<see cref="PluginStores.LegacyUserData"/>):
    /// the entries up to <paramref name="UpToId"/> leave this actor's state (an <c>offline.delivered.v1</c> event, so
    /// that snapshots stop carrying them, followed by a snapshot and the deletion of the events before it). No answer:
    /// if it is lost, the entries stay until the next time (the plugin's store imports only once, so nothing twice).
    /// </summary>
    public sealed record DropLegacyOffline(long UpToId);

    /// <summary>For tests and tools: the current state as a snapshot record.</summary>
    public sealed record GetState
    {
        public static readonly GetState Instance = new();
    }

    /// <summary>
    /// The account is gone from the directory (XEP-0077 §3.2 cancellation, XEP-0133 delete-user, <c>user remove</c>):
    /// every subscription is cancelled as when the user removes the roster item (RFC 6121 §2.5.2), contacts that saw
    /// the user's presence get unavailable presence, the account's sessions are closed with &lt;not-authorized/&gt;,
    /// the journal and snapshots are deleted and the actor stops. <paramref name="FinalStanza"/>, when given, reaches
    /// the session of <paramref name="Requester"/> before its stream error (the result of a cancellation).
    /// Answered with <see cref="AccountDeleted"/> (or Status.Failure when the journal did not delete).
    /// </summary>
    public sealed record RemoveAccount(Jid? Requester = null, Element? FinalStanza = null);

    /// <summary>The answer to <see cref="RemoveAccount"/>: the contacts in local domains that were told.</summary>
    public sealed record AccountDeleted(IReadOnlyList<Jid> LocalContacts);

    /// <summary>Closes the account's sessions with a stream error, except the one of <paramref name="Keep"/> (the
    /// session that changed the password). No answer.</summary>
    public sealed record CloseSessions(string Condition, string Text, Jid? Keep = null);

    /// <summary>The subscription state of a contact in this roster (RFC 6121 §2.1.2.5); answered with <see cref="SubscriptionOf"/>.</summary>
    public sealed record GetSubscription(Jid Contact);

    /// <summary>The bare JIDs of every roster item (any subscription); answered with <see cref="Contacts"/>.</summary>
    public sealed record GetContacts
    {
        public static readonly GetContacts Instance = new();
    }

    /// <summary>The answer to <see cref="GetContacts"/>.</summary>
    public sealed record Contacts(IReadOnlyList<Jid> Jids);

    /// <summary>XEP-0227 import: roster items as exported (subscription states included, which no client may set) and
    /// pending inbound subscription requests, stored over what the roster holds for the same contacts. Answered with
    /// <see cref="DataImported"/> once journaled (or a Status.Failure).</summary>
    public sealed record ImportData(IReadOnlyList<RosterItemState> Roster, IReadOnlyList<SubscriptionRequestState> PendingIn);

    /// <summary>The answer to <see cref="ImportData"/>: how many roster items and requests were stored.</summary>
    public sealed record DataImported(int RosterItems, int Requests);

    /// <summary>The contact's subscription state and the roster groups the user put it in (none when not in the roster).</summary>
    public sealed record SubscriptionOf(string Subscription, IReadOnlyList<string> Groups);

    /// <summary>When the account's last available resource went unavailable, and its status (RFC 6121 §4.3.2: what a
    /// probe is answered with while it is offline); answered with <see cref="LastUnavailable"/>.</summary>
    public sealed record GetLastUnavailable
    {
        public static readonly GetLastUnavailable Instance = new();
    }

    public sealed record LastUnavailable(DateTimeOffset? At, string? Status);

    /// <param name="ReportTimeout">After a restart, how long the actor waits (stashing) for the sessions' presence reports.</param>
    /// <param name="PassivateAfter">With no bound session and no message for this long, the actor stops (through its
    /// parent, <see cref="UsersActor.Passivate"/>); the next message recovers it. Null: never.</param>
    /// <param name="MaxRosterItems">Items a roster may hold; a roster set adding one more is refused with
    /// &lt;not-allowed/&gt; (RFC 6121 §2.3.3). 0: no cap.</param>
    public sealed record Settings(int SnapshotEvery = 100, TimeSpan? ReportTimeout = null, TimeSpan? PassivateAfter = null, int MaxRosterItems = 0);

    /// <summary>The stop message of passivation: everything sent before it has been handled.</summary>
    public sealed record Stop
    {
        public static readonly Stop Instance = new();
    }

    private sealed record ReportsTimedOut(int Generation);

    public static Props Props(Jid user, StanzaRouter router, Settings settings) =>
        ActorProps.Of(() => new UserActor(user, router, settings));

    public const string PersistenceIdPrefix = "user:";

    public static string PersistenceIdOf(Jid user) => PersistenceIdPrefix + user.Bare;

    // ---- state -----------------------------------------------------------------------------------------------

    private sealed class Resource(IActorRef session)
    {
        public IActorRef Session = session;
        public bool Available;
        public int Priority;
        public Element? LastPresence;
        public bool RosterInterested;
    }

    private const int MaxNameLength = 1023;

    private readonly Jid _user;
    private readonly string _domainTag;
    private readonly string _bare;
    private readonly StanzaRouter _router;
    private readonly Settings _settings;
    // no logger of its own: Eventsourced.Log is the adapter the persistence base class makes for this actor anyway
    // (Context.GetLogger() makes a new one at each call)
    private readonly UserState _state = new();
    private readonly Dictionary<Jid, Resource> _resources = new();
    private long _lastSnapshotSeq;
    private bool _deleteOnSnapshot;
    private Action? _onPersistFailure;
    private HashSet<Jid>? _awaitingReports;
    private int _reportGeneration;

    public override string PersistenceId { get; }

    public UserActor(Jid user, StanzaRouter router, Settings settings)
    {
        _user = user.Bare;
        _bare = _user.ToString();
        _router = router;
        _settings = settings;
        PersistenceId = PersistenceIdOf(_user);
        _domainTag = XmppEventTagger.DomainTag(_user.Domain);
    }

    protected override void PostStop()
    {
        Hosting.IdleHeapTrimmer.Released(Context.System);
        base.PostStop();
    }

    // ---- messages --------------------------------------------------------------------------------------------
    // Switches rather than ReceivePersistentActor's Recover<T>/Command<T> tables, which each instance builds and
    // keeps (a delegate per handler): there is a user actor per account with a session.

    protected override void OnRecover(object message)
    {
        switch (message)
        {
            case SnapshotOffer offer:
                if (offer.Snapshot is UserSnapshot s)
                {
                    _state.Apply(s);
                    _lastSnapshotSeq = offer.Metadata.SequenceNr;
                }
                break;
            case IPersistentEvent e:
                _state.Apply(e);
                break;
            case Tagged t: // journals without a tag-aware write path (the in-memory one) hand the Tagged wrapper back
                _state.Apply((IPersistentEvent)t.Payload);
                break;
            case RecoveryCompleted:
                AdoptSessions();
                ArmIdleTimer();
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    /// <summary>The commands, except while waiting for presence reports (<see cref="WaitingForReports"/>).</summary>
    protected override void OnCommand(object message)
    {
        switch (message)
        {
            case HandleIq m:
                OnIq(m);
                break;
            case SessionStarted s:
                Track(s.Resource, s.Session);
                break;
            case ResourcePresence m:
                OnResourcePresence(m);
                break;
            case SessionEnded e:
                if (_resources.TryGetValue(e.Resource, out var r) && r.Session.Equals(e.Session)) _resources.Remove(e.Resource);
                break;
            case SessionMoved m:
                if (_resources.TryGetValue(m.Resource, out var moved) && moved.Session.Equals(m.From)) moved.Session = m.To;
                else
                {
                    var adopted = Track(m.Resource, m.To);
                    adopted.Available = m.Available;
                    adopted.Priority = m.Priority;
                }
                break;
            case OutboundSubscription m:
                Context.Parent.Tell(new UsersActor.Handled(m)); // taken: the parent need not hand it on (UsersActor)
                OnOutbound(m);
                break;
            case InboundPresence m:
                Context.Parent.Tell(new UsersActor.Handled(m));
                OnInbound(m);
                break;
            case DropLegacyOffline m:
                DropOffline(m);
                break;
            case GetState:
                Sender.Tell(_state.ToSnapshot());
                break;
            case RemoveAccount m:
                BeginRemoval(m);
                return; // no idle timer: it stops once the journal is deleted
            case ReceiveTimeout:
                // idle: no bound session and no message for PassivateAfter
                if (_resources.Count == 0) Context.Parent.Tell(new UsersActor.Passivate(Stop.Instance));
                SetReceiveTimeout(null);
                _idleArmed = false;
                return;
            case Stop:
                Context.Stop(Self);
                return;
            case CloseSessions m:
                CloseSessionsExcept(m);
                break;
            case ImportData m:
                Import(m);
                break;
            case GetSubscription g:
                var rosterItem = _state.Item(g.Contact.Bare.ToString());
                Sender.Tell(new SubscriptionOf(rosterItem?.Subscription ?? "none", rosterItem?.Groups ?? []));
                break;
            case GetContacts:
                var contacts = new List<Jid>(_state.RosterCount);
                foreach (var item in _state.Roster)
                    if (Jid.TryParse(item.Jid, out var contact) && contact is not null) contacts.Add(contact);
                Sender.Tell(new Contacts(contacts));
                break;
            case GetLastUnavailable:
                Sender.Tell(new LastUnavailable(_state.LastLogout, _state.LastStatus));
                break;
            case PresenceReport m: // a late one (after the wait timed out) still helps
                OnPresenceReport(m);
                break;
            case ReportsTimedOut:
                break;
            case SaveSnapshotSuccess s:
                _lastSnapshotSeq = s.Metadata.SequenceNr;
                if (_deleteOnSnapshot)
                {
                    // the offline messages of release 1 leave the journal: everything up to the snapshot is in it
                    _deleteOnSnapshot = false;
                    DeleteMessages(s.Metadata.SequenceNr);
                    DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1));
                }
                break;
            default:
                if (!SnapshotHousekeeping.Handled(message, Log, PersistenceId)) Unhandled(message);
                break;
        }
        ArmIdleTimer();
    }

    private bool _idleArmed;

    /// <summary>Passivation: the receive timeout runs while no session is bound (any message restarts it).</summary>
    private void ArmIdleTimer()
    {
        if (_settings.PassivateAfter is not { } after) return;
        var idle = _resources.Count == 0;
        if (idle == _idleArmed) return;
        _idleArmed = idle;
        SetReceiveTimeout(idle ? after : null);
    }

    /// <summary>
    /// After a restart: the sessions that are bound now, as the account's resources entity holds them (asked, not
    /// read: <see cref="AccountResourcesActor.ListResources"/>; other messages wait in the stash until it answers).
    /// The available ones are asked for their last presence and interests (<see cref="ReportPresence"/>); until they
    /// answered (or <see cref="Settings.ReportTimeout"/>), other messages are stashed, so that a probe is not answered
    /// with a presence that lost its show and status. (At the first start no session is available yet: nothing is asked.)
    /// </summary>
    private void AdoptSessions()
    {
        if (_router.Users is not { } users) return;
        users.Tell(_user, AccountResourcesActor.ListResources.Instance, Self);
        var generation = ++_reportGeneration;
        Timers.StartSingleTimer(nameof(ReportsTimedOut), new ReportsTimedOut(generation), _settings.ReportTimeout ?? TimeSpan.FromSeconds(2));
        BecomeStacked(WaitingForResources);
    }

    /// <summary>The behaviour <see cref="AdoptSessions"/> pushes first: the entity's list is taken, everything else waits.</summary>
    private void WaitingForResources(object message)
    {
        switch (message)
        {
            case AccountResourcesActor.ResourceList m:
                Context.UnbecomeStacked();
                Timers.Cancel(nameof(ReportsTimedOut));
                AdoptResources(m.Resources);
                if (_awaitingReports is null) Stash.UnstashAll();
                break;
            case ReportsTimedOut t:
                if (t.Generation != _reportGeneration) return;
                Log.Warning("{0}: the account's resources entity did not answer", PersistenceId);
                Context.UnbecomeStacked();
                Stash.UnstashAll();
                break;
            default:
                Stash.Stash();
                break;
        }
    }

    private void AdoptResources(IReadOnlyList<SessionEntry> resources)
    {
        for (var i = 0; i < resources.Count; i++)
        {
            var e = resources[i];
            var r = Track(e.Jid, e.Session);
            r.Available = e.Available;
            r.Priority = e.Priority;
            if (!e.Available) continue;
            r.LastPresence ??= new Element("presence", Ns.Client).SetAttr("from", e.Jid.ToString()); // until it reports
            (_awaitingReports ??= new HashSet<Jid>()).Add(e.Jid);
            e.Session.Tell(ReportPresence.Instance, Self);
        }
        if (_awaitingReports is null) return;
        var generation = ++_reportGeneration;
        Timers.StartSingleTimer(nameof(ReportsTimedOut), new ReportsTimedOut(generation), _settings.ReportTimeout ?? TimeSpan.FromSeconds(2));
        BecomeStacked(WaitingForReports);
    }

    /// <summary>The behaviour <see cref="AdoptSessions"/> pushes: reports are taken, everything else waits in the stash.</summary>
    private void WaitingForReports(object message)
    {
        switch (message)
        {
            case PresenceReport m:
                OnPresenceReport(m);
                _awaitingReports?.Remove(m.Resource);
                if (_awaitingReports is { Count: 0 }) EndWaitingForReports();
                break;
            case ReportsTimedOut t:
                if (t.Generation != _reportGeneration) return;
                Log.Warning("{0}: {1} session(s) did not report their presence", PersistenceId, _awaitingReports?.Count ?? 0);
                EndWaitingForReports();
                break;
            case SessionEnded e:
                // a session that ends will not report: stop waiting for it, then handle the end as usual
                _awaitingReports?.Remove(e.Resource);
                Stash.Stash();
                if (_awaitingReports is { Count: 0 }) EndWaitingForReports();
                break;
            default:
                Stash.Stash();
                break;
        }
    }

    private void EndWaitingForReports()
    {
        _awaitingReports = null;
        _reportGeneration++;
        Timers.Cancel(nameof(ReportsTimedOut));
        Context.UnbecomeStacked();
        Stash.UnstashAll();
    }

    private void OnPresenceReport(PresenceReport m)
    {
        if (!_resources.TryGetValue(m.Resource, out var r) || !r.Session.Equals(m.Session)) return;
        if (m.RosterRequested) r.RosterInterested = true;
        if (r.Available && m.Presence is not null) r.LastPresence = m.Presence.Clone();
    }

    private Resource Track(Jid resource, IActorRef session)
    {
        if (!_resources.TryGetValue(resource, out var r)) _resources[resource] = r = new Resource(session);
        else if (r.Session.IsNobody()) r.Session = session; // it asked for the roster before it reported itself
        else if (!session.IsNobody() && !r.Session.Equals(session)) _resources[resource] = r = new Resource(session); // a new session took the resource
        return r;
    }

    // ---- persistence helpers ---------------------------------------------------------------------------------

    /// <summary>
    /// Persists the events (one write for several), applies them, then runs <paramref name="then"/>. If the journal
    /// write fails, <paramref name="onFailure"/> answers the request with an error instead (nothing is half done).
    /// </summary>
    private void Save(IReadOnlyList<IPersistentEvent> events, Action then, Action? onFailure = null)
    {
        if (events.Count == 0)
        {
            then();
            return;
        }
        _onPersistFailure = onFailure;
        var remaining = events.Count;
        var rosterChanged = false;
        // tagged here, by kind and by the account's domain (the events do not carry the domain, their persistence
        // id does); the journal's write adapter only tags untagged IPersistentEvents
        var tagged = new Tagged[events.Count];
        for (var i = 0; i < events.Count; i++)
            tagged[i] = new Tagged(events[i], [.. XmppEventTagger.TagsOf(events[i]), _domainTag]);
        PersistAll(tagged, t =>
        {
            var e = (IPersistentEvent)t.Payload;
            _state.Apply(e);
            rosterChanged |= e is RosterItemSet or RosterItemRemoved;
            if (--remaining > 0) return;
            _onPersistFailure = null;
            then();
            if (rosterChanged)
            {
                ServerEvents.Of(Context.System).Raise(ServerEventKind.RosterChanged, _user);
                Cluster.ClusterSignals.Of(Context.System).Tell(Cluster.ClusterSignals.HostSource, Cluster.ClusterSignals.RosterChanged, _user);
            }
            MaybeSnapshot();
        });
    }

    private void Save(IPersistentEvent e, Action then, Action? onFailure = null) => Save([e], then, onFailure);

    private void MaybeSnapshot(bool force = false)
    {
        if (force || LastSequenceNr - _lastSnapshotSeq >= _settings.SnapshotEvery) SaveSnapshot(_state.ToSnapshot());
    }

    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        Log.Error(cause, "journal write for {0} failed", PersistenceId);
        Interlocked.Exchange(ref _onPersistFailure, null)?.Invoke();
        base.OnPersistFailure(cause, @event, sequenceNr); // stops the actor; the next message recreates it from the journal
    }

    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        Log.Error(cause, "journal rejected an event of {0}", PersistenceId);
        Interlocked.Exchange(ref _onPersistFailure, null)?.Invoke();
        base.OnPersistRejected(cause, @event, sequenceNr);
    }

    // ---- IQs -------------------------------------------------------------------------------------------------

    private void OnIq(HandleIq m)
    {
        var iq = m.Iq;
        var payload = iq.FirstChild();
        var sender = Sender;
        if (payload is null)
        {
            sender.Tell(Error(iq, "bad-request"));
            return;
        }
        var own = m.From.Bare.Equals(_user);
        var set = iq.Type == "set";
        switch (payload.Namespace)
        {
            case Ns.Roster when payload.Name == "query":
                if (!own) sender.Tell(Error(iq, "forbidden", "a roster can only be used by its owner"));
                else if (set) RosterSet(iq, payload, m.From, sender);
                else RosterGet(iq, payload, m.From, sender);
                return;
        }
        sender.Tell(Error(iq, "service-unavailable"));
    }

    private static Element Error(Element iq, string condition, string? text = null) => StanzaErrors.Reply(iq, condition, text)!;

    // RFC 6121 §2.1.3 + §2.6: roster get, with versioning
    private void RosterGet(Element iq, Element query, Jid from, IActorRef sender)
    {
        MarkInterested(from);
        var ver = Ver();
        if (query.Attr("ver") is { } clientVer && clientVer == ver)
        {
            // §2.6.3: the client's version is current: an empty result; changes will come as pushes
            sender.Tell(StanzaErrors.IqResult(iq));
            return;
        }
        var result = new Element("query", Ns.Roster).SetAttr("ver", ver);
        foreach (var item in _state.Roster) result.Add(ItemElement(item));
        sender.Tell(StanzaErrors.IqResult(iq, result));
    }

    /// <summary>A resource that requested the roster (or changed it) is "interested": it gets roster pushes (§2.1.6, §2.3.2).</summary>
    private void MarkInterested(Jid from) => ResourceOf(from)?.RosterInterested = true;

    /// <summary>The tracked resource of a full JID (tracked now if its session has not reported itself yet).</summary>
    private Resource? ResourceOf(Jid from) =>
        from.Resource is null ? null : _resources.TryGetValue(from, out var r) ? r : Track(from, ActorRefs.Nobody);

    private string Ver() => _state.RosterVersion.ToString(CultureInfo.InvariantCulture);

    private static Element ItemElement(RosterItemState item)
    {
        var e = new Element("item", Ns.Roster).SetAttr("jid", item.Jid).SetAttr("name", item.Name)
            .SetAttr("subscription", item.Subscription);
        if (item.Ask) e.SetAttr("ask", "subscribe");
        if (item.Approved) e.SetAttr("approved", "true");
        foreach (var g in item.Groups) e.Add(new Element("group", Ns.Roster).AddText(g));
        return e;
    }

    // RFC 6121 §2.3 (add/update) and §2.5 (remove)
    private void RosterSet(Element iq, Element query, Jid from, IActorRef sender)
    {
        var items = query.Elements().ToList();
        if (items.Count != 1 || !items[0].Is("item", Ns.Roster))
        {
            sender.Tell(Error(iq, "bad-request", "a roster set must contain exactly one item (RFC 6121 §2.3.3)"));
            return;
        }
        var item = items[0];
        MarkInterested(from); // §2.3.2: the push goes to the resource that generated the roster set, too
        var jidText = item.Attr("jid");
        if (jidText is null)
        {
            sender.Tell(Error(iq, "bad-request", "the item has no 'jid'"));
            return;
        }
        if (!Jid.TryParse(jidText, out var contact) || contact is null)
        {
            sender.Tell(Error(iq, "jid-malformed", "the item's 'jid' is not a valid JID"));
            return;
        }
        var key = contact.ToString();
        var existing = _state.Item(key);
        var failure = () => sender.Tell(Error(iq, "internal-server-error", "the roster could not be saved"));

        if (item.Attr("subscription") == "remove")
        {
            if (existing is null && !_state.PendingIn.ContainsKey(key))
            {
                sender.Tell(Error(iq, "item-not-found", "no such roster item"));
                return;
            }
            RemoveItem(contact, existing, () => sender.Tell(StanzaErrors.IqResult(iq)), failure);
            return;
        }

        var name = item.Attr("name");
        if (name is { Length: > MaxNameLength })
        {
            sender.Tell(Error(iq, "not-acceptable", "the item's name is too long"));
            return;
        }
        var groups = new List<string>();
        foreach (var g in item.Elements("group", Ns.Roster))
        {
            var text = g.Text;
            if (text.Length == 0)
            {
                sender.Tell(Error(iq, "not-acceptable", "a group name is empty (RFC 6121 §2.1.2.5)"));
                return;
            }
            if (text.Length > MaxNameLength)
            {
                sender.Tell(Error(iq, "not-acceptable", "a group name is too long"));
                return;
            }
            if (groups.Contains(text))
            {
                sender.Tell(Error(iq, "not-acceptable", "the same group appears twice (RFC 6121 §2.3.3)"));
                return;
            }
            groups.Add(text);
        }
        // a roster may hold so many items (held in memory, written by every snapshot): one more is not allowed
        if (existing is null && _settings.MaxRosterItems > 0 && _state.RosterCount >= _settings.MaxRosterItems)
        {
            sender.Tell(Error(iq, "not-allowed", $"the roster has {_settings.MaxRosterItems} items, the most it may have"));
            return;
        }
        // §2.1.2.5: 'subscription' (other than remove), 'ask' and 'approved' from the client are ignored
        var next = existing is null
            ? new RosterItemState(key, name, groups.ToArray(), "none", false, false)
            : existing with { Name = name, Groups = groups.ToArray() };
        SetItems([next], () => sender.Tell(StanzaErrors.IqResult(iq)), failure);
    }

    /// <summary>Persists roster items (one version step each), pushes them (§2.1.6) and then runs <paramref name="then"/>.</summary>
    private void SetItems(IReadOnlyList<RosterItemState> items, Action then, Action? onFailure = null, IEnumerable<IPersistentEvent>? extra = null)
    {
        var events = new List<IPersistentEvent>();
        var v = _state.RosterVersion;
        foreach (var i in items) events.Add(new RosterItemSet(i.Jid, i.Name, i.Groups, i.Subscription, i.Ask, i.Approved, ++v));
        if (extra is not null) events.AddRange(extra);
        Save(events, () =>
        {
            then();
            foreach (var i in items) Push(ItemElement(_state.Item(i.Jid) ?? i));
        }, onFailure);
    }

    private void Import(ImportData m)
    {
        var sender = Sender;
        var max = _settings.MaxRosterItems;
        var items = new List<RosterItemState>(m.Roster.Count);
        foreach (var item in m.Roster)
        {
            if (max > 0 && _state.Item(item.Jid) is null && _state.RosterCount + items.Count >= max)
            {
                sender.Tell(new Status.Failure(new InvalidOperationException($"the roster would hold more than {max} items")));
                return;
            }
            items.Add(item);
        }
        var requests = new List<IPersistentEvent>(m.PendingIn.Count);
        foreach (var r in m.PendingIn) requests.Add(new SubscriptionRequestStored(r.From, r.Stanza));
        SetItems(items, () => sender.Tell(new DataImported(items.Count, requests.Count)),
            () => sender.Tell(new Status.Failure(new InvalidOperationException("the journal write failed"))), requests);
    }

    private void RemoveItem(Jid contact, RosterItemState? existing, Action then, Action? onFailure)
    {
        var key = contact.ToString();
        var events = new List<IPersistentEvent>();
        if (existing is not null) events.Add(new RosterItemRemoved(key, _state.RosterVersion + 1));
        var pending = _state.PendingIn.ContainsKey(key);
        if (pending) events.Add(new SubscriptionRequestCleared(key));
        Save(events, () =>
        {
            then();
            // §2.5.2: the contact's server learns that the subscriptions are gone
            if (existing is not null && (existing.Subscription is "to" or "both" || existing.Ask)) SendSubscription("unsubscribe", contact);
            if (pending || existing is not null && existing.Subscription is "from" or "both")
            {
                SendSubscription("unsubscribed", contact);
                SendPresenceOfAll(contact, unavailable: true);
            }
            if (existing is not null) Push(new Element("item", Ns.Roster).SetAttr("jid", key).SetAttr("subscription", "remove"));
        }, onFailure);
    }

    /// <summary>Roster push (RFC 6121 §2.1.6) to every resource that requested the roster.</summary>
    private void Push(Element item)
    {
        foreach (var (full, r) in _resources)
        {
            if (!r.RosterInterested) continue;
            var iq = new Element("iq", Ns.Client).SetAttr("type", "set").SetAttr("id", "push" + Guid.NewGuid().ToString("N")[..12])
                .SetAttr("from", _bare).SetAttr("to", full.ToString());
            iq.Add(new Element("query", Ns.Roster).SetAttr("ver", Ver()).Add(item.Clone()));
            _router.Route(iq, _user, full);
        }
    }

    // ---- subscriptions (RFC 6121 §3, Appendix A) ---------------------------------------------------------------

    private void SendSubscription(string type, Jid contact)
    {
        var p = new Element("presence", Ns.Client).SetAttr("from", _bare).SetAttr("to", contact.ToString()).SetAttr("type", type);
        _router.Route(p, _user, contact);
    }

    /// <summary>The last presence of each available resource (or unavailable presence) to <paramref name="to"/>.</summary>
    private void SendPresenceOfAll(Jid to, bool unavailable)
    {
        foreach (var (full, r) in _resources)
        {
            if (!r.Available) continue;
            Element p;
            if (unavailable) p = new Element("presence", Ns.Client).SetAttr("type", "unavailable");
            else p = r.LastPresence?.Clone() ?? new Element("presence", Ns.Client);
            p.SetAttr("from", full.ToString()).SetAttr("to", to.ToString());
            _router.Route(p, full, to);
        }
    }

    private void OnOutbound(OutboundSubscription m)
    {
        var stanza = m.Stanza;
        var contact = m.To.Bare;
        var key = contact.ToString();
        var item = _state.Item(key);
        void Route()
        {
            var copy = stanza.Clone();
            copy.From = _bare;
            copy.To = key;
            _router.Route(copy, _user, contact);
        }
        switch (stanza.Type)
        {
            case "subscribe": // §3.1.2, A.2.1
                if (item is null) SetItems([new RosterItemState(key, null, [], "none", true, false)], Route);
                else if (item.Subscription is "none" or "from" && !item.Ask) SetItems([item with { Ask = true }], Route);
                else Route();
                return;
            case "unsubscribe": // §3.3.2, A.2.2
                if (item is not null && (item.Subscription is "to" or "both" || item.Ask))
                    SetItems([item with { Subscription = item.Subscription switch { "both" => "from", "to" => "none", var s => s }, Ask = false }], Route);
                else Route();
                return;
            case "subscribed": // §3.1.5 approval, §3.4 pre-approval, A.3.1
                if (_state.PendingIn.ContainsKey(key))
                {
                    var next = item is null
                        ? new RosterItemState(key, null, [], "from", false, false)
                        : item with { Subscription = item.Subscription switch { "none" => "from", "to" => "both", var s => s }, Approved = false };
                    SetItems([next], () =>
                    {
                        Route();
                        SendPresenceOfAll(contact, unavailable: false); // §3.1.5: the contact's current presence
                    }, extra: [new SubscriptionRequestCleared(key)]);
                }
                else if (item is null) SetItems([new RosterItemState(key, null, [], "none", false, true)], () => { });
                else if (item.Subscription is "none" or "to" && !item.Approved) SetItems([item with { Approved = true }], () => { });
                // from/both: nothing changes and nothing is routed (A.3.1)
                return;
            case "unsubscribed": // §3.2.2 cancel / deny, A.3.2
            {
                var pending = _state.PendingIn.ContainsKey(key);
                var extra = pending ? new IPersistentEvent[] { new SubscriptionRequestCleared(key) } : [];
                if (item is not null && (item.Subscription is "from" or "both" || item.Approved))
                {
                    var hadFrom = item.Subscription is "from" or "both";
                    SetItems([item with { Subscription = item.Subscription switch { "from" => "none", "both" => "to", var s => s }, Approved = false }], () =>
                    {
                        if (!hadFrom && !pending) return; // only a pre-approval was cancelled
                        Route();
                        if (hadFrom) SendPresenceOfAll(contact, unavailable: true);
                    }, extra: extra);
                }
                else if (pending) Save(extra, Route);
                return;
            }
        }
    }

    private void OnInbound(InboundPresence m)
    {
        var stanza = m.Stanza;
        var from = m.From.Bare;
        var key = from.ToString();
        var item = _state.Item(key);
        switch (stanza.Type)
        {
            case "subscribe": // §3.1.3, A.3.1 inbound
                if (item is not null && item.Subscription is "from" or "both")
                {
                    SendSubscription("subscribed", from); // already subscribed: the server answers on the user's behalf
                    return;
                }
                if (item is not null && item.Approved)
                {
                    // §3.4: pre-approved
                    SetItems([item with { Subscription = item.Subscription == "to" ? "both" : "from", Approved = false }], () =>
                    {
                        SendSubscription("subscribed", from);
                        SendPresenceOfAll(from, unavailable: false);
                    });
                    return;
                }
                if (_state.PendingIn.TryGetValue(key, out var storedRequest) && TryParseStored(storedRequest, "subscription request from " + key) is { } stored)
                {
                    DeliverToAvailable(stored); // already stored: shown again, not stored twice
                    return;
                }
                // (a stored request that no longer parses is replaced by this one)
                var request = stanza.Clone();
                request.From = key;
                request.To = _bare;
                var xml = StanzaXml.ToXml(request);
                // stored first, then delivered to the available resources; redelivered at each login until answered
                Save(new SubscriptionRequestStored(key, xml), () => DeliverToAvailable(request));
                return;
            case "unsubscribe": // §3.3.3
            {
                var pending = _state.PendingIn.ContainsKey(key);
                var extra = pending ? new IPersistentEvent[] { new SubscriptionRequestCleared(key) } : [];
                if (item is not null && item.Subscription is "from" or "both")
                {
                    SetItems([item with { Subscription = item.Subscription == "both" ? "to" : "none" }], () =>
                    {
                        DeliverToAvailable(stanza);
                        SendPresenceOfAll(from, unavailable: true);
                    }, extra: extra);
                }
                else if (pending) Save(extra, () => DeliverToAvailable(stanza));
                return;
            }
            case "subscribed": // §3.1.6
                if (item is not null && item.Ask)
                {
                    SetItems([item with { Subscription = item.Subscription == "from" ? "both" : "to", Ask = false }], () => DeliverToAvailable(stanza));
                }
                return; // otherwise ignored (A.2.1)
            case "unsubscribed": // §3.2.3
                if (item is not null && (item.Subscription is "to" or "both" || item.Ask))
                {
                    SetItems([item with { Subscription = item.Subscription switch { "both" => "from", "to" => "none", var s => s }, Ask = false }],
                        () => DeliverToAvailable(stanza));
                }
                return;
            case "probe": // §4.3.2
                if (!from.Equals(_user) && item?.Subscription is not ("from" or "both"))
                {
                    // §4.3.2 (1): not "From", "From + Pending Out" or "Both": availability is not revealed; the answer
                    // is presence of type unsubscribed from the contact's bare JID (a full JID would leak presence),
                    // which cancels the prober's subscription at its server (§3.2) but no pre-approval here (§3.4)
                    var unsubscribed = new Element("presence", Ns.Client).SetAttr("from", _bare).SetAttr("to", key).SetAttr("type", "unsubscribed");
                    if (stanza.Id is { } probeId) unsubscribed.SetAttr("id", probeId);
                    _router.Route(unsubscribed, _user, from);
                }
                else
                {
                    var to = m.From;
                    if (_resources.Values.Any(r => r.Available)) SendPresenceOfAll(to, unavailable: false);
                    else
                    {
                        var p = new Element("presence", Ns.Client).SetAttr("from", _bare).SetAttr("to", to.ToString()).SetAttr("type", "unavailable");
                        if (_state.LastStatus is { } status) p.Add(new Element("status", Ns.Client).AddText(status));
                        if (_state.LastLogout is { } at) p.Add(Delay(at));
                        _router.Route(p, _user, to);
                    }
                }
                return;
        }
    }

    private void DeliverToAvailable(Element stanza)
    {
        foreach (var r in _resources.Values)
            if (r.Available) r.Session.Tell(new SessionMessages.Deliver(stanza));
    }

    private Element Delay(DateTimeOffset at) => new Element("delay", Ns.Delay).SetAttr("from", _user.Domain)
        .SetAttr("stamp", at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));

    // ---- presence (RFC 6121 §4) ------------------------------------------------------------------------------

    private void OnResourcePresence(ResourcePresence m)
    {
        if (!m.Available && _resources.TryGetValue(m.Resource, out var current) && !current.Session.IsNobody() && !current.Session.Equals(m.Session))
            return; // the unavailable of a session that another one replaced (RFC 6120 §7.7.2.2): the resource lives on
        var r = Track(m.Resource, m.Session);
        var wasAvailable = r.Available;
        r.Available = m.Available;
        r.Priority = m.Priority;
        if (m.Available)
        {
            r.LastPresence = m.Presence.Clone();
            BroadcastToSubscribers(m.Resource, m.Presence);
            if (!wasAvailable)
            {
                // §4.2.2: initial presence: probe the contacts the user is subscribed to, then hand over what waited
                foreach (var item in _state.Roster)
                {
                    if (item.Subscription is not ("to" or "both")) continue;
                    if (!Jid.TryParse(item.Jid, out var c) || c is null) continue;
                    var probe = new Element("presence", Ns.Client).SetAttr("from", _bare).SetAttr("to", item.Jid).SetAttr("type", "probe");
                    _router.Route(probe, _user, c);
                }
                // the presence of the user's other available resources, which the new one has not seen
                foreach (var (full, other) in _resources)
                {
                    if (full.Equals(m.Resource) || !other.Available || other.LastPresence is null) continue;
                    var copy = other.LastPresence.Clone();
                    copy.From = full.ToString();
                    copy.To = m.Resource.ToString();
                    m.Session.Tell(new SessionMessages.Deliver(copy));
                }
                // §3.1.3: pending subscription requests are delivered at each login until answered
                // (one that cannot be parsed is skipped and logged: it must not keep the others or the mailbox back)
                foreach (var (from, xml) in _state.PendingIn)
                    if (TryParseStored(xml, "subscription request from " + from) is { } request) m.Session.Tell(new SessionMessages.Deliver(request));
            }
        }
        else
        {
            r.LastPresence = null;
            if (wasAvailable) BroadcastToSubscribers(m.Resource, m.Presence);
            if (wasAvailable && !_resources.Values.Any(x => x.Available))
            {
                // §4.3.2: the last unavailable presence answers probes while offline (and is XEP-0012's last activity)
                var status = m.Presence.ChildText("status", Ns.Client);
                Save(new LastActivityRecorded(DateTimeOffset.UtcNow, status), () => { });
            }
        }
    }

    /// <summary>§4.2.2 / §4.4.2 / §4.5.2: to every contact with a subscription from or both (the blocking plugin
    /// drops what goes to a contact the user blocked, XEP-0191 §3.6).</summary>
    private void BroadcastToSubscribers(Jid resource, Element presence)
    {
        foreach (var item in _state.Roster)
        {
            if (item.Subscription is not ("from" or "both")) continue;
            if (!Jid.TryParse(item.Jid, out var c) || c is null) continue;
            var copy = presence.Clone();
            copy.From = resource.ToString();
            copy.To = item.Jid;
            _router.Route(copy, resource, c);
        }
    }

    // ---- offline messages of release 1 (XEP-0160: the offline plugin holds them now) ----------------------------

    /// <summary>The offline plugin's store took the entries over: they leave the state, and with a snapshot and the
    /// deletion of the events before it, the journal.</summary>
    private void DropOffline(DropLegacyOffline m)
    {
        if (_state.Offline.Count == 0 || _state.Offline[0].Id > m.UpToId) return;
        Save(new OfflineDelivered(m.UpToId), () =>
        {
            _deleteOnSnapshot = true;
            MaybeSnapshot(force: true);
        });
    }

    /// <summary>A stored stanza, or null (logged) for an entry that is not well-formed XML any more (written by a
    /// release whose serializer could produce such XML): replays skip it instead of failing on it forever.</summary>
    private Element? TryParseStored(string xml, string what)
    {
        if (StanzaXml.TryParse(xml, out var element, out var error)) return element;
        Log.Warning("{0}: skipping stored {1}: {2}", PersistenceId, what, error);
        return null;
    }

    // ---- account removal (XEP-0077 §3.2, RFC 6121 §2.5.2) ---------------------------------------------------------

    private sealed class Removal(IActorRef replyTo, IReadOnlyList<Jid> localContacts, long deleteTo)
    {
        public readonly IActorRef ReplyTo = replyTo;
        public readonly IReadOnlyList<Jid> LocalContacts = localContacts;
        public readonly long DeleteTo = deleteTo;
        public bool MessagesDeleted = deleteTo == 0; // nothing was ever written
        public bool SnapshotsDeleted;
    }

    private static readonly SnapshotSelectionCriteria AllSnapshots = new(long.MaxValue, DateTime.MaxValue);

    private Removal? _removal;

    private void BeginRemoval(RemoveAccount m)
    {
        // the contacts: what removing each roster item tells them (§2.5.2); pending inbound requests are denied
        var contacts = new List<Jid>();
        foreach (var item in _state.Roster)
        {
            if (!Jid.TryParse(item.Jid, out var contact) || contact is null) continue;
            if (item.Subscription is "to" or "both" || item.Ask) SendSubscription("unsubscribe", contact);
            if (item.Subscription is "from" or "both" || _state.PendingIn.ContainsKey(item.Jid))
            {
                SendSubscription("unsubscribed", contact);
                SendPresenceOfAll(contact, unavailable: true); // only available resources sent presence
            }
            if (contact.Local is not null && _router.IsLocalDomain(contact.Domain)) contacts.Add(contact);
        }
        foreach (var key in _state.PendingIn.Keys)
        {
            if (_state.Item(key) is not null || !Jid.TryParse(key, out var requester) || requester is null) continue;
            SendSubscription("unsubscribed", requester);
            if (requester.Local is not null && _router.IsLocalDomain(requester.Domain)) contacts.Add(requester);
        }

        // the sessions: XEP-0077 §3.2 ends them with <not-authorized/>; the requester gets its result first
        var finalDelivered = false;
        foreach (var (full, r) in _resources)
        {
            if (r.Session.IsNobody()) continue;
            if (m.FinalStanza is not null && full.Equals(m.Requester))
            {
                r.Session.Tell(new SessionMessages.Deliver(m.FinalStanza));
                finalDelivered = true;
            }
            r.Session.Tell(AccountRemovedError);
        }
        if (!finalDelivered && m.FinalStanza is not null && m.Requester is not null) _router.Route(m.FinalStanza, _user, m.Requester);
        _resources.Clear();

        // the data: every event and snapshot of user:<jid>; a re-created account starts empty
        _removal = new Removal(Sender, contacts, LastSequenceNr);
        Timers.CancelAll();
        if (LastSequenceNr > 0) DeleteMessages(LastSequenceNr);
        DeleteSnapshots(AllSnapshots);
        Become(Removing);
    }

    private static readonly C2s.C2sConnectionActor.CloseWithStreamError AccountRemovedError =
        new(StreamErrors.NotAuthorized, "the account was removed");

    /// <summary>After <see cref="RemoveAccount"/>: waits for the journal, answers as an account that does not exist.</summary>
    private void Removing(object message)
    {
        var removal = _removal!;
        switch (message)
        {
            case DeleteMessagesSuccess d when d.ToSequenceNr == removal.DeleteTo:
                removal.MessagesDeleted = true;
                EndRemovalIfDone();
                break;
            case DeleteSnapshotsSuccess s when s.Criteria.MaxSequenceNr == long.MaxValue:
                removal.SnapshotsDeleted = true;
                EndRemovalIfDone();
                break;
            case DeleteMessagesFailure f when f.ToSequenceNr == removal.DeleteTo:
                FailRemoval(f.Cause);
                break;
            case DeleteSnapshotsFailure f when f.Criteria.MaxSequenceNr == long.MaxValue:
                FailRemoval(f.Cause);
                break;
            case HandleIq m:
                Sender.Tell(Error(m.Iq, "service-unavailable")); // RFC 6121 §8.5.1: no such account
                break;
            case SessionStarted:
                Sender.Tell(AccountRemovedError); // a session that bound while the removal ran
                break;
            case RemoveAccount:
                Sender.Tell(new AccountDeleted([]));
                break;
            default:
                break; // presence, session ends, reports: nothing to keep for an account that is gone
        }
    }

    private void EndRemovalIfDone()
    {
        var removal = _removal!;
        if (!removal.MessagesDeleted || !removal.SnapshotsDeleted) return;
        removal.ReplyTo.Tell(new AccountDeleted(removal.LocalContacts));
        Context.Stop(Self);
    }

    private void FailRemoval(Exception cause)
    {
        Log.Error(cause, "deleting the journal of the removed account {0} failed", PersistenceId);
        _removal!.ReplyTo.Tell(new Status.Failure(new Accounts.AccountStoreException(
            $"the data of {_bare} could not be deleted: {cause.Message}", cause)));
        Context.Stop(Self);
    }

    private void CloseSessionsExcept(CloseSessions m)
    {
        var close = new C2s.C2sConnectionActor.CloseWithStreamError(m.Condition, m.Text);
        foreach (var (full, r) in _resources)
            if (!r.Session.IsNobody() && !full.Equals(m.Keep)) r.Session.Tell(close);
    }
}
