using System.Text;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Xml;
using CsCheck;

namespace Actors.Xmpp.Tests.Xml;

/// <summary>
/// Every element the framer accepts serializes to namespace-well-formed XML that parses back to the same tree
/// (Namespaces in XML 1.0 §3; RFC 6120 §11). The defects first (each failed before the fix), then generated stanzas.
/// </summary>
public class XmlRoundTripSpec
{
    private const string XmlNs = "http://www.w3.org/XML/1998/namespace";
    private const string StreamOpen = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

    // ---- the defects -------------------------------------------------------------------------------------------

    [Fact]
    public void NamespacesInXml_3_element_in_the_xml_namespace_is_written_with_the_xml_prefix_not_as_a_default_namespace()
    {
        var m = ParseOne("<message to='b@localhost'><z xmlns='urn:x'><xml:w/><y/></z></message>");
        var w = m.Child("z", "urn:x")!.FirstChild()!;
        Assert.Equal(("w", XmlNs), (w.Name, w.Namespace));

        var xml = StanzaXml.ToXml(m);
        Assert.DoesNotContain("xmlns='" + XmlNs + "'", xml);
        Assert.Contains("<xml:w/>", xml);
        AssertSameTree(m, StanzaXml.Parse(xml));
        AssertSameTree(m, ParseOne(Encoding.UTF8.GetString(m.ToUtf8(Ns.Client))));
    }

    [Fact]
    public void Children_of_an_xml_prefixed_element_keep_the_default_namespace_of_its_parent()
    {
        var m = ParseOne("<message><z xmlns='urn:x'><xml:w a='1'><y/>t<p:q xmlns:p='urn:q'/></xml:w></z></message>");
        var reparsed = StanzaXml.Parse(StanzaXml.ToXml(m));
        AssertSameTree(m, reparsed);
        Assert.Equal("urn:x", reparsed.Child("z", "urn:x")!.FirstChild()!.Child("y", "urn:x")!.Namespace);
    }

    [Theory]
    [InlineData("urn:a}b")]
    [InlineData("}")]
    [InlineData("{urn:x}y")]
    [InlineData("urn:'\"<>&}{")]
    public void An_attribute_namespace_name_containing_a_brace_survives_serialization(string uri)
    {
        var escaped = uri.Replace("&", "&amp;").Replace("<", "&lt;").Replace("'", "&apos;");
        var m = ParseOne($"<message><z xmlns='{escaped}' xmlns:p='{escaped}' p:c='v' c='u'/></message>");
        var z = m.FirstChild()!;
        Assert.Equal(uri, z.Namespace);
        Assert.Equal("v", z.Attr("c", uri));
        Assert.Equal("u", z.Attr("c"));
        AssertSameTree(m, StanzaXml.Parse(StanzaXml.ToXml(m)));
    }

    [Fact]
    public void Attributes_differing_only_in_namespace_are_distinct_and_a_duplicate_expanded_name_is_not_well_formed()
    {
        var m = ParseOne("<message xmlns:p='urn:p' xmlns:q='urn:q' p:a='1' q:a='2' a='3'/>");
        Assert.Equal(("1", "2", "3"), (m.Attr("a", "urn:p"), m.Attr("a", "urn:q"), m.Attr("a")));
        AssertSameTree(m, StanzaXml.Parse(StanzaXml.ToXml(m)));

        var sink = FeedWire("<message xmlns:p='urn:p' xmlns:q='urn:p' p:a='1' q:a='2'/>");
        Assert.Equal(FramerErrorCondition.NotWellFormed, sink.Error);
    }

    [Fact]
    public void RFC6120_4_9_3_bad_namespace_prefix_for_the_xml_namespace_as_default_or_bound_to_another_prefix()
    {
        Assert.Equal(FramerErrorCondition.BadNamespacePrefix, FeedWire($"<message><w xmlns='{XmlNs}'/></message>").Error);
        Assert.Equal(FramerErrorCondition.BadNamespacePrefix, FeedWire($"<message xmlns:p='{XmlNs}'/>").Error);
        Assert.Equal(FramerErrorCondition.BadNamespacePrefix, FeedWire("<message><xmlns:w/></message>").Error);
        Assert.Equal(FramerErrorCondition.BadNamespacePrefix, FeedWire("<message xmlns:xml='urn:x'/>").Error);
    }

