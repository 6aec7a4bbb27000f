using Actors.Xmpp.Plugins;
using Actors.Xmpp.Server.Accounts;
using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Server.Sasl;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Tests.Im;
using Actors.Xmpp.Xml;
using Akka.Actor;
using Akka.TestKit;

namespace Actors.Xmpp.Tests.Routing;

/// <summary>
/// The per-account resources entity (<see cref="AccountResourcesActor"/>): RFC 6121 §8.5 from the resources it holds,
/// the existence of its account learnt once (stanzas wait meanwhile, in order), §8.5.1 for names without account,
/// passivation. Sessions are probes that tell what a session tells; stanzas enter through the router.
/// </summary>
public sealed class AccountResourcesSpec() : ImSpecBase(resources: new AccountResourcesActor.Settings(TimeSpan.FromMilliseconds(300)))
{
    private readonly Jid _bobPhone = Jid.Parse("bob@localhost/phone");

    private IActorRef? EntityOf(Jid account)
    {
        try
        {
            return Sys.ActorSelection("/user/users/" + Uri.EscapeDataString(account.ToString()) + UsersActor.ResourcesSuffix)
                .ResolveOne(TimeSpan.FromSeconds(1)).GetAwaiter().GetResult();
        }
        catch (ActorNotFoundException)
        {
            return null;
        }
    }

    private static string? Body(Element e) => e.ChildText("body");

    [Fact]
    public void Rfc6121_8_5_2_1_1_chat_to_the_bare_jid_goes_to_every_resource_of_the_highest_non_negative_priority_only()
    {
        var bob = Online(_bobPhone);
        var high1 = Online(Alice.WithResource("a"), priority: 5);
        var high2 = Online(Alice.WithResource("b"), priority: 5);
        var low = Online(Alice.WithResource("c"), priority: 1);
        var negative = Online(Alice.WithResource("d"), priority: -1);
        foreach (var p in new[] { high1, high2, low, negative }) Drain(p);
        Drain(bob);
        Send(_bobPhone, "<message to='alice@localhost' type='chat'><body>hi</body></message>");
        Assert.Equal("hi", Body(Next(high1)));
        Assert.Equal("hi", Body(Next(high2)));
        Nothing(low);
        Nothing(negative);
    }

    [Fact]
    public void Rfc6121_8_5_2_1_1_a_headline_to_the_bare_jid_goes_to_all_available_resources_of_non_negative_priority()
    {
        Online(_bobPhone);
        var high = Online(Alice.WithResource("a"), priority: 5);
        var zero = Online(Alice.WithResource("b"));
        var negative = Online(Alice.WithResource("c"), priority: -1);
        var bound = Bind(Alice.WithResource("d")); // bound, never available
        foreach (var p in new[] { high, zero, negative }) Drain(p);
        Send(_bobPhone, "<message to='alice@localhost' type='headline'><body>news</body></message>");
        Assert.Equal("news", Body(Next(high)));
        Assert.Equal("news", Body(Next(zero)));
        Nothing(negative);
        Nothing(bound);
    }

    [Fact]
    public void Rfc6121_8_5_2_2_with_only_negative_priority_the_undeliverable_hook_decides_and_nothing_is_delivered()
    {
        var bob = Online(_bobPhone);
        var negative = Online(Alice.WithResource("a"), priority: -1);
        Drain(negative);
        Drain(bob);
        var seen = new System.Collections.Concurrent.ConcurrentQueue<(string? Body, Jid To, Jid? From)>();
        using var hook = Router.Hooks.Add(HookPoint.Undeliverable, 0, e =>
        {
            seen.Enqueue((Body(e.Stanza), e.Session, e.From));
            return true; // taken (what the offline plugin does): nothing stored here
        });
        Send(_bobPhone, "<message to='alice@localhost' type='chat'><body>later</body></message>");
        AwaitCondition(() => seen.Count == 1);
        Assert.True(seen.TryPeek(out var call));
        Assert.Equal(("later", Alice, (Jid?)_bobPhone), call);
        Nothing(negative);
        Nothing(bob); // the hook stopped the chain: no bounce to the sender
    }

