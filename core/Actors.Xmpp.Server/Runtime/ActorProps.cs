using Akka.Actor;

namespace Actors.Xmpp.Server;

/// <summary>
/// <see cref="Props"/> whose actor is made by a plain delegate. <c>Props.Create(typeof(T), args)</c> binds a
/// constructor by reflection at every actor start and <c>Props.Create(() =&gt; new T(...))</c> builds and evaluates an
/// expression tree at every call; the actors started for each login (connection, session, user) use this instead.
/// The delegate runs again when the actor restarts, as a constructor would.
/// </summary>
public static class ActorProps
{
    public static Props Of<T>(Func<T> factory) where T : ActorBase => Props.CreateBy(new Producer<T>(factory));

    private sealed class Producer<T>(Func<T> factory) : IIndirectActorProducer where T : ActorBase
    {
        public Type ActorType => typeof(T);
        public ActorBase Produce() => factory();
        public void Release(ActorBase actor) { }
    }
}
