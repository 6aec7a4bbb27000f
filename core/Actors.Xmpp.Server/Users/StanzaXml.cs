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

    public static Element Parse(string xml)
    {
        var sink = new Sink();
        var framer = new XmppFramer(sink, new FramerLimits(Math.Max(64 * 1024, xml.Length * 4 + 1024), 64));
        framer.Feed(Header);
        framer.Feed(Encoding.UTF8.GetBytes(xml));
        return sink.Result ?? throw new FormatException(sink.Error ?? "no element in stored XML");
    }

    private sealed class Sink : IFramerSink
    {
        public Element? Result;
        public string? Error;
        public void OnStreamOpen(StreamHeader header) { }
        public void OnStanza(Element stanza) => Result ??= stanza;
        public void OnStreamClose() { }
        public void OnError(FramerErrorCondition condition, string text) => Error = text;
    }
}
