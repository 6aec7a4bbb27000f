using System.Text;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Tests.Framing;

public class XmppFramerSpec
{
    private const string Header =
        "<?xml version='1.0' encoding='UTF-8'?>" +
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' " +
        "to='example.com' version='1.0' xml:lang='en'>";

    private const string Typical =
        Header + "\n" +
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABwYXNz</auth>" +
        " \n \t\r\n " +
        "<message to='romeo@example.net' type=\"chat\" id='m1'><body>Hi 😀 你好 &amp; &lt;3</body></message> " +
        "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\n  <resource>balcony</resource>\n</bind></iq>" +
        "<iq type='get' id='q1' xmlns:x='urn:example:x'><query xmlns='jabber:iq:roster' x:ver='v1' xml:lang='fr'/></iq>" +
        "\n</stream:stream>";

    // ---- harness -----------------------------------------------------------------------------------------------

    private sealed class Recorder : IFramerSink
    {
        public readonly List<string> Events = new();
        public readonly List<Element> Stanzas = new();
        public StreamHeader? Header;
        public XmppFramer? Framer;
        public Func<Element, bool>? ResetAfter;

        public void OnStreamOpen(StreamHeader header)
        {
            Header = header;
            var sb = new StringBuilder($"open {header.Name} {{{header.Namespace}}} default={header.DefaultNamespace ?? "(none)"}");
            foreach (var a in header.Attributes) sb.Append($" {a.Name}={a.Value}");
            Events.Add(sb.ToString());
        }

        public void OnStanza(Element stanza)
        {
            Stanzas.Add(stanza);
            Events.Add("stanza " + stanza);
            if (ResetAfter is not null && ResetAfter(stanza)) Framer!.Reset();
        }

        public void OnStreamClose() => Events.Add("close");

        public void OnError(FramerErrorCondition condition, string text) => Events.Add("error " + condition);
    }

    private static Recorder NewFramer(out XmppFramer framer, FramerLimits? limits = null)
    {
        var rec = new Recorder();
        framer = new XmppFramer(rec, limits);
        rec.Framer = framer;
        return rec;
    }

    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    private static List<string> FeedChunks(byte[] input, FramerLimits? limits, params int[] splits)
    {
        var rec = NewFramer(out var f, limits);
        var last = 0;
        foreach (var s in splits)
        {
            f.Feed(input.AsSpan(last, s - last));
            last = s;
        }
        f.Feed(input.AsSpan(last));
        return rec.Events;
    }

    private static List<string> FeedBytewise(byte[] input, FramerLimits? limits = null)
    {
        var rec = NewFramer(out var f, limits);
        for (var i = 0; i < input.Length; i++) f.Feed(input.AsSpan(i, 1));
        return rec.Events;
    }

    /// <summary>Feeds whole, split in two at every byte boundary, and one byte at a time; all must give identical events.</summary>
    private static List<string> EverySplit(byte[] input, FramerLimits? limits = null)
    {
        var expected = FeedChunks(input, limits);
        // every two-chunk split for small inputs; for large ones a stride of split points keeps the test fast
        var step = input.Length <= 4096 ? 1 : input.Length / 997;
        for (var k = 0; k <= input.Length; k += step)
            Assert.Equal(expected, FeedChunks(input, limits, k));
        Assert.Equal(expected, FeedBytewise(input, limits));
        return expected;
    }

    private static List<string> EverySplit(string input, FramerLimits? limits = null) => EverySplit(Utf8(input), limits);

    private static void AssertError(string input, FramerErrorCondition condition) => AssertError(Utf8(input), condition);

    private static void AssertError(byte[] input, FramerErrorCondition condition)
    {
        var events = EverySplit(input);
        Assert.Equal("error " + condition, events[^1]);
        Assert.Single(events, e => e.StartsWith("error ", StringComparison.Ordinal));
    }

    private static string InStanza(string stanzaXml) => Header + stanzaXml + "</stream:stream>";

    // ---- framing -----------------------------------------------------------------------------------------------

    [Fact]
    public void Rfc6120_4_typical_client_stream_is_framed_into_header_stanzas_and_close()
    {
        var rec = NewFramer(out var f);
        f.Feed(Utf8(Typical));

        Assert.False(f.Faulted);
        var h = rec.Header!;
        Assert.Equal("stream", h.Name);
        Assert.Equal(Ns.Streams, h.Namespace);
        Assert.Equal(Ns.Client, h.DefaultNamespace);
        Assert.Equal("example.com", h.Attr("to"));
        Assert.Equal("1.0", h.Attr("version"));
        Assert.Equal("en", h.Attr("xml:lang"));
        Assert.Equal(3, h.Attributes.Count); // xmlns declarations are not attributes

        Assert.Equal(4, rec.Stanzas.Count);
        var auth = rec.Stanzas[0];
        Assert.True(auth.Is("auth", Ns.Sasl));
        Assert.Equal("PLAIN", auth.Attr("mechanism"));
        Assert.Equal("AGp1bGlldABwYXNz", auth.Text);

        var msg = rec.Stanzas[1];
        Assert.True(msg.Is("message", Ns.Client));
        Assert.Equal("chat", msg.Type);
        Assert.Equal("romeo@example.net", msg.To);
        Assert.Equal("Hi 😀 你好 & <3", msg.ChildText("body"));

        var bindIq = rec.Stanzas[2];
        var bind = bindIq.Child("bind", Ns.Bind)!;
        Assert.Equal("balcony", bind.ChildText("resource"));
        Assert.Equal(3, bind.Nodes.Count); // whitespace text inside stanzas is kept
        Assert.Equal("\n  ", bind.Nodes[0]);

        var rosterIq = rec.Stanzas[3];
        var query = rosterIq.Child("query", Ns.Roster)!;
        Assert.Equal("v1", query.Attr("ver", "urn:example:x"));
        Assert.Equal("fr", query.Lang);

        Assert.Equal("close", rec.Events[^1]);
        Assert.Equal(6, rec.Events.Count);
    }

