using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Tests.Im;

/// <summary>RFC 6121 §3 (and Appendix A) subscriptions and §4 presence, between two local accounts.</summary>
public sealed class SubscriptionSpec : ImSpecBase
{
    private readonly Jid _alicePhone, _bobPhone;

    public SubscriptionSpec()
    {
        _alicePhone = Alice.WithResource("phone");
        _bobPhone = Bob.WithResource("phone");
    }

    private string Sub(Jid user, string contact) => State(user).Roster.Single(i => i.Jid == contact).Subscription;

    [Fact]
    public void Rfc6121_3_1_request_approval_and_the_contacts_presence()
    {
        var a = Online(_alicePhone);
        var b = Online(_bobPhone, priority: 5);
        Send(_alicePhone, "<presence to='bob@localhost' type='subscribe'/>");
        var request = Next(b);
        Assert.Equal("subscribe", request.Type);
        Assert.Equal("alice@localhost", request.From); // §3.1.3: the bare JID
        var aliceItem = State(Alice).Roster.Single();
        Assert.Equal(("none", true), (aliceItem.Subscription, aliceItem.Ask)); // A.2.1: None + Pending Out

        Send(_bobPhone, "<presence to='alice@localhost' type='subscribed'/>");
        var got = Drain(a);
        Assert.Contains(got, e => e.Type == "subscribed" && e.From == "bob@localhost");
        var presence = Assert.Single(got, e => e.Name == "presence" && e.Type is null); // §3.1.5: bob's current presence follows
        Assert.Equal("bob@localhost/phone", presence.From);
        Assert.Equal("5", presence.ChildText("priority", Ns.Client));
        Assert.Equal("to", Sub(Alice, "bob@localhost"));
        Assert.Equal("from", Sub(Bob, "alice@localhost"));
        Assert.Empty(State(Bob).PendingIn);
    }

    [Fact]
    public void Rfc6121_3_1_3_requests_while_offline_are_stored_and_delivered_at_each_login_until_answered()
    {
        var a = Online(_alicePhone);
        Send(_alicePhone, "<presence to='bob@localhost' type='subscribe'/>");
        AwaitAssert(() => Assert.Single(State(Bob).PendingIn));
        var b = Online(_bobPhone);
        Assert.Single(DrainUntil(b, e => e.Type == "subscribe"));
        Offline(_bobPhone, b);
        var b2 = Online(_bobPhone);
        Assert.Single(DrainUntil(b2, e => e.Type == "subscribe")); // redelivered: not answered yet
        Send(_bobPhone, "<presence to='alice@localhost' type='unsubscribed'/>"); // §3.2: denied
        DrainUntil(a, e => e.Type == "unsubscribed");
        AwaitAssert(() => Assert.Empty(State(Bob).PendingIn));
        var aliceItem = State(Alice).Roster.Single();
        Assert.Equal(("none", false), (aliceItem.Subscription, aliceItem.Ask));
    }

    [Fact]
    public void Rfc6121_3_4_a_pre_approved_request_is_approved_by_the_server()
    {
        var b = Online(_bobPhone);
        Send(_bobPhone, "<presence to='alice@localhost' type='subscribed'/>"); // no request yet: pre-approval
        AwaitAssert(() => Assert.True(State(Bob).Roster.Single().Approved));
        var a = Online(_alicePhone);
        Send(_alicePhone, "<presence to='bob@localhost' type='subscribe'/>");
        DrainUntil(a, e => e.Type == "subscribed");
        Assert.DoesNotContain(Drain(b), e => e.Type == "subscribe"); // bob is not asked
        var bobItem = State(Bob).Roster.Single();
        Assert.Equal(("from", false), (bobItem.Subscription, bobItem.Approved));
        Assert.Equal("to", Sub(Alice, "bob@localhost"));
    }

    [Fact]
    public void Rfc6121_3_3_unsubscribe_and_3_2_cancel_walk_both_back_to_none()
    {
        var (a, b) = MutualSubscription();
        Send(_alicePhone, "<presence to='bob@localhost' type='unsubscribe'/>");
        DrainUntil(b, e => e.Type == "unsubscribe");
        DrainUntil(a, e => e.Type == "unavailable" && e.From == "bob@localhost/phone"); // §3.3.3
        AwaitAssert(() => Assert.Equal("from", Sub(Alice, "bob@localhost")));
        Assert.Equal("to", Sub(Bob, "alice@localhost"));

        Send(_alicePhone, "<presence to='bob@localhost' type='unsubscribed'/>");
        var bobGot = Drain(b);
        Assert.Contains(bobGot, e => e.Type == "unsubscribed");
        Assert.Contains(bobGot, e => e.Type == "unavailable" && e.From == "alice@localhost/phone"); // §3.2.2
        AwaitAssert(() => Assert.Equal("none", Sub(Alice, "bob@localhost")));
        Assert.Equal("none", Sub(Bob, "alice@localhost"));
    }

    [Fact]
    public void Rfc6121_A_2_1_an_unsolicited_subscribed_changes_nothing()
    {
        var a = Online(_alicePhone);
        Send(_bobPhone, "<presence to='alice@localhost' type='subscribed'/>"); // bob pre-approves, nothing is routed
        Nothing(a);
        Assert.Empty(State(Alice).Roster);
    }

