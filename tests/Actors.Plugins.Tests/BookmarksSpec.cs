using Actors.Xmpp;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;
using static Actors.Xmpp.Testing.CapsAnnouncement;

namespace Actors.Plugins.Tests;

/// <summary>XEP-0402 native bookmarks and their §5.3 compatibility with XEP-0048 clients (the 'bookmarks' plugin over
/// the 'pubsub' and 'private' plugins), over TCP: a XEP-0048 client on XEP-0049 private storage or on the legacy PEP
/// node and a XEP-0402 client of the same account see one list.</summary>
public sealed class BookmarksSpec : IAsyncLifetime
{
    private const string PubSub = "http://jabber.org/protocol/pubsub";
    private const string Owner = "http://jabber.org/protocol/pubsub#owner";
    private const string Event = "http://jabber.org/protocol/pubsub#event";
    private const string Errors = "http://jabber.org/protocol/pubsub#errors";
    private const string Native = "urn:xmpp:bookmarks:1";
    private const string Legacy = "storage:bookmarks";
    private const string Private = "jabber:iq:private";
    private const string Play = "theplay@conference.shakespeare.lit";
    private const string Orchard = "orchard@conference.shakespeare.lit";
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(["disco", "private", "pubsub", "bookmarks"]);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    /// <summary>XEP-0402 §3.3's publish-options.</summary>
    private const string Options = "<publish-options><x xmlns='jabber:x:data' type='submit'>" +
        $"<field var='FORM_TYPE' type='hidden'><value>{PubSub}#publish-options</value></field>" +
        "<field var='pubsub#persist_items'><value>true</value></field><field var='pubsub#max_items'><value>max</value></field>" +
        "<field var='pubsub#send_last_published_item'><value>never</value></field>" +
        "<field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options>";

    private static Task<Element> PrivateSet(XmppTestClient c, string storage) =>
        c.Query($"<iq type='set' id='{c.NextId()}'><query xmlns='{Private}'>{storage}</query></iq>");

    private static async Task<Element> PrivateGet(XmppTestClient c)
    {
        var answer = await c.Query($"<iq type='get' id='{c.NextId()}'><query xmlns='{Private}'><storage xmlns='{Legacy}'/></query></iq>");
        Assert.Equal("result", answer.Type);
        return answer.Child("query", Private)!.Child("storage", Legacy)!;
    }

    private static Task<Element> Publish(XmppTestClient c, string room, string conference, string options = Options) =>
        c.Query($"<iq type='set' id='{c.NextId()}'><pubsub xmlns='{PubSub}'><publish node='{Native}'><item id='{room}'>{conference}</item></publish>{options}</pubsub></iq>");

    private static async Task<Dictionary<string, Element>> NativeItems(XmppTestClient c)
    {
        var answer = await c.Query($"<iq type='get' id='{c.NextId()}'><pubsub xmlns='{PubSub}'><items node='{Native}'/></pubsub></iq>");
        Assert.True(answer.Type == "result", answer.ToString());
        return answer.Child("pubsub", PubSub)!.Child("items", PubSub)!.Elements("item", PubSub)
            .ToDictionary(i => i.Attr("id")!, i => i.Child("conference", Native)!);
    }

    private static Dictionary<string, Element> Conferences(Element storage) =>
        storage.Elements("conference", Legacy).ToDictionary(c => c.Attr("jid")!);

    private static string? Condition(Element e) =>
        e.Child("error", Ns.Client)?.Elements().FirstOrDefault(x => x.Namespace == Ns.StanzaErrors)?.Name;

    private static string? PubSubCondition(Element e) =>
        e.Child("error", Ns.Client)?.Elements().FirstOrDefault(x => x.Namespace == Errors)?.Name;

    private static Task<Element> BookmarkEvent(XmppTestClient c, Func<Element, bool> what, string description) =>
        c.Receives(e => e.Name == "message" && e.Child("event", Event)?.Child("items", Event) is { } items
            && items.Attr("node") == Native && what(items), description);

    /// <summary>A XEP-0402 client: available, and +notify for the bookmarks node in its caps (§3.1).</summary>
    private static async Task BecomesNativeClient(XmppTestClient c, bool firstWithTheseCaps = true)
    {
        await ComeOnlineWithCaps(c, expectQuery: firstWithTheseCaps, [Native]);
        await c.Receives(e => e.Name == "presence" && e.From == c.Jid.ToString(), "its own presence");
    }

    [Fact]
    public async Task Xep0402_5_3_the_account_advertises_compat_and_compat_pep()
    {
        await using var alice = await _server.LoginAsync("alice");
        Assert.True(await alice.IsFeatureAdvertised($"{Native}#compat", "alice@localhost"));
        Assert.True(await alice.IsFeatureAdvertised($"{Native}#compat-pep", "alice@localhost"));
        Assert.False(await alice.IsFeatureAdvertised($"{Native}#compat")); // on the account, not the server (§5.3)
    }