    [Fact]
    public void Every_split_of_the_typical_stream_gives_identical_events()
    {
        var events = EverySplit(Typical);
        Assert.Equal(6, events.Count);
        Assert.StartsWith("open stream", events[0]);
        Assert.Equal("close", events[^1]);
    }

    [Fact]
    public void Stanza_is_delivered_as_soon_as_its_end_tag_completes()
    {
        var rec = NewFramer(out var f);
        f.Feed(Utf8(Header + "<presence/>"));
        Assert.Equal(2, rec.Events.Count);
        f.Feed(Utf8("<message><body>x</body></message>"));
        Assert.Equal(3, rec.Events.Count);
        f.Feed(Utf8("<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq"));
        Assert.Equal(3, rec.Events.Count);
        f.Feed(Utf8(">"));
        Assert.Equal(4, rec.Events.Count);
        Assert.True(rec.Stanzas[^1].Child("ping", Ns.Ping) is not null);
    }

    [Fact]
    public void Whitespace_keepalives_between_stanzas_are_ignored()
    {
        var events = EverySplit(Header + " \n\t\r\n  <presence/>    \n  </stream:stream>");
        Assert.Equal(3, events.Count);
    }

    [Fact]
    public void Rfc6120_11_non_whitespace_text_between_stanzas_is_not_well_formed()
    {
        AssertError(Header + "hello", FramerErrorCondition.NotWellFormed);
        AssertError(Header + "<presence/> x", FramerErrorCondition.NotWellFormed);
    }

    [Fact]
    public void Self_closing_root_opens_and_closes_the_stream()
    {
        var events = EverySplit("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'/>");
        Assert.Equal(2, events.Count);
        Assert.StartsWith("open stream", events[0]);
        Assert.Equal("close", events[1]);
    }

    [Fact]
    public void Header_without_xml_declaration_and_without_default_namespace_is_reported_as_is()
    {
        var rec = NewFramer(out var f);
        f.Feed(Utf8("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='a'><message/>"));
        Assert.Null(rec.Header!.DefaultNamespace);
        Assert.Equal("", rec.Stanzas[0].Namespace);
    }

    [Fact]
    public void Utf8_bom_at_the_start_is_skipped()
    {
        var bytes = new byte[] { 0xEF, 0xBB, 0xBF }.Concat(Utf8(Header + "<presence/>")).ToArray();
        var events = EverySplit(bytes);
        Assert.Equal(2, events.Count);
        Assert.StartsWith("stanza <presence", events[1]);
    }

    [Fact]
    public void Root_end_tag_must_match_the_root_start_tag()
    {
        AssertError(Header + "</stream>", FramerErrorCondition.NotWellFormed);
        AssertError(Header + "<message></presence>", FramerErrorCondition.NotWellFormed);
        AssertError(Header + "<a:message xmlns:a='jabber:client' xmlns:b='jabber:client'></b:message>", FramerErrorCondition.NotWellFormed);
    }

    [Fact]
    public void Content_after_the_stream_end_other_than_whitespace_is_not_well_formed()
    {
        var events = EverySplit(Header + "</stream:stream>  \n<presence/>");
        Assert.Equal(new[] { events[0], "close", "error NotWellFormed" }, events);
    }

    // ---- restricted XML (RFC 6120 §11.1) -----------------------------------------------------------------------

    [Fact]
    public void Rfc6120_11_1_comment_is_restricted_xml()
    {
        AssertError("<!-- hi --><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>", FramerErrorCondition.RestrictedXml);
        AssertError(Header + "<!-- hi -->", FramerErrorCondition.RestrictedXml);
        AssertError(InStanza("<message><!-- hi --></message>"), FramerErrorCondition.RestrictedXml);
    }

    [Fact]
    public void Rfc6120_11_1_processing_instruction_is_restricted_xml()
    {
        AssertError(Header + "<?foo bar?>", FramerErrorCondition.RestrictedXml);
        AssertError(InStanza("<message><?xml-stylesheet href='x'?></message>"), FramerErrorCondition.RestrictedXml);
        // an XML declaration is only allowed as the very first thing
        AssertError(" <?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>", FramerErrorCondition.RestrictedXml);
        AssertError("<?xml-model href='x'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>", FramerErrorCondition.RestrictedXml);
    }

    [Fact]
    public void Rfc6120_11_1_billion_laughs_doctype_is_restricted_xml()
    {
        const string laughs =
            "<?xml version='1.0'?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n" +
            " <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n" +
            " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n]>\n" +
            "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>&lol3;</stream:stream>";
        AssertError(laughs, FramerErrorCondition.RestrictedXml);
        AssertError(Header + "<!DOCTYPE x>", FramerErrorCondition.RestrictedXml);
        AssertError(InStanza("<message><!ENTITY x 'y'></message>"), FramerErrorCondition.RestrictedXml);
    }

