using System.Text;
using Actors.Xmpp.Server;
using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Xml;
using Akka.Serialization;

namespace Actors.Xmpp.Tests.Runtime;

/// <summary>Stanzas through Akka's serialization system, configured as the server configures it.</summary>
public sealed class StanzaSerializerSpec() : Akka.TestKit.Xunit2.TestKit(StanzaSerializer.Config)
{
    private static Element Nasty()
    {
        var m = new Element("message", Ns.Client).SetAttr("to", "b@localhost/r").SetAttr("type", "chat").SetAttr("xml:lang", "en");
        m.AddChild("body").AddText("<&>'\" \r\n\t 😀 ]]>");
        var z = m.AddChild("z", "urn:x");
        z.Add(new Element("w", Ns.Xml).SetAttr("c", "urn:a}b", "v").AddText("t"));
        z.AddChild("y", "").SetAttr("k", "1");
        return m;
    }

    private object RoundTrip(object message, out Serializer serializer)
    {
        serializer = Sys.Serialization.FindSerializerFor(message);
        var bytes = serializer.ToBinary(message);
        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, message);
        return Sys.Serialization.Deserialize(bytes, serializer.Identifier, manifest);
    }

    [Fact]
    public void Element_is_serialized_by_the_stanza_serializer_with_a_manifest_and_round_trips()
    {
        var original = Nasty();
        var back = Assert.IsType<Element>(RoundTrip(original, out var serializer));
        Assert.IsType<StanzaSerializer>(serializer); // not Newtonsoft, Akka's default for unbound types
        Assert.Equal(StanzaSerializer.ElementManifest, ((SerializerWithStringManifest)serializer).Manifest(original));
        Assert.Equal(original.ToString(), back.ToString());
        Assert.Equal("v", back.Child("z", "urn:x")!.Child("w", Ns.Xml)!.Attr("c", "urn:a}b"));
    }

    [Fact]
    public void The_wire_bytes_are_the_stanza_XML()
    {
        var e = new Element("presence", Ns.Client).SetAttr("type", "probe");
        var bytes = Sys.Serialization.FindSerializerFor(e).ToBinary(e);
        Assert.Equal("<presence xmlns='jabber:client' type='probe'/>", Encoding.UTF8.GetString(bytes));
    }

    [Fact]
    public void Deliver_and_delivery_pages_round_trip()
    {
        var deliver = Assert.IsType<SessionMessages.Deliver>(RoundTrip(new SessionMessages.Deliver(Nasty()), out var s1));
        Assert.IsType<StanzaSerializer>(s1);
        Assert.Equal(Nasty().ToString(), deliver.Stanza.ToString());

        var page = new SessionMessages.DeliverPage([Nasty(), new Element("message", Ns.Client).SetAttr("id", "2"), Nasty()], 42);
        var back = Assert.IsType<SessionMessages.DeliverPage>(RoundTrip(page, out var s2));
        Assert.IsType<StanzaSerializer>(s2);
        Assert.Equal(42, back.PageId);
        Assert.Equal(page.Stanzas.Select(e => e.ToString()), back.Stanzas.Select(e => e.ToString()));

        var empty = Assert.IsType<SessionMessages.DeliverPage>(RoundTrip(new SessionMessages.DeliverPage([], 7), out _));
        Assert.Equal((7L, 0), (empty.PageId, empty.Stanzas.Count));
    }

    [Fact]
    public void Bytes_from_another_node_are_hostile_input_read_by_the_framer()
    {
        var serializer = (SerializerWithStringManifest)Sys.Serialization.FindSerializerFor(new Element("x", "urn:x"));
        foreach (var bad in new[] { "<a xmlns='urn:x'><!-- c --></a>", "<a xmlns='urn:x'>&ent;</a>", "<a xmlns='urn:x'>", "<a/><b/>", "" })
            Assert.Throws<System.Runtime.Serialization.SerializationException>(() =>
                serializer.FromBinary(Encoding.UTF8.GetBytes(bad), StanzaSerializer.ElementManifest));
        var page = new byte[12];
        BitConverter.TryWriteBytes(page.AsSpan(8), 1000);
        Assert.Throws<System.Runtime.Serialization.SerializationException>(() => serializer.FromBinary(page, StanzaSerializer.DeliverPageManifest));
        Assert.Throws<System.Runtime.Serialization.SerializationException>(() => serializer.FromBinary([], "xmpp.unknown.v1"));
    }
}