    [Fact]
    public async Task Xep0402_5_3_2_a_private_storage_set_becomes_one_item_per_room_that_a_XEP0402_client_is_notified_of()
    {
        await using var legacy = await _server.LoginAsync("alice", "legacy");
        await using var modern = await _server.LoginAsync("alice", "modern");
        await BecomesNativeClient(modern);

        var set = await PrivateSet(legacy, $"<storage xmlns='{Legacy}'>" +
            $"<conference jid='{Play}' name=\"The Play's the Thing\" autojoin='1'><nick>JC</nick><password>secret</password></conference>" +
            $"<conference jid='{Orchard}' name='The Orchard'/>" +
            "<url name='Complete Works' url='http://the-tech.mit.edu/Shakespeare/'/></storage>");
        Assert.Equal("result", set.Type);

        // §5.3.2: each room is an item (id: its JID), pushed to the resource with +notify
        var pushed = new HashSet<string>();
        for (var i = 0; i < 2; i++)
        {
            var n = await BookmarkEvent(modern, items => items.Child("item", Event) is not null, "a bookmark notification");
            Assert.Equal("alice@localhost", n.From);
            pushed.Add(n.Child("event", Event)!.Child("items", Event)!.Child("item", Event)!.Attr("id")!);
        }
        Assert.Equal([Orchard, Play], pushed.Order());

        var items = await NativeItems(modern);
        Assert.Equal([Orchard, Play], items.Keys.Order());
        StanzaAssert.Matches($"<conference xmlns='{Native}' name=\"The Play's the Thing\" autojoin='true'><nick>JC</nick><password>secret</password></conference>", items[Play]);
        Assert.Null(items[Orchard].Attr("autojoin"));

        // §3.3: the node is configured as the XEP says (a private node, all items kept, nothing sent on presence)
        var config = await modern.Query($"<iq type='get' id='c1'><pubsub xmlns='{Owner}'><configure node='{Native}'/></pubsub></iq>");
        string? Field(string var) => config.Child("pubsub", Owner)!.Child("configure", Owner)!.Child("x", Ns.DataForms)!
            .Elements("field", Ns.DataForms).FirstOrDefault(f => f.Attr("var") == var)?.ChildText("value", Ns.DataForms);
        Assert.Equal("whitelist", Field("pubsub#access_model"));
        Assert.Equal("never", Field("pubsub#send_last_published_item"));
        Assert.Contains(Field("pubsub#persist_items"), new[] { "true", "1" });
        Assert.Equal("max", Field("pubsub#max_items"));

        // a new list without the orchard and with the play unchanged: the orchard is retracted, the play not republished
        Assert.Equal("result", (await PrivateSet(legacy, $"<storage xmlns='{Legacy}'><conference jid='{Play}' name=\"The Play's the Thing\" autojoin='true'>" +
            "<nick>JC</nick><password>secret</password></conference><url name='Complete Works' url='http://the-tech.mit.edu/Shakespeare/'/></storage>")).Type);
        var retracted = await BookmarkEvent(modern, items => items.Child("retract", Event) is not null, "the retraction");
        Assert.Equal(Orchard, retracted.Child("event", Event)!.Child("items", Event)!.Child("retract", Event)!.Attr("id"));
        // the server publishes before it retracts: a republished play would have come before the retraction (§5.3.2)
        modern.Timeout = TimeSpan.FromMilliseconds(300);
        await Assert.ThrowsAsync<TimeoutException>(() => BookmarkEvent(modern, items => items.Child("item", Event) is not null, "no notification for the unchanged room"));
        modern.Timeout = TimeSpan.FromSeconds(10);
        Assert.Equal([Play], (await NativeItems(modern)).Keys);

        // the legacy client reads what it stored, the <url/> XEP-0402 has no place for included
        var storage = await PrivateGet(legacy);
        Assert.Equal([Play], Conferences(storage).Keys);
        Assert.Equal("http://the-tech.mit.edu/Shakespeare/", storage.Child("url", Legacy)?.Attr("url"));
    }

