using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Xml;
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

    private static Element Subscribe(string from) =>
        Parse($"<presence xmlns='jabber:client' from='{from}' to='alice@localhost' type='subscribe'/>");

    [Fact]
    public void Idle_user_actor_without_session_stops_and_the_next_message_recovers_its_state()
    {
        Users.Tell(Alice, new UserActor.InboundPresence(Subscribe("bob@localhost"), Bob)); // RFC 6121 §3.1.3: stored
        AwaitAssert(() => Assert.Single(State(Alice).PendingIn));
        var actor = UserActorOf(Alice)!;
        Watch(actor);
        ExpectTerminated(actor, TimeSpan.FromSeconds(3)); // passivated
        Assert.Single(State(Alice).PendingIn);             // recovered from the journal by the next message
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
        Users.Tell(Alice, new UserActor.InboundPresence(Subscribe("c0@localhost"), Jid.Parse("c0@localhost")));
        AwaitAssert(() => Assert.Single(State(Alice).PendingIn));
        var actor = UserActorOf(Alice)!;
        var users = Sys.ActorSelection("/user/users").ResolveOne(TimeSpan.FromSeconds(1)).GetAwaiter().GetResult();
        Watch(actor);
        users.Tell(new UsersActor.Passivate(UserActor.Stop.Instance), actor); // what the idle actor sends its parent
        for (var i = 1; i <= 20; i++)
        {
            var contact = Jid.Parse($"c{i}@localhost");
            Users.Tell(Alice, new UserActor.InboundPresence(Subscribe(contact.ToString()), contact));
        }
        // last: c0 takes its request back (§3.3.3), which only clears it if it comes after the request it cancels
        var c0 = Parse("<presence xmlns='jabber:client' from='c0@localhost' to='alice@localhost' type='unsubscribe'/>");
        Users.Tell(Alice, new UserActor.InboundPresence(c0, Jid.Parse("c0@localhost")));
        ExpectTerminated(actor, TimeSpan.FromSeconds(3));
        AwaitAssert(() =>
        {
            var pending = State(Alice).PendingIn.Select(p => p.From).Order(StringComparer.Ordinal).ToList();
            Assert.Equal(Enumerable.Range(1, 20).Select(i => $"c{i}@localhost").Order(StringComparer.Ordinal), pending);
        }, TimeSpan.FromSeconds(5));
    }
}
