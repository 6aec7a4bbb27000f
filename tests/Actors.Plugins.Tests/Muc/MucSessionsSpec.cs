using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;
using static Actors.Plugins.Tests.Muc.Muc;

namespace Actors.Plugins.Tests.Muc;

/// <summary>XEP-0045 §7.2.8 (one nickname held by several resources of one user) and §11.2 (the service shuts down).</summary>
public sealed class MucSessionsSpec : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(["disco", "muc"]);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private Task<XmppTestClient> Login(string user, string resource = "r") => _server.LoginAsync(user, resource);

    /// <summary>The next stanza must be <paramref name="expected"/>: nothing came before it.</summary>
    private static async Task<Element> Next(XmppTestClient client, string expected)
    {
        var next = await client.NextAsync();
        StanzaAssert.Matches(expected, next);
        return next;
    }

    [Fact]
    public async Task Several_resources_of_one_user_share_one_nickname_and_the_others_see_one_occupant_7_2_8()
    {
        await using var alice = await Login("alice");
        await using var phone = await Login("bob", "phone");
        await using var desk = await Login("bob", "desk");
        await using var other = await Login("admin");
        await CreateInstant(alice, "multi", "alice");
        await Enter(phone, "multi", "bob");
        await alice.Receives($"<presence from='{Room("multi")}/bob'/>");

        // §7.2.8: the same bare JID under the same nickname is let in (another user is refused with a conflict)
        await desk.Sends($"<presence id='j2' to='{Room("multi")}/bob'><x xmlns='{Ns}'/></presence>");
        await Next(desk, $"<presence from='{Room("multi")}/alice'><x xmlns='{User}'><item affiliation='owner' role='moderator'/></x></presence>");
        var own = await Next(desk, $"<presence id='j2' from='{Room("multi")}/bob'><x xmlns='{User}'><item affiliation='none' role='participant' jid='bob@localhost/desk'/></x></presence>");
        Assert.Equal(["110"], StatusCodes(own));
        await Next(desk, $"<message type='groupchat' from='{Room("multi")}'><subject/></message>");
        await Error(other, $"<presence to='{Room("multi")}/bob'><x xmlns='{Ns}'/></presence>", "conflict");

        // the others see one occupant: no presence for the second session, one item in disco, one occupant counted
        await alice.Sends($"<message type='groupchat' to='{Room("multi")}' id='g1'><body>one</body></message>");
        await Next(alice, $"<message type='groupchat' id='g1' from='{Room("multi")}/alice'><body>one</body></message>");
        var items = await alice.Query($"<iq type='get' id='d1' to='{Room("multi")}'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>");
        Assert.Equal([Room("multi") + "/alice", Room("multi") + "/bob"], items.FirstChild()!.Elements().Select(i => i.Attr("jid")!).Order(StringComparer.Ordinal).ToArray());
        var info = await alice.Query($"<iq type='get' id='d2' to='{Room("multi")}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
        StanzaAssert.Matches("<iq><query xmlns='http://jabber.org/protocol/disco#info'><x xmlns='jabber:x:data'><field var='muc#roominfo_occupants'><value>2</value></field></x></query></iq>", info);

        // §7.2.8: in-room messages go to every resource, and every resource may send
        await phone.Receives($"<message type='groupchat' id='g1' from='{Room("multi")}/alice'><body>one</body></message>");
        await desk.Receives($"<message type='groupchat' id='g1' from='{Room("multi")}/alice'><body>one</body></message>");
        await desk.Sends($"<message type='groupchat' to='{Room("multi")}' id='g2'><body>from the desk</body></message>");
        await alice.Receives($"<message type='groupchat' id='g2' from='{Room("multi")}/bob'><body>from the desk</body></message>");
        await phone.Receives($"<message type='groupchat' id='g2' from='{Room("multi")}/bob'><body>from the desk</body></message>");
        await desk.Receives($"<message type='groupchat' id='g2' from='{Room("multi")}/bob'><body>from the desk</body></message>");
        // private messages: RECOMMENDED to all resources
        await alice.Sends($"<message type='chat' to='{Room("multi")}/bob' id='p1'><body>psst</body></message>");
        await phone.Receives($"<message type='chat' id='p1' from='{Room("multi")}/alice'><body>psst</body></message>");
        await desk.Receives($"<message type='chat' id='p1' from='{Room("multi")}/alice'><body>psst</body></message>");

        // one resource leaves: it alone gets unavailable; the occupant stays, shown now by the desk (alice, a moderator,
        // sees its real JID change), not gone
        await phone.Sends($"<presence type='unavailable' to='{Room("multi")}/bob'/>");
        var left = await phone.Receives($"<presence type='unavailable' from='{Room("multi")}/bob'><x xmlns='{User}'><item role='none'/></x></presence>");
        Assert.Equal(["110"], StatusCodes(left));
        var shown = await Next(alice, $"<presence from='{Room("multi")}/bob'><x xmlns='{User}'><item role='participant' jid='bob@localhost/desk'/></x></presence>");
        Assert.Null(shown.Type);
        await alice.Sends($"<message type='groupchat' to='{Room("multi")}' id='g3'><body>still two</body></message>");
        await Next(alice, $"<message type='groupchat' id='g3' from='{Room("multi")}/alice'/>");
        await desk.Receives($"<message type='groupchat' id='g3'/>");
        // the last one leaves: now the others see the occupant go
        await desk.Sends($"<presence type='unavailable' to='{Room("multi")}/bob'/>");
        var gone = await Next(alice, $"<presence type='unavailable' from='{Room("multi")}/bob'><x xmlns='{User}'><item role='none'/></x></presence>");
        Assert.Empty(StatusCodes(gone));
    }

    [Fact]
    public async Task A_session_with_a_higher_priority_becomes_what_the_others_see_and_a_kick_removes_every_session_7_2_8_8_2()
    {
        await using var alice = await Login("alice");
        await using var phone = await Login("bob", "phone");
        await using var desk = await Login("bob", "desk");
        await CreateInstant(alice, "prio", "alice");
        await Enter(phone, "prio", "bob");
        await alice.Receives($"<presence from='{Room("prio")}/bob'><x xmlns='{User}'><item jid='bob@localhost/phone'/></x></presence>");
        await desk.Sends($"<presence to='{Room("prio")}/bob'><show>dnd</show><priority>5</priority><x xmlns='{Ns}'/></presence>");
        // alice (a moderator) sees the occupant's presence change to the desk's
        await alice.Receives($"<presence from='{Room("prio")}/bob'><show>dnd</show><x xmlns='{User}'><item jid='bob@localhost/desk'/></x></presence>");
        var deskSelf = await desk.Receives($"<presence from='{Room("prio")}/bob'><show>dnd</show><x xmlns='{User}'><item jid='bob@localhost/desk'/></x></presence>");
        Assert.Equal(["110"], StatusCodes(deskSelf));
        // the phone's status change is not what the others see: reflected to the phone alone
        await phone.Receives($"<presence from='{Room("prio")}/bob'><x xmlns='{User}'><status code='110'/></x></presence>"); // the primary changed
        await phone.Sends($"<presence to='{Room("prio")}/bob'><show>away</show></presence>");
        await phone.Receives($"<presence from='{Room("prio")}/bob'><show>away</show><x xmlns='{User}'><item jid='bob@localhost/phone'/><status code='110'/></x></presence>");
        await alice.Sends($"<message type='groupchat' to='{Room("prio")}' id='g1'><body>x</body></message>");
        await Next(alice, $"<message type='groupchat' id='g1' from='{Room("prio")}/alice'/>");

        // §8.2: a kick removes the occupant: every session is told (110, 307), the others once
        var kick = await alice.Query($"<iq type='set' id='k1' to='{Room("prio")}'><query xmlns='{Admin}'><item nick='bob' role='none'/></query></iq>");
        Assert.Equal("result", kick.Type);
        foreach (var session in new[] { phone, desk })
        {
            var out1 = await session.Receives($"<presence type='unavailable' from='{Room("prio")}/bob'><x xmlns='{User}'><item role='none'/></x></presence>");
            Assert.Equal(["110", "307"], StatusCodes(out1));
        }
        var seen = await alice.Receives($"<presence type='unavailable' from='{Room("prio")}/bob'/>");
        Assert.Equal(["307"], StatusCodes(seen));
        var items = await alice.Query($"<iq type='get' id='d1' to='{Room("prio")}'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>");
        Assert.Single(items.FirstChild()!.Elements());
    }

    [Fact]
    public async Task Unloading_the_service_removes_every_occupant_with_110_and_332_11_2()
    {
        await using var alice = await Login("alice");
        await using var phone = await Login("bob", "phone");
        await using var desk = await Login("bob", "desk");
        await CreateInstant(alice, "closing", "alice");
        await Enter(phone, "closing", "bob");
        await Enter(desk, "closing", "bob");
        var unload = await _server.Plugins.UnloadAsync("muc");
        Assert.True(unload.Ok, unload.Message);
        foreach (var (client, nick) in new[] { (alice, "alice"), (phone, "bob"), (desk, "bob") })
        {
            var removed = await client.Receives($"<presence type='unavailable' from='{Room("closing")}/{nick}'><x xmlns='{User}'><item affiliation='none' role='none'/></x></presence>");
            Assert.Equal(["110", "332"], StatusCodes(removed));
        }
    }
}