    [Fact]
    public void Rfc6120_11_1_undeclared_entity_reference_is_not_well_formed()
    {
        AssertError(InStanza("<message><body>&lol;</body></message>"), FramerErrorCondition.NotWellFormed);
        AssertError(InStanza("<message to='&nbsp;'/>"), FramerErrorCondition.NotWellFormed);
        AssertError(InStanza("<message><body>a & b</body></message>"), FramerErrorCondition.NotWellFormed);
        AssertError(InStanza("<message><body>&#;</body></message>"), FramerErrorCondition.NotWellFormed);
        AssertError(InStanza("<message><body>&#xZZ;</body></message>"), FramerErrorCondition.NotWellFormed);
    }

    [Fact]
    public void Rfc6120_11_1_cdata_section_is_text()
    {
        var rec = NewFramer(out var f);
        f.Feed(Utf8(InStanza("<message><body>a<![CDATA[<b>&amp; ]] > ]]]>c</body></message>")));
        Assert.False(f.Faulted);
        Assert.Equal("a<b>&amp; ]] > ]c", rec.Stanzas[0].ChildText("body"));
        EverySplit(InStanza("<message><body>a<![CDATA[<b>&amp; ]] > ]]]>c<![CDATA[]]></body></message>"));
    }

    [Fact]
    public void Cdata_outside_a_stanza_and_cdata_end_in_text_are_not_well_formed()
    {
        AssertError(Header + "<![CDATA[ ]]>", FramerErrorCondition.NotWellFormed);
        AssertError(InStanza("<message><body>a]]>b</body></message>"), FramerErrorCondition.NotWellFormed);
        AssertError(InStanza("<message><![CDAT[x]]></message>"), FramerErrorCondition.NotWellFormed);
    }

    [Fact]
    public void Predefined_entities_and_character_references_are_decoded()
    {
        var rec = NewFramer(out var f);
        f.Feed(Utf8(InStanza("<message id='&lt;&gt;&amp;&apos;&quot;&#65;&#x1F600;'><body>&lt;&gt;&amp;&apos;&quot;&#65;&#x42;&#x1F600;&#0000067;&#xD;</body></message>")));
        Assert.False(f.Faulted);
        Assert.Equal("<>&'\"A😀", rec.Stanzas[0].Id);
        Assert.Equal("<>&'\"AB😀C\r", rec.Stanzas[0].ChildText("body"));
    }

    [Fact]
    public void Character_reference_to_a_non_xml_character_is_not_well_formed()
    {
        AssertError(InStanza("<message><body>&#1;</body></message>"), FramerErrorCondition.NotWellFormed);
        AssertError(InStanza("<message><body>&#xD800;</body></message>"), FramerErrorCondition.NotWellFormed);
        AssertError(InStanza("<message><body>&#xFFFE;</body></message>"), FramerErrorCondition.NotWellFormed);
        AssertError(InStanza("<message><body>&#x110000;</body></message>"), FramerErrorCondition.NotWellFormed);
        AssertError(InStanza("<message><body>&#99999999999999999999;</body></message>"), FramerErrorCondition.NotWellFormed);
        AssertError(InStanza("<message id='&#0;'/>"), FramerErrorCondition.NotWellFormed);
    }

    [Fact]
    public void Attribute_values_use_both_quote_styles_and_whitespace_normalization()
    {
        var rec = NewFramer(out var f);
        f.Feed(Utf8(InStanza("<message a='x\ty\nz\r\nw\rv' b=\"it's\" c='say \"hi\"' d='&#9;&#10;&#13;' e = 'spaced' />")));
        Assert.False(f.Faulted);
        var m = rec.Stanzas[0];
        Assert.Equal("x y z w v", m.Attr("a"));
        Assert.Equal("it's", m.Attr("b"));
        Assert.Equal("say \"hi\"", m.Attr("c"));
        Assert.Equal("\t\n\r", m.Attr("d"));
        Assert.Equal("spaced", m.Attr("e"));
    }

    [Fact]
    public void Line_ends_in_text_are_normalized_to_line_feed()
    {
        var rec = NewFramer(out var f);
        f.Feed(Utf8(InStanza("<message><body>a\r\nb\rc\n</body></message>")));
        Assert.Equal("a\nb\nc\n", rec.Stanzas[0].ChildText("body"));
    }

    [Fact]
    public void Malformed_tags_are_not_well_formed()
    {
        AssertError(InStanza("<message to=x/>"), FramerErrorCondition.NotWellFormed);
        AssertError(InStanza("<message to='a'from='b'/>"), FramerErrorCondition.NotWellFormed);
        AssertError(InStanza("<message to='a<b'/>"), FramerErrorCondition.NotWellFormed);
        AssertError(InStanza("<1message/>"), FramerErrorCondition.NotWellFormed);
        AssertError(InStanza("<a:b:c xmlns:a='x'/>"), FramerErrorCondition.NotWellFormed);
        AssertError(InStanza("<message / >"), FramerErrorCondition.NotWellFormed);
        AssertError(InStanza("<message <body/>"), FramerErrorCondition.NotWellFormed);
        AssertError(InStanza("<>"), FramerErrorCondition.NotWellFormed);
        AssertError("hello", FramerErrorCondition.NotWellFormed);
    }

    // ---- encoding ----------------------------------------------------------------------------------------------

