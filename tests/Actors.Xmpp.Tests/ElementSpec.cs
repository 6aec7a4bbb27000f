using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Tests;

public class ElementSpec
{
    [Fact]
    public void Serializer_escapes_text_and_attributes_and_omits_inherited_namespaces()
    {
        var msg = new Element("message", Ns.Client).SetAttr("to", "a@b/c'd").SetAttr("type", "chat");
        msg.AddChild("body").AddText("<hi> & \"bye\"");
        Assert.Equal("<message to='a@b/c&apos;d' type='chat'><body>&lt;hi&gt; &amp; \"bye\"</body></message>",
            System.Text.Encoding.UTF8.GetString(msg.ToUtf8(Ns.Client)));
        Assert.Equal("<message xmlns='jabber:client' to='a@b/c&apos;d' type='chat'><body>&lt;hi&gt; &amp; \"bye\"</body></message>", msg.ToString());
    }

    [Fact]
    public void Clone_is_deep()
    {
        var iq = new Element("iq", Ns.Client).SetAttr("id", "1");
        iq.AddChild("query", Ns.Roster);
        var copy = iq.Clone();
        copy.Child("query", Ns.Roster)!.SetAttr("ver", "x");
        Assert.Null(iq.Child("query", Ns.Roster)!.Attr("ver"));
    }

    [Fact]
    public void CloneIn_moves_every_element_of_one_namespace_and_keeps_the_rest_and_the_original()
    {
        var stanza = Element.Parse("<message xmlns='jabber:component:accept' from='a@c.example' to='b@example' xml:lang='en'>"
            + "<body>hi</body><x xmlns='urn:example'><y/></x><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>");
        var copy = stanza.CloneIn(Ns.ComponentAccept, Ns.Client);
        Assert.True(copy.Is("message", Ns.Client));
        Assert.Equal("a@c.example", copy.From);
        Assert.Equal("en", copy.Lang);
        Assert.Equal("hi", copy.ChildText("body", Ns.Client));
        Assert.NotNull(copy.Child("x", "urn:example")?.Child("y", "urn:example"));
        Assert.NotNull(copy.Child("error", Ns.Client)?.Child("item-not-found", Ns.StanzaErrors));
        Assert.Equal("<message from='a@c.example' to='b@example' xml:lang='en'><body>hi</body><x xmlns='urn:example'><y/></x>"
            + "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
            System.Text.Encoding.UTF8.GetString(copy.ToUtf8(Ns.Client)).Replace('"', '\''));
        Assert.True(stanza.Is("message", Ns.ComponentAccept)); // the original is untouched
        Assert.Equal("hi", stanza.ChildText("body", Ns.ComponentAccept));
    }
}
