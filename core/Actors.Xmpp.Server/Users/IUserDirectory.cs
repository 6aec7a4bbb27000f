using Akka.Actor;

namespace Actors.Xmpp.Server.Users;

/// <summary>
/// Reaches the <see cref="UserActor"/> of an account by its bare JID, creating it on demand. Nothing holds a
/// reference to another user's actor: the cluster issue replaces <see cref="LocalUserDirectory"/> with a shard region.
/// </summary>
public interface IUserDirectory
{
    /// <summary>Sends <paramref name="message"/> to the actor of <paramref name="user"/> (a bare JID).</summary>
    void Tell(Jid user, object message, IActorRef? sender = null);
    /// <summary>Asks the actor of <paramref name="user"/> and waits (bounded) for its answer.</summary>
    Task<T> Ask<T>(Jid user, object message, TimeSpan timeout);
}

/// <summary>Single-node <see cref="IUserDirectory"/>: every user actor is a child of <see cref="UsersActor"/> (/user/users).</summary>
public sealed class LocalUserDirectory : IUserDirectory
{
    private IActorRef _users = ActorRefs.Nobody;

    /// <summary>Connects the directory to the running <see cref="UsersActor"/> (once the actor system is up).</summary>
    public void Attach(IActorRef users) => _users = users;

    public bool Attached => !_users.IsNobody();

    public void Tell(Jid user, object message, IActorRef? sender = null) =>
        _users.Tell(new UsersActor.Envelope(user.Bare, message), sender ?? ActorRefs.NoSender);

    public Task<T> Ask<T>(Jid user, object message, TimeSpan timeout) =>
        _users.Ask<T>(new UsersActor.Envelope(user.Bare, message), timeout);
}
