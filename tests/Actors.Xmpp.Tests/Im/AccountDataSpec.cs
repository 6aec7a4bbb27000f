using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Tests.Im;

/// <summary>XEP-0191 blocking (XEP-0049, XEP-0054 and XEP-0012 are plugins: Actors.Plugins.Tests).</summary>
public sealed class AccountDataSpec : ImSpecBase
{
    private readonly Jid _alicePhone = Jid.Parse("alice@localhost/phone");
    private readonly Jid _bobPhone = Jid.Parse("bob@localhost/phone");

    [Fact]
    public void Xep0191_3_3_block_is_answered_pushed_listed_and_reaches_the_sessions()
    {
        var a = Bind(_alicePhone);
        var desk = Alice.WithResource("desk");
        var d = Bind(desk);
        Send(_alicePhone, "<iq type='get' id='l0'><blocklist xmlns='urn:xmpp:blocking'/></iq>");
        Assert.Equal("l0", Next(a).Id);
        Send(desk, "<iq type='get' id='l0'><blocklist xmlns='urn:xmpp:blocking'/></iq>");
        Assert.Equal("l0", Next(d).Id);
        Send(_alicePhone, "<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='carol@localhost'/><item jid='spam.example'/></block></iq>");
        var got = NextN(a, 2);
        Assert.Contains(got, e => e.Type == "result" && e.Id == "b1");
        Assert.Contains(got, e => e.Type == "set" && e.Child("block", UserActor.BlockingNs) is not null);
        Assert.NotNull(Next(d).Child("block", UserActor.BlockingNs)); // §3.3 push to every resource that requested the list
        d.ExpectNoMsg(TimeSpan.FromMilliseconds(100));

        Send(_alicePhone, "<iq type='get' id='l1'><blocklist xmlns='urn:xmpp:blocking'/></iq>");
        var list = Next(a).Child("blocklist", UserActor.BlockingNs)!;
        Assert.Equal(["carol@localhost", "spam.example"], list.Elements().Select(i => i.Attr("jid")));

        Send(_alicePhone, "<iq type='set' id='u1'><unblock xmlns='urn:xmpp:blocking'/></iq>"); // §3.4: empty unblocks all
        AwaitAssert(() => Assert.Empty(State(Alice).Blocked));
    }

    [Fact]
    public void Xep0191_3_2_and_3_3_block_list_pushes_go_only_to_resources_that_requested_the_block_list()
    {
        var a = Bind(_alicePhone);
        var desk = Alice.WithResource("desk");
        var d = Bind(desk);
        Send(desk, "<iq type='get' id='l0'><blocklist xmlns='urn:xmpp:blocking'/></iq>");
        Assert.Equal("l0", Next(d).Id);

        // phone never asked for the block list: it gets the answer to its own command, but no push
        Send(_alicePhone, "<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='carol@localhost'/></block></iq>");
        var result = Assert.Single(Drain(a)); // (the sessions still get the new list to enforce it)
        Assert.Equal(("result", "b1"), (result.Type, result.Id));
        Assert.NotNull(Assert.Single(Drain(d)).Child("block", UserActor.BlockingNs));

        Send(_alicePhone, "<iq type='set' id='u1'><unblock xmlns='urn:xmpp:blocking'><item jid='carol@localhost'/></unblock></iq>"); // §3.4
        Assert.Equal("u1", Assert.Single(Drain(a)).Id);
        Assert.NotNull(Assert.Single(Drain(d)).Child("unblock", UserActor.BlockingNs));
        AwaitAssert(() => Assert.Empty(State(Alice).Blocked));
    }

    [Fact]
    public void Xep0191_3_3_block_without_items_is_bad_request()
    {
        var a = Bind(_alicePhone);
        Send(_alicePhone, "<iq type='set' id='b'><block xmlns='urn:xmpp:blocking'/></iq>");
        Assert.Equal("bad-request", Condition(Next(a)));
    }

    [Fact]
    public void Xep0191_3_5_messages_from_a_blocked_contact_are_not_stored_offline_but_bounced()
    {
        var a = Bind(_alicePhone);
        Send(_alicePhone, "<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></block></iq>");
        Assert.Equal("b1", Next(a).Id); // (no push: this resource did not request the block list)
        var b = Online(_bobPhone);
        Send(_bobPhone, "<message to='alice@localhost' type='chat'><body>let me in</body></message>");
        Assert.Equal("service-unavailable", Condition(Next(b)));
        Assert.Empty(State(Alice).Offline);
    }
}
