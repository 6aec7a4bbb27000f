using Actors.Xmpp.Xml;
using Xunit.Sdk;

namespace Actors.Xmpp.Tests.Testing;

/// <summary>The test kit's transcript assertions: loose matching and failure messages that say where a stanza differs.</summary>
public class StanzaAssertSpec
{
    private static readonly Element Roster = Element.Parse(
        "<iq type='result' id='r1' to='romeo@example.net/orchard'><query xmlns='jabber:iq:roster' ver='v1'>" +
        "<item jid='juliet@example.com' subscription='both'><group>Friends</group></item>" +
        "<item jid='mercutio@example.com' subscription='from'/></query></iq>");

    [Theory]
    [InlineData("<iq/>")]
    [InlineData("<iq type='result' id='r1'/>")]
    [InlineData("<iq><query xmlns='jabber:iq:roster'/></iq>")]
    [InlineData("<iq><query xmlns='jabber:iq:roster'><item jid='mercutio@example.com'/></query></iq>")]
    [InlineData("<iq><query xmlns='jabber:iq:roster'><item jid='juliet@example.com'><group>Friends</group></item></query></iq>")]
    public void A_pattern_matches_when_what_it_gives_is_there(string pattern)
    {
        Assert.True(StanzaAssert.IsMatch(Element.Parse(pattern), Roster));
        StanzaAssert.Matches(pattern, Roster);
    }

    [Theory]
    [InlineData("<message/>", "at /: expected <message xmlns='jabber:client'>, found <iq xmlns='jabber:client'>")]
    [InlineData("<iq type='error'/>", "at /iq: attribute type is 'result', expected 'error'")]
    [InlineData("<iq from='example.net'/>", "at /iq: no attribute from (expected 'example.net')")]
    [InlineData("<iq><query xmlns='jabber:iq:private'/></iq>", "at /iq: no child matches <query xmlns='jabber:iq:private'/>")]
    [InlineData("<iq><query xmlns='jabber:iq:roster' ver='v2'/></iq>", "at /iq/query: attribute ver is 'v1', expected 'v2'")]
    [InlineData("<iq><query xmlns='jabber:iq:roster'><item jid='tybalt@example.com'/></query></iq>",
        "at /iq/query: no child matches <item xmlns='jabber:iq:roster' jid='tybalt@example.com'/> (2 <item/> children, none matching)")]
    [InlineData("<iq><query xmlns='jabber:iq:roster'><item jid='juliet@example.com'><group>Enemies</group></item></query></iq>",
        "at /iq/query/item/group: text is 'Friends', expected 'Enemies'")]
    public void A_mismatch_names_the_path_and_the_difference(string pattern, string why)
    {
        Assert.False(StanzaAssert.IsMatch(Element.Parse(pattern), Roster));
        var failure = Assert.Throws<XunitException>(() => StanzaAssert.Matches(pattern, Roster));
        Assert.Contains(why, failure.Message);
        Assert.Contains(Roster.ToString(), failure.Message);
    }

    [Fact]
    public void Predicates_and_RFC6120_errors_fail_with_the_stanza_in_the_message()
    {
        StanzaAssert.That(Roster, e => e.Type == "result", "a result");
        var failure = Assert.Throws<XunitException>(() => StanzaAssert.That(Roster, e => e.Type == "error", "an error reply"));
        Assert.Contains("expected an error reply, got <iq", failure.Message);

        var error = Element.Parse("<iq type='error' id='r2'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
        StanzaAssert.Error(error, "item-not-found");
        Assert.ThrowsAny<XunitException>(() => StanzaAssert.Error(error, "service-unavailable"));
        Assert.ThrowsAny<XunitException>(() => StanzaAssert.Error(Roster, "item-not-found"));

        var streamError = Element.Parse("<stream:error><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>bye</text><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>");
        StanzaAssert.StreamError(streamError, "conflict");
        Assert.ThrowsAny<XunitException>(() => StanzaAssert.StreamError(streamError, "host-unknown"));
    }
}
