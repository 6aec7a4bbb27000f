using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;
using static Actors.Plugins.Tests.Muc.Muc;
using XNs = Actors.Xmpp.Ns;

namespace Actors.Plugins.Tests.Muc;

/// <summary>XEP-0402 PEP native bookmarks with the MUC service (issue 15, "bookmarks autojoin"): what the server owes a
/// client that autojoins — the bookmarks node configured as the publish-options asked (§3.2: private, every item kept,
/// nothing pushed on presence), the list on login (§3.1), a notification to the user's other resources (§4), and rooms
/// here that the bookmarks' room JIDs and nicks enter.</summary>
public sealed class MucBookmarksSpec : IAsyncLifetime
{
    private const string PubSub = "http://jabber.org/protocol/pubsub";
    private const string PubSubOwner = "http://jabber.org/protocol/pubsub#owner";
    private const string Event = "http://jabber.org/protocol/pubsub#event";
    private const string Bookmarks = "urn:xmpp:bookmarks:1";
    private const string Caps = "http://jabber.org/protocol/caps";
    private TestServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await TestServer.StartAsync(["disco", "ping", "pubsub", "muc"]);
        await _server.AddUserAsync("carol");
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    /// <summary>§3.2 (examples 4 and 6): the publish-options every bookmark publish carries.</summary>
    private const string PublishOptions = "<publish-options><x xmlns='jabber:x:data' type='submit'>" +
        $"<field var='FORM_TYPE' type='hidden'><value>{PubSub}#publish-options</value></field>" +
        "<field var='pubsub#persist_items'><value>true</value></field><field var='pubsub#max_items'><value>max</value></field>" +
        "<field var='pubsub#send_last_published_item'><value>never</value></field>" +
        "<field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options>";

    private static Task<Element> AddBookmark(XmppTestClient c, string room, string autojoin, string nick) =>
        c.Query($"<iq type='set' id='{c.NextId()}'><pubsub xmlns='{PubSub}'><publish node='{Bookmarks}'><item id='{room}'>" +
            $"<conference xmlns='{Bookmarks}' name='{room}' autojoin='{autojoin}'><nick>{nick}</nick></conference></item></publish>{PublishOptions}</pubsub></iq>");

    /// <summary>What an autojoining client does with a bookmark (§3.1, §4): enters the room of the item's id with the
    /// bookmark's nick when autojoin is "true" or "1".</summary>
    private static async Task<bool> AutojoinAsync(XmppTestClient c, Element item)
    {
        var conference = item.Child("conference", Bookmarks)!;
        if (conference.Attr("autojoin") is not ("true" or "1")) return false;
        var room = item.Attr("id")!;
        var nick = conference.ChildText("nick", Bookmarks)!;
        await c.Sends($"<presence to='{room}/{nick}'><x xmlns='{Ns}'/></presence>");
        await c.Receives($"<presence from='{room}/{nick}'><x xmlns='{User}'><status code='110'/></x></presence>");
        return true;
    }

    [Fact]
    public async Task Xep0402_3_and_4_bookmarks_with_autojoin_enter_the_rooms_here_on_login_and_on_notification()
    {
        await using var alice = await _server.LoginAsync("alice", "r");
        await CreateInstant(alice, "council", "oberon");
        await CreateInstant(alice, "orchard", "oberon");
        await using var phone = await _server.LoginAsync("carol", "phone");

        // §3.2: the first publish creates the node with the publish-options as its configuration
        Assert.Equal("result", (await AddBookmark(phone, Room("council"), "true", "Puck")).Type);
        Assert.Equal("result", (await AddBookmark(phone, Room("elsewhere"), "false", "Puck")).Type);
        var config = await phone.Query($"<iq type='get' id='c1'><pubsub xmlns='{PubSubOwner}'><configure node='{Bookmarks}'/></pubsub></iq>");
        var form = config.Child("pubsub", PubSubOwner)!.Child("configure", PubSubOwner)!.Child("x", "jabber:x:data")!;
        string? Value(string var) => form.Elements("field", "jabber:x:data").FirstOrDefault(f => f.Attr("var") == var)?.ChildText("value", "jabber:x:data");
        Assert.Equal("whitelist", Value("pubsub#access_model"));
        Assert.Equal("never", Value("pubsub#send_last_published_item"));
        Assert.Contains(Value("pubsub#persist_items"), new[] { "1", "true" });
        Assert.Equal("max", Value("pubsub#max_items"));

        // §3.1: a client logging in reads every bookmark and enters the rooms marked autojoin, with their nicks
        await using var desk = await _server.LoginAsync("carol", "desk");
        const string Node = "https://example.org/desk";
        var query = $"<query xmlns='{XNs.DiscoInfo}' node='{Node}'><identity category='client' type='pc' name='Desk'/>" +
            $"<feature var='{XNs.DiscoInfo}'/><feature var='{Bookmarks}+notify'/></query>";
        var ver = Actors.Xmpp.Plugins.EntityCapabilities.Ver(Element.Parse(query))!;
        await desk.Sends($"<presence><c xmlns='{Caps}' hash='sha-1' node='{Node}' ver='{ver}'/></presence>");
        var capsQuery = await desk.Receives(e => e.Name == "iq" && e.Type == "get" && e.Child("query", XNs.DiscoInfo) is not null, "the server's disco#info for the caps");
        await desk.Sends($"<iq type='result' id='{capsQuery.Id}' to='{capsQuery.From}'>{query.Replace($"node='{Node}'", $"node='{Node}#{ver}'")}</iq>");
        var list = await desk.Query($"<iq type='get' id='l1'><pubsub xmlns='{PubSub}'><items node='{Bookmarks}'/></pubsub></iq>");
        var joined = new List<string>();
        foreach (var item in list.Child("pubsub", PubSub)!.Child("items", PubSub)!.Elements("item", PubSub))
            if (await AutojoinAsync(desk, item)) joined.Add(item.Attr("id")!);
        Assert.Equal([Room("council")], joined);
        await alice.Receives($"<presence from='{Room("council")}/Puck'><x xmlns='{User}'><item affiliation='none' role='participant'/></x></presence>");

        // §4: a bookmark added on another resource is pushed to this one (+notify), which enters at once
        Assert.Equal("result", (await AddBookmark(phone, Room("orchard"), "1", "Robin")).Type);
        var pushed = await desk.Receives(e => e.Name == "message" && e.Child("event", Event) is not null, "the bookmark notification");
        Assert.Equal("carol@localhost", pushed.From);
        var added = pushed.Child("event", Event)!.Child("items", Event)!.Child("item", Event)!;
        Assert.Equal(Room("orchard"), added.Attr("id"));
        Assert.True(await AutojoinAsync(desk, added));
        await alice.Receives($"<presence from='{Room("orchard")}/Robin'/>");

        // whitelist: nobody else reads the bookmarks (§3.2: "to avoid leaking your bookmarks to your contacts")
        var refused = await alice.Query($"<iq type='get' id='g1' to='carol@localhost'><pubsub xmlns='{PubSub}'><items node='{Bookmarks}'/></pubsub></iq>");
        Assert.Equal("error", refused.Type);
    }
}
