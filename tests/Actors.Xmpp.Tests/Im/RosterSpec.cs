using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Tests.Im;

/// <summary>RFC 6121 §2: roster get, set, remove, pushes and versioning, on the user actor.</summary>
public sealed class RosterSpec : ImSpecBase
{
    private Element Query(Element iq) => iq.Child("query", Ns.Roster)!;

    [Fact]
    public void Rfc6121_2_1_3_roster_get_of_a_new_account_is_empty_with_a_version()
    {
        var phone = Alice.WithResource("phone");
        var p = Bind(phone);
        Send(phone, "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>");
        var result = Next(p);
        Assert.Equal("result", result.Type);
        Assert.Equal("r1", result.Id);
        Assert.Empty(Query(result).Elements());
        Assert.Equal("0", Query(result).Attr("ver"));
    }

    [Fact]
    public void Rfc6121_2_3_roster_set_is_answered_pushed_to_interested_resources_and_returned_by_get()
    {
        var phone = Alice.WithResource("phone");
        var desk = Alice.WithResource("desk");
        var tablet = Alice.WithResource("tablet");
        var p = Bind(phone);
        var d = Bind(desk);
        var t = Bind(tablet); // never asks for the roster: no pushes (§2.1.6)
        Send(desk, "<iq type='get' id='g0'><query xmlns='jabber:iq:roster'/></iq>");
        Next(d);
        Send(phone, "<iq type='set' id='s1'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' name='Bob'><group>Friends</group><group>Work</group></item></query></iq>");
        // §2.3.2: the result, and a push to every interested resource including the one that sent the set
        var got = NextN(p, 2);
        Assert.Contains(got, e => e.Type == "result" && e.Id == "s1");
        Assert.Contains(got, e => e.Type == "set");
        var push = Next(d);
        Assert.Equal("set", push.Type);
        Assert.Equal("alice@localhost", push.From);
        var item = Query(push).Child("item", Ns.Roster)!;
        Assert.Equal("bob@localhost", item.Attr("jid"));
        Assert.Equal("none", item.Attr("subscription"));
        Assert.Equal("1", Query(push).Attr("ver"));

        Nothing(t);
        Send(phone, "<iq type='get' id='g1'><query xmlns='jabber:iq:roster'/></iq>");
        var roster = Query(Next(p));
        var item0 = Assert.Single(roster.Elements());
        Assert.Equal("Bob", item0.Attr("name"));
        Assert.Equal(["Friends", "Work"], item0.Elements("group", Ns.Roster).Select(g => g.Text));
    }

    [Theory]
    [InlineData("<item jid='bob@localhost'/><item jid='carol@localhost'/>", "bad-request")]         // §2.3.3 more than one item
    [InlineData("<item name='x'/>", "bad-request")]                                                   // no jid
    [InlineData("<item jid='bad@@jid'/>", "jid-malformed")]
    [InlineData("<item jid='bob@localhost'><group>A</group><group>A</group></item>", "not-acceptable")] // duplicate group
    [InlineData("<item jid='bob@localhost'><group></group></item>", "not-acceptable")]               // empty group
    public void Rfc6121_2_3_3_bad_roster_sets_get_the_rfc_errors(string items, string condition)
    {
        var phone = Alice.WithResource("phone");
        var p = Bind(phone);
        Send(phone, $"<iq type='set' id='bad'><query xmlns='jabber:iq:roster'>{items}</query></iq>");
        var error = Next(p);
        Assert.Equal("error", error.Type);
        Assert.Equal(condition, Condition(error));
    }

    [Fact]
    public void Rfc6121_2_3_3_a_name_that_is_too_long_is_not_acceptable()
    {
        var phone = Alice.WithResource("phone");
        var p = Bind(phone);
        Send(phone, $"<iq type='set' id='long'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' name='{new string('n', 2000)}'/></query></iq>");
        Assert.Equal("not-acceptable", Condition(Next(p)));
    }

    [Fact]
    public void Rfc6121_2_1_5_a_roster_of_another_account_is_forbidden()
    {
        var phone = Alice.WithResource("phone");
        var p = Bind(phone);
        Send(phone, "<iq type='get' id='x' to='bob@localhost'><query xmlns='jabber:iq:roster'/></iq>");
        Assert.Equal("forbidden", Condition(Next(p)));
    }

    [Fact]
    public void Rfc6121_2_6_3_roster_get_with_the_current_version_is_an_empty_result()
    {
        var phone = Alice.WithResource("phone");
        var p = Bind(phone);
        Send(phone, "<iq type='set' id='s1'><query xmlns='jabber:iq:roster'><item jid='bob@localhost'/></query></iq>");
        NextN(p, 2); // result and push
        Send(phone, "<iq type='get' id='g1'><query xmlns='jabber:iq:roster' ver='1'/></iq>");
        var current = Next(p);
        Assert.Equal("result", current.Type);
        Assert.Null(current.FirstChild());
        Send(phone, "<iq type='get' id='g2'><query xmlns='jabber:iq:roster' ver='0'/></iq>");
        var stale = Next(p);
        Assert.Single(Query(stale).Elements());
        Assert.Equal("1", Query(stale).Attr("ver"));
    }

    [Fact]
    public void Rfc6121_2_5_3_removing_an_unknown_item_is_item_not_found()
    {
        var phone = Alice.WithResource("phone");
        var p = Bind(phone);
        Send(phone, "<iq type='set' id='rm'><query xmlns='jabber:iq:roster'><item jid='nobody@localhost' subscription='remove'/></query></iq>");
        Assert.Equal("item-not-found", Condition(Next(p)));
    }

    [Fact]
    public void Rfc6121_2_5_2_removing_a_mutual_contact_sends_unsubscribe_and_unsubscribed_and_pushes_remove()
    {
        var (alicePhone, bobPhone) = MutualSubscription();
        Send(Alice.WithResource("phone"), "<iq type='get' id='g'><query xmlns='jabber:iq:roster'/></iq>");
        Next(alicePhone);
        Send(Alice.WithResource("phone"), "<iq type='set' id='rm'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' subscription='remove'/></query></iq>");
        var got = Drain(alicePhone);
        Assert.Contains(got, e => e.Type == "result" && e.Id == "rm");
        Assert.Contains(got, e => e.Type == "set" && Query(e).Child("item", Ns.Roster)!.Attr("subscription") == "remove");
        // bob hears both and his item goes to none
        var bobGot = Drain(bobPhone).Where(e => e.Name == "presence").Select(e => e.Type).ToList();
        Assert.Contains("unsubscribe", bobGot);
        Assert.Contains("unsubscribed", bobGot);
        AwaitAssert(() => Assert.Equal("none", State(Bob).Roster.Single().Subscription));
        Assert.Empty(State(Alice).Roster);
    }
}
