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
}
