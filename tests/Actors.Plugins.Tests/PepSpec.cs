using Actors.Xmpp;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;
using static Actors.Xmpp.Testing.CapsAnnouncement;

namespace Actors.Plugins.Tests;

/// <summary>XEP-0163 Personal Eventing Protocol on accounts' bare JIDs (the 'pubsub' plugin), over TCP.</summary>
public sealed class PepSpec : IAsyncLifetime
{
    private const string PubSub = "http://jabber.org/protocol/pubsub";
    private const string Event = "http://jabber.org/protocol/pubsub#event";
    private const string Errors = "http://jabber.org/protocol/pubsub#errors";
    private const string Tune = "http://jabber.org/protocol/tune";
    private const string Caps = "http://jabber.org/protocol/caps";
    private TestServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await TestServer.StartAsync(["disco", "ping", "pubsub"]);
        await _server.AddUserAsync("carol");
        await _server.AddUserAsync("dave");
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static string TuneItem(string title) => $"<tune xmlns='{Tune}'><title>{title}</title></tune>";

    private static Task<Element> PublishTune(XmppTestClient c, string title, string options = "", string to = "") =>
        c.Query($"<iq type='set' id='{c.NextId()}'{to}><pubsub xmlns='{PubSub}'><publish node='{Tune}'><item id='current'>{TuneItem(title)}</item></publish>{options}</pubsub></iq>");

    private static string Condition(Element e) =>
        e.Child("error", Ns.Client)?.Elements().FirstOrDefault(x => x.Namespace == Ns.StanzaErrors)?.Name ?? "(none)";

    private static string? PubSubCondition(Element e) =>
        e.Child("error", Ns.Client)?.Elements().FirstOrDefault(x => x.Namespace == Errors)?.Name;

    /// <summary><paramref name="watcher"/> subscribes to <paramref name="owner"/>'s presence and is approved (RFC 6121 §3.1):
    /// the owner's roster then has the watcher with 'from'. Both must be available.</summary>
    private static async Task SharePresence(XmppTestClient owner, XmppTestClient watcher)
    {
        await watcher.Sends($"<presence type='subscribe' to='{owner.Jid.Bare}'/>");
        await owner.Receives($"<presence type='subscribe' from='{watcher.Jid.Bare}'/>");
        await owner.Sends($"<presence type='subscribed' to='{watcher.Jid.Bare}'/>");
        await watcher.Receives($"<presence type='subscribed' from='{owner.Jid.Bare}'/>");
    }

    [Fact]
    public async Task Xep0163_3_a_publish_auto_creates_the_node_and_the_account_is_a_pep_service()
    {
        await using var alice = await _server.LoginAsync("alice");
        var info = await alice.Query($"<iq type='get' id='i1' to='alice@localhost'><query xmlns='{Ns.DiscoInfo}'/></iq>");
        StanzaAssert.Matches($"<iq type='result'><query xmlns='{Ns.DiscoInfo}'><identity category='pubsub' type='pep'/>" +
            $"<feature var='{PubSub}#auto-create'/><feature var='{PubSub}#publish-options'/><feature var='{PubSub}#filtered-notifications'/></query></iq>", info);
        var published = await PublishTune(alice, "Yesterday"); // no 'to': the account's own PEP service
        StanzaAssert.Matches($"<iq type='result'><pubsub xmlns='{PubSub}'><publish node='{Tune}'><item id='current'/></publish></pubsub></iq>", published);
        var items = await alice.Query($"<iq type='get' id='g1' to='alice@localhost'><pubsub xmlns='{PubSub}'><items node='{Tune}'/></pubsub></iq>");
        StanzaAssert.Matches($"<iq type='result'><pubsub xmlns='{PubSub}'><items node='{Tune}'><item id='current'>{TuneItem("Yesterday")}</item></items></pubsub></iq>", items);
        // only the account creates its nodes
        await using var bob = await _server.LoginAsync("bob");
        var foreign = await PublishTune(bob, "not yours", to: " to='alice@localhost'");
        Assert.Equal("forbidden", Condition(foreign));
    }