    [Fact]
    public void Rfc6121_8_5_3_1_a_full_jid_gets_exactly_that_resource_and_8_5_3_2_1_an_unknown_one_falls_back_to_the_bare_jid()
    {
        Online(_bobPhone);
        var a = Online(Alice.WithResource("a"), priority: 1);
        var b = Online(Alice.WithResource("b"), priority: 0);
        Drain(a);
        Drain(b);
        Send(_bobPhone, "<message to='alice@localhost/b' type='chat'><body>to b</body></message>");
        Assert.Equal("to b", Body(Next(b)));
        Nothing(a);
        Send(_bobPhone, "<message to='alice@localhost/gone' type='chat'><body>to gone</body></message>");
        Assert.Equal("to gone", Body(Next(a))); // as if to the bare JID: the highest priority
        Nothing(b);
    }

    [Fact]
    public void Rfc6121_8_5_3_2_3_an_iq_to_a_resource_that_is_not_bound_is_answered_service_unavailable()
    {
        var bob = Online(_bobPhone);
        Online(Alice.WithResource("a"));
        Drain(bob);
        Send(_bobPhone, "<iq to='alice@localhost/gone' type='get' id='v1'><query xmlns='jabber:iq:version'/></iq>");
        var error = Next(bob);
        Assert.Equal("error", error.Type);
        Assert.Equal("v1", error.Id);
        Assert.Equal("service-unavailable", Condition(error));
    }

    [Fact]
    public void Rfc6121_8_5_1_a_name_without_account_is_answered_and_its_entity_passivates_at_once()
    {
        var bob = Online(_bobPhone);
        Drain(bob);
        var nobody = Jid.Parse("nobody@localhost");
        Send(_bobPhone, "<message to='nobody@localhost' type='chat' id='m1'><body>x</body></message>");
        var error = Next(bob);
        Assert.Equal("m1", error.Id);
        Assert.Equal("service-unavailable", Condition(error));
        // §4.3.2 (1): a probe is answered with unsubscribed from the bare JID, to the prober's bare JID (its server
        // processes it: seen here at bob's InboundBare hook); other presence is ignored
        var toBob = new System.Collections.Concurrent.ConcurrentQueue<Element>();
        using var hook = Router.Hooks.Add(HookPoint.InboundBare, 0, e =>
        {
            if (e.Session.Equals(Bob)) toBob.Enqueue(e.Stanza);
            return false;
        });
        Send(_bobPhone, "<presence to='nobody@localhost/x' type='probe' id='p1'/>");
        AwaitCondition(() => !toBob.IsEmpty);
        Assert.True(toBob.TryDequeue(out var unsubscribed));
        Assert.Equal("unsubscribed", unsubscribed.Type);
        Assert.Equal("nobody@localhost", unsubscribed.From);
        Assert.Equal("p1", unsubscribed.Id);
        Send(_bobPhone, "<presence to='nobody@localhost'/>");
        Nothing(bob);
        Assert.True(toBob.IsEmpty);
        AwaitAssert(() => Assert.Null(EntityOf(nobody)), TimeSpan.FromSeconds(3)); // passivated without waiting for idle
        // the parent's negative cache answers the next ones the same way
        Send(_bobPhone, "<iq to='nobody@localhost' type='get' id='q1'><query xmlns='jabber:iq:roster'/></iq>");
        var iqError = Next(bob);
        Assert.Equal("q1", iqError.Id);
        Assert.Equal("service-unavailable", Condition(iqError));
    }

    [Fact]
    public void An_account_created_after_its_name_was_answered_as_without_account_is_reached_at_once()
    {
        var bob = Online(_bobPhone);
        Drain(bob);
        var erin = Jid.Parse("erin@localhost");
        Send(_bobPhone, "<message to='erin@localhost' type='chat'><body>x</body></message>");
        Assert.Equal("service-unavailable", Condition(Next(bob)));
        Assert.True(Accounts.AddAsync(erin, "e").GetAwaiter().GetResult());
        // the account directory publishes the creation (the journal store does; this test's file store does not)
        Sys.EventStream.Publish(new AccountCreated("localhost", "erin", []));
        var phone = Online(erin.WithResource("phone"));
        Drain(phone);
        Send(_bobPhone, "<message to='erin@localhost' type='chat'><body>welcome</body></message>");
        Assert.Equal("welcome", Body(Next(phone)));
    }