    [Fact]
    public void Rfc6121_4_2_initial_presence_is_broadcast_to_subscribers_and_probes_are_answered()
    {
        var (a, b) = MutualSubscription();
        var desk = Alice.WithResource("desk");
        var d = Online(desk);
        // bob (subscription from alice) sees the new resource; alice/desk gets bob's presence as the answer to its probe
        DrainUntil(b, e => e.From == "alice@localhost/desk" && e.Type is null);
        DrainUntil(d, e => e.From == "bob@localhost/phone" && e.Type is null);

        Offline(desk, d);
        DrainUntil(b, e => e.From == "alice@localhost/desk" && e.Type == "unavailable"); // §4.5.2
    }

    [Fact]
    public void Rfc6121_4_3_2_a_probe_of_an_offline_contact_is_answered_with_unavailable_and_last_logout()
    {
        var (a, b) = MutualSubscription();
        Offline(_bobPhone, b, status: "bye");
        Drain(a);
        Send(_alicePhone, "<presence to='bob@localhost' type='probe'/>");
        var answer = Drain(a).Single();
        Assert.Equal("unavailable", answer.Type);
        Assert.Equal("bye", answer.ChildText("status", Ns.Client));
        Assert.NotNull(answer.Child("delay", Ns.Delay));
    }

    [Fact]
    public void Rfc6121_4_3_2_a_probe_from_a_non_subscriber_reveals_nothing()
    {
        var b = Online(_bobPhone);
        var c = Online(Carol.WithResource("x"));
        Send(Carol.WithResource("x"), "<presence to='bob@localhost' type='probe'/>");
        Nothing(c); // the unsubscribed answer reaches carol's server, which ignores it (carol has no item for bob, §3.2.3)
        Nothing(b);
    }

    [Fact]
    public void Rfc6121_4_3_2_a_probe_without_subscription_from_is_answered_with_unsubscribed_from_the_bare_jid()
    {
        var a = Online(_alicePhone);
        var b = Online(_bobPhone);
        Send(_alicePhone, "<presence to='bob@localhost' type='subscribe'/>");
        Assert.Equal("subscribe", Next(b).Type);
        AwaitAssert(() => Assert.True(State(Alice).Roster.Single().Ask)); // None + Pending Out; bob: None + Pending In

        Send(_alicePhone, "<presence to='bob@localhost' type='probe' id='pr1'/>");
        var answer = Assert.Single(Drain(a));
        Assert.Equal(("unsubscribed", "bob@localhost", "pr1"), (answer.Type, answer.From, answer.Id)); // no presence of bob/phone
        Nothing(b); // the probe is answered by bob's server, not shown to bob
        AwaitAssert(() => Assert.False(State(Alice).Roster.Single().Ask)); // §3.2.3: the user's server cancels the pending request
        Assert.Equal("none", Sub(Alice, "bob@localhost"));
    }

    [Fact]
    public void Rfc6121_4_3_2_an_unsubscribed_answer_does_not_cancel_a_pre_approval()
    {
        var a = Online(_alicePhone);
        var b = Online(_bobPhone);
        Send(_bobPhone, "<presence to='alice@localhost' type='subscribed'/>"); // §3.4: bob pre-approves alice
        AwaitAssert(() => Assert.True(State(Bob).Roster.Single().Approved));
        Send(_alicePhone, "<presence to='bob@localhost' type='probe'/>");
        Drain(a);
        Nothing(b);
        Assert.True(State(Bob).Roster.Single().Approved);
    }

    [Fact]
    public void Rfc6121_4_3_2_a_probe_of_an_account_that_does_not_exist_is_answered_with_unsubscribed()
    {
        var a = Online(_alicePhone);
        Send(_alicePhone, "<presence to='nobody@localhost' type='subscribe'/>");
        AwaitAssert(() => Assert.True(State(Alice).Roster.Single().Ask));
        Send(_alicePhone, "<presence to='nobody@localhost' type='probe' id='pr2'/>");
        var answer = Assert.Single(Drain(a));
        Assert.Equal(("unsubscribed", "nobody@localhost", "pr2"), (answer.Type, answer.From, answer.Id));
        AwaitAssert(() => Assert.False(State(Alice).Roster.Single().Ask));
    }

    [Fact]
    public void Rfc6121_4_2_2_a_new_resource_gets_the_presence_of_the_users_other_available_resources()
    {
        var phone = Online(_alicePhone, priority: 3);
        var desk = Online(Alice.WithResource("desk"));
        var seen = Assert.Single(Drain(desk));
        Assert.Equal("alice@localhost/phone", seen.From);
        Assert.Equal("3", seen.ChildText("priority", Ns.Client));
    }

    [Fact]
    public void Rfc6120_7_7_2_2_the_unavailable_of_a_replaced_session_does_not_take_the_resource_offline()
    {
        var (a, b) = MutualSubscription();
        var replacement = Online(_bobPhone); // same full JID, a new session
        Drain(a);
        Users.Tell(Bob, new Actors.Xmpp.Server.Users.UserActor.ResourcePresence(_bobPhone, b.Ref,
            Parse("<presence type='unavailable'/>"), false, 0));
        Users.Tell(Bob, new Actors.Xmpp.Server.Users.UserActor.SessionEnded(_bobPhone, b.Ref));
        Nothing(a); // alice is not told that bob/phone went away
        // and bob did not log out (§4.3.2: no last unavailable presence recorded)
        Users.Tell(Bob, Actors.Xmpp.Server.Users.UserActor.GetLastUnavailable.Instance, TestActor);
        Assert.Null(ExpectMsg<Actors.Xmpp.Server.Users.UserActor.LastUnavailable>().At);
    }
}
