using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.Serialization;
using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Xml;
using Akka.Actor;
using Akka.Serialization;

namespace Actors.Xmpp.Server;

/// <summary>
/// The wire format of stanzas between nodes (Akka remoting and cluster sharding): <see cref="Element"/>, and the
/// messages that carry stanzas to a session (<see cref="SessionMessages.Deliver"/>, <see cref="SessionMessages.DeliverPage"/>).
/// A stanza travels as the UTF-8 XML <see cref="XmlSerializer"/> writes (namespace-well-formed, round-trips: see
/// XmlRoundTripSpec) and is read back by <see cref="XmppFramer"/>, the parser every client byte goes through, so
/// nothing another node sends is trusted more than a client. Stable manifests, no .NET type names on the wire.
/// </summary>
public sealed class StanzaSerializer : SerializerWithStringManifest
{
    public const int SerializerId = 4711;

    public const string ElementManifest = "xmpp.element.v1";
    public const string DeliverManifest = "xmpp.deliver.v1";
    /// <summary>A delivery with the W3C trace context of the span that told it (Diagnostics/XmppTracing): the
    /// context's bytes, then the stanza.</summary>
    public const string DeliverTracedManifest = "xmpp.deliver-traced.v1";
    public const string DeliverPageManifest = "xmpp.deliver-page.v1";

    /// <summary>The HOCON that registers and binds this serializer (prepended to the server's Akka configuration).</summary>
    public static readonly string Config = BuildConfig();

    // a stanza between nodes is bounded by what a client may send, but stanzas the server builds (a roster, a
    // disco#items result) may be larger or deeper: generous limits, only against unbounded input
    private static readonly FramerLimits Limits = FramerLimits.Trusted(64 * 1024 * 1024, 1024);
    private static readonly byte[] StreamOpen = "<s:s xmlns:s='http://etherx.jabber.org/streams'>"u8.ToArray();

    [ThreadStatic] private static ArrayBufferWriter<byte>? _output;
    [ThreadStatic] private static ArrayBufferWriter<byte>? _scratch;
    [ThreadStatic] private static Reader? _reader;

    public StanzaSerializer(ExtendedActorSystem system) : base(system) { }

    public override int Identifier => SerializerId;

    public override string Manifest(object o) => o switch
    {
        Element => ElementManifest,
        SessionMessages.Deliver d => d.Trace == default ? DeliverManifest : DeliverTracedManifest,
        SessionMessages.DeliverPage => DeliverPageManifest,
        _ => throw new ArgumentException($"{nameof(StanzaSerializer)} cannot serialize {o.GetType()}", nameof(o)),
    };