    [Fact]
    public void A_prefix_used_on_many_elements_does_not_multiply_the_namespace_name_in_the_output()
    {
        // 100 KiB of namespace name bound once, then 20,000 elements and attributes using it: declaring it on each
        // would write 4 GB; bound once to a shared prefix, the output stays about the size of the input
        var uri = "urn:x:" + new string('n', 100 * 1024);
        var wire = new StringBuilder($"<message xmlns:p='{uri}'><p:x>");
        for (var i = 0; i < 10_000; i++) wire.Append("<p:a/><b p:c=''/>");
        wire.Append("</p:x></message>");
        var sink = new Sink();
        var framer = new XmppFramer(sink, FramerLimits.Trusted(1024 * 1024, 64)); // a serializer test: no count limits
        framer.Feed(Encoding.UTF8.GetBytes(StreamOpen));
        framer.Feed(Encoding.UTF8.GetBytes(wire.ToString()));
        var m = sink.Stanza ?? throw new Xunit.Sdk.XunitException($"refused: {sink.ErrorText}");

        foreach (var context in new[] { Ns.Client, null })
        {
            var written = m.ToUtf8(context);
            Assert.True(written.Length < 2 * wire.Length, $"{written.Length} bytes written for {wire.Length} read");
            AssertSameTree(m, FeedWire(Encoding.UTF8.GetString(written), context is null ? "<s xmlns:stream='x'>" : StreamOpen).Stanza!);
        }
        Assert.Contains("<message xmlns='jabber:client'>", StanzaXml.ToXml(new Element("message", Ns.Client).Add(new Element("body", Ns.Client))));
    }

    // ---- generated stanzas -------------------------------------------------------------------------------------

    /// <summary>Wire XML written the way hostile or merely unusual clients write it: prefixes (xml, reused, shadowed,
    /// reserved), default namespaces (nasty names included), xml:lang and other attributes, text with entity and
    /// character references, CDATA, CR/LF, non-BMP characters, nesting. What the framer accepts must round-trip.</summary>
    [Fact]
    public void Generated_stanzas_parse_serialize_parse_to_the_same_tree()
    {
        var accepted = 0;
        var total = 0;
        var sharedPrefixes = 0;
        WireStanza.Sample(wire =>
        {
            total++;
            var sink = FeedWire(wire);
            if (sink.Stanza is null) return; // refused at the door with a stream error: also a correct outcome
            Assert.Null(sink.Error);
            accepted++;
            var original = sink.Stanza;
            foreach (var context in new[] { Ns.Client, null })
            {
                var written = Encoding.UTF8.GetString(original.ToUtf8(context));
                var again = FeedWire(written, context is null ? "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>" : StreamOpen);
                Assert.True(again.Stanza is not null, $"{written} refused: {again.Error} {again.ErrorText}");
                AssertSameTree(original, again.Stanza!);
                Assert.Equal(written, Encoding.UTF8.GetString(again.Stanza!.ToUtf8(context))); // a fixed point
                if (written.Contains(" xmlns:n1=", StringComparison.Ordinal)) sharedPrefixes++;
            }
            AssertSameTree(original, StanzaXml.Parse(StanzaXml.ToXml(original)));
        }, iter: 2000, threads: 1, print: w => w);
        // the generator aims at the edges but must not only produce what the framer refuses
        Assert.True(accepted > total / 3, $"only {accepted} of {total} generated stanzas were accepted");
        Assert.True(sharedPrefixes > 0, "no generated stanza was written with shared prefixes");
    }

