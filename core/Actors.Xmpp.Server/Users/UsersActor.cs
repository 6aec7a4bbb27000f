using System.Runtime.CompilerServices;
using Actors.Xmpp.Server.Accounts;
using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Stanzas;
using Akka.Actor;
using Akka.Event;

namespace Actors.Xmpp.Server.Users;

/// <summary>
/// Parent and supervisor of the <see cref="UserActor"/>s (/user/users): creates the one of an account on the first
/// message for it and forwards. A user actor stops when its journal fails; the next message creates it again from
/// the journal. Messages that were waiting in a stopping user actor (its stash, or sent while it stopped) come back
/// as dead letters and are handed once more to a fresh actor; an offline message that is lost twice is bounced to
/// its sender with &lt;internal-server-error/&gt; (nothing accepted is silently lost).
/// An account being removed (<see cref="UserActor.RemoveAccount"/>) leaves a tombstone here until an account of that
/// name is created again (<see cref="AccountCreated"/> on the event stream): what its closing sessions still send
/// (presence, session ends) must not create a fresh actor that writes into the journal the removal deleted, and
/// requests that raced with the removal are answered as for an account that does not exist.
/// </summary>
public sealed class UsersActor : ReceiveActor
{
    /// <summary>A message for the user actor of <paramref name="User"/> (a bare JID).</summary>
    public sealed record Envelope(Jid User, object Message);

    private readonly Func<Jid, Props> _userProps;
    private readonly StanzaRouter? _router;
    private readonly ConditionalWeakTable<object, object> _redelivered = new();
    private readonly HashSet<Jid> _removed = new();

    public static Props Props(Func<Jid, Props> userProps, StanzaRouter? router = null) =>
        Akka.Actor.Props.Create(() => new UsersActor(userProps, router));

    public UsersActor(Func<Jid, Props> userProps, StanzaRouter? router)
    {
        _userProps = userProps;
        _router = router;
        Receive<Envelope>(e => Deliver(e.User, e.Message, Sender));
        Receive<DeadLetter>(Redeliver);
        Receive<AccountCreated>(e => _removed.Remove(Jid.Create(e.User, e.Domain)));
    }

    protected override void PreStart()
    {
        Context.System.EventStream.Subscribe(Self, typeof(DeadLetter));
        Context.System.EventStream.Subscribe(Self, typeof(AccountCreated));
    }

    private void Deliver(Jid user, object message, IActorRef sender)
    {
        if (_removed.Count > 0 && _removed.Contains(user))
        {
            ToRemovedAccount(message, sender);
            return;
        }
        if (message is UserActor.RemoveAccount) _removed.Add(user);
        Child(user).Tell(message, sender);
    }

    /// <summary>What an account that is gone answers (as UserActor does while it deletes its journal).</summary>
    private void ToRemovedAccount(object message, IActorRef sender)
    {
        switch (message)
        {
            case UserActor.HandleIq m:
                sender.Tell(StanzaErrors.Reply(m.Iq, "service-unavailable")); // RFC 6121 §8.5.1
                break;
            case UserActor.StoreOffline m:
                _router?.Bounce(m.Stanza, "service-unavailable");
                break;
            case UserActor.SessionStarted:
                sender.Tell(new C2s.C2sConnectionActor.CloseWithStreamError(Stanzas.StreamErrors.NotAuthorized, "the account was removed"));
                break;
            case UserActor.RemoveAccount:
                sender.Tell(new UserActor.AccountDeleted([]));
                break;
        }
    }

    protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);

    private void Redeliver(DeadLetter d)
    {
        if (!Self.Path.Equals(d.Recipient.Path.Parent)) return;
        if (!Jid.TryParse(Uri.UnescapeDataString(d.Recipient.Path.Name), out var user) || user is null) return;
        if (_redelivered.TryGetValue(d.Message, out _))
        {
            if (d.Message is UserActor.StoreOffline lost)
                _router?.Bounce(lost.Stanza, "internal-server-error", "the message could not be stored");
            return;
        }
        _redelivered.Add(d.Message, d.Message);
        Deliver(user, d.Message, d.Sender);
    }

    private IActorRef Child(Jid user)
    {
        var name = Uri.EscapeDataString(user.ToString());
        var child = Context.Child(name);
        return child.IsNobody() ? Context.ActorOf(_userProps(user), name) : child;
    }

    // a failing user actor is restarted (its state is recovered from the journal)
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(10, TimeSpan.FromMinutes(1), _ => Directive.Restart);
}
