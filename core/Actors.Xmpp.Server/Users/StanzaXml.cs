using System.Text;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Server.Users;

/// <summary>Stanzas as stored in the journal: their XML text, parsed back with the stream framer (<c>Element.Parse</c>).</summary>
public static class StanzaXml
{
    public static string ToXml(Element e) => Encoding.UTF8.GetString(e.ToUtf8(null));

    /// <exception cref="FormatException">The stored text is not exactly one element the framer accepts.</exception>
    public static Element Parse(string xml) => Element.Parse(xml);
}