    /// <summary>Trees built in code (as the server builds stanzas) with any names, namespace names and text.</summary>
    [Fact]
    public void Generated_trees_serialize_and_parse_back_to_the_same_tree()
    {
        BuiltTree.Sample(tree =>
        {
            var xml = StanzaXml.ToXml(tree);
            AssertSameTree(tree, StanzaXml.Parse(xml));
        }, iter: 2000, threads: 1, print: t => StanzaXml.ToXml(t));
    }

    // ---- generators --------------------------------------------------------------------------------------------

    // long enough that a few uses exceed XmlSerializer.DeclarationBudget: the shared-prefix writing is generated too
    private static readonly string LongNs = "urn:long:" + new string('l', 1500);

    // the ones the framer must refuse in some places ("" for a prefix, the reserved ones, rebinding xml, declaring
    // xmlns) are a few among many it must accept, so that most generated stanzas get through
    private static readonly string[] Namespaces =
    [
        "urn:x", "urn:y", "jabber:client", "urn:a}b", "}", "{urn:x}y", "urn:'\"<>&", "urn:ü", "urn:\t x",
        "http://jabber.org/protocol/muc#user", "urn:😀", .. Enumerable.Repeat("urn:x", 12), .. Enumerable.Repeat("urn:a}b", 6),
        "", XmlNs, "http://www.w3.org/2000/xmlns/", LongNs, LongNs, LongNs + "}",
    ];

    private static readonly string[] Prefixes =
        ["xml", "xmlns", "p", "q", "a1", "é", "stream", "xmlfoo", .. Enumerable.Repeat("p", 12), .. Enumerable.Repeat("q", 12)];
    private static readonly string[] Locals = ["w", "z", "a1", "x-y.z", "_", "é", "xmlns", "xml", "lang", "ÿ·", "body", "space"];
    private static readonly string[] TextPieces =
    [
        "hi", " ", "<", ">", "&", "'", "\"", "]]", "\r\n", "\r", "\n", "\t", "😀", "\u2028", "\uFFFD", "é",
        "&amp;", "&lt;", "&gt;", "&apos;", "&quot;", "&#xD;", "&#13;", "&#x9;", "&#x1F600;", "&#xA;",
        "<![CDATA[<&>]]>", "<![CDATA[]]>", "<![CDATA[]]]]>",
    ];

    private sealed record WAttr(int Kind, int Prefix, int Ns, int Local, string Value);
    private sealed record WNode(int Mode, int Prefix, int Ns, int Local, WAttr[] Attrs, int[] ExtraDecls, object[] Children);

    private static readonly Gen<string> GenText = Gen.Int[0, TextPieces.Length - 1].Array[1, 6].Select(ix =>
    {
        var sb = new StringBuilder();
        foreach (var i in ix)
        {
            var piece = TextPieces[i];
            // raw pieces are escaped the way a client would; the pieces that are references or CDATA stay literal
            sb.Append(piece switch { "<" => "&lt;", "&" => "&amp;", _ => piece });
        }
        return sb.ToString();
    });

    private static readonly Gen<WAttr> GenAttr = Gen.Select(Gen.Int[0, 3], Gen.Int[0, Prefixes.Length - 1], Gen.Int[0, Namespaces.Length - 1],
        Gen.Int[0, Locals.Length - 1], GenText, (k, p, n, l, v) => new WAttr(k, p, n, l, v));

    private static readonly Gen<WNode> GenNode = Gen.Recursive<WNode>((depth, node) =>
        Gen.Select(Gen.Int[0, 4], Gen.Int[0, Prefixes.Length - 1], Gen.Int[0, Namespaces.Length - 1], Gen.Int[0, Locals.Length - 1],
            GenAttr.Array[0, 3], Gen.Int[0, Prefixes.Length * Namespaces.Length - 1].Array[0, 1],
            Gen.OneOf(node.Select(n => (object)n), GenText.Select(t => (object)t)).Array[0, depth < 4 ? 4 : 0],
            (mode, p, n, l, attrs, decls, children) => new WNode(mode, p, n, l, attrs, decls, children)));

