using System.Runtime.CompilerServices;
using Actors.Xmpp.Server.Accounts;
using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Stanzas;
using Akka.Actor;

namespace Actors.Xmpp.Server.Users;

/// <summary>
/// Parent and supervisor of the <see cref="UserActor"/>s (/user/users): creates the one of an account on the first
/// message for it and forwards. Two ways a user actor ends, both explicit (no dead-letter recovery):
/// <list type="bullet">
/// <item>Passivation, ShardRegion's shape: an idle actor (no bound session, no message for
/// <see cref="UserActor.Settings.PassivateAfter"/>) sends <see cref="Passivate"/>; messages for it are buffered here
/// while the stop message travels through its mailbox behind what it still has to do, and start a fresh actor (from
/// the journal) once it has terminated. The clustering issue swaps this actor for a shard region without changing
/// the user actor.</item>
/// <item>A journal failure stops the actor at once. What it accepts on someone's behalf (subscription stanzas and
/// probes: <see cref="IsTracked"/>) stays in flight here until the user actor reports it taken (<see cref="Handled"/>,
/// when its handling starts); what is still in flight when the actor terminates is handed once to a fresh actor. IQ
/// requests lost this way are answered by the asker's timeout (&lt;internal-server-error/&gt;); presence is sent again
/// at the next change. (Offline messages are the offline plugin's: its store answers each append.)</item>
/// </list>
/// An account being removed (<see cref="UserActor.RemoveAccount"/>) leaves a tombstone here until an account of that
/// name is created again (<see cref="AccountCreated"/> on the event stream): what its closing sessions still send
/// (presence, session ends) must not create a fresh actor that writes into the journal the removal deleted, and
/// requests that raced with the removal are answered as for an account that does not exist.
/// <para>
/// It is also the parent of the accounts' resources entities (<see cref="AccountResourcesActor"/>, named after the
/// account with the suffix <see cref="ResourcesSuffix"/>): the stanzas routed to an account
/// (<see cref="AccountResourcesActor.RouteStanza"/>), the sessions' <see cref="AccountResourcesActor.OwnPresence"/> and
/// <see cref="AccountResourcesActor.ListResources"/> go to the entity; <see cref="UserActor.SessionStarted"/>,
/// <see cref="UserActor.ResourcePresence"/> and <see cref="UserActor.SessionEnded"/> go to the entity first, then to the
/// user actor; removal and creation of an account are told to its entity. Entities passivate like user actors (and
/// may cancel a passivation when a session bound meanwhile: <see cref="AccountResourcesActor.CancelPassivation"/>).
/// A name an entity found without account (<see cref="AccountResourcesActor.NoAccount"/>) is answered here, as RFC
/// 6121 §8.5.1 says, for <see cref="NoAccountTtl"/> (at most <see cref="NoAccountCapacity"/> names, oldest evicted;
/// <see cref="AccountCreated"/> removes the name at once), so that a flood to names without account starts no actor
/// per stanza.
/// </para>
/// <para>
/// In a cluster (<see cref="XmppServerOptions.ClusterSettings.Enabled"/>) one instance per account is the entity of the
/// "users" shard region (<see cref="Cluster.ShardedUserDirectory"/>, entity id = the bare JID), with that account's two
/// children under it: everything above holds unchanged for the one account, and the shard moves all three together.
/// Such an instance learns of an account's creation from the directory (an <see cref="AccountResourcesActor.AccountCreated"/>
/// envelope) instead of the event stream, and asks its shard to passivate it once both children have stopped and it
/// keeps no tombstone (after <see cref="NoAccountTtl"/> when it answers a name without account).
/// </para>
/// </summary>
public sealed class UsersActor : ReceiveActor
{
    /// <summary>A message for the user actor of <paramref name="User"/> (a bare JID).</summary>
    public sealed record Envelope(Jid User, object Message);

    /// <summary>From an idle user actor: send it <paramref name="StopMessage"/> and buffer its messages until it stopped.</summary>
    public sealed record Passivate(object StopMessage);

    /// <summary>From a user actor: the tracked message (this instance) is taken care of.</summary>
    public sealed record Handled(object Message);

    /// <summary>The messages tracked until the user actor reports them <see cref="Handled"/>.</summary>
    public static bool IsTracked(object message) =>
        message is UserActor.InboundPresence or UserActor.OutboundSubscription;

