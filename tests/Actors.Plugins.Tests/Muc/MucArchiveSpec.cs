using XNs = Actors.Xmpp.Ns;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;
using static Actors.Plugins.Tests.Muc.Muc;

namespace Actors.Plugins.Tests.Muc;

/// <summary>XEP-0313 archives of rooms (§3.3.2, §3.5, §6.1.2) with XEP-0359 stanza ids by the room, over TCP.</summary>
public sealed class MucArchiveSpec : IAsyncLifetime
{
    private const string Mam = "urn:xmpp:mam:2";
    private const string Rsm = "http://jabber.org/protocol/rsm";
    private const string Sid = "urn:xmpp:sid:0";
    private const string Forward = "urn:xmpp:forward:0";
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(["disco", "muc"]);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private Task<XmppTestClient> Login(string user, string resource = "r") => _server.LoginAsync(user, resource);

    private sealed record Results(List<Element> Messages, Element Iq)
    {
        public Element? Fin => Iq.Child("fin", Mam);
        public Element? Set => Fin?.Child("set", Rsm);
        public bool Complete => Fin?.Attr("complete") == "true";
        public string[] Bodies => Messages.Select(m => Forwarded(m).ChildText("body", XNs.Client)!).ToArray();
        public string[] Ids => Messages.Select(m => m.Child("result", Mam)!.Attr("id")!).ToArray();
        public int? Count => Set?.ChildText("count", Rsm) is { } c ? int.Parse(c) : null;
    }

    private static Element Forwarded(Element result) => result.Child("result", Mam)!.Child("forwarded", Forward)!.Child("message", XNs.Client)!;

    private static int _queries;

    /// <summary>A query to the room's bare JID: its results in arrival order, then its IQ answer.</summary>
    private static async Task<Results> Query(XmppTestClient c, string room, string inner = "")
    {
        var id = "mq" + Interlocked.Increment(ref _queries);
        await c.Sends($"<iq type='set' id='{id}' to='{Room(room)}'><query xmlns='{Mam}' queryid='{id}'>{inner}</query></iq>");
        var messages = new List<Element>();
        while (true)
        {
            var e = await c.Receives(x => (x.Name == "iq" && x.Id == id) || (x.Name == "message" && x.Child("result", Mam)?.Attr("queryid") == id), $"the results of {id}");
            if (e.Name == "iq") return new Results(messages, e);
            StanzaAssert.Matches($"<message from='{Room(room)}'/>", e);
            messages.Add(e);
        }
    }

    private static string StanzaIdOf(Element message, string room)
    {
        var sid = message.Elements("stanza-id", Sid).Single(s => s.Attr("by") == Room(room));
        return sid.Attr("id")!;
    }

    [Fact]
    public async Task Room_messages_carry_the_rooms_stanza_id_and_the_room_jid_answers_queries_page_by_page_XEP0313_3_5_3_3_2_4_3()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        await CreateInstant(alice, "logged", "alice");
        await Enter(bob, "logged", "bob");
        var info = await bob.Query($"<iq type='get' id='i1' to='{Room("logged")}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
        StanzaAssert.Matches($"<iq><query xmlns='http://jabber.org/protocol/disco#info'><feature var='{Mam}'/><feature var='{Sid}'/></query></iq>", info); // §7

        var ids = new List<string>();
        for (var i = 1; i <= 3; i++)
        {
            await alice.Sends($"<message type='groupchat' to='{Room("logged")}' id='m{i}'><body>m{i}</body></message>");
            var toBob = await bob.Receives($"<message type='groupchat' id='m{i}' from='{Room("logged")}/alice'><body>m{i}</body></message>");
            var toAlice = await alice.Receives($"<message type='groupchat' id='m{i}' from='{Room("logged")}/alice'/>");
            var id = StanzaIdOf(toBob, "logged"); // §3.5: by the room's bare JID
            Assert.Equal(id, StanzaIdOf(toAlice, "logged")); // §6.1.2: stored once, the same id on every copy
            ids.Add(id);
        }
        Assert.Equal(3, ids.Distinct().Count());
        // private messages are not the room's (§6.1.2: MUST NOT be in its archive)
        await bob.Sends($"<message type='chat' to='{Room("logged")}/alice' id='pm'><body>between us</body></message>");
        await alice.Receives($"<message type='chat' id='pm'/>");

        var first = await Query(bob, "logged", $"<set xmlns='{Rsm}'><max>2</max></set>");
        Assert.Equal(["m1", "m2"], first.Bodies);
        Assert.Equal(ids.Take(2).ToArray(), first.Ids);
        Assert.Equal(3, first.Count);
        Assert.False(first.Complete);
        StanzaAssert.Matches($"<message type='groupchat' from='{Room("logged")}/alice'><body>m1</body></message>", Forwarded(first.Messages[0]));
        Assert.Null(Forwarded(first.Messages[0]).Child("x", User)); // bob may not know alice's real JID (semi-anonymous)
        Assert.NotNull(first.Messages[0].Child("result", Mam)!.Child("forwarded", Forward)!.Child("delay", "urn:xmpp:delay"));
        var rest = await Query(bob, "logged", $"<set xmlns='{Rsm}'><max>2</max><after>{first.Set!.ChildText("last", Rsm)}</after></set>");
        Assert.Equal(["m3"], rest.Bodies);
        Assert.True(rest.Complete);
        var last = await Query(bob, "logged", $"<set xmlns='{Rsm}'><max>1</max><before/></set>"); // §4.3.3
        Assert.Equal(["m3"], last.Bodies);

        // the owner may know real JIDs: each result names the sender in a muc#user item (§6.1.2)
        var owners = await Query(alice, "logged", $"<set xmlns='{Rsm}'><max>1</max></set>");
        StanzaAssert.Matches($"<message><x xmlns='{User}'><item jid='alice@localhost/r'/></x></message>", Forwarded(owners.Messages[0]));

        // history on entry is the archive's: the same stanza ids (XEP-0045 §7.2.13 with XEP-0313 §3.5)
        await using var carol = await Login("admin");
        await carol.Sends($"<presence to='{Room("logged")}/carol'><x xmlns='{Ns}'/></presence>");
        var history = new List<Element>();
        for (var i = 0; i < 3; i++) history.Add(await carol.Receives($"<message type='groupchat' from='{Room("logged")}/alice'><delay xmlns='urn:xmpp:delay'/></message>"));
        Assert.Equal(ids, history.Select(h => StanzaIdOf(h, "logged")).ToList());

        // §5: metadata
        var metadata = await bob.Query($"<iq type='get' id='md' to='{Room("logged")}'><metadata xmlns='{Mam}'/></iq>");
        StanzaAssert.Matches($"<iq type='result'><metadata xmlns='{Mam}'><start id='{ids[0]}'/><end id='{ids[2]}'/></metadata></iq>", metadata);
        // §4.1.5: the form
        var form = await bob.Query($"<iq type='get' id='fm' to='{Room("logged")}'><query xmlns='{Mam}'/></iq>");
        StanzaAssert.Matches($"<iq type='result'><query xmlns='{Mam}'><x xmlns='jabber:x:data' type='form'><field var='with'/><field var='start'/></x></query></iq>", form);
    }