    [Fact]
    public void Rfc6120_11_6_xml_declaration_with_utf8_encoding_is_accepted_case_insensitively()
    {
        foreach (var decl in new[] { "<?xml version='1.0'?>", "<?xml version=\"1.0\" encoding=\"utf-8\"?>", "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>" })
        {
            var events = EverySplit(decl + "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>");
            Assert.Single(events);
            Assert.StartsWith("open", events[0]);
        }
    }

    [Fact]
    public void Rfc6120_11_6_other_encoding_is_unsupported_encoding()
    {
        AssertError("<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream>", FramerErrorCondition.UnsupportedEncoding);
        AssertError(new byte[] { 0xFF, 0xFE, (byte)'<', 0 }, FramerErrorCondition.UnsupportedEncoding);
        AssertError(new byte[] { 0, (byte)'<', 0, (byte)'?' }, FramerErrorCondition.UnsupportedEncoding);
    }

    [Fact]
    public void Invalid_xml_declaration_is_not_well_formed()
    {
        AssertError("<?xml encoding='UTF-8'?><stream:stream>", FramerErrorCondition.NotWellFormed);
        AssertError("<?xml version='2.0'?><stream:stream>", FramerErrorCondition.NotWellFormed);
        AssertError("<?xml version='1.0' bogus='1'?><stream:stream>", FramerErrorCondition.NotWellFormed);
    }

    public static TheoryData<string, byte[]> InvalidUtf8 => new()
    {
        { "overlong slash", [0xC0, 0xAF] },
        { "overlong 3-byte", [0xE0, 0x80, 0xAF] },
        { "overlong 4-byte", [0xF0, 0x80, 0x80, 0xAF] },
        { "surrogate", [0xED, 0xA0, 0x80] },
        { "above U+10FFFF", [0xF4, 0x90, 0x80, 0x80] },
        { "F5 lead", [0xF5, 0x80, 0x80, 0x80] },
        { "bad continuation", [0xE4, 0xBD, 0x41] },
        { "lone continuation", [0x80] },
        { "truncated", [0xE4, 0xBD] },
        { "FF", [0xFF] },
    };

    [Theory]
    [MemberData(nameof(InvalidUtf8))]
    public void Rfc6120_11_6_invalid_utf8_is_not_well_formed(string what, byte[] bad)
    {
        Assert.NotNull(what);
        byte[] Wrap(string before, string after) => Utf8(Header + before).Concat(bad).Concat(Utf8(after)).ToArray();
        AssertError(Wrap("<message><body>", "</body></message>"), FramerErrorCondition.NotWellFormed);
        AssertError(Wrap("<message id='", "'/>"), FramerErrorCondition.NotWellFormed);
        AssertError(Wrap("<message><b", "/></message>"), FramerErrorCondition.NotWellFormed);
        AssertError(Wrap("", "<presence/>"), FramerErrorCondition.NotWellFormed);
    }

    [Fact]
    public void Characters_outside_the_xml_char_production_are_not_well_formed()
    {
        AssertError(InStanza("<message><body>a\u0001b</body></message>"), FramerErrorCondition.NotWellFormed);
        AssertError(InStanza("<message id='a\u0000b'/>"), FramerErrorCondition.NotWellFormed);
        AssertError(InStanza("<message><body>\uFFFF</body></message>"), FramerErrorCondition.NotWellFormed);
        AssertError(InStanza("<message><body><![CDATA[\u0008]]></body></message>"), FramerErrorCondition.NotWellFormed);
    }

    [Fact]
    public void Non_ascii_names_are_accepted()
    {
        var rec = NewFramer(out var f);
        f.Feed(Utf8(InStanza("<message><données xmlns='urn:x' clé='v'>t</données></message>")));
        Assert.False(f.Faulted);
        Assert.Equal("v", rec.Stanzas[0].Child("données", "urn:x")!.Attr("clé"));
    }

    // ---- namespaces --------------------------------------------------------------------------------------------

    [Fact]
    public void Rfc6120_4_9_3_1_undeclared_prefix_is_bad_namespace_prefix()
    {
        AssertError(InStanza("<foo:message/>"), FramerErrorCondition.BadNamespacePrefix);
        AssertError(InStanza("<message foo:bar='x'/>"), FramerErrorCondition.BadNamespacePrefix);
        AssertError("<stream:stream xmlns='jabber:client'>", FramerErrorCondition.BadNamespacePrefix);
    }

    [Fact]
    public void Prefix_declarations_are_scoped_to_their_element()
    {
        var rec = NewFramer(out var f);
        f.Feed(Utf8(Header + "<p:x xmlns:p='urn:a'><p:y p:z='1'/><q:y xmlns:q='urn:b'/></p:x><message xmlns:p='urn:c'><p:w/></message>"));
        Assert.False(f.Faulted);
        var x = rec.Stanzas[0];
        Assert.True(x.Is("x", "urn:a"));
        Assert.Equal("1", x.Child("y", "urn:a")!.Attr("z", "urn:a"));
        Assert.NotNull(x.Child("y", "urn:b"));
        Assert.NotNull(rec.Stanzas[1].Child("w", "urn:c"));
        f.Feed(Utf8("<p:x/>"));
        Assert.Equal("error BadNamespacePrefix", rec.Events[^1]);
    }

