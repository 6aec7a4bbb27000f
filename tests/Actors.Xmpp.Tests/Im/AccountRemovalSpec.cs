using Actors.Xmpp.Server.Accounts;
using Actors.Xmpp.Server.C2s;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Xml;
using Akka.Actor;

namespace Actors.Xmpp.Tests.Im;

/// <summary>
/// <see cref="AccountLifecycle.RemoveAsync"/> against the user actors on the in-memory journal: what the contacts
/// and sessions learn, and that the journal of user:&lt;jid&gt; is gone (a re-created account starts empty).
/// </summary>
public sealed class AccountRemovalSpec : ImSpecBase
{
    private AccountLifecycle Lifecycle => new(Accounts, Users, TimeSpan.FromSeconds(5));

    /// <summary>What JournalAccountStore publishes when it stores a new account (FileAccountStore does not).</summary>
    private void Recreated(Jid user)
    {
        Assert.True(Accounts.AddAsync(user, "again").GetAwaiter().GetResult());
        Sys.EventStream.Publish(new AccountCreated(user.Domain, user.Local!, []));
    }

    [Fact]
    public void Rfc6121_2_5_2_removal_unsubscribes_both_ways_and_sends_unavailable_to_contacts_that_saw_presence()
    {
        var (a, b) = MutualSubscription();
        Assert.True(Lifecycle.RemoveAsync(Alice).GetAwaiter().GetResult());

        var close = a.FishForMessage<C2sConnectionActor.CloseWithStreamError>(_ => true, TimeSpan.FromSeconds(3));
        Assert.Equal("not-authorized", close.Condition); // XEP-0077 §3.2
        var atBob = Drain(b);
        Assert.Contains(atBob, e => e.Name == "presence" && e.Type == "unavailable" && e.From == "alice@localhost/phone");
        Assert.Contains(atBob, e => e.Type == "unsubscribe" && e.From == "alice@localhost");
        Assert.Contains(atBob, e => e.Type == "unsubscribed" && e.From == "alice@localhost");
        // RemoveAsync returned after bob's actor handled both: its item is "none" already
        Assert.Equal("none", State(Bob).Roster.Single().Subscription);
    }

    [Fact]
    public void Removal_deletes_the_journal_and_a_recreated_account_starts_empty()
    {
        var phone = Alice.WithResource("phone");
        var a = Bind(phone);
        Send(phone, "<iq type='set' id='r1'><query xmlns='jabber:iq:roster'><item jid='carol@localhost' name='Carol'/></query></iq>");
        // (vCard, private XML, the block list and offline messages are plugin stores now: their purge on removal is
        // tested with the plugins)
        AwaitAssert(() => Assert.Single(State(Alice).Roster));

        Assert.True(Lifecycle.RemoveAsync(Alice).GetAwaiter().GetResult());
        Assert.Equal("not-authorized", a.FishForMessage<C2sConnectionActor.CloseWithStreamError>(_ => true, TimeSpan.FromSeconds(3)).Condition);

        // until an account of that name exists again, the name answers as no account (and nothing re-creates its journal)
        var iq = Parse("<iq type='get' id='g1' from='bob@localhost/phone' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>");
        var answer = Users.Ask<Element>(Alice, new UserActor.HandleIq(iq, Bob.WithResource("phone")), TimeSpan.FromSeconds(3)).GetAwaiter().GetResult();
        Assert.Equal("service-unavailable", Condition(answer));
        var late = CreateTestProbe();
        Users.Tell(Alice, new UserActor.SessionStarted(Alice.WithResource("late"), late.Ref), late.Ref);
        Assert.Equal("not-authorized", late.ExpectMsg<C2sConnectionActor.CloseWithStreamError>().Condition);

        Recreated(Alice);
        var fresh = State(Alice); // recovered from what is left of user:alice@localhost: nothing
        Assert.Empty(fresh.Roster);
        Assert.Empty(fresh.Offline);
        Assert.Empty(fresh.Private);
        Assert.Null(fresh.VCard);
        Assert.Null(fresh.LastLogout);
    }

    [Fact]
    public void Password_change_closes_the_other_sessions_with_reset()
    {
        var phone = Alice.WithResource("phone");
        var desk = Alice.WithResource("desk");
        var p = Bind(phone);
        var d = Bind(desk);
        Assert.True(Lifecycle.SetPasswordAsync(Alice, "changed", keep: phone).GetAwaiter().GetResult());
        Assert.Equal("reset", d.FishForMessage<C2sConnectionActor.CloseWithStreamError>(_ => true, TimeSpan.FromSeconds(3)).Condition);
        p.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }
}
