using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Tests.Muc;

/// <summary>What every MUC test does: enter a room, create one, read the room's answers.</summary>
internal static class Muc
{
    public const string Service = "conference.localhost";
    public const string Ns = "http://jabber.org/protocol/muc";
    public const string User = "http://jabber.org/protocol/muc#user";
    public const string Admin = "http://jabber.org/protocol/muc#admin";
    public const string Owner = "http://jabber.org/protocol/muc#owner";
    public const string XData = "jabber:x:data";

    public static string Room(string name) => name + "@" + Service;

    /// <summary>Sends presence to room/nick and returns the room's own presence for it (status 110), after reading
    /// the subject that closes the entry (§7.2.15).</summary>
    public static async Task<Element> Enter(XmppTestClient client, string room, string nick, string x = "<x xmlns='http://jabber.org/protocol/muc'/>")
    {
        await client.Sends($"<presence to='{Room(room)}/{nick}'>{x}</presence>");
        var self = await client.Receives($"<presence from='{Room(room)}/{nick}'><x xmlns='{User}'><status code='110'/></x></presence>");
        await client.Receives($"<message type='groupchat'><subject/></message>");
        return self;
    }

    /// <summary>§10.1.2: creates an instant room (enter, then accept the default configuration).</summary>
    public static async Task CreateInstant(XmppTestClient owner, string room, string nick = "owner")
    {
        var self = await Enter(owner, room, nick);
        StanzaAssert.Matches($"<presence><x xmlns='{User}'><item affiliation='owner' role='moderator'/><status code='201'/></x></presence>", self);
        await Configure(owner, room, "");
    }

    /// <summary>§10.2: submits the configuration form with these fields.</summary>
    public static async Task Configure(XmppTestClient owner, string room, string fields)
    {
        var reply = await owner.Query($"<iq type='set' id='{owner.NextId()}' to='{Room(room)}'><query xmlns='{Owner}'><x xmlns='jabber:x:data' type='submit'>{fields}</x></query></iq>");
        Assert.Equal("result", reply.Type);
    }

    public static string Field(string name, params string[] values) =>
        $"<field var='{name}'>" + string.Concat(values.Select(v => $"<value>{v}</value>")) + "</field>";

    public static string Form(params string[] fields) =>
        Field("FORM_TYPE", "http://jabber.org/protocol/muc#roomconfig") + string.Concat(fields);

    public static string[] StatusCodes(Element presence) =>
        presence.Child("x", User)?.Elements("status", User).Select(s => s.Attr("code")!).OrderBy(c => c, StringComparer.Ordinal).ToArray() ?? [];

    public static async Task<Element> Error(XmppTestClient client, string stanza, string condition)
    {
        var pattern = XmppTestClient.Parse(stanza);
        await client.Sends(stanza);
        var error = await client.Receives(e => e.Name == pattern.Name && e.Type == "error" && (pattern.Id is null || e.Id == pattern.Id), $"an error to <{pattern.Name}/>");
        StanzaAssert.Error(error, condition);
        return error;
    }
}