    [Fact]
    public async Task Only_who_may_enter_reads_the_archive_and_forged_ids_and_real_jids_are_stripped_XEP0313_6_1_2_8_4()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        await using var other = await Login("admin");
        await CreateInstant(alice, "open", "alice");
        await Enter(bob, "open", "bob");
        await bob.Sends($"<message type='groupchat' to='{Room("open")}' id='f1'><body>forged</body><stanza-id xmlns='{Sid}' by='{Room("open")}' id='fake'/>" +
                        $"<x xmlns='{User}'><item jid='someone@else/x'/></x></message>");
        var reflected = await alice.Receives($"<message type='groupchat' id='f1' from='{Room("open")}/bob'/>");
        Assert.NotEqual("fake", StanzaIdOf(reflected, "open")); // XEP-0359: only the room's own id by the room
        Assert.Null(reflected.Child("x", User));
        var archived = await Query(alice, "open");
        StanzaAssert.Matches($"<message><x xmlns='{User}'><item jid='bob@localhost/r'/></x></message>", Forwarded(archived.Messages[0]));
        Assert.Single(Forwarded(archived.Messages[0]).Elements("x", User));

        // an open room: anyone not an outcast, even someone never in it
        Assert.Equal(["forged"], (await Query(other, "open")).Bodies);
        // §4.1.1: a filter by sender only for who may know senders (bob, a participant of a semi-anonymous room, may not)
        var with = $"<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>{Mam}</value></field><field var='with'><value>bob@localhost</value></field></x>";
        StanzaAssert.Error((await Query(bob, "open", with)).Iq, "forbidden");
        Assert.Equal(["forged"], (await Query(alice, "open", with)).Bodies);
        await alice.Query($"<iq type='set' id='b1' to='{Room("open")}'><query xmlns='{Admin}'><item affiliation='outcast' jid='admin@localhost'/></query></iq>");
        StanzaAssert.Error((await Query(other, "open")).Iq, "forbidden");

        // a members-only room: owners, admins and members only
        await Enter(alice, "club", "alice");
        await Configure(alice, "club", Form(Field("muc#roomconfig_membersonly", "1")));
        StanzaAssert.Error((await Query(bob, "club")).Iq, "forbidden");
        await alice.Query($"<iq type='set' id='m1' to='{Room("club")}'><query xmlns='{Admin}'><item affiliation='member' jid='bob@localhost'/></query></iq>");
        Assert.Equal("result", (await Query(bob, "club")).Iq.Type);

        // a room configured not to archive: no ids, no feature, no archive
        await Enter(alice, "quiet", "alice");
        await Configure(alice, "quiet", Form(Field("muc#roomconfig_enablearchiving", "0")));
        await alice.Sends($"<message type='groupchat' to='{Room("quiet")}' id='q1'><body>off the record</body></message>");
        var unlogged = await alice.Receives($"<message type='groupchat' id='q1' from='{Room("quiet")}/alice'/>");
        Assert.Null(unlogged.Child("stanza-id", Sid));
        var info = await alice.Query($"<iq type='get' id='i1' to='{Room("quiet")}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
        Assert.DoesNotContain(info.FirstChild()!.Elements("feature", "http://jabber.org/protocol/disco#info"), f => f.Attr("var") == Mam);
        StanzaAssert.Error((await Query(alice, "quiet")).Iq, "service-unavailable");
    }
}