    [Fact]
    public async Task Xep0163_4_presence_access_is_the_default_contacts_with_a_subscription_see_the_items_others_do_not()
    {
        await using var alice = await _server.LoginAsync("alice");
        await using var bob = await _server.LoginAsync("bob");
        await using var carol = await _server.LoginAsync("carol");
        Assert.Equal("result", (await PublishTune(alice, "Help!")).Type);
        var refused = await carol.Query($"<iq type='get' id='g1' to='alice@localhost'><pubsub xmlns='{PubSub}'><items node='{Tune}'/></pubsub></iq>");
        Assert.Equal("not-authorized", Condition(refused));
        Assert.Equal("presence-subscription-required", PubSubCondition(refused));
        await alice.Sends("<presence/>");
        await bob.Sends("<presence/>");
        await SharePresence(alice, bob);
        var items = await bob.Query($"<iq type='get' id='g2' to='alice@localhost'><pubsub xmlns='{PubSub}'><items node='{Tune}'/></pubsub></iq>");
        Assert.Equal("result", items.Type);
        Assert.Equal("current", items.Child("pubsub", PubSub)!.Child("items", PubSub)!.Child("item", PubSub)!.Attr("id"));
    }

    [Fact]
    public async Task Xep0163_4_2_notifications_go_to_contacts_whose_caps_say_notify_and_the_last_item_to_a_contact_coming_online()
    {
        await using var alice = await _server.LoginAsync("alice", "desk");
        await using var bob = await _server.LoginAsync("bob", "phone");
        await using var carol = await _server.LoginAsync("carol", "pc");
        await alice.Sends("<presence/>");
        await ComeOnlineWithCaps(bob, expectQuery: true, [Tune]);   // the server fetches unknown caps
        await ComeOnlineWithCaps(carol, expectQuery: false, [Tune]); // the same ver: known already; interested, but no subscription
        await SharePresence(alice, bob);

        Assert.Equal("result", (await PublishTune(alice, "Let It Be")).Type);
        var n = await bob.Receives(e => e.Name == "message" && e.Child("event", Event) is not null, "alice's tune");
        StanzaAssert.Matches($"<message from='alice@localhost' to='bob@localhost/phone'><event xmlns='{Event}'><items node='{Tune}'>" +
            $"<item id='current'>{TuneItem("Let It Be")}</item></items></event></message>", n);
        await carol.PingServerAsync();
        carol.Timeout = TimeSpan.FromSeconds(1); // bob got his notification already: carol's would have come by now
        Assert.Throws<TimeoutException>(() => carol.Receives(e => e.Name == "message", "nothing").GetAwaiter().GetResult());

        // a second resource of bob with caps the server knows already: no query, and alice's last item on her presence
        await using var tablet = await _server.LoginAsync("bob", "tablet");
        await ComeOnlineWithCaps(tablet, expectQuery: false, [Tune]);
        var last = await tablet.Receives(e => e.Name == "message" && e.Child("event", Event) is not null, "alice's last tune");
        StanzaAssert.Matches($"<message from='alice@localhost'><event xmlns='{Event}'><items node='{Tune}'><item id='current'/></items></event>" +
            "<delay xmlns='urn:xmpp:delay'/></message>", last);
    }

    [Fact]
    public async Task Xep0223_a_private_node_notifies_the_accounts_own_resources_not_its_contacts_XEP0163_4_3()
    {
        const string node = "urn:example:private-notes";
        await using var alice = await _server.LoginAsync("alice", "desk");
        await using var laptop = await _server.LoginAsync("alice", "laptop");
        await using var bob = await _server.LoginAsync("bob", "watch");
        await alice.Sends("<presence/>");
        await ComeOnlineWithCaps(laptop, expectQuery: true, [node]);
        await ComeOnlineWithCaps(bob, expectQuery: false, [node]); // the same caps: bob's client asks for the node too
        await SharePresence(alice, bob);
        var privateOptions = $"<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>{PubSub}#publish-options</value></field>" +
            "<field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options>";
        var stored = await alice.Query($"<iq type='set' id='n1'><pubsub xmlns='{PubSub}'><publish node='{node}'><item id='current'><notes xmlns='{node}'>secret</notes></item></publish>{privateOptions}</pubsub></iq>");
        Assert.Equal("result", stored.Type);
        await laptop.Receives($"<message from='alice@localhost'><event xmlns='{Event}'><items node='{node}'><item id='current'/></items></event></message>");
        await bob.PingServerAsync();
        bob.Timeout = TimeSpan.FromSeconds(1); // the laptop got its notification already: bob's would have come by now
        Assert.Throws<TimeoutException>(() => bob.Receives(e => e.Name == "message" && e.Child("event", Event) is not null, "nothing").GetAwaiter().GetResult());
    }