    private static readonly Gen<string> WireStanza = GenNode.Select(root =>
    {
        var sb = new StringBuilder();
        sb.Append("<message to='b@localhost'>");
        Render(sb, root, []);
        sb.Append("</message>");
        return sb.ToString();
    });

    /// <summary>Writes the node with its declarations; the choices may produce XML the framer must refuse.</summary>
    /// <param name="inScope">Prefixes declared by ancestors (mode 3 and attribute kind 3 use one, or an undeclared
    /// one when there is none).</param>
    private static void Render(StringBuilder sb, WNode n, List<string> inScope)
    {
        var decls = new List<(string Prefix, string Uri)>();
        string qname;
        var local = Locals[n.Local];
        switch (n.Mode)
        {
            case 0: // a default namespace declaration
                qname = local;
                decls.Add(("", Namespaces[n.Ns]));
                break;
            case 1: // a prefix declared here
                qname = Prefixes[n.Prefix] + ":" + local;
                decls.Add((Prefixes[n.Prefix], Namespaces[n.Ns]));
                break;
            case 2: // the xml prefix, bound by definition
                qname = "xml:" + local;
                break;
            case 3: // a prefix declared by an ancestor (if there is none: now and then an undeclared one)
                qname = inScope.Count > 0 ? inScope[n.Prefix % inScope.Count] + ":" + local : n.Prefix < 4 ? Prefixes[n.Prefix + 2] + ":" + local : local;
                break;
            default: // the inherited default namespace
                qname = local;
                break;
        }
        foreach (var d in n.ExtraDecls)
        {
            var prefix = Prefixes[d % Prefixes.Length];
            if (!decls.Exists(x => x.Prefix == prefix)) decls.Add((prefix, Namespaces[d / Prefixes.Length]));
        }
        var attrs = new List<string>();
        foreach (var a in n.Attrs)
        {
            var name = a.Kind switch
            {
                0 => Locals[a.Local],
                1 => "xml:" + Locals[a.Local],
                2 => Prefixes[a.Prefix] + ":" + Locals[a.Local],
                _ => inScope.Count > 0 ? inScope[a.Prefix % inScope.Count] + ":" + Locals[a.Local]
                    : a.Prefix < 4 ? Prefixes[a.Prefix + 2] + ":" + Locals[a.Local] : Locals[a.Local],
            };
            if (a.Kind == 2 && !decls.Exists(x => x.Prefix == Prefixes[a.Prefix])) decls.Add((Prefixes[a.Prefix], Namespaces[a.Ns]));
            if (attrs.Contains(name) || name == "xmlns") continue;
            attrs.Add(name);
        }
        sb.Append('<').Append(qname);
        foreach (var (prefix, uri) in decls)
            sb.Append(prefix.Length == 0 ? " xmlns='" : $" xmlns:{prefix}='").Append(AttrLiteral(uri)).Append('\'');
        for (var i = 0; i < attrs.Count; i++)
            sb.Append(' ').Append(attrs[i]).Append("='").Append(AttrLiteral(n.Attrs[i % n.Attrs.Length].Value)).Append('\'');
        if (n.Children.Length == 0)
        {
            sb.Append("/>");
            return;
        }
        sb.Append('>');
        var scope = new List<string>(inScope);
        foreach (var (prefix, _) in decls)
            if (prefix.Length > 0) scope.Add(prefix);
        foreach (var c in n.Children)
        {
            if (c is WNode child) Render(sb, child, scope);
            else sb.Append((string)c);
        }
        sb.Append("</").Append(qname).Append('>');
    }

