using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Tests.Framing;

/// <summary>Element.Parse / Element.ParseAll: text read as the content of a jabber:client stream, by the framer.</summary>
public class ElementParsingSpec
{
    [Fact]
    public void Parse_reads_one_element_in_the_default_namespace_jabber_client()
    {
        var e = Element.Parse("<message to='juliet@example.com' type='chat'><body>hi</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>");
        Assert.True(e.Is("message", Ns.Client));
        Assert.Equal("juliet@example.com", e.To);
        Assert.Equal("hi", e.ChildText("body", Ns.Client));
        Assert.NotNull(e.Child("active", "http://jabber.org/protocol/chatstates"));
    }

    [Fact]
    public void Parse_allows_whitespace_around_the_element()
    {
        Assert.True(Element.Parse("\n  <presence/>\n").Is("presence", Ns.Client));
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("<message/><presence/>")]
    [InlineData("<message><body>cut")]
    public void Parse_refuses_text_that_is_not_exactly_one_complete_element(string xml)
    {
        Assert.Throws<FormatException>(() => Element.Parse(xml));
    }

    [Theory]
    [InlineData("<message><!-- comment --></message>")]       // RFC 6120 §11.1: no comments
    [InlineData("<message><?pi x?></message>")]               // no processing instructions
    [InlineData("<message><body></message>")]                 // not well-formed
    [InlineData("<p:message/>")]                               // undeclared prefix
    public void Parse_applies_the_framer_rules_RFC6120_11_1(string xml)
    {
        Assert.Throws<FormatException>(() => Element.Parse(xml));
    }

    [Fact]
    public void Parse_accepts_an_element_larger_than_the_default_stanza_limit()
    {
        // stored stanzas are parsed back whole: the limit follows the text, not the 256 KiB default of a stream
        var body = new string('x', 300 * 1024);
        var e = Element.Parse($"<message><body>{body}</body></message>");
        Assert.Equal(body.Length, e.ChildText("body", Ns.Client)!.Length);
    }

    [Fact]
    public void ParseAll_returns_every_element_up_to_the_stream_close()
    {
        var all = Element.ParseAll(
            "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>" +
            "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>");
        Assert.Equal(2, all.Count);
        Assert.True(all[0].Is("features", Ns.Streams));
        Assert.NotNull(all[0].Child("bind", Ns.Bind));
        Assert.True(all[1].Is("error", Ns.Streams));
        Assert.Empty(Element.ParseAll(" "));
        Assert.Throws<FormatException>(() => Element.ParseAll("<stream:features><a></stream:features>"));
    }
}
