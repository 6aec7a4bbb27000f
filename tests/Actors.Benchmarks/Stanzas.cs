using System.Text;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Xml;

namespace Actors.Benchmarks;

/// <summary>The stanzas every benchmark uses (sizes are checked in <see cref="Check"/>).</summary>
public static class Stanzas
{
    public const string ContentNs = "jabber:client";

    public static readonly byte[] StreamHeader = Encoding.UTF8.GetBytes(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' " +
        "to='example.com' version='1.0' xml:lang='en'>");

    /// <summary>A typical one-to-one chat message with a chat state and a receipt request (~300 bytes).</summary>
    public static readonly byte[] Chat300 = Encoding.UTF8.GetBytes(
        "<message to='romeo@example.net' from='juliet@example.com/balcony' type='chat' id='ktx72v49' xml:lang='en'>" +
        "<body>Art thou not Romeo, and a Montague? Wherefore art thou Romeo? Deny thy father and refuse thy name.</body>" +
        "<active xmlns='http://jabber.org/protocol/chatstates'/><request xmlns='urn:xmpp:receipts'/></message>");

    /// <summary>A larger message (~1 KB): longer body with entities and non-ASCII text, plus the usual extensions
    /// of a modern client (origin-id, markable, receipts, chat state, a reply reference, an OMEMO-less thread).</summary>
    public static readonly byte[] Chat1K = Encoding.UTF8.GetBytes(
        "<message to='romeo@example.net' from='juliet@example.com/balcony' type='chat' id='5e9a3c1f-7b2d-4a60-9f1e-2c8d7b6a5e41' xml:lang='en'>" +
        "<body>O Romeo, Romeo! wherefore art thou Romeo? Deny thy father and refuse thy name; Or, if thou wilt not, " +
        "be but sworn my love, And I&apos;ll no longer be a Capulet. &apos;Tis but thy name that is my enemy; " +
        "Thou art thyself, though not a Montague. What&apos;s Montague? it is nor hand, nor foot, Nor arm, nor face, " +
        "nor any other part Belonging to a man. O, be some other name! What&apos;s in a name? Café — naïve — 😊 &lt;3</body>" +
        "<thread parent='e0ffe42b28561960c6b12b944a092794b9683a38'>0e3141cd80894871a68e6fe6b1ec56fa</thread>" +
        "<active xmlns='http://jabber.org/protocol/chatstates'/>" +
        "<request xmlns='urn:xmpp:receipts'/>" +
        "<markable xmlns='urn:xmpp:chat-markers:0'/>" +
        "<origin-id xmlns='urn:xmpp:sid:0' id='de305d54-75b4-431b-adb2-eb6b9e546013'/>" +
        "<reply xmlns='urn:xmpp:reply:0' to='romeo@example.net/orchard' id='message-id1'/>" +
        "<store xmlns='urn:xmpp:hints'/>" +
        "</message>");

    /// <summary>Parses one stanza with the real framer.</summary>
    public static Element Parse(byte[] stanza) => Element.Parse(Encoding.UTF8.GetString(stanza));

    public static void Check()
    {
        Console.WriteLine($"Chat300: {Chat300.Length} bytes, Chat1K: {Chat1K.Length} bytes");
    }
}

/// <summary>Keeps the last stanza (so the parse is not dead code) and nothing else.</summary>
public sealed class CollectingSink : IFramerSink
{
    public Element? Last;
    public int Count;
    public string? Error;
    public void OnStreamOpen(StreamHeader header) { }
    public void OnStanza(Element stanza) { Last = stanza; Count++; }
    public void OnStreamClose() { }
    public void OnError(FramerErrorCondition condition, string text) => Error = condition + ": " + text;
}