    /// <summary>A value as a client writes it in a single-quoted attribute: markup escaped, references kept.</summary>
    private static string AttrLiteral(string value)
    {
        var sb = new StringBuilder(value.Length);
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c == '&' && !IsReferenceAt(value, i)) sb.Append("&amp;");
            else if (c == '<') sb.Append("&lt;");
            else if (c == '\'') sb.Append("&apos;");
            else sb.Append(c);
        }
        return sb.ToString();
    }

    private static bool IsReferenceAt(string s, int i)
    {
        var semi = s.IndexOf(';', i);
        return semi > i + 1 && semi - i <= 10 && s.AsSpan(i + 1, semi - i - 1).IndexOfAny(" <&'\"") < 0;
    }

    private static readonly string[] BuiltNamespaces = [.. Namespaces.Where(n => n != "http://www.w3.org/2000/xmlns/").Distinct()];
    // an unprefixed attribute named xmlns is a namespace declaration, not an attribute: the framer never makes one
    private static readonly string[] AttrLocals = [.. Locals.Where(l => l != "xmlns")];
    private static readonly Gen<string> GenChars = Gen.Char.Where(c => c is '\t' or '\n' or '\r' or (>= ' ' and <= '\uD7FF') or (>= '\uE000' and <= '\uFFFD'))
        .Array[0, 12].Select(cs => new string(cs));

    private static readonly Gen<Element> BuiltTree = Gen.Recursive<Element>((depth, node) =>
        Gen.Select(Gen.Int[0, Locals.Length - 1], Gen.Int[0, BuiltNamespaces.Length - 1],
            Gen.Select(Gen.Int[0, AttrLocals.Length - 1], Gen.Int[0, BuiltNamespaces.Length], GenChars).Array[0, 4],
            Gen.OneOf(node.Select(n => (object)n), GenChars.Select(t => (object)t)).Array[0, depth < 4 ? 4 : 0],
            (l, n, attrs, children) =>
            {
                var e = new Element(Locals[l], BuiltNamespaces[n]);
                foreach (var (al, an, value) in attrs)
                {
                    // an index past the pool: no namespace; the xml namespace: kept by its qualified name (xml:lang)
                    if (an == BuiltNamespaces.Length) e.SetAttr(AttrLocals[al], value);
                    else if (BuiltNamespaces[an] == XmlNs) e.SetAttr("xml:" + AttrLocals[al], value);
                    else e.SetAttr(AttrLocals[al], BuiltNamespaces[an], value);
                }
                foreach (var c in children)
                {
                    if (c is Element child) e.Add(child);
                    else e.AddText((string)c);
                }
                return e;
            }));

    // ---- helpers -----------------------------------------------------------------------------------------------

    private sealed class Sink : IFramerSink
    {
        public Element? Stanza;
        public FramerErrorCondition? Error;
        public string? ErrorText;
        public void OnStreamOpen(StreamHeader header) { }
        public void OnStanza(Element stanza) => Stanza ??= stanza;
        public void OnStreamClose() { }
        public void OnError(FramerErrorCondition condition, string text) => (Error, ErrorText) = (condition, text);
    }

    private static Sink FeedWire(string stanza, string streamOpen = StreamOpen)
    {
        var sink = new Sink();
        var framer = new XmppFramer(sink, FramerLimits.Trusted(1024 * 1024, 64)); // a serializer test: no count limits
        framer.Feed(Encoding.UTF8.GetBytes(streamOpen));
        framer.Feed(Encoding.UTF8.GetBytes(stanza));
        return sink;
    }

    private static Element ParseOne(string stanza)
    {
        var sink = FeedWire(stanza);
        return sink.Stanza ?? throw new Xunit.Sdk.XunitException($"refused: {sink.Error} {sink.ErrorText}");
    }

    private static void AssertSameTree(Element expected, Element actual, string path = "")
    {
        path += "/" + expected.Name;
        Assert.True(expected.Name == actual.Name && expected.Namespace == actual.Namespace,
            $"{path}: {{{expected.Namespace}}}{expected.Name} became {{{actual.Namespace}}}{actual.Name}");
        Assert.Equal(expected.Attributes, actual.Attributes);
        Assert.Equal(expected.Nodes.Count, actual.Nodes.Count);
        for (var i = 0; i < expected.Nodes.Count; i++)
        {
            if (expected.Nodes[i] is Element e) AssertSameTree(e, Assert.IsType<Element>(actual.Nodes[i]), path);
            else Assert.Equal((string)expected.Nodes[i], Assert.IsType<string>(actual.Nodes[i]));
        }
    }
}
