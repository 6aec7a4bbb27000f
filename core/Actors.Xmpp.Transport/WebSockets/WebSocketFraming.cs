using System.Buffers;
using Actors.Xmpp.Transport.Connections;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Transport.WebSockets;

/// <summary>
/// RFC 7395's framing of an XMPP stream over WebSocket: the stream is opened by an &lt;open/&gt; and closed by a
/// &lt;close/&gt; element in the framing namespace (§3.3.2, §3.6), each in a message of its own, and every other
/// message is one complete, standalone XML element (§3.3.3): namespace declarations included, so a stream-level
/// element carries its own xmlns:stream declaration and a stanza its xmlns='jabber:client'. Only the WebSocket
/// transport writes these; the connection actor asks for them through <see cref="ITransportConnection"/>.
/// </summary>
public static class WebSocketFraming
{
    /// <summary>The WebSocket subprotocol name (RFC 7395 §3.1, §3.2).</summary>
    public const string Subprotocol = "xmpp";
    /// <summary>The namespace of &lt;open/&gt; and &lt;close/&gt; (RFC 7395 §3.3.2).</summary>
    public const string Namespace = "urn:ietf:params:xml:ns:xmpp-framing";
    public const string Open = "open";
    public const string Close = "close";
    /// <summary>The &lt;close/&gt; attribute that sends the client to another endpoint (RFC 7395 §3.6.1).</summary>
    public const string SeeOtherUri = "see-other-uri";

    /// <summary>&lt;open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from=... id=... version=... xml:lang=.../&gt;
    /// (§3.3.2: the attributes of RFC 6120's stream header).</summary>
    public static void WriteOpen(IBufferWriter<byte> output, StreamOpening opening)
    {
        XmlSerializer.Raw(output, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'"u8);
        opening.WriteAttributes(output);
        XmlSerializer.Raw(output, "/>"u8);
    }

    /// <summary>&lt;close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/&gt;, with see-other-uri when given (§3.6.1).</summary>
    public static void WriteClose(IBufferWriter<byte> output, string? seeOtherUri = null)
    {
        XmlSerializer.Raw(output, "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'"u8);
        if (seeOtherUri is not null)
        {
            XmlSerializer.Raw(output, " see-other-uri='"u8);
            XmlSerializer.Escaped(output, seeOtherUri, attribute: true);
            XmlSerializer.Raw(output, "'"u8);
        }
        XmlSerializer.Raw(output, "/>"u8);
    }

    /// <summary>A stream-level element (features, error) as a standalone document (§3.3.3):
    /// &lt;stream:features xmlns:stream='http://etherx.jabber.org/streams'&gt;, each child declaring its namespace.</summary>
    public static void WriteStreamElement(IBufferWriter<byte> output, Element element)
    {
        XmlSerializer.Raw(output, "<stream:"u8);
        XmlSerializer.Utf8(output, element.Name);
        XmlSerializer.Raw(output, " xmlns:stream='http://etherx.jabber.org/streams'>"u8);
        var nodes = element.Nodes;
        for (var i = 0; i < nodes.Count; i++)
            if (nodes[i] is Element child) child.WriteTo(output, contextNamespace: null);
        XmlSerializer.Raw(output, "</stream:"u8);
        XmlSerializer.Utf8(output, element.Name);
        XmlSerializer.Raw(output, ">"u8);
    }
}