    [Fact]
    public async Task Xep0163_4_2_an_event_published_while_a_resources_caps_are_being_fetched_reaches_it_once_they_say_notify()
    {
        const string Node = "https://example.org/client";
        await using var phone = await _server.LoginAsync("dave", "phone");
        await using var desk = await _server.LoginAsync("dave", "desk");
        var (_, ver) = ClientInfo(Node, Tune);
        await desk.Sends($"<presence><c xmlns='{Caps}' hash='sha-1' node='{Node}' ver='{ver}'/></presence>");
        var query = await desk.Receives(e => e.Name == "iq" && e.Type == "get" && e.Child("query", Ns.DiscoInfo) is not null, "the server's disco#info for the caps");
        // published before the desk answers: its interest is not known yet, the event is not dropped for that (and
        // the node never sends its last item, so only the held notification can bring it)
        var never = $"<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>{PubSub}#publish-options</value></field>" +
            "<field var='pubsub#send_last_published_item'><value>never</value></field></x></publish-options>";
        Assert.Equal("result", (await PublishTune(phone, "Blackbird", never)).Type);
        var (answer, _) = ClientInfo($"{Node}#{ver}", Tune);
        await desk.Sends($"<iq type='result' id='{query.Id}' to='{query.From}'>{answer}</iq>");
        var pushed = await desk.Receives(e => e.Name == "message" && e.Child("event", Event) is not null, "the tune published meanwhile");
        Assert.Equal("dave@localhost", pushed.From);
        Assert.Equal("Blackbird", pushed.Child("event", Event)!.Child("items", Event)!.Child("item", Event)!.Child("tune", Tune)!.ChildText("title", Tune));
    }

    [Fact]
    public async Task Xep0115_5_4_caps_whose_answer_does_not_hash_to_the_ver_are_not_cached_for_others()
    {
        await using var alice = await _server.LoginAsync("alice", "desk");
        await using var liar = await _server.LoginAsync("bob", "liar");
        await using var honest = await _server.LoginAsync("bob", "honest");
        await alice.Sends("<presence/>");
        var (_, geoVer) = ClientInfo("https://example.org/client", "http://jabber.org/protocol/geoloc");
        await ComeOnlineWithCaps(liar, expectQuery: true, [Tune], claimedVer: geoVer); // claims geoloc's ver, answers tune
        await ComeOnlineWithCaps(honest, expectQuery: true, ["http://jabber.org/protocol/geoloc"]); // so the ver is asked again
    }

    [Fact]
    public async Task Xep0223_publish_options_make_a_private_node_and_are_preconditions_afterwards()
    {
        await using var alice = await _server.LoginAsync("alice");
        await using var bob = await _server.LoginAsync("bob");
        const string node = "storage:bookmarks";
        var privateOptions = $"<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>{PubSub}#publish-options</value></field>" +
            "<field var='pubsub#persist_items'><value>true</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options>";
        var stored = await alice.Query($"<iq type='set' id='p1'><pubsub xmlns='{PubSub}'><publish node='{node}'><item id='current'><storage xmlns='storage:bookmarks'/></item></publish>{privateOptions}</pubsub></iq>");
        Assert.Equal("result", stored.Type);
        var refused = await bob.Query($"<iq type='get' id='g1' to='alice@localhost'><pubsub xmlns='{PubSub}'><items node='{node}'/></pubsub></iq>");
        Assert.Equal("not-allowed", Condition(refused));
        Assert.Equal("closed-node", PubSubCondition(refused));
        var openOptions = privateOptions.Replace("<value>whitelist</value>", "<value>open</value>");
        var conflict = await alice.Query($"<iq type='set' id='p2'><pubsub xmlns='{PubSub}'><publish node='{node}'><item id='current'><storage xmlns='storage:bookmarks'/></item></publish>{openOptions}</pubsub></iq>");
        Assert.Equal("conflict", Condition(conflict));
        Assert.Equal("precondition-not-met", PubSubCondition(conflict));
    }

