using System.Buffers;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Transport.Connections;

/// <summary>
/// The RFC 6120 text of a TCP stream's own framing: the stream header (§4.7), stream-level elements with the
/// 'stream' prefix the header declares (&lt;stream:features/&gt;, &lt;stream:error/&gt;), the closing tag (§4.4) and
/// the whitespace keep-alive (§4.6.1). Only transports write these; the connection actor asks for them through
/// <see cref="ITransportConnection"/>.
/// </summary>
public static class TcpStreamFraming
{
    public static ReadOnlySpan<byte> Close => "</stream:stream>"u8;
    public static ReadOnlySpan<byte> KeepAlive => " "u8;

    /// <summary>&lt;?xml version='1.0'?&gt;&lt;stream:stream ...&gt; for <paramref name="opening"/>.</summary>
    public static void WriteHeader(IBufferWriter<byte> output, StreamOpening opening)
    {
        XmlSerializer.Raw(output, "<?xml version='1.0'?><stream:stream xmlns='"u8);
        XmlSerializer.Escaped(output, opening.ContentNamespace, attribute: true);
        XmlSerializer.Raw(output, "' xmlns:stream='http://etherx.jabber.org/streams'"u8);
        if (opening.DeclaresDialback) XmlSerializer.Raw(output, " xmlns:db='jabber:server:dialback'"u8);
        opening.WriteAttributes(output);
        XmlSerializer.Raw(output, ">"u8);
    }

    /// <summary>
    /// A stream-level element (features, error) with the 'stream' prefix the header declares: RFC 6120 §4.8.5 lets
    /// implementations accept only that prefix for the stream namespace, so a redeclared default namespace
    /// (&lt;features xmlns='http://etherx.jabber.org/streams'/&gt;) would break such clients. Its children are written
    /// in the stream's content namespace.
    /// </summary>
    public static void WriteStreamElement(IBufferWriter<byte> output, Element element, string contentNamespace)
    {
        XmlSerializer.Raw(output, "<stream:"u8);
        XmlSerializer.Utf8(output, element.Name);
        XmlSerializer.Raw(output, ">"u8);
        var nodes = element.Nodes;
        for (var i = 0; i < nodes.Count; i++)
            if (nodes[i] is Element child) child.WriteTo(output, contentNamespace);
        XmlSerializer.Raw(output, "</stream:"u8);
        XmlSerializer.Utf8(output, element.Name);
        XmlSerializer.Raw(output, ">"u8);
    }
}
