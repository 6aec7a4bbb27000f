namespace Actors.Xmpp.Transport.Connections;

/// <summary>
/// What this server says when it opens its side of a stream (RFC 6120 §4.7.1): the transport renders it as the TCP
/// stream header (<see cref="TcpStreamFraming.WriteHeader"/>, the one writer of stream headers: client, server-to-server
/// and component streams), RFC 7395's &lt;open/&gt; or, for BOSH, the session creation response attributes.
/// </summary>
/// <param name="ContentNamespace">The stream's content namespace (jabber:client, jabber:server, jabber:component:accept).</param>
/// <param name="From">This server's domain (§4.7.1 'from').</param>
/// <param name="Id">The stream id this server chose as the responding entity (§4.7.3); null as the initiating entity,
/// which MUST NOT send one.</param>
/// <param name="To">The peer's address as it gave it in its own 'from', normalized; null when it gave none (§4.7.2).</param>
/// <param name="Version">The version spoken (§4.7.5); null for XEP-0114 component streams, which have none.</param>
/// <param name="Lang">The stream's default language (§4.7.4); null: none declared.</param>
public sealed record StreamOpening(string ContentNamespace, string From, string? Id, string? To, string? Version, string? Lang)
{
    /// <summary>The header declares the dialback prefix (xmlns:db, XEP-0220 §2.1): a server-to-server stream that
    /// supports dialback.</summary>
    public bool DeclaresDialback { get; init; }

    /// <summary>[id='…'] from='…' [to='…'] [version='…'] [xml:lang='…']: the attributes RFC 6120's stream header and RFC 7395's
    /// &lt;open/&gt; share (after an element name and namespace the caller wrote; the caller closes the tag).</summary>
    public void WriteAttributes(System.Buffers.IBufferWriter<byte> output)
    {
        if (Id is not null)
        {
            Actors.Xmpp.Xml.XmlSerializer.Raw(output, " id='"u8);
            Actors.Xmpp.Xml.XmlSerializer.Escaped(output, Id, attribute: true);
            Actors.Xmpp.Xml.XmlSerializer.Raw(output, "'"u8);
        }
        Actors.Xmpp.Xml.XmlSerializer.Raw(output, " from='"u8);
        Actors.Xmpp.Xml.XmlSerializer.Escaped(output, From, attribute: true);
        Actors.Xmpp.Xml.XmlSerializer.Raw(output, "'"u8);
        if (To is not null)
        {
            Actors.Xmpp.Xml.XmlSerializer.Raw(output, " to='"u8);
            Actors.Xmpp.Xml.XmlSerializer.Escaped(output, To, attribute: true);
            Actors.Xmpp.Xml.XmlSerializer.Raw(output, "'"u8);
        }
        if (Version is not null)
        {
            Actors.Xmpp.Xml.XmlSerializer.Raw(output, " version='"u8);
            Actors.Xmpp.Xml.XmlSerializer.Escaped(output, Version, attribute: true);
            Actors.Xmpp.Xml.XmlSerializer.Raw(output, "'"u8);
        }
        if (Lang is not null)
        {
            Actors.Xmpp.Xml.XmlSerializer.Raw(output, " xml:lang='"u8);
            Actors.Xmpp.Xml.XmlSerializer.Escaped(output, Lang, attribute: true);
            Actors.Xmpp.Xml.XmlSerializer.Raw(output, "'"u8);
        }
    }
}