    /// <summary>The suffix of an entity's child name (never in an escaped JID: '!' is percent-encoded there).</summary>
    public const string ResourcesSuffix = "!resources";
    /// <summary>How long a name without account is answered here without asking an entity.</summary>
    public static readonly TimeSpan NoAccountTtl = TimeSpan.FromSeconds(10);
    /// <summary>How many names without account are remembered (the oldest goes first).</summary>
    public const int NoAccountCapacity = 10_000;

    private readonly Func<Jid, Props> _userProps;
    private readonly Func<Jid, Props>? _resourcesProps;
    private readonly StanzaRouter? _router;
    // the live resources entities by account (no name escaping per routed stanza), and back
    private readonly Dictionary<Jid, IActorRef> _entities = new();
    private readonly Dictionary<IActorRef, Jid> _entityAccounts = new();
    // the negative cache: names without account, with when they expire, in insertion order
    private readonly Dictionary<Jid, long> _noAccount = new();
    private readonly Queue<(Jid Account, long Expires)> _noAccountOrder = new();
    private readonly ConditionalWeakTable<object, object> _redelivered = new();
    private readonly HashSet<Jid> _removed = new();
    // per passivating child: what arrived for it meanwhile
    private readonly Dictionary<IActorRef, List<(object Message, IActorRef Sender)>> _passivating = new();
    // per child: tracked messages it has not reported handled
    private readonly Dictionary<IActorRef, List<object>> _inFlight = new();
    // the entity of one account in the "users" shard region (cluster), rather than the parent of every account
    private readonly bool _sharded;
    // sharded: passivation asked of the shard; what arrives until the stop message goes back through the region
    private List<(object Message, IActorRef Sender)>? _afterPassivate;
    // sharded: the shard hands this instance off; its children are stopping behind their mailboxes
    private bool _handingOff;

    /// <param name="resources">The settings of the resources entities (default <see cref="AccountResourcesActor.Settings.Default"/>);
    /// there are none without <paramref name="router"/>.</param>
    public static Props Props(Func<Jid, Props> userProps, StanzaRouter? router = null, AccountResourcesActor.Settings? resources = null) =>
        Akka.Actor.Props.Create(() => new UsersActor(userProps, router, resources, false));

    /// <summary>The entity of one account in the "users" shard region (<see cref="Cluster.ShardedUserDirectory"/>).</summary>
    public static Props ShardEntityProps(Func<Jid, Props> userProps, StanzaRouter router, AccountResourcesActor.Settings? resources) =>
        Akka.Actor.Props.Create(() => new UsersActor(userProps, router, resources, true));

    public UsersActor(Func<Jid, Props> userProps, StanzaRouter? router, AccountResourcesActor.Settings? resources = null)
        : this(userProps, router, resources, false) { }

    /// <param name="sharded">The entity of one account in the "users" shard region (a cluster), not /user/users.</param>
    public UsersActor(Func<Jid, Props> userProps, StanzaRouter? router, AccountResourcesActor.Settings? resources, bool sharded)
    {
        _userProps = userProps;
        _router = router;
        _sharded = sharded;
        var settings = resources ?? AccountResourcesActor.Settings.Default;
        if (router is not null) _resourcesProps = u => AccountResourcesActor.Props(u, router, router.Accounts, settings);
        Receive<Envelope>(e =>
        {
            if (_afterPassivate is not null) _afterPassivate.Add((e, Sender)); // for the next incarnation
            else Deliver(e.User, e.Message, Sender);
        });
        Receive<ShardStop>(_ => OnShardStop());
        Receive<HandOffStop>(_ => OnHandOffStop());
        Receive<ReceiveTimeout>(_ => PassivateIfIdle());
        Receive<AccountResourcesActor.NoAccount>(m =>
        {
            if (!_entityAccounts.ContainsKey(Sender)) return;
            var expires = Environment.TickCount64 + (long)NoAccountTtl.TotalMilliseconds;
            _noAccount[m.Account] = expires;
            _noAccountOrder.Enqueue((m.Account, expires));
            while (_noAccountOrder.Count > NoAccountCapacity) ForgetOldestNoAccount();
        });
        Receive<AccountResourcesActor.CancelPassivation>(_ =>
        {
            // the entity stays: what was buffered for its successor goes to it, in order
            if (!_passivating.Remove(Sender, out var buffered)) return;
            foreach (var (message, sender) in buffered) Sender.Tell(message, sender);
        });
        Receive<Passivate>(OnPassivate);
        Receive<Handled>(m =>
        {
            if (_inFlight.TryGetValue(Sender, out var list) && RemoveSame(list, m.Message) && list.Count == 0) _inFlight.Remove(Sender);
        });
        Receive<Terminated>(OnTerminated);
        Receive<AccountCreated>(e => OnAccountCreated(Jid.Create(e.User, e.Domain)));
    }