    public override byte[] ToBinary(object obj)
    {
        var o = _output ??= new ArrayBufferWriter<byte>(1024);
        o.ResetWrittenCount();
        switch (obj)
        {
            case Element e:
                XmlSerializer.Write(o, e, null);
                break;
            case SessionMessages.Deliver d:
                if (d.Trace != default)
                {
                    Diagnostics.XmppTracing.WriteContext(o.GetSpan(Diagnostics.XmppTracing.WireSize), d.Trace);
                    o.Advance(Diagnostics.XmppTracing.WireSize);
                }
                XmlSerializer.Write(o, d.Stanza, null);
                break;
            case SessionMessages.DeliverPage p:
                // the page id, the count, then each stanza as its length and its XML
                BinaryPrimitives.WriteInt64LittleEndian(o.GetSpan(8), p.PageId);
                o.Advance(8);
                BinaryPrimitives.WriteInt32LittleEndian(o.GetSpan(4), p.Stanzas.Count);
                o.Advance(4);
                var scratch = _scratch ??= new ArrayBufferWriter<byte>(1024);
                for (var i = 0; i < p.Stanzas.Count; i++)
                {
                    scratch.ResetWrittenCount();
                    XmlSerializer.Write(scratch, p.Stanzas[i], null);
                    BinaryPrimitives.WriteInt32LittleEndian(o.GetSpan(4), scratch.WrittenCount);
                    o.Advance(4);
                    o.Write(scratch.WrittenSpan);
                }
                if (scratch.Capacity > 256 * 1024) _scratch = null;
                break;
            default:
                throw new ArgumentException($"{nameof(StanzaSerializer)} cannot serialize {obj.GetType()}", nameof(obj));
        }
        var bytes = o.WrittenSpan.ToArray();
        if (o.Capacity > 256 * 1024) _output = null; // do not keep a large stanza's buffer per thread
        return bytes;
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        switch (manifest)
        {
            case ElementManifest:
                return Parse(bytes);
            case DeliverManifest:
                return new SessionMessages.Deliver(Parse(bytes));
            case DeliverTracedManifest:
            {
                var trace = Diagnostics.XmppTracing.ReadContext(bytes);
                return new SessionMessages.Deliver(Parse(bytes.AsSpan(Diagnostics.XmppTracing.WireSize)), trace);
            }
            case DeliverPageManifest:
            {
                var span = bytes.AsSpan();
                if (span.Length < 12) throw new SerializationException("truncated page");
                var pageId = BinaryPrimitives.ReadInt64LittleEndian(span);
                var count = BinaryPrimitives.ReadInt32LittleEndian(span[8..]);
                if (count < 0 || count > (span.Length - 12) / 4) throw new SerializationException("invalid page");
                var stanzas = new Element[count];
                var p = 12;
                for (var i = 0; i < count; i++)
                {
                    if (p + 4 > span.Length) throw new SerializationException("truncated page");
                    var length = BinaryPrimitives.ReadInt32LittleEndian(span[p..]);
                    p += 4;
                    if (length < 0 || length > span.Length - p) throw new SerializationException("truncated page");
                    stanzas[i] = Parse(span.Slice(p, length));
                    p += length;
                }
                return new SessionMessages.DeliverPage(stanzas, pageId);
            }
            default:
                throw new SerializationException($"unknown stanza manifest '{manifest}'");
        }
    }

    /// <summary>Writes <paramref name="stanza"/> as the XML this serializer reads back (for the routing records' serializer).</summary>
    internal static void WriteElement(IBufferWriter<byte> output, Element stanza) => XmlSerializer.Write(output, stanza, null);

    /// <summary>Reads an element written by <see cref="WriteElement"/> through the stream framer.</summary>
    internal static Element ParseElement(ReadOnlySpan<byte> xml) => Parse(xml);

    /// <summary>Parses one element with the stream framer (restricted XML, limits), reusing the thread's framer.</summary>
    private static Element Parse(ReadOnlySpan<byte> xml)
    {
        var reader = _reader ??= new Reader();
        var result = reader.Parse(xml);
        return result ?? throw new SerializationException($"stanza does not parse: {reader.Error ?? "no element"}");
    }

    private sealed class Reader : IFramerSink
    {
        private readonly XmppFramer _framer;
        private Element? _result;
        public string? Error;

        public Reader() => _framer = new XmppFramer(this, Limits);

        public Element? Parse(ReadOnlySpan<byte> xml)
        {
            _result = null;
            Error = null;
            _framer.Reset();
            _framer.Feed(StreamOpen);
            _framer.Feed(xml);
            var result = Error is null ? _result : null;
            _result = null;
            if (Error is null && result is null) Error = "no complete element";
            return result;
        }

        public void OnStreamOpen(StreamHeader header) { }

        public void OnStanza(Element stanza)
        {
            if (_result is null) _result = stanza;
            else Error ??= "more than one element";
        }

        public void OnStreamClose() { }
        public void OnError(FramerErrorCondition condition, string text) => Error = text;
    }

    private static string BuildConfig()
    {
        static string Name(Type t) => $"\"{t.FullName}, {t.Assembly.GetName().Name}\"";
        return $$"""
            akka.actor {
              serializers.xmpp-stanzas = {{Name(typeof(StanzaSerializer))}}
              serialization-bindings {
                {{Name(typeof(Element))}} = xmpp-stanzas
                {{Name(typeof(SessionMessages.Deliver))}} = xmpp-stanzas
                {{Name(typeof(SessionMessages.DeliverPage))}} = xmpp-stanzas
              }
              serialization-identifiers { {{Name(typeof(StanzaSerializer))}} = {{SerializerId}} }
            }
            """;
    }
}
