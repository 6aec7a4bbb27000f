using System.Runtime.CompilerServices;
using Actors.Xmpp.Server.Accounts;
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

    private readonly Func<Jid, Props> _userProps;
    private readonly ConditionalWeakTable<object, object> _redelivered = new();
    private readonly HashSet<Jid> _removed = new();
    // per passivating child: what arrived for it meanwhile
    private readonly Dictionary<IActorRef, List<(object Message, IActorRef Sender)>> _passivating = new();
    // per child: tracked messages it has not reported handled
    private readonly Dictionary<IActorRef, List<object>> _inFlight = new();

    public static Props Props(Func<Jid, Props> userProps) => Akka.Actor.Props.Create(() => new UsersActor(userProps));

    public UsersActor(Func<Jid, Props> userProps)
    {
        _userProps = userProps;
        Receive<Envelope>(e => Deliver(e.User, e.Message, Sender));
        Receive<Passivate>(OnPassivate);
        Receive<Handled>(m =>
        {
            if (_inFlight.TryGetValue(Sender, out var list) && RemoveSame(list, m.Message) && list.Count == 0) _inFlight.Remove(Sender);
        });
        Receive<Terminated>(OnTerminated);
        Receive<AccountCreated>(e => _removed.Remove(Jid.Create(e.User, e.Domain)));
    }

    protected override void PreStart() => Context.System.EventStream.Subscribe(Self, typeof(AccountCreated));

    protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);

    private void OnPassivate(Passivate p)
    {
        if (!Context.Child(Sender.Path.Name).Equals(Sender) || _passivating.ContainsKey(Sender)) return; // only its own children
        _passivating[Sender] = new List<(object, IActorRef)>();
        Sender.Tell(p.StopMessage);
    }

    private void OnTerminated(Terminated t)
    {
        var child = t.ActorRef;
        _passivating.Remove(child, out var buffered);
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
    }

    private void Deliver(Jid user, object message, IActorRef sender)
    {
        if (_removed.Count > 0 && _removed.Contains(user))
        {
            ToRemovedAccount(message, sender);
            return;
        }
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

    /// <summary>What an account that is gone answers (as UserActor does while it deletes its journal).</summary>
    private void ToRemovedAccount(object message, IActorRef sender)
    {
        switch (message)
        {
            case UserActor.HandleIq m:
                sender.Tell(StanzaErrors.Reply(m.Iq, "service-unavailable")); // RFC 6121 §8.5.1
                break;
            case UserActor.SessionStarted:
                sender.Tell(new C2s.C2sConnectionActor.CloseWithStreamError(Stanzas.StreamErrors.NotAuthorized, "the account was removed"));
                break;
            case UserActor.RemoveAccount:
                sender.Tell(new UserActor.AccountDeleted([]));
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

    // a failing user actor is restarted (its state is recovered from the journal)
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(10, TimeSpan.FromMinutes(1), _ => Directive.Restart);
}