    private void OnAccountCreated(Jid account)
    {
        _removed.Remove(account);
        _noAccount.Remove(account);
        if (_entities.TryGetValue(account, out var entity)) entity.Tell(AccountResourcesActor.AccountCreated.Instance);
    }

    protected override void PreStart()
    {
        if (!_sharded) Context.System.EventStream.Subscribe(Self, typeof(AccountCreated));
    }

    protected override void PostStop()
    {
        if (!_sharded) Context.System.EventStream.Unsubscribe(Self);
    }

    /// <summary>The stop message a sharded instance gives its shard with <c>Passivate</c>.</summary>
    public sealed record ShardStop
    {
        public static readonly ShardStop Instance = new();
    }

    /// <summary>The shard hands this instance off (its node leaves, or a rebalance moves the shard): the region's
    /// hand-off stop message (<see cref="Cluster.ShardedUserDirectory"/>). Unlike a <c>PoisonPill</c>, the children
    /// first handle what their mailboxes hold (stanzas reach the sessions), and what arrives meanwhile goes back through
    /// the region to the next incarnation, on the node the shard moves to.</summary>
    public sealed record HandOffStop
    {
        public static readonly HandOffStop Instance = new();
    }

    /// <summary>Sharded: once both children stopped and nothing is remembered here, the shard may stop this instance.</summary>
    private void PassivateIfIdle()
    {
        if (!_sharded || _afterPassivate is not null) return;
        if (_removed.Count > 0 || _passivating.Count > 0 || _inFlight.Count > 0) return; // a tombstone, or work in hand
        foreach (var _ in Context.GetChildren())
        {
            Context.SetReceiveTimeout(null);
            return;
        }
        if (_noAccount.Count > 0)
        {
            // answer the name without account for its TTL, then go
            var now = Environment.TickCount64;
            while (_noAccountOrder.Count > 0 && _noAccountOrder.Peek().Expires <= now) ForgetOldestNoAccount();
            if (_noAccount.Count > 0)
            {
                Context.SetReceiveTimeout(NoAccountTtl);
                return;
            }
        }
        Context.SetReceiveTimeout(null);
        _afterPassivate = new List<(object, IActorRef)>();
        Context.Parent.Tell(new Akka.Cluster.Sharding.Passivate(ShardStop.Instance));
    }

    /// <summary>Sharded: the shard buffers what comes after its Passivate; what reached this mailbox before goes back
    /// through the region to the next incarnation.</summary>
    private void OnShardStop()
    {
        if (_afterPassivate is { Count: > 0 } late)
        {
            var region = Akka.Cluster.Sharding.ClusterSharding.Get(Context.System).ShardRegion(Cluster.ShardedUserDirectory.TypeName);
            foreach (var (message, sender) in late) region.Tell(message, sender);
        }
        _afterPassivate = null;
        Context.Stop(Self);
    }

    /// <summary>Sharded: the hand-off. Each child is told to stop behind what its mailbox holds (the resources entity
    /// <see cref="AccountResourcesActor.HandOff"/>, the user actor its stop message); everything that arrives here
    /// until they have stopped is kept for the next incarnation, then sent back through the region.</summary>
    private void OnHandOffStop()
    {
        _handingOff = true;
        _afterPassivate ??= new List<(object, IActorRef)>();
        Context.SetReceiveTimeout(null);
        var any = false;
        foreach (var child in Context.GetChildren())
        {
            any = true;
            child.Tell(_entityAccounts.ContainsKey(child) ? AccountResourcesActor.HandOff.Instance : UserActor.Stop.Instance);
        }
        if (!any) OnShardStop();
    }