    [Fact]
    public async Task Xep0402_3_bookmarks_are_added_with_publish_options_listed_pushed_to_own_resources_and_retracted()
    {
        const string Bookmarks = "urn:xmpp:bookmarks:1";
        await using var phone = await _server.LoginAsync("carol", "phone");
        await using var desk = await _server.LoginAsync("carol", "desk");
        await using var bob = await _server.LoginAsync("bob", "b402");
        await ComeOnlineWithCaps(desk, expectQuery: true, [Bookmarks]);
        await desk.Receives(e => e.Name == "presence" && e.From == desk.Jid.ToString(), "its own presence");

        // §3.2 (example 3): one item per room, id the room's JID, with the publish-options the XEP requires
        var options = "<publish-options><x xmlns='jabber:x:data' type='submit'>" +
            $"<field var='FORM_TYPE' type='hidden'><value>{PubSub}#publish-options</value></field>" +
            "<field var='pubsub#persist_items'><value>true</value></field><field var='pubsub#max_items'><value>max</value></field>" +
            "<field var='pubsub#send_last_published_item'><value>never</value></field>" +
            "<field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options>";
        foreach (var (room, name) in new[] { ("theplay@conference.shakespeare.lit", "The Play's the Thing"), ("orchard@conference.shakespeare.lit", "The Orchard") })
        {
            var added = await phone.Query($"<iq type='set' id='{phone.NextId()}'><pubsub xmlns='{PubSub}'><publish node='{Bookmarks}'>" +
                $"<item id='{room}'><conference xmlns='{Bookmarks}' name=\"{name}\" autojoin='true'><nick>JC</nick></conference></item></publish>{options}</pubsub></iq>");
            Assert.Equal("result", added.Type);
            // §3.4: a resource that wants notifications (+notify in its caps) is told of each new bookmark
            var pushed = await desk.Receives(e => e.Name == "message" && e.Child("event", Event) is not null, "the bookmark notification");
            Assert.Equal("carol@localhost", pushed.From);
            var item = pushed.Child("event", Event)!.Child("items", Event)!.Child("item", Event)!;
            Assert.Equal(room, item.Attr("id"));
            Assert.Equal(name, item.Child("conference", Bookmarks)!.Attr("name"));
        }

        // §3.1: all bookmarks (max_items 'max': the second did not replace the first)
        var list = await phone.Query($"<iq type='get' id='l1'><pubsub xmlns='{PubSub}'><items node='{Bookmarks}'/></pubsub></iq>");
        var ids = list.Child("pubsub", PubSub)!.Child("items", PubSub)!.Elements("item", PubSub).Select(i => i.Attr("id")).Order().ToArray();
        Assert.Equal(["orchard@conference.shakespeare.lit", "theplay@conference.shakespeare.lit"], ids);

        // whitelist: nobody else reads them
        var refused = await bob.Query($"<iq type='get' id='g1' to='carol@localhost'><pubsub xmlns='{PubSub}'><items node='{Bookmarks}'/></pubsub></iq>");
        Assert.Equal("error", refused.Type);

        // §3.3 / §3.5: removing one, with notify: the other resource is told of the retraction
        var removed = await phone.Query($"<iq type='set' id='r1'><pubsub xmlns='{PubSub}'><retract node='{Bookmarks}' notify='true'>" +
            "<item id='orchard@conference.shakespeare.lit'/></retract></pubsub></iq>");
        Assert.Equal("result", removed.Type);
        var retracted = await desk.Receives(e => e.Name == "message" && e.Child("event", Event)?.Child("items", Event)?.Child("retract", Event) is not null, "the retraction");
        Assert.Equal("orchard@conference.shakespeare.lit", retracted.Child("event", Event)!.Child("items", Event)!.Child("retract", Event)!.Attr("id"));
        var after = await phone.Query($"<iq type='get' id='l2'><pubsub xmlns='{PubSub}'><items node='{Bookmarks}'/></pubsub></iq>");
        Assert.Single(after.Child("pubsub", PubSub)!.Child("items", PubSub)!.Elements("item", PubSub));
    }
}