    [Fact]
    public void Stanzas_wait_in_order_while_the_entity_looks_its_account_up_and_are_routed_once_it_answers()
    {
        Online(_bobPhone);
        var store = new SlowAccountStore(Accounts);
        var entity = Sys.ActorOf(AccountResourcesActor.Props(Alice, Router, store, AccountResourcesActor.Settings.Default));
        var seen = new System.Collections.Concurrent.ConcurrentQueue<string?>();
        using var hook = Router.Hooks.Add(HookPoint.Undeliverable, 0, e =>
        {
            seen.Enqueue(Body(e.Stanza));
            return true;
        });
        for (var i = 1; i <= 3; i++)
        {
            var m = Parse($"<message from='bob@localhost/phone' to='alice@localhost' type='chat'><body>{i}</body></message>");
            entity.Tell(new AccountResourcesActor.RouteStanza(m, _bobPhone, Alice));
        }
        AwaitCondition(() => store.Asked);
        Thread.Sleep(300);
        Assert.Empty(seen); // nothing decided before the account is known
        store.Answer();
        AwaitCondition(() => seen.Count == 3);
        Assert.Equal(["1", "2", "3"], seen.ToArray());
    }

    [Fact]
    public async Task A_paced_page_goes_through_the_entity_to_the_bound_resource_or_is_answered_not_written()
    {
        var alicePhone = Alice.WithResource("phone");
        var phone = Online(alicePhone);
        Drain(phone);
        var page = new SessionMessages.DeliverPage([Parse("<message to='alice@localhost'><body>p</body></message>")], 7);
        var asked = Users.Ask<SessionMessages.PageWritten>(Alice, new AccountResourcesActor.DeliverPageTo(alicePhone, page), TimeSpan.FromSeconds(3));
        var forwarded = phone.FishForMessage(m => m is SessionMessages.DeliverPage, TimeSpan.FromSeconds(3));
        Assert.Same(page, forwarded);
        phone.LastSender.Tell(new SessionMessages.PageWritten(7, true)); // what the session answers once written
        Assert.True((await asked).Written);
        // a resource the account has not bound: not written, answered by the entity
        var none = await Users.Ask<SessionMessages.PageWritten>(Alice, new AccountResourcesActor.DeliverPageTo(Alice.WithResource("gone"), page), TimeSpan.FromSeconds(3));
        Assert.Equal((7L, false), (none.PageId, none.Written));
    }

    [Fact]
    public void An_idle_entity_without_resources_passivates_and_one_with_a_bound_resource_stays()
    {
        var alicePhone = Alice.WithResource("phone");
        var phone = Online(alicePhone);
        var entity = EntityOf(Alice)!;
        Watch(entity);
        ExpectNoMsg(TimeSpan.FromMilliseconds(800)); // a bound resource: no passivation
        Offline(alicePhone, phone);
        ExpectTerminated(entity, TimeSpan.FromSeconds(3));
        // the next stanza starts a fresh entity, which finds no resource: the message reaches the Undeliverable hooks
        var undeliverable = new System.Collections.Concurrent.ConcurrentQueue<string?>();
        using var hook = Router.Hooks.Add(HookPoint.Undeliverable, 0, e =>
        {
            undeliverable.Enqueue(Body(e.Stanza));
            return true;
        });
        Send(_bobPhone, "<message to='alice@localhost' type='chat'><body>stored</body></message>");
        AwaitAssert(() => Assert.Equal("stored", Assert.Single(undeliverable)));
    }

    [Fact]
    public void A_restarted_user_actor_asks_the_entity_for_the_bound_resources_and_their_presence()
    {
        var alicePhone = Alice.WithResource("phone");
        var phone = Online(alicePhone, priority: 3);
        Drain(phone);
        StopUser(Alice);
        State(Alice); // recovered: it lists the resources from the entity and asks the available one to report
        phone.FishForMessage(m => m is UserActor.ReportPresence, TimeSpan.FromSeconds(3));
        // and the entity still routes to it
        Send(_bobPhone, "<message to='alice@localhost' type='chat'><body>after</body></message>");
        Assert.Equal("after", Body(Next(phone)));
    }

