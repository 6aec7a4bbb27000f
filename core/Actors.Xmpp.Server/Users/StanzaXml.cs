using System.Diagnostics.CodeAnalysis;
using System.Text;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Server.Users;

/// <summary>Stanzas as stored in the journal: their XML text, parsed back with the stream framer (<c>Element.Parse</c>).</summary>
public static class StanzaXml
{
    public static string ToXml(Element e) => Encoding.UTF8.GetString(e.ToUtf8(null));

    /// <exception cref="FormatException">The stored text is not exactly one element the framer accepts.</exception>
    public static Element Parse(string xml) => Element.Parse(xml);

    /// <summary>Parses stored XML; false (with the framer's reason) for an entry that is not a well-formed element,
    /// such as one written by a release whose serializer produced XML the framer refuses. Callers that replay
    /// stored entries skip such an entry (and log it) rather than fail: one bad entry must not block the others.</summary>
    public static bool TryParse(string xml, [NotNullWhen(true)] out Element? element, [NotNullWhen(false)] out string? error)
    {
        try
        {
            element = Element.Parse(xml);
            error = null;
            return true;
        }
        catch (FormatException ex)
        {
            element = null;
            error = ex.Message;
            return false;
        }
    }
}
