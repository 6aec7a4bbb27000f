using System.Runtime.CompilerServices;
using Actors.Xmpp.Server.Routing;
using Akka.Actor;
using Akka.Event;

namespace Actors.Xmpp.Server.Users;

/// <summary>
/// Parent and supervisor of the <see cref="UserActor"/>s (/user/users): creates the one of an account on the first
/// message for it and forwards. A user actor stops when its journal fails; the next message creates it again from
/// the journal. Messages that were waiting in a stopping user actor (its stash, or sent while it stopped) come back
/// as dead letters and are handed once more to a fresh actor; an offline message that is lost twice is bounced to
/// its sender with &lt;internal-server-error/&gt; (nothing accepted is silently lost).
/// </summary>
public sealed class UsersActor : ReceiveActor
{
    /// <summary>A message for the user actor of <paramref name="User"/> (a bare JID).</summary>
    public sealed record Envelope(Jid User, object Message);

    private readonly Func<Jid, Props> _userProps;
    private readonly StanzaRouter? _router;
    private readonly ConditionalWeakTable<object, object> _redelivered = new();

    public static Props Props(Func<Jid, Props> userProps, StanzaRouter? router = null) =>
        Akka.Actor.Props.Create(() => new UsersActor(userProps, router));

    public UsersActor(Func<Jid, Props> userProps, StanzaRouter? router)
    {
        _userProps = userProps;
        _router = router;
        Receive<Envelope>(e => Child(e.User).Forward(e.Message));
        Receive<DeadLetter>(Redeliver);
    }

    protected override void PreStart() => Context.System.EventStream.Subscribe(Self, typeof(DeadLetter));

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
        Child(user).Tell(d.Message, d.Sender);
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