    private void OnPassivate(Passivate p)
    {
        if (!Context.Child(Sender.Path.Name).Equals(Sender) || _passivating.ContainsKey(Sender)) return; // only its own children
        _passivating[Sender] = new List<(object, IActorRef)>();
        Sender.Tell(p.StopMessage);
    }

    private void OnTerminated(Terminated t)
    {
        if (_handingOff)
        {
            HandedOffChild(t.ActorRef);
            return;
        }
        var child = t.ActorRef;
        _passivating.Remove(child, out var buffered);
        if (_entityAccounts.Remove(child, out var account))
        {
            _entities.Remove(account);
            if (buffered is not null)
                foreach (var (message, sender) in buffered) Deliver(account, message, sender);
            PassivateIfIdle();
            return;
        }
        _inFlight.Remove(child, out var lost);
        if (!Jid.TryParse(Uri.UnescapeDataString(child.Path.Name), out var user) || user is null) return;
        if (lost is not null)
        {
            foreach (var m in lost)
            {
                if (_redelivered.TryGetValue(m, out _)) continue; // lost twice: the sender sends it again at the next change
                _redelivered.Add(m, m);
                Deliver(user, m, ActorRefs.Nobody);
            }
        }
        if (buffered is not null)
            foreach (var (message, sender) in buffered) Deliver(user, message, sender);
        PassivateIfIdle();
    }

    /// <summary>A child stopped during the hand-off: what waited for it, or was in flight to it, goes to the next
    /// incarnation; once no child is left, this instance goes.</summary>
    private void HandedOffChild(IActorRef child)
    {
        Jid? account = null;
        if (_entityAccounts.Remove(child, out var entityAccount))
        {
            _entities.Remove(entityAccount);
            account = entityAccount;
        }
        else if (Jid.TryParse(Uri.UnescapeDataString(child.Path.Name), out var user) && user is not null) account = user;
        _passivating.Remove(child, out var buffered);
        _inFlight.Remove(child, out var lost);
        if (account is not null)
        {
            foreach (var m in lost ?? []) _afterPassivate!.Add((new Envelope(account, m), ActorRefs.Nobody));
            foreach (var (message, sender) in buffered ?? []) _afterPassivate!.Add((new Envelope(account, message), sender));
        }
        foreach (var _ in Context.GetChildren()) return;
        OnShardStop();
    }

    private void Deliver(Jid user, object message, IActorRef sender)
    {
        if (message is AccountResourcesActor.AccountCreated)
        {
            OnAccountCreated(user); // sharded: told by the directory, not the event stream
            PassivateIfIdle(); // an instance started only to hear it
            return;
        }
        if (_removed.Count > 0 && _removed.Contains(user))
        {
            ToRemovedAccount(message, sender);
            return;
        }
        if (_resourcesProps is not null)
        {
            switch (message)
            {
                case AccountResourcesActor.RouteStanza m:
                    if (_noAccount.Count > 0 && KnownWithoutAccount(user)) _router!.ToNoAccount(m.Stanza, m.From, m.To); // §8.5.1
                    else ToEntity(user, message, sender);
                    return;
                case AccountResourcesActor.OwnPresence or AccountResourcesActor.ListResources or AccountResourcesActor.DeliverPageTo
                    or AccountResourcesActor.ResumeSession or AccountResourcesActor.HandOverRefused:
                    ToEntity(user, message, sender);
                    return;
                case UserActor.SessionStarted:
                    _noAccount.Remove(user); // a session authenticated as the account: it exists
                    ToEntity(user, message, sender); // the entity first: a restarted user actor asks it for the resources
                    break;
                case UserActor.ResourcePresence or UserActor.SessionEnded or UserActor.SessionMoved:
                    ToEntity(user, message, sender);
                    break;
                case UserActor.RemoveAccount:
                    if (_entities.ContainsKey(user)) ToEntity(user, AccountResourcesActor.AccountRemoved.Instance, sender);
                    break;
            }
        }
        else if (message is AccountResourcesActor.ListResources)
        {
            sender.Tell(new AccountResourcesActor.ResourceList([])); // no entities without a router
            return;
        }
        else if (message is AccountResourcesActor.DeliverPageTo page)
        {
            sender.Tell(new SessionMessages.PageWritten(page.Page.PageId, false));
            return;
        }
        else if (message is UserActor.SessionEnded ended)
            ended.Session.Tell(SessionMessages.EndSeenInstance); // no entities route to sessions: it need not wait

        if (message is UserActor.RemoveAccount) _removed.Add(user);
        var child = Child(user);
        if (_passivating.TryGetValue(child, out var buffer))
        {
            buffer.Add((message, sender)); // a fresh actor takes it once this one stopped
            return;
        }
        if (IsTracked(message))
        {
            if (!_inFlight.TryGetValue(child, out var inFlight)) _inFlight[child] = inFlight = new List<object>(1);
            inFlight.Add(message);
        }
        child.Tell(message, sender);
    }

