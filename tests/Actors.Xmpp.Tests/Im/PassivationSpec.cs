using Actors.Xmpp.Server.Users;
using Akka.Actor;

namespace Actors.Xmpp.Tests.Im;

/// <summary>User actors stop when idle (no bound session, no message) and come back from the journal on demand.</summary>
public sealed class PassivationSpec() : ImSpecBase(new UserActor.Settings(PassivateAfter: TimeSpan.FromMilliseconds(300)))
{
    private IActorRef? UserActorOf(Jid user)
    {
        try
        {
            return Sys.ActorSelection("/user/users/" + Uri.EscapeDataString(user.ToString())).ResolveOne(TimeSpan.FromSeconds(1)).GetAwaiter().GetResult();
        }
        catch (ActorNotFoundException)
        {
            return null;
        }
    }

    [Fact]
    public void Idle_user_actor_without_session_stops_and_the_next_message_recovers_its_state()
    {
        Send(Bob.WithResource("phone"), "<message to='alice@localhost' type='chat'><body>for later</body></message>");
        AwaitAssert(() => Assert.Single(State(Alice).Offline));
        var actor = UserActorOf(Alice)!;
        Watch(actor);
        ExpectTerminated(actor, TimeSpan.FromSeconds(3)); // passivated
        Assert.Single(State(Alice).Offline);               // recovered from the journal by the next message
    }

    [Fact]
    public void User_actor_with_a_bound_session_stays()
    {
        Bind(Alice.WithResource("phone"));
        var actor = UserActorOf(Alice)!;
        Watch(actor);
        ExpectNoMsg(TimeSpan.FromSeconds(1));
        Assert.NotNull(UserActorOf(Alice));
    }

    [Fact]
    public void Messages_arriving_while_it_stops_reach_the_next_incarnation_in_order()
    {
        Send(Bob.WithResource("phone"), "<message to='alice@localhost' type='chat'><body>0</body></message>");
        AwaitAssert(() => Assert.Single(State(Alice).Offline));
        var actor = UserActorOf(Alice)!;
        var users = Sys.ActorSelection("/user/users").ResolveOne(TimeSpan.FromSeconds(1)).GetAwaiter().GetResult();
        Watch(actor);
        users.Tell(new UsersActor.Passivate(UserActor.Stop.Instance), actor); // what the idle actor sends its parent
        for (var i = 1; i <= 20; i++) Send(Bob.WithResource("phone"), $"<message to='alice@localhost' type='chat'><body>{i}</body></message>");
        ExpectTerminated(actor, TimeSpan.FromSeconds(3));
        AwaitAssert(() =>
        {
            var bodies = State(Alice).Offline.Select(m => Parse(m.Stanza).ChildText("body", Ns.Client)).ToList();
            Assert.Equal(Enumerable.Range(0, 21).Select(i => i.ToString()), bodies);
        }, TimeSpan.FromSeconds(5));
    }
}