    [Fact]
    public async Task Xep0402_5_3_1_a_XEP0402_publish_and_retract_are_seen_by_a_XEP0049_client()
    {
        await using var modern = await _server.LoginAsync("alice", "modern");
        await using var legacy = await _server.LoginAsync("alice", "legacy");
        Assert.Empty(Conferences(await PrivateGet(legacy)));

        Assert.Equal("result", (await Publish(modern, Play, $"<conference xmlns='{Native}' name='The Play' autojoin='true'><nick>JC</nick>" +
            "<extensions><state xmlns='http://myclient.example/bookmark/state' minimized='true'/></extensions></conference>")).Type);
        // no publish-options from this client: the server adds the XEP's, so the node is private all the same
        Assert.Equal("result", (await Publish(modern, Orchard, $"<conference xmlns='{Native}' name='The Orchard'/>", options: "")).Type);

        var storage = await PrivateGet(legacy);
        var rooms = Conferences(storage);
        Assert.Equal([Orchard, Play], rooms.Keys.Order());
        StanzaAssert.Matches($"<conference xmlns='{Legacy}' jid='{Play}' name='The Play' autojoin='true'><nick>JC</nick></conference>", rooms[Play]);
        Assert.Null(rooms[Play].Child("extensions", Native)); // XEP-0048 has no extensions

        // a XEP-0048 client edits the list (renames the orchard): the XEP-0402 item keeps its extensions
        Assert.Equal("result", (await PrivateSet(legacy, $"<storage xmlns='{Legacy}'><conference jid='{Play}' name='The Play Renamed' autojoin='true'><nick>JC</nick></conference>" +
            $"<conference jid='{Orchard}' name='The Orchard'/></storage>")).Type);
        var items = await NativeItems(modern);
        Assert.Equal("The Play Renamed", items[Play].Attr("name"));
        Assert.NotNull(items[Play].Child("extensions", Native)?.Child("state", "http://myclient.example/bookmark/state"));

        // §3.5 retract: gone from private storage too
        var removed = await modern.Query($"<iq type='set' id='r1'><pubsub xmlns='{PubSub}'><retract node='{Native}' notify='true'><item id='{Orchard}'/></retract></pubsub></iq>");
        Assert.Equal("result", removed.Type);
        Assert.Equal([Play], Conferences(await PrivateGet(legacy)).Keys);

        // bob reads neither
        await using var bob = await _server.LoginAsync("bob");
        Assert.Equal("error", (await bob.Query($"<iq type='get' id='b1' to='alice@localhost'><pubsub xmlns='{PubSub}'><items node='{Native}'/></pubsub></iq>")).Type);
        Assert.Equal("forbidden", Condition(await bob.Query($"<iq type='get' id='b2' to='alice@localhost'><query xmlns='{Private}'><storage xmlns='{Legacy}'/></query></iq>")));
    }

    [Fact]
    public async Task Xep0402_5_3_XEP0048_bookmarks_stored_before_the_plugin_came_are_moved_to_the_native_node()
    {
        Assert.True((await _server.Plugins.UnloadAsync("bookmarks")).Ok);
        await using (var old = await _server.LoginAsync("alice", "old"))
            Assert.Equal("result", (await PrivateSet(old, $"<storage xmlns='{Legacy}'><conference jid='{Play}' name='The Play' autojoin='true'/></storage>")).Type);
        Assert.True((await _server.Plugins.LoadAsync("bookmarks")).Ok);

        await using var modern = await _server.LoginAsync("alice", "modern");
        var items = await NativeItems(modern); // the node did not exist: the private storage's rooms went there first
        Assert.Equal([Play], items.Keys);
        Assert.Equal("true", items[Play].Attr("autojoin"));
    }

    [Fact]
    public async Task Xep0402_3_3_a_node_made_with_the_PEP_defaults_before_the_plugin_came_is_configured_as_the_XEP_says()
    {
        Assert.True((await _server.Plugins.UnloadAsync("bookmarks")).Ok);
        await using var alice = await _server.LoginAsync("alice");
        // a client without publish-options: presence access, one item (XEP-0163's defaults)
        Assert.Equal("result", (await Publish(alice, Play, $"<conference xmlns='{Native}' name='The Play'/>", options: "")).Type);
        Assert.True((await _server.Plugins.LoadAsync("bookmarks")).Ok);

        Assert.Equal("result", (await PrivateSet(alice, $"<storage xmlns='{Legacy}'><conference jid='{Play}' name='The Play'/>" +
            $"<conference jid='{Orchard}' name='The Orchard'/></storage>")).Type);
        Assert.Equal([Orchard, Play], (await NativeItems(alice)).Keys.Order()); // max_items is 'max' now: both kept
        var config = await alice.Query($"<iq type='get' id='c1'><pubsub xmlns='{Owner}'><configure node='{Native}'/></pubsub></iq>");
        var access = config.Child("pubsub", Owner)!.Child("configure", Owner)!.Child("x", Ns.DataForms)!.Elements("field", Ns.DataForms)
            .First(f => f.Attr("var") == "pubsub#access_model").ChildText("value", Ns.DataForms);
        Assert.Equal("whitelist", access);
    }

