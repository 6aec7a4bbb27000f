using Akka.Actor;

namespace Actors.Xmpp.Server.Users;

/// <summary>
/// Parent and supervisor of the <see cref="UserActor"/>s (/user/users): creates the one of an account on the first
/// message for it and forwards. A user actor that stops (journal failure) is created again by the next message.
/// </summary>
public sealed class UsersActor : ReceiveActor
{
    /// <summary>A message for the user actor of <paramref name="User"/> (a bare JID).</summary>
    public sealed record Envelope(Jid User, object Message);

    private readonly Func<Jid, Props> _userProps;

    public static Props Props(Func<Jid, Props> userProps) => Akka.Actor.Props.Create(() => new UsersActor(userProps));

    public UsersActor(Func<Jid, Props> userProps)
    {
        _userProps = userProps;
        Receive<Envelope>(e => Child(e.User).Forward(e.Message));
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