    [Fact]
    public void An_entity_asked_to_stop_after_a_session_bound_cancels_its_passivation_and_keeps_the_session()
    {
        // the test actor is the entity's parent (the users actor's part: Passivate, then the stop message)
        var entity = ActorOfAsTestActorRef<AccountResourcesActor>(
            AccountResourcesActor.Props(Alice, Router, Accounts, new AccountResourcesActor.Settings(TimeSpan.FromMilliseconds(200))), TestActor);
        var passivate = ExpectMsg<UsersActor.Passivate>(TimeSpan.FromSeconds(3)); // idle, no resource
        var phone = CreateTestProbe();
        var alicePhone = Alice.WithResource("phone");
        entity.Tell(new UserActor.SessionStarted(alicePhone, phone.Ref), phone.Ref); // bound before the stop arrived
        Watch(entity);
        entity.Tell(passivate.StopMessage, TestActor);
        ExpectMsg<AccountResourcesActor.CancelPassivation>();
        ExpectNoMsg(TimeSpan.FromMilliseconds(400)); // not terminated, no new passivation while a resource is bound
        var m = Parse("<message from='bob@localhost/phone' to='alice@localhost/phone' type='chat'><body>kept</body></message>");
        entity.Tell(new AccountResourcesActor.RouteStanza(m, _bobPhone, alicePhone));
        Assert.Equal("kept", Body(phone.ExpectMsg<SessionMessages.Deliver>().Stanza));
    }

    [Fact]
    public void Rfc6121_8_5_1_an_entity_without_account_reports_the_name_to_its_parent_and_stops_at_its_stop_message()
    {
        var nobody = Jid.Parse("nobody@localhost");
        var entity = ActorOfAsTestActorRef<AccountResourcesActor>(
            AccountResourcesActor.Props(nobody, Router, Accounts, AccountResourcesActor.Settings.Default), TestActor);
        var m = Parse("<message from='bob@localhost/phone' to='nobody@localhost' type='chat' id='n1'><body>x</body></message>");
        var bob = Online(_bobPhone);
        Drain(bob);
        entity.Tell(new AccountResourcesActor.RouteStanza(m, _bobPhone, nobody));
        Assert.Equal(nobody, ExpectMsg<AccountResourcesActor.NoAccount>().Account);
        var passivate = ExpectMsg<UsersActor.Passivate>(); // at once, not after the idle time
        Assert.Equal("service-unavailable", Condition(Next(bob)));
        Watch(entity);
        entity.Tell(passivate.StopMessage, TestActor);
        ExpectTerminated(entity);
    }

    /// <summary>An account store whose lookups complete when the test says so (a directory on another node).</summary>
    private sealed class SlowAccountStore(IAccountStore inner) : IAccountStore
    {
        private readonly TaskCompletionSource _answer = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private volatile bool _asked;
        public bool Asked => _asked;
        public void Answer() => _answer.SetResult();

        public async ValueTask<UserCredentials?> FindAsync(Jid account)
        {
            _asked = true;
            await _answer.Task;
            return inner.Find(account);
        }

        public UserCredentials? Find(Jid account) => throw new InvalidOperationException("the entity must not read synchronously");
        public bool Exists(Jid account) => throw new InvalidOperationException("the entity must not read synchronously");
        public Task<bool> AddAsync(Jid account, string password) => inner.AddAsync(account, password);
        public Task<int> AddManyAsync(IReadOnlyList<(Jid Account, string Password)> accounts) => inner.AddManyAsync(accounts);
        public Task<bool> RemoveAsync(Jid account) => inner.RemoveAsync(account);
        public Task<bool> SetPasswordAsync(Jid account, string password) => inner.SetPasswordAsync(account, password);
        public IReadOnlyList<Jid> List() => inner.List();
    }
}
