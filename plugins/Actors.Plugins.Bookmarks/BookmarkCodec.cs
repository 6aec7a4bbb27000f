using Actors.Xmpp;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Bookmarks;

/// <summary>
/// The two bookmark formats and the casts between them: XEP-0048's one &lt;storage xmlns='storage:bookmarks'/&gt; with a
/// &lt;conference jid=…/&gt; per room (and &lt;url/&gt;s), and XEP-0402's one PEP item per room, its id the room's JID and
/// its payload a &lt;conference xmlns='urn:xmpp:bookmarks:1'/&gt; (§2). Pure: no I/O.
/// </summary>
internal static class BookmarkCodec
{
    public const string Native = "urn:xmpp:bookmarks:1";
    public const string Legacy = "storage:bookmarks";

    /// <summary>An xs:boolean (XEP-0048 §2, XEP-0402 §2: 'autojoin'), as "true"/"false"; null if absent; false if not one.</summary>
    public static bool TryBoolean(string? value, out string? canonical)
    {
        canonical = value?.Trim() switch
        {
            null => null,
            "true" or "1" => "true",
            "false" or "0" => "false",
            _ => "",
        };
        return canonical is not "";
    }

    /// <summary>A room JID as XEP-0402 §2 wants it for an item id (and XEP-0048 §2 for 'jid'): a valid JID without resource.</summary>
    public static Jid? RoomJid(string? value) =>
        value is not null && Jid.TryParse(value, out var jid) && jid is not null && jid.Resource is null ? jid : null;

    /// <summary>XEP-0048 §2 → XEP-0402 §2: the legacy conferences of a storage as (room JID, native conference); an
    /// invalid one (no or a bad 'jid', a bad 'autojoin') is the reason, and no list. A room listed twice: the last wins.
    /// The &lt;extensions/&gt; of the room's current native item (XEP-0402 §2: kept when editing) go into its new one.</summary>
    public static List<(string Room, Element Conference)>? FromStorage(Element storage, IReadOnlyDictionary<string, Element> current, out string? error)
    {
        var rooms = new Dictionary<string, Element>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var legacy in storage.Elements("conference", Legacy))
        {
            if (RoomJid(legacy.Attr("jid")) is not { } room)
            {
                error = $"a conference bookmark needs the room's JID in 'jid' (XEP-0048 §2): '{legacy.Attr("jid")}'";
                return null;
            }
            if (!TryBoolean(legacy.Attr("autojoin"), out var autojoin))
            {
                error = $"'autojoin' is a boolean (XEP-0048 §2): '{legacy.Attr("autojoin")}'";
                return null;
            }
            var id = room.ToString();
            var conference = new Element("conference", Native).SetAttr("name", legacy.Attr("name")).SetAttr("autojoin", autojoin);
            if (legacy.ChildText("nick", Legacy) is { } nick) conference.AddChild("nick").AddText(nick);
            if (legacy.ChildText("password", Legacy) is { } password) conference.AddChild("password").AddText(password);
            if (current.TryGetValue(id, out var previous) && previous.Child("extensions", Native) is { } extensions)
                conference.Add(extensions.Clone());
            if (!rooms.ContainsKey(id)) order.Add(id);
            rooms[id] = conference;
        }
        error = null;
        return order.Select(id => (id, rooms[id])).ToList();
    }

    /// <summary>XEP-0402 §5.3.1: the native items cast into one legacy storage (jid from the item id), followed by the
    /// legacy elements XEP-0402 has no place for (&lt;url/&gt;, unknown children) from <paramref name="keep"/>.</summary>
    public static Element ToStorage(IEnumerable<(string Room, Element Conference)> items, Element? keep)
    {
        var storage = new Element("storage", Legacy);
        foreach (var (room, conference) in items)
        {
            var legacy = new Element("conference", Legacy).SetAttr("jid", room).SetAttr("name", conference.Attr("name"))
                .SetAttr("autojoin", TryBoolean(conference.Attr("autojoin"), out var autojoin) ? autojoin : null);
            if (conference.ChildText("nick", Native) is { } nick) legacy.AddChild("nick").AddText(nick);
            if (conference.ChildText("password", Native) is { } password) legacy.AddChild("password").AddText(password);
            storage.Add(legacy);
        }
        if (keep is not null)
            foreach (var other in keep.Elements())
                if (!other.Is("conference", Legacy)) storage.Add(other.Clone());
        return storage;
    }

    /// <summary>XEP-0402 §2 and XEP-0060 §7.1.3.6: what is wrong with a published native bookmark item, or null. An item
    /// has the room's JID as id and exactly one payload, a conference with a boolean 'autojoin' and at most one nick and password.</summary>
    public static string? Invalid(Element item)
    {
        if (RoomJid(item.Attr("id")) is null) return $"the item id must be the room's JID (XEP-0402 §2): '{item.Attr("id")}'";
        var payloads = item.Elements().ToList();
        if (payloads.Count != 1 || !payloads[0].Is("conference", Native))
            return "a bookmark item holds exactly one <conference xmlns='urn:xmpp:bookmarks:1'/> (XEP-0402 §2)";
        var conference = payloads[0];
        if (!TryBoolean(conference.Attr("autojoin"), out _)) return "'autojoin' is a boolean (XEP-0402 §2)";
        if (conference.Elements("nick", Native).Count() > 1 || conference.Elements("password", Native).Count() > 1
            || conference.Elements("extensions", Native).Count() > 1)
            return "a conference has at most one nick, password and extensions (XEP-0402 §9, the schema)";
        return null;
    }

    /// <summary>Whether two native conferences say the same (XEP-0402 §5.3.2: unchanged items are not published again).</summary>
    public static bool Same(Element a, Element b) => Key(a) == Key(b);

    private static string Key(Element c)
    {
        TryBoolean(c.Attr("autojoin"), out var autojoin);
        return string.Join('\u0001', c.Attr("name") ?? "\u0002", autojoin == "true" ? "1" : "0", c.ChildText("nick", Native) ?? "\u0002",
            c.ChildText("password", Native) ?? "\u0002", c.Child("extensions", Native)?.ToString() ?? "");
    }
}
