using Actors.Plugins.Bookmarks;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Tests;

/// <summary>The bookmarks plugin's casts between XEP-0048 storage and XEP-0402 items (compiled into the tests).</summary>
public sealed class BookmarksCodecSpec
{
    private const string Native = "urn:xmpp:bookmarks:1";
    private const string Legacy = "storage:bookmarks";

    [Fact]
    public void Xep0402_5_3_a_legacy_storage_and_its_native_items_convert_both_ways_keeping_urls_aside()
    {
        var storage = Element.Parse($"<storage xmlns='{Legacy}'>" +
            "<conference jid='council@conference.underhill.org' name='Council of Oberon' autojoin='1'><nick>Puck</nick><password>pw</password></conference>" +
            "<conference jid='orchard@conference.shakespeare.lit'/>" +
            "<url name='Complete Works' url='http://the-tech.mit.edu/Shakespeare/'/></storage>");
        var rooms = BookmarkCodec.FromStorage(storage, new Dictionary<string, Element>(), out var error)!;
        Assert.Null(error);
        Assert.Equal(["council@conference.underhill.org", "orchard@conference.shakespeare.lit"], rooms.Select(r => r.Room));
        var council = rooms[0].Conference;
        Assert.True(council.Is("conference", Native));
        Assert.Equal("Council of Oberon", council.Attr("name"));
        Assert.Equal("true", council.Attr("autojoin")); // xs:boolean '1', written canonically
        Assert.Equal("Puck", council.ChildText("nick", Native));
        Assert.Equal("pw", council.ChildText("password", Native));
        Assert.Null(rooms[1].Conference.Attr("autojoin"));

        var back = BookmarkCodec.ToStorage(rooms, storage);
        Assert.Equal(storage.Elements("conference", Legacy).Select(c => c.Attr("jid")), back.Elements("conference", Legacy).Select(c => c.Attr("jid")));
        Assert.Equal("Puck", back.Elements("conference", Legacy).First().ChildText("nick", Legacy));
        Assert.Equal("http://the-tech.mit.edu/Shakespeare/", back.Child("url", Legacy)?.Attr("url"));
        Assert.Equal(BookmarkCodec.FromStorage(back, new Dictionary<string, Element>(), out _)!.Select(r => r.Conference.ToString()),
            rooms.Select(r => r.Conference.ToString()));
    }

    [Fact]
    public void Xep0402_2_the_extensions_of_a_native_item_survive_an_edit_by_a_legacy_client()
    {
        var current = Element.Parse($"<conference xmlns='{Native}' name='Old'><extensions><state xmlns='urn:example:state' minimized='true'/></extensions></conference>");
        var storage = Element.Parse($"<storage xmlns='{Legacy}'><conference jid='room@muc.example' name='New'/></storage>");
        var rooms = BookmarkCodec.FromStorage(storage, new Dictionary<string, Element> { ["room@muc.example"] = current }, out _)!;
        var edited = Assert.Single(rooms).Conference;
        Assert.Equal("New", edited.Attr("name"));
        Assert.NotNull(edited.Child("extensions", Native)?.Child("state", "urn:example:state"));
        Assert.False(BookmarkCodec.Same(current, edited));
        Assert.True(BookmarkCodec.Same(edited, edited.Clone()));
        // 'true' and '1' say the same
        Assert.True(BookmarkCodec.Same(Element.Parse($"<conference xmlns='{Native}' autojoin='1'/>"), Element.Parse($"<conference xmlns='{Native}' autojoin='true'/>")));
    }

    [Theory]
    [InlineData("<conference name='no jid'/>")]
    [InlineData("<conference jid='room@muc.example/nick'/>")]
    [InlineData("<conference jid='room@muc.example' autojoin='yes'/>")]
    public void Xep0048_2_a_conference_without_a_room_JID_or_with_a_bad_autojoin_is_refused(string conference)
    {
        var storage = Element.Parse($"<storage xmlns='{Legacy}'>{conference.Replace("<conference ", $"<conference xmlns='{Legacy}' ")}</storage>");
        Assert.Null(BookmarkCodec.FromStorage(storage, new Dictionary<string, Element>(), out var error));
        Assert.NotNull(error);
    }

    [Theory]
    [InlineData("room@muc.example", $"<conference xmlns='{Native}' name='ok' autojoin='false'><nick>n</nick></conference>", true)]
    [InlineData("room@muc.example/nick", $"<conference xmlns='{Native}'/>", false)]
    [InlineData("room@muc.example", "", false)]
    [InlineData("room@muc.example", $"<conference xmlns='{Legacy}'/>", false)]
    [InlineData("room@muc.example", $"<conference xmlns='{Native}'/><conference xmlns='{Native}'/>", false)]
    [InlineData("room@muc.example", $"<conference xmlns='{Native}'><nick>a</nick><nick>b</nick></conference>", false)]
    public void Xep0402_2_a_native_item_is_one_conference_under_its_room_JID(string id, string payload, bool valid)
    {
        var item = Element.Parse($"<item xmlns='http://jabber.org/protocol/pubsub' id='{id}'>{payload}</item>");
        Assert.Equal(valid, BookmarkCodec.Invalid(item) is null);
    }
}
