namespace Actors.Xmpp.Transport.Connections;

/// <summary>
/// What the server says when it opens its side of a stream (RFC 6120 §4.7.1): the transport renders it as the TCP
/// stream header, RFC 7395's &lt;open/&gt; or, for BOSH, the session creation response attributes.
/// </summary>
/// <param name="ContentNamespace">The stream's content namespace (jabber:client).</param>
/// <param name="From">The server's domain (§4.7.1 'from').</param>
/// <param name="Id">The stream id the server chose (§4.7.3).</param>
/// <param name="To">The client's JID as it gave it in its own 'from', normalized; null when it gave none (§4.7.2).</param>
/// <param name="Version">The version the server speaks (§4.7.5).</param>
/// <param name="Lang">The stream's default language (§4.7.4).</param>
public sealed record StreamOpening(string ContentNamespace, string From, string Id, string? To, string Version, string Lang)
{
    /// <summary>id='…' from='…' [to='…'] version='…' xml:lang='…': the attributes RFC 6120's stream header and RFC 7395's
    /// &lt;open/&gt; share (after an element name and namespace the caller wrote; the caller closes the tag).</summary>
    public void WriteAttributes(System.Buffers.IBufferWriter<byte> output)
    {
        Actors.Xmpp.Xml.XmlSerializer.Raw(output, " id='"u8);
        Actors.Xmpp.Xml.XmlSerializer.Escaped(output, Id, attribute: true);
        Actors.Xmpp.Xml.XmlSerializer.Raw(output, "' from='"u8);
        Actors.Xmpp.Xml.XmlSerializer.Escaped(output, From, attribute: true);
        Actors.Xmpp.Xml.XmlSerializer.Raw(output, "'"u8);
        if (To is not null)
        {
            Actors.Xmpp.Xml.XmlSerializer.Raw(output, " to='"u8);
            Actors.Xmpp.Xml.XmlSerializer.Escaped(output, To, attribute: true);
            Actors.Xmpp.Xml.XmlSerializer.Raw(output, "'"u8);
        }
        Actors.Xmpp.Xml.XmlSerializer.Raw(output, " version='"u8);
        Actors.Xmpp.Xml.XmlSerializer.Escaped(output, Version, attribute: true);
        Actors.Xmpp.Xml.XmlSerializer.Raw(output, "' xml:lang='"u8);
        Actors.Xmpp.Xml.XmlSerializer.Escaped(output, Lang, attribute: true);
        Actors.Xmpp.Xml.XmlSerializer.Raw(output, "'"u8);
    }
}
