using System.Text;

namespace Actors.Xmpp.Transport.Framing;

/// <summary>
/// A static, read-only table of common XMPP names, namespaces and short attribute values, looked up by their UTF-8 bytes,
/// so the framer does not allocate a new string for every element name, namespace URI or type='...' value.
/// Open addressing over a power-of-two table; thread-safe because it is never written after the static constructor.
/// </summary>
internal static class NameTable
{
    private const int Size = 1024;
    private const int MaxLength = 64;
    private static readonly byte[]?[] Keys = new byte[Size][];
    private static readonly string[] Values = new string[Size];

    private static readonly string[] Words =
    [
        // stream level
        "stream", "features", "error", "text", "starttls", "proceed", "failure", "required", "mechanisms", "mechanism",
        "auth", "response", "challenge", "success", "abort", "bind", "session", "resource", "jid", "optional",
        "register", "sm", "enable", "enabled", "resume", "resumed", "r", "a", "csi", "active", "inactive", "ver", "c",
        // stanzas and common children
        "message", "presence", "iq", "body", "subject", "thread", "show", "status", "priority", "query", "item", "items",
        "group", "x", "delay", "ping", "received", "request", "markable", "displayed", "acknowledged", "composing",
        "paused", "gone", "stanza-id", "origin-id", "pubsub", "publish", "retract", "event", "feature", "identity",
        "field", "value", "option", "forwarded", "sent", "private", "store", "no-store", "no-copy", "hint", "nick",
        "photo", "vCard", "time", "tzo", "utc", "name", "version", "os", "result", "set", "first", "last", "count",
        "before", "after", "max", "index", "fin", "reference", "encrypted", "header", "key", "payload", "origin",
        // attribute names
        "to", "from", "id", "type", "xml:lang", "lang", "xmlns", "node", "hash", "category", "var", "label", "reason",
        "subscription", "ask", "approved", "h", "previd", "location", "stamp", "code", "by", "role", "affiliation",
        // attribute values
        "chat", "groupchat", "normal", "headline", "get", "unavailable", "subscribe", "subscribed", "unsubscribe",
        "unsubscribed", "probe", "away", "xa", "dnd", "none", "both", "remove", "true", "false", "1", "0", "1.0", "en",
        "sha-1", "PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS", "EXTERNAL",
        "ANONYMOUS", "cancel", "continue", "modify", "wait", "submit", "form", "hidden", "text-single", "list-single",
        "FORM_TYPE", "client", "pc", "phone", "bot", "server", "im",
        // prefixes
        "stream", "db", "xml",
        // namespaces
        Ns.Streams, Ns.Client, Ns.Server, Ns.StreamErrors, Ns.StanzaErrors, Ns.Tls, Ns.Sasl, Ns.Bind, Ns.Session, Ns.Xml,
        Ns.Roster, Ns.Register, Ns.RegisterFeature, Ns.Ping, Ns.DiscoInfo, Ns.DiscoItems, Ns.Delay, Ns.DataForms,
        Ns.SaslChannelBinding, Ns.Version, Ns.Time,
        "jabber:server:dialback", "urn:xmpp:features:dialback", "urn:xmpp:sm:3", "urn:xmpp:csi:0", "urn:xmpp:carbons:2",
        "urn:xmpp:forward:0", "urn:xmpp:mam:2", "urn:xmpp:receipts", "urn:xmpp:chat-markers:0", "urn:xmpp:hints",
        "urn:xmpp:sid:0", "urn:xmpp:message-correct:0", "urn:xmpp:features:rosterver", "urn:xmpp:features:pre-approval",
        "urn:xmpp:blocking", "urn:xmpp:sasl:2", "urn:xmpp:bind:0", "jabber:iq:private", "jabber:iq:last",
        "jabber:x:conference", "jabber:x:oob", "vcard-temp", "vcard-temp:x:update", "storage:bookmarks",
        "http://jabber.org/protocol/caps", "http://jabber.org/protocol/chatstates", "http://jabber.org/protocol/pubsub",
        "http://jabber.org/protocol/pubsub#event", "http://jabber.org/protocol/pubsub#owner",
        "http://jabber.org/protocol/muc", "http://jabber.org/protocol/muc#user", "http://jabber.org/protocol/muc#owner",
        "http://jabber.org/protocol/nick", "http://jabber.org/protocol/address", "http://jabber.org/protocol/rsm",
        "http://jabber.org/protocol/commands", "http://jabber.org/protocol/ibb", "http://jabber.org/protocol/bytestreams",
        "http://jabber.org/features/compress", "urn:xmpp:eme:0", "eu.siacs.conversations.axolotl",
        "urn:xmpp:omemo:2", "urn:xmpp:push:0", "urn:xmpp:http:upload:0", "urn:xmpp:bookmarks:1",
    ];

    static NameTable()
    {
        foreach (var w in Words) Add(w);
    }

    private static void Add(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        var idx = (int)(Hash(bytes) & (Size - 1));
        while (Keys[idx] is { } k)
        {
            if (bytes.AsSpan().SequenceEqual(k)) return; // duplicate word
            idx = (idx + 1) & (Size - 1);
        }
        Keys[idx] = bytes;
        Values[idx] = s;
    }

    private static uint Hash(ReadOnlySpan<byte> b)
    {
        var h = 2166136261u;
        for (var i = 0; i < b.Length; i++) h = (h ^ b[i]) * 16777619u;
        return h;
    }

    /// <summary>The interned string for these (already validated UTF-8) bytes, or null.</summary>
    public static string? TryGet(ReadOnlySpan<byte> b)
    {
        if (b.Length > MaxLength) return null;
        if (b.Length == 0) return string.Empty;
        var idx = (int)(Hash(b) & (Size - 1));
        while (Keys[idx] is { } k)
        {
            if (b.SequenceEqual(k)) return Values[idx];
            idx = (idx + 1) & (Size - 1);
        }
        return null;
    }

    /// <summary>The interned string, or a new one decoded from these (already validated) UTF-8 bytes.</summary>
    public static string Get(ReadOnlySpan<byte> b) => TryGet(b) ?? Encoding.UTF8.GetString(b);
}
