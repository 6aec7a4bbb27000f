using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Tests.Im;

/// <summary>RFC 6121 §8.5.2.2.1 with XEP-0160 offline storage and XEP-0203 delay.</summary>
public sealed class OfflineSpec : ImSpecBase
{
    public OfflineSpec() : base(new UserActor.Settings(MaxOfflineMessages: 3, SnapshotEvery: 1000)) { }

    private readonly Jid _bobPhone = Jid.Parse("bob@localhost/phone");

    [Fact]
    public void Rfc6121_8_5_2_2_1_chat_and_normal_are_stored_and_delivered_in_order_with_delay_at_next_presence()
    {
        var b = Online(_bobPhone);
        Send(_bobPhone, "<message to='alice@localhost' type='chat'><body>one</body></message>");
        Send(_bobPhone, "<message to='alice@localhost'><body>two</body></message>");
        Send(_bobPhone, "<message to='alice@localhost/gone' type='chat'><body>three</body></message>"); // §8.5.3.2.1
        AwaitAssert(() => Assert.Equal(3, State(Alice).Offline.Length));
        Nothing(b); // nothing bounced

        var a = Online(Alice.WithResource("phone"));
        var got = Drain(a);
        Assert.Equal(["one", "two", "three"], got.Select(m => m.ChildText("body", Ns.Client)));
        foreach (var m in got)
        {
            var delay = m.Child("delay", Ns.Delay)!;
            Assert.Equal("localhost", delay.Attr("from"));
            Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", delay.Attr("stamp")!);
            Assert.Equal("bob@localhost/phone", m.From);
        }
        AwaitAssert(() => Assert.Empty(State(Alice).Offline));
        // removed: a later login gets nothing again
        Offline(Alice.WithResource("phone"), a);
        var again = Online(Alice.WithResource("phone"));
        Assert.Empty(Drain(again));
    }

    [Fact]
    public void Rfc6121_8_5_2_2_1_groupchat_bounces_headline_and_error_are_dropped()
    {
        var b = Online(_bobPhone);
        Send(_bobPhone, "<message to='alice@localhost' type='groupchat'><body>g</body></message>");
        Assert.Equal("service-unavailable", Condition(Next(b)));
        Send(_bobPhone, "<message to='alice@localhost' type='headline'><body>h</body></message>");
        Send(_bobPhone, "<message to='alice@localhost' type='error'><body>e</body></message>");
        Nothing(b);
        Assert.Empty(State(Alice).Offline);
    }

    [Fact]
    public void Xep0160_a_full_mailbox_answers_service_unavailable_saying_so()
    {
        var b = Online(_bobPhone);
        for (var i = 0; i < 4; i++) Send(_bobPhone, $"<message to='alice@localhost' type='chat' id='m{i}'><body>{i}</body></message>");
        var error = Next(b);
        Assert.Equal("m3", error.Id);
        Assert.Equal("service-unavailable", Condition(error));
        Assert.Contains("full", error.Child("error", Ns.Client)!.ChildText("text", Ns.StanzaErrors));
        Assert.Equal(3, State(Alice).Offline.Length);
    }

    [Fact]
    public void Xep0160_a_negative_priority_resource_does_not_receive_offline_messages()
    {
        var b = Online(_bobPhone);
        Send(_bobPhone, "<message to='alice@localhost' type='chat'><body>x</body></message>");
        AwaitAssert(() => Assert.Single(State(Alice).Offline));
        var a = Online(Alice.WithResource("bot"), priority: -1);
        Assert.Empty(Drain(a));
        Assert.Single(State(Alice).Offline);
    }

    [Fact]
    public void Offline_messages_survive_a_restart_of_the_user_actor()
    {
        var b = Online(_bobPhone);
        Send(_bobPhone, "<message to='alice@localhost' type='chat'><body>kept</body></message>");
        AwaitAssert(() => Assert.Single(State(Alice).Offline));
        StopUser(Alice);
        var a = Online(Alice.WithResource("phone"));
        Assert.Equal("kept", Assert.Single(Drain(a)).ChildText("body", Ns.Client));
    }

    [Fact]
    public void Xep0160_delivered_messages_leave_the_journal_and_the_sequence_goes_on_after_a_restart()
    {
        var b = Online(_bobPhone);
        Send(_bobPhone, "<message to='alice@localhost' type='chat'><body>first</body></message>");
        AwaitAssert(() => Assert.Single(State(Alice).Offline));
        var alicePhone = Alice.WithResource("phone");
        var a = Online(alicePhone);
        Assert.Single(Drain(a));
        Offline(alicePhone, a);
        StopUser(Alice);
        Assert.Empty(State(Alice).Offline); // recovered from the snapshot taken at delivery
        Send(_bobPhone, "<message to='alice@localhost' type='chat'><body>second</body></message>");
        AwaitAssert(() => Assert.Single(State(Alice).Offline));
        StopUser(Alice);
        var again = Online(alicePhone);
        Assert.Equal("second", Assert.Single(Drain(again)).ChildText("body", Ns.Client));
    }
}