    [Fact]
    public async Task Xep0402_5_3_compat_pep_the_XEP0048_pep_node_and_the_native_node_are_one_list()
    {
        await using var legacy = await _server.LoginAsync("alice", "legacy");
        await using var modern = await _server.LoginAsync("alice", "modern");
        await BecomesNativeClient(modern);

        // XEP-0048 §3.1: the whole list as the item 'current' of the legacy node
        var stored = await legacy.Query($"<iq type='set' id='l1'><pubsub xmlns='{PubSub}'><publish node='{Legacy}'><item id='current'>" +
            $"<storage xmlns='{Legacy}'><conference jid='{Play}' name='The Play' autojoin='true'><nick>JC</nick></conference></storage></item></publish>" +
            "<publish-options><x xmlns='jabber:x:data' type='submit'>" +
            $"<field var='FORM_TYPE' type='hidden'><value>{PubSub}#publish-options</value></field>" +
            "<field var='pubsub#persist_items'><value>true</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options></pubsub></iq>");
        Assert.Equal("result", stored.Type);
        var pushed = await BookmarkEvent(modern, items => items.Child("item", Event)?.Attr("id") == Play, "the room as a native item");
        Assert.Equal("The Play", pushed.Child("event", Event)!.Child("items", Event)!.Child("item", Event)!.Child("conference", Native)!.Attr("name"));
        Assert.Equal([Play], Conferences(await PrivateGet(legacy)).Keys); // and private storage

        // a native publish: the legacy node's 'current' holds both rooms
        Assert.Equal("result", (await Publish(modern, Orchard, $"<conference xmlns='{Native}' name='The Orchard'/>")).Type);
        var read = await legacy.Query($"<iq type='get' id='l2'><pubsub xmlns='{PubSub}'><items node='{Legacy}'/></pubsub></iq>");
        Assert.Equal("result", read.Type);
        var item = read.Child("pubsub", PubSub)!.Child("items", PubSub)!.Child("item", PubSub)!;
        Assert.Equal("current", item.Attr("id"));
        Assert.Equal([Orchard, Play], Conferences(item.Child("storage", Legacy)!).Keys.Order());
    }

    [Fact]
    public async Task Xep0402_2_XEP0060_7_1_3_a_native_item_that_is_not_a_bookmark_is_refused_with_the_pubsub_errors()
    {
        await using var alice = await _server.LoginAsync("alice");
        // the item id is the room's bare JID
        var withResource = await Publish(alice, "room@conference.localhost/nick", $"<conference xmlns='{Native}'/>");
        Assert.Equal("bad-request", Condition(withResource));
        Assert.Equal("invalid-payload", PubSubCondition(withResource));
        // one payload, a conference in the bookmarks namespace (§7.1.3.6)
        var wrongNamespace = await Publish(alice, Play, $"<conference xmlns='{Legacy}' jid='{Play}'/>");
        Assert.Equal("invalid-payload", PubSubCondition(wrongNamespace));
        var two = await Publish(alice, Play, $"<conference xmlns='{Native}'/><conference xmlns='{Native}'/>");
        Assert.Equal("invalid-payload", PubSubCondition(two));
        var badAutojoin = await Publish(alice, Play, $"<conference xmlns='{Native}' autojoin='yes'/>");
        Assert.Equal("invalid-payload", PubSubCondition(badAutojoin));
        // no payload (§7.1.3.5)
        var empty = await Publish(alice, Play, "");
        Assert.Equal("bad-request", Condition(empty));
        Assert.Equal("payload-required", PubSubCondition(empty));
        // nothing was stored
        var none = await alice.Query($"<iq type='get' id='g1'><pubsub xmlns='{PubSub}'><items node='{Native}'/></pubsub></iq>");
        Assert.Equal("item-not-found", Condition(none));
    }

    [Fact]
    public async Task Xep0048_2_a_conference_without_its_room_JID_is_refused_and_nothing_changes()
    {
        await using var alice = await _server.LoginAsync("alice");
        Assert.Equal("result", (await PrivateSet(alice, $"<storage xmlns='{Legacy}'><conference jid='{Play}' name='The Play'/></storage>")).Type);
        var noJid = await PrivateSet(alice, $"<storage xmlns='{Legacy}'><conference name='Nowhere'/></storage>");
        Assert.Equal("bad-request", Condition(noJid));
        var badAutojoin = await PrivateSet(alice, $"<storage xmlns='{Legacy}'><conference jid='{Orchard}' autojoin='maybe'/></storage>");
        Assert.Equal("bad-request", Condition(badAutojoin));
        Assert.Equal([Play], Conferences(await PrivateGet(alice)).Keys);
        Assert.Equal([Play], (await NativeItems(alice)).Keys);
    }
}