    private void ToEntity(Jid account, object message, IActorRef sender)
    {
        var entity = Entity(account);
        if (_passivating.TryGetValue(entity, out var buffer)) buffer.Add((message, sender)); // for its successor
        else entity.Tell(message, sender);
    }

    private IActorRef Entity(Jid account)
    {
        if (_entities.TryGetValue(account, out var entity)) return entity;
        entity = Context.ActorOf(_resourcesProps!(account), Uri.EscapeDataString(account.ToString()) + ResourcesSuffix);
        Context.Watch(entity);
        _entities[account] = entity;
        _entityAccounts[entity] = account;
        return entity;
    }

    private bool KnownWithoutAccount(Jid account)
    {
        var now = Environment.TickCount64;
        while (_noAccountOrder.Count > 0 && _noAccountOrder.Peek().Expires <= now) ForgetOldestNoAccount();
        return _noAccount.TryGetValue(account, out var expires) && expires > now;
    }

    private void ForgetOldestNoAccount()
    {
        var (account, expires) = _noAccountOrder.Dequeue();
        // a name cached again later has a newer entry in the queue: only its own entry removes it
        if (_noAccount.TryGetValue(account, out var current) && current == expires) _noAccount.Remove(account);
    }

    /// <summary>What an account that is gone answers (as UserActor does while it deletes its journal).</summary>
    private void ToRemovedAccount(object message, IActorRef sender)
    {
        switch (message)
        {
            case AccountResourcesActor.RouteStanza m:
                _router?.ToNoAccount(m.Stanza, m.From, m.To); // RFC 6121 §8.5.1
                break;
            case AccountResourcesActor.ListResources:
                sender.Tell(new AccountResourcesActor.ResourceList([]));
                break;
            case AccountResourcesActor.DeliverPageTo page:
                sender.Tell(new SessionMessages.PageWritten(page.Page.PageId, false));
                break;
            case AccountResourcesActor.ResumeSession m:
                m.Requester.Tell(new Sessions.SessionsActor.AttachFailed(m.SessionId)); // XEP-0198 §5: item-not-found
                break;
            case UserActor.HandleIq m:
                sender.Tell(StanzaErrors.Reply(m.Iq, "service-unavailable")); // RFC 6121 §8.5.1
                break;
            case UserActor.SessionStarted:
                sender.Tell(new C2s.C2sConnectionActor.CloseWithStreamError(Stanzas.StreamErrors.NotAuthorized, "the account was removed"));
                break;
            case UserActor.RemoveAccount:
                sender.Tell(new UserActor.AccountDeleted([]));
                break;
            case UserActor.SessionEnded m:
                m.Session.Tell(SessionMessages.EndSeenInstance); // nothing is routed to a removed account's sessions
                break;
        }
    }

    private static bool RemoveSame(List<object> list, object message)
    {
        for (var i = 0; i < list.Count; i++)
        {
            if (!ReferenceEquals(list[i], message)) continue;
            list.RemoveAt(i);
            return true;
        }
        return false;
    }

    private IActorRef Child(Jid user)
    {
        var name = Uri.EscapeDataString(user.ToString());
        var child = Context.Child(name);
        if (!child.IsNobody()) return child;
        child = Context.ActorOf(_userProps(user), name);
        Context.Watch(child);
        return child;
    }

    // a failing user actor is restarted (its state is recovered from the journal); a failing resources entity is
    // resumed: its table of live sessions cannot be recovered, the stanza it failed on is lost
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(10, TimeSpan.FromMinutes(1), ex => ex is AccountResourcesActor.Failure ? Directive.Resume : Directive.Restart);
}
