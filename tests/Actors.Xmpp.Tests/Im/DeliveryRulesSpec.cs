using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Tests.Im;

/// <summary>RFC 6121 §8.5 with user actors: every route ends delivered, stored or bounced (or dropped where the RFC says so).</summary>
public sealed class DeliveryRulesSpec : ImSpecBase
{
    private readonly Jid _bobPhone = Jid.Parse("bob@localhost/phone");

    [Theory]
    [InlineData("chat")]
    [InlineData("normal")]
    public void Rfc6121_8_5_1_a_message_to_an_account_that_does_not_exist_is_service_unavailable(string type)
    {
        var b = Online(_bobPhone);
        Send(_bobPhone, $"<message to='nobody@localhost' type='{type}' id='x'><body>?</body></message>");
        Assert.Equal("service-unavailable", Condition(Next(b)));
    }

    [Fact]
    public void Rfc6121_4_3_a_probe_never_reaches_a_client_even_without_user_actors()
    {
        var router = new Actors.Xmpp.Server.Routing.StanzaRouter(["localhost"], Sessions, Accounts, Iq,
            Microsoft.Extensions.Logging.Abstractions.NullLogger<Actors.Xmpp.Server.Routing.StanzaRouter>.Instance); // no user directory
        var b = CreateTestProbe();
        Sessions.Register(new Actors.Xmpp.Server.Routing.SessionEntry(_bobPhone, b.Ref, true, 0, Environment.TickCount64));
        var carol = Carol.WithResource("x");
        router.Route(Parse("<presence from='carol@localhost/x' to='bob@localhost' type='probe'/>"), carol, Bob);
        router.Route(Parse("<presence from='carol@localhost/x' to='bob@localhost/phone' type='probe'/>"), carol, _bobPhone);
        Nothing(b);
    }

    [Fact]
    public void Rfc6121_8_5_2_1_1_a_message_to_the_bare_jid_goes_to_the_highest_priority_resource_not_offline()
    {
        var b = Online(_bobPhone);
        var low = Online(Alice.WithResource("low"), priority: 1);
        var high = Online(Alice.WithResource("high"), priority: 5);
        Drain(low);
        Drain(high);
        Send(_bobPhone, "<message to='alice@localhost' type='chat'><body>hi</body></message>");
        Assert.Equal("hi", Next(high).ChildText("body", Ns.Client));
        Nothing(low);
        Nothing(b); // not bounced as for an account without an available resource
    }

    [Fact]
    public void Rfc6121_8_5_3_2_3_an_iq_to_an_unavailable_full_jid_is_service_unavailable()
    {
        var b = Online(_bobPhone);
        Send(_bobPhone, "<iq to='alice@localhost/gone' type='get' id='q'><query xmlns='urn:example'/></iq>");
        Assert.Equal("service-unavailable", Condition(Next(b)));
    }

    [Fact]
    public void Rfc6121_8_5_3_2_1_a_headline_to_an_unavailable_full_jid_is_dropped_not_stored()
    {
        var b = Online(_bobPhone);
        Send(_bobPhone, "<message to='alice@localhost/gone' type='headline'><body>news</body></message>");
        Nothing(b);
    }

    [Fact]
    public void Rfc6121_8_5_2_2_1_without_offline_storage_chat_and_normal_to_an_account_with_no_available_resource_bounce()
    {
        // the offline plugin is not loaded here: the server "either stores or bounces"; it bounces
        var b = Online(_bobPhone);
        Send(_bobPhone, "<message to='alice@localhost' type='chat' id='c1'><body>hi</body></message>");
        var error = Next(b);
        Assert.Equal(("c1", "error", "service-unavailable"), (error.Id, error.Type, Condition(error)));
        Send(_bobPhone, "<message to='alice@localhost' id='n1'><body>hi</body></message>");
        Assert.Equal(("n1", "service-unavailable"), (Next(b).Id, Condition(error)));
        Send(_bobPhone, "<message to='alice@localhost' type='headline'><body>news</body></message>"); // silently ignored
        Nothing(b);
    }

    [Fact]
    public void Rfc6121_2_1_2_5_subscription_ask_and_approved_from_the_client_are_ignored_and_an_update_keeps_the_state()
    {
        var (a, _) = MutualSubscription();
        var phone = Alice.WithResource("phone");
        Send(phone, "<iq type='set' id='u'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' name='Robert' subscription='none' ask='subscribe' approved='true'><group>G</group></item></query></iq>");
        DrainUntil(a, e => e.Id == "u" && e.Type == "result");
        var item = State(Alice).Roster.Single();
        Assert.Equal(("Robert", "both", false, false), (item.Name, item.Subscription, item.Ask, item.Approved));
        Assert.Equal(["G"], item.Groups);
    }
}