    [Fact]
    public void Root_declarations_stay_in_scope_for_stanzas_and_defaults_can_be_redeclared()
    {
        var rec = NewFramer(out var f);
        f.Feed(Utf8(Header + "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features><a xmlns=''><b/></a>"));
        Assert.False(f.Faulted);
        var features = rec.Stanzas[0];
        Assert.True(features.Is("features", Ns.Streams));
        Assert.NotNull(features.Child("starttls", Ns.Tls)!.Child("required", Ns.Tls));
        Assert.True(rec.Stanzas[1].Is("a", ""));
        Assert.True(rec.Stanzas[1].FirstChild()!.Is("b", ""));
    }

    [Fact]
    public void Xml_prefix_is_implicitly_bound()
    {
        var rec = NewFramer(out var f);
        f.Feed(Utf8(InStanza("<message xml:lang='de' xmlns:xml='http://www.w3.org/XML/1998/namespace'><body xml:space='preserve'/></message>")));
        Assert.False(f.Faulted);
        Assert.Equal("de", rec.Stanzas[0].Lang);
        Assert.Equal("preserve", rec.Stanzas[0].Child("body")!.Attr("xml:space"));
    }

    [Fact]
    public void Illegal_namespace_declarations_are_bad_namespace_prefix()
    {
        AssertError(InStanza("<message xmlns:p=''/>"), FramerErrorCondition.BadNamespacePrefix);
        AssertError(InStanza("<message xmlns:xml='urn:x'/>"), FramerErrorCondition.BadNamespacePrefix);
        AssertError(InStanza("<message xmlns:xmlns='urn:x'/>"), FramerErrorCondition.BadNamespacePrefix);
        AssertError(InStanza("<message xmlns:p='http://www.w3.org/XML/1998/namespace'/>"), FramerErrorCondition.BadNamespacePrefix);
        AssertError(InStanza("<xmlns:message/>"), FramerErrorCondition.BadNamespacePrefix);
    }

    [Fact]
    public void Duplicate_attributes_are_not_well_formed()
    {
        AssertError(InStanza("<message to='a' to='b'/>"), FramerErrorCondition.NotWellFormed);
        AssertError(InStanza("<message xmlns:a='urn:x' xmlns:b='urn:x' a:t='1' b:t='2'/>"), FramerErrorCondition.NotWellFormed);
        AssertError(InStanza("<message xmlns='urn:x' xmlns='urn:y'/>"), FramerErrorCondition.NotWellFormed);
        AssertError(InStanza("<message xmlns:a='urn:x' xmlns:a='urn:y'/>"), FramerErrorCondition.NotWellFormed);
        var many = new StringBuilder("<message");
        for (var i = 0; i < 40; i++) many.Append($" a{i}='x'"); // past 16: the hashed duplicate check
        many.Append(" a37='y'/>");
        AssertError(InStanza(many.ToString()), FramerErrorCondition.NotWellFormed);
    }

    [Fact]
    public void Same_local_name_in_different_namespaces_is_not_a_duplicate()
    {
        var rec = NewFramer(out var f);
        f.Feed(Utf8(InStanza("<message xmlns:a='urn:x' xmlns:b='urn:y' t='0' a:t='1' b:t='2'/>")));
        Assert.False(f.Faulted);
        var m = rec.Stanzas[0];
        Assert.Equal(3, m.Attributes.Count);
        Assert.Equal("1", m.Attr("t", "urn:x"));
        Assert.Equal("2", m.Attr("t", "urn:y"));
    }

    // ---- limits ------------------------------------------------------------------------------------------------

    [Fact]
    public void Nesting_deeper_than_max_depth_is_policy_violation()
    {
        var sb = new StringBuilder(Header);
        for (var i = 0; i < 10_000; i++) sb.Append("<a>");
        var rec = NewFramer(out var f);
        f.Feed(Utf8(sb.ToString()));
        Assert.Equal("error PolicyViolation", rec.Events[^1]);
        Assert.True(f.Faulted);

        // exactly MaxDepth is fine (root = depth 0)
        var limits = new FramerLimits(MaxDepth: 5);
        var ok = EverySplit(Header + "<a><b><c><d><e/></d></c></b></a>", limits);
        Assert.Equal(2, ok.Count);
        var tooDeep = EverySplit(Header + "<a><b><c><d><e><f/></e></d></c></b></a>", limits);
        Assert.Equal("error PolicyViolation", tooDeep[^1]);
    }

    [Fact]
    public void Ten_megabyte_stanza_is_policy_violation_before_it_is_fully_fed()
    {
        foreach (var (start, filler) in new[] { ("<message><body>", (byte)'x'), ("<message id='", (byte)'y'), ("<message", (byte)' ') })
        {
            var rec = NewFramer(out var f);
            f.Feed(Utf8(Header + start));
            var chunk = new byte[64 * 1024];
            Array.Fill(chunk, filler);
            long fed = 0;
            while (!f.Faulted && fed < 10L * 1024 * 1024)
            {
                f.Feed(chunk);
                fed += chunk.Length;
            }
            Assert.Equal("error PolicyViolation", rec.Events[^1]);
            Assert.True(fed <= 256 * 1024 + chunk.Length, $"error after {fed} bytes");
        }
    }

    [Fact]
    public void Stanza_of_many_small_children_is_policy_violation_at_the_limit()
    {
        var limits = new FramerLimits(MaxStanzaBytes: 1000);
        var rec = NewFramer(out var f, limits);
        f.Feed(Utf8(Header + "<message>"));
        var fed = 0;
        while (!f.Faulted && fed < 100_000) { f.Feed(Utf8("<b/>")); fed += 4; }
        Assert.Equal("error PolicyViolation", rec.Events[^1]);
        Assert.InRange(fed, 980, 1000);
    }

