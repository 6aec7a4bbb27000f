using System.Diagnostics.CodeAnalysis;
using System.Text;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Server.Users;

/// <summary>Stanzas as stored in the journal: their XML text, parsed back with the stream framer.</summary>
public static class StanzaXml
{
    private static readonly byte[] Header = Encoding.UTF8.GetBytes(
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");

    public static string ToXml(Element e) => Encoding.UTF8.GetString(e.ToUtf8(null));

    public static Element Parse(string xml) =>
        TryParse(xml, out var element, out var error) ? element : throw new FormatException(error);

    /// <summary>Parses stored XML; false (with the framer's reason) for an entry that is not a well-formed element,
    /// such as one written by a release whose serializer produced XML the framer refuses. Callers that replay
    /// stored entries skip such an entry (and log it) rather than fail: one bad entry must not block the others.</summary>
    public static bool TryParse(string xml, [NotNullWhen(true)] out Element? element, [NotNullWhen(false)] out string? error)
    {
        var sink = new Sink();
        var framer = new XmppFramer(sink, new FramerLimits(Math.Max(64 * 1024, xml.Length * 4 + 1024), 64));
        framer.Feed(Header);
        framer.Feed(Encoding.UTF8.GetBytes(xml));
        element = sink.Error is null ? sink.Result : null;
        error = element is null ? sink.Error ?? "no element in stored XML" : null;
        return element is not null;
    }

    private sealed class Sink : IFramerSink
    {
        public Element? Result;
        public string? Error;
        public void OnStreamOpen(StreamHeader header) { }
        public void OnStanza(Element stanza)
        {
            if (Result is null) Result = stanza;
            else Error ??= "more than one element in stored XML";
        }
        public void OnStreamClose() { }
        public void OnError(FramerErrorCondition condition, string text) => Error = text;
    }
}
