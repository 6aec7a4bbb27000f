using System.Text;
using Actors.Xmpp.Transport.Framing;

namespace Actors.Xmpp.Xml;

/// <summary>
/// <c>Element.Parse</c> and <c>Element.ParseAll</c>: XML text read the way it arrives on a client stream, through
/// <see cref="XmppFramer"/> (so with every rule the framer enforces: restricted XML, namespaces, limits), as the content
/// of a stream whose default namespace is jabber:client and whose "stream" prefix is bound. The one place that wraps text
/// in a stream to parse it: stored stanzas (the journal), and tests. Declared here, next to the framer, in the namespace
/// of <see cref="Element"/> so that <c>using Actors.Xmpp.Xml;</c> brings it.
/// </summary>
public static class ElementParsing
{
    private static readonly byte[] StreamOpen = Encoding.UTF8.GetBytes(
        "<stream:stream xmlns='" + Ns.Client + "' xmlns:stream='" + Ns.Streams + "'>");

    extension(Element)
    {
        /// <summary>Exactly one element (whitespace around it allowed).</summary>
        /// <exception cref="FormatException">The text is not well-formed, breaks a framer rule, holds no complete
        /// element or more than one.</exception>
        public static Element Parse(string xml)
        {
            var sink = Feed(xml);
            if (sink.Elements.Count == 1) return sink.Elements[0];
            throw new FormatException(sink.Elements.Count == 0
                ? "no complete element in the text"
                : $"{sink.Elements.Count} elements where one was expected");
        }

        /// <summary>Every top-level element, in order (for example a &lt;stream:features/&gt; or a stream error and the
        /// stream close that follows it, as written to a client); a &lt;/stream:stream&gt; ends the text.</summary>
        /// <exception cref="FormatException">The text is not well-formed or breaks a framer rule.</exception>
        public static IReadOnlyList<Element> ParseAll(string xml) => Feed(xml).Elements;
    }

    private static Collector Feed(string xml)
    {
        ArgumentNullException.ThrowIfNull(xml);
        var bytes = Encoding.UTF8.GetBytes(xml);
        var sink = new Collector();
        // limits sized to the text: a caller parses what it already holds (a stored stanza may be as large as the
        // stanza limit it was received under)
        var framer = new XmppFramer(sink, FramerLimits.Trusted(Math.Max(64 * 1024, bytes.Length * 4 + 1024), 64));
        framer.Feed(StreamOpen);
        framer.Feed(bytes);
        // the message names the framer's condition, never the text (stored stanzas are users' messages)
        if (sink.Error is not null) throw new FormatException(sink.Error);
        return sink;
    }

    private sealed class Collector : IFramerSink
    {
        public readonly List<Element> Elements = new(1);
        public string? Error;
        public void OnStreamOpen(StreamHeader header) { }
        public void OnStanza(Element stanza) => Elements.Add(stanza);
        public void OnStreamClose() { }
        public void OnError(FramerErrorCondition condition, string text) => Error ??= condition + ": " + text;
    }
}