    [Fact]
    public void Oversized_stream_header_is_policy_violation()
    {
        var rec = NewFramer(out var f, new FramerLimits(MaxStanzaBytes: 1024));
        f.Feed(Utf8("<stream:stream to='" + new string('a', 2000)));
        Assert.Equal("error PolicyViolation", rec.Events[^1]);
    }

    [Fact]
    public void Byte_limit_resets_at_each_stanza_boundary()
    {
        var limits = new FramerLimits(MaxStanzaBytes: 200);
        var rec = NewFramer(out var f, limits);
        f.Feed(Utf8(Header));
        var stanza = Utf8("<message to='a@b' id='x'><body>0123456789012345678901234567890123456789</body></message>\n");
        for (var i = 0; i < 20_000; i++) f.Feed(stanza);
        Assert.False(f.Faulted);
        Assert.Equal(20_001, rec.Events.Count);
        // exactly the limit is fine, one more byte is not
        var exact = "<message><body>" + new string('z', 200 - "<message><body></body></message>".Length) + "</body></message>";
        Assert.Equal(200, exact.Length);
        f.Feed(Utf8(exact));
        Assert.False(f.Faulted);
        f.Feed(Utf8("<message><body>" + new string('z', 200 - "<message><body></body></message>".Length + 1) + "</body></message>"));
        Assert.Equal("error PolicyViolation", rec.Events[^1]);
    }

    [Fact]
    public void Alternating_text_and_cdata_is_joined_in_linear_time()
    {
        var sb = new StringBuilder("<message><body>");
        for (var i = 0; i < 15_000; i++) sb.Append("a<![CDATA[b]]>");
        sb.Append("</body></message>");
        var rec = NewFramer(out var f);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        f.Feed(Utf8(InStanza(sb.ToString())));
        Assert.False(f.Faulted);
        var body = rec.Stanzas[0].Child("body")!;
        Assert.Single(body.Nodes);
        Assert.Equal(30_000, body.Text.Length);
        Assert.True(sw.ElapsedMilliseconds < 2000, $"took {sw.ElapsedMilliseconds} ms");
    }

    [Fact]
    public void Thousands_of_namespace_declarations_are_policy_violation()
    {
        var sb = new StringBuilder("<message");
        for (var i = 0; i < 5000; i++) sb.Append($" xmlns:p{i}='urn:{i}'");
        sb.Append("/>");
        AssertError(InStanza(sb.ToString()), FramerErrorCondition.PolicyViolation);
    }

    [Fact]
    public void Default_namespace_declared_at_every_level_up_to_max_depth_is_fine()
    {
        var sb = new StringBuilder(Header);
        for (var i = 1; i <= 64; i++) sb.Append($"<e{i} xmlns='urn:{i}' xmlns:p{i}='urn:p{i}' p{i}:a='{i}'>");
        for (var i = 64; i >= 1; i--) sb.Append($"</e{i}>");
        var rec = NewFramer(out var f);
        f.Feed(Utf8(sb.ToString()));
        Assert.False(f.Faulted);
        var e = rec.Stanzas[0];
        for (var i = 2; i <= 64; i++) e = e.FirstChild()!;
        Assert.True(e.Is("e64", "urn:64"));
        Assert.Equal("64", e.Attr("a", "urn:p64"));
    }

    [Fact]
    public void Endless_tokens_of_every_kind_are_policy_violation()
    {
        var limits = new FramerLimits(MaxStanzaBytes: 4096);
        foreach (var (prefix, filler) in new[]
                 {
                     ("<?xml version='1.0' ", " "),
                     ("<stream:stream ", " "),
                     (Header + "<message><![CDATA[", "x"),
                     (Header + "<message><body>", "&amp;"),
                     (Header + "<message xmlns:p='", "u"),
                     (Header + "<message><body>x</body></message><iq><query xmlns='jabber:iq:roster'><item jid='", "j"),
                 })
        {
            var rec = NewFramer(out var f, limits);
            f.Feed(Utf8(prefix));
            var chunk = Utf8(string.Concat(Enumerable.Repeat(filler, 1000)));
            for (var i = 0; i < 100 && !f.Faulted; i++) f.Feed(chunk);
            Assert.Equal("error PolicyViolation", rec.Events[^1]);
            Assert.Equal(0, f.BufferedBytes);
        }
    }

    [Fact]
    public void Endless_whitespace_between_stanzas_is_not_buffered()
    {
        var rec = NewFramer(out var f, new FramerLimits(MaxStanzaBytes: 1024));
        f.Feed(Utf8(Header));
        var spaces = Utf8(new string(' ', 64 * 1024));
        for (var i = 0; i < 160; i++) f.Feed(spaces); // 10 MB of keepalives
        Assert.False(f.Faulted);
        Assert.Equal(0, f.BufferedBytes);
        f.Feed(Utf8("<presence/>"));
        Assert.Equal(2, rec.Events.Count);
    }

    private sealed class CountingSink : IFramerSink
    {
        public int Stanzas;
        public void OnStreamOpen(StreamHeader header) { }
        public void OnStanza(Element stanza) => Stanzas++;
        public void OnStreamClose() { }
        public void OnError(FramerErrorCondition condition, string text) => throw new InvalidOperationException(condition + ": " + text);
    }

    [Fact]
    public void Typical_message_allocates_little_more_than_its_dom()
    {
        var sink = new CountingSink();
        var f = new XmppFramer(sink);
        f.Feed(Utf8(Header));
        var msg = Utf8("<message to='romeo@example.net/orchard' from='juliet@example.com/balcony' type='chat' id='ktx72v49'>" +
                       "<body>Art thou not Romeo, and a Montague?</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>");
        for (var i = 0; i < 100; i++) f.Feed(msg);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++) f.Feed(msg);
        var perStanza = (GC.GetAllocatedBytesForCurrentThread() - before) / 1000;
        Assert.Equal(1100, sink.Stanzas);
        // the DOM itself: 3 elements, their attribute and child lists, 4 non-interned strings (~700 bytes);
        // names, namespaces and type='chat' are interned
        Assert.True(perStanza < 1000, $"{perStanza} bytes per stanza");
    }

    [Fact]
    public void Idle_framer_holds_no_buffer_between_stanzas()
    {
        var rec = NewFramer(out var f);
        f.Feed(Utf8(Header + "<message><body>" + new string('q', 5000)));
        Assert.True(f.BufferedBytes >= 5000);
        f.Feed(Utf8(new string('q', 5000) + "</body></message>"));
        Assert.Equal(0, f.BufferedBytes);
        Assert.Equal(10_000, rec.Stanzas[0].ChildText("body")!.Length);
    }

    // ---- faults and restarts -----------------------------------------------------------------------------------

    [Fact]
    public void After_an_error_input_is_ignored_until_reset()
    {
        var rec = NewFramer(out var f);
        f.Feed(Utf8(Header + "<!-- x -->"));
        Assert.True(f.Faulted);
        f.Feed(Utf8("<presence/>"));
        Assert.Equal(2, rec.Events.Count);
        f.Reset();
        Assert.False(f.Faulted);
        f.Feed(Utf8(Header + "<presence/>"));
        Assert.Equal(4, rec.Events.Count);
        Assert.StartsWith("stanza <presence", rec.Events[^1]);
    }

    [Fact]
    public void Rfc6120_4_3_3_reset_after_a_stanza_then_a_new_header_parses()
    {
        var rec = NewFramer(out var f);
        f.Feed(Utf8(Header + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGE=</auth>"));
        Assert.Equal(2, rec.Events.Count);
        f.Reset();
        f.Feed(Utf8(Header + "<iq type='set' id='b'/>"));
        Assert.False(f.Faulted);
        Assert.Equal(4, rec.Events.Count);
        Assert.StartsWith("open stream", rec.Events[2]);
        Assert.True(rec.Stanzas[^1].Is("iq", Ns.Client));
    }

    [Fact]
    public void Reset_from_inside_a_stanza_callback_parses_the_rest_of_the_chunk_as_a_new_stream()
    {
        var input = Utf8(Header + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>AGE=</auth>" + Header + "<presence/>");
        List<string> Run(int split)
        {
            var rec = NewFramer(out var f);
            rec.ResetAfter = e => e.Name == "auth";
            f.Feed(input.AsSpan(0, split));
            f.Feed(input.AsSpan(split));
            return rec.Events;
        }
        var expected = Run(input.Length);
        Assert.Equal(4, expected.Count);
        Assert.StartsWith("open", expected[2]);
        for (var k = 0; k <= input.Length; k++) Assert.Equal(expected, Run(k));
    }

    [Fact]
    public void Partial_token_at_reset_is_discarded()
    {
        var rec = NewFramer(out var f);
        f.Feed(Utf8(Header + "<message><body>abc"));
        f.Reset();
        Assert.Equal(0, f.BufferedBytes);
        f.Feed(Utf8(Header + "<presence/>"));
        Assert.False(f.Faulted);
        Assert.Equal(3, rec.Events.Count);
    }

    [Fact]
    public void Mutated_streams_never_throw_and_parse_identically_at_any_chunking()
    {
        var rng = new Random(6120);
        var baseInput = Utf8(Typical + "<message><body><![CDATA[x]]>&#x1F600;&quot;</body></message>");
        var alphabet = Utf8("<>/?!-[]&;#x'\"=: \nabcAX\u00e9");
        for (var round = 0; round < 400; round++)
        {
            var bytes = new List<byte>(baseInput);
            var edits = rng.Next(1, 4);
            for (var e = 0; e < edits; e++)
            {
                var pos = rng.Next(bytes.Count);
                switch (rng.Next(4))
                {
                    case 0: bytes[pos] = alphabet[rng.Next(alphabet.Length)]; break;
                    case 1: bytes.Insert(pos, alphabet[rng.Next(alphabet.Length)]); break;
                    case 2: bytes.RemoveAt(pos); break;
                    default: bytes[pos] = (byte)rng.Next(256); break;
                }
            }
            var input = bytes.ToArray();
            var whole = FeedChunks(input, null);
            Assert.Equal(whole, FeedBytewise(input));
            var split = rng.Next(input.Length + 1);
            Assert.Equal(whole, FeedChunks(input, null, split));
        }
    }

    // ---- round trip ----------------------------------------------------------------------------------------------

    [Fact]
    public void Parsed_stanza_round_trips_through_the_serializer()
    {
        const string stanza =
            "<message to='juliet@example.com' type='chat' xml:lang='en'><body>Hi &lt;3 &amp; 😀 你好 'q' \"d\"</body>" +
            "<x xmlns='urn:example:x' a='1 &apos;2&apos;'><y/></x></message>";
        var rec = NewFramer(out var f);
        f.Feed(Utf8(InStanza(stanza)));
        var first = rec.Stanzas[0];
        var bytes = first.ToUtf8(Ns.Client);

        var rec2 = NewFramer(out var f2);
        f2.Feed(Utf8(Header));
        f2.Feed(bytes);
        Assert.False(f2.Faulted);
        Assert.Equal(first.ToString(), rec2.Stanzas[0].ToString());
        Assert.Equal(bytes, rec2.Stanzas[0].ToUtf8(Ns.Client));
        Assert.Equal("Hi <3 & 😀 你好 'q' \"d\"", rec2.Stanzas[0].ChildText("body"));
    }

    [Fact]
    public void Namespaced_attributes_round_trip_through_the_serializer()
    {
        var rec = NewFramer(out var f);
        f.Feed(Utf8(InStanza("<iq xmlns:p='urn:p' p:a='1' type='get'><q xmlns='urn:q' p:b='2'/></iq>")));
        var bytes = rec.Stanzas[0].ToUtf8(Ns.Client);
        var rec2 = NewFramer(out var f2);
        f2.Feed(Utf8(Header));
        f2.Feed(bytes);
        Assert.False(f2.Faulted);
        Assert.Equal("1", rec2.Stanzas[0].Attr("a", "urn:p"));
        Assert.Equal("2", rec2.Stanzas[0].Child("q", "urn:q")!.Attr("b", "urn:p"));
    }

    // ---- issue 17: attributes, children and elements per stanza ------------------------------------------------

    [Fact]
    public void Rfc6120_4_9_3_14_attributes_over_the_limit_are_policy_violation_declarations_included()
    {
        var limits = new FramerLimits(MaxAttributes: 5); // the header has 5
        var ok = EverySplit(Header + "<message a='1' b='2' xmlns:x='urn:x' x:c='3' d='4'/>", limits);
        Assert.StartsWith("stanza", ok[^1]);
        var over = EverySplit(Header + "<message a='1' b='2' xmlns:x='urn:x' x:c='3' d='4' e='5'/>", limits);
        Assert.Equal("error PolicyViolation", over[^1]);
        // the stream header is an element too
        var header = EverySplit("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='a' version='1.0' id='x' xml:lang='en'>", limits);
        Assert.Equal("error PolicyViolation", header[^1]);
    }

    [Fact]
    public void Rfc6120_4_9_3_14_children_over_the_limit_are_policy_violation()
    {
        var limits = new FramerLimits(MaxChildren: 3);
        Assert.StartsWith("stanza", EverySplit(Header + "<message><a/><b>t</b><c><d/><e/><f/></c></message>", limits)[^1]);
        Assert.Equal("error PolicyViolation", EverySplit(Header + "<message><a/><b/><c/><d/></message>", limits)[^1]);
        Assert.Equal("error PolicyViolation", EverySplit(Header + "<message><x><a/><b/><c/><d/></x></message>", limits)[^1]);
    }

    [Fact]
    public void Rfc6120_4_9_3_14_elements_per_stanza_over_the_limit_are_policy_violation_and_counted_per_stanza()
    {
        var limits = new FramerLimits(MaxElements: 5);
        // five elements in each stanza, many stanzas: the count starts again with each
        var five = "<message><a/><b><c/></b><d/></message>";
        var events = EverySplit(Header + five + five + five, limits);
        Assert.Equal(4, events.Count);
        Assert.All(events.Skip(1), e => Assert.StartsWith("stanza", e));
        Assert.Equal("error PolicyViolation", EverySplit(Header + "<message><a/><b><c/></b><d/><e/></message>", limits)[^1]);
    }

    [Fact]
    public void Stanza_in_progress_is_reported_from_its_first_byte_until_it_completes()
    {
        var rec = NewFramer(out var f);
        f.Feed(Utf8(Header));
        Assert.False(f.StanzaInProgress);
        f.Feed(Utf8("  "));
        Assert.False(f.StanzaInProgress); // whitespace keep-alives are not a stanza
        f.Feed(Utf8("<"));
        Assert.True(f.StanzaInProgress);
        f.Feed(Utf8("message><body>hi</body"));
        Assert.True(f.StanzaInProgress);
        f.Feed(Utf8("></message>"));
        Assert.False(f.StanzaInProgress);
        Assert.StartsWith("stanza", rec.Events[^1]);
    }

    [Fact]
    public void Stanza_limit_can_be_lowered_and_raised_back_within_the_framer_limit()
    {
        var rec = NewFramer(out var f, new FramerLimits(MaxStanzaBytes: 4096));
        f.Feed(Utf8(Header));
        f.MaxStanzaBytes = 100;
        f.Feed(Utf8("<message><body>" + new string('x', 60) + "</body></message>"));
        Assert.StartsWith("stanza", rec.Events[^1]);
        f.MaxStanzaBytes = 1_000_000; // clamped to the framer's own limit
        Assert.Equal(4096, f.MaxStanzaBytes);
        f.MaxStanzaBytes = 100;
        f.Feed(Utf8("<message><body>" + new string('x', 200) + "</body></message>"));
        Assert.Equal("error PolicyViolation", rec.Events[^1]);
    }
}
