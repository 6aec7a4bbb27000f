using System.Diagnostics;
using Actors.Xmpp.Server;
using Actors.Xmpp.Server.Cluster;
using Actors.Xmpp.Server.Diagnostics;
using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Tests.Diagnostics;

/// <summary>Issue 16, traces across nodes: the W3C trace context (trace-id, parent-id, trace-flags) of a stanza's
/// span crosses to another node beside the stanza, in the traced manifests of the records that carry stanzas
/// (<see cref="SessionMessages.Deliver"/>, <see cref="AccountResourcesActor.RouteStanza"/>), never in its XML; an
/// untraced record keeps the manifest and bytes it had.</summary>
public sealed class TraceContextWireSpec() : Akka.TestKit.Xunit2.TestKit(StanzaSerializer.Config + "\n" + RoutingSerializer.Config)
{
    private static readonly ActivityContext Sampled = new(ActivityTraceId.CreateFromString("4bf92f3577b34da6a3ce929d0e0e4736"),
        ActivitySpanId.CreateFromString("00f067aa0ba902b7"), ActivityTraceFlags.Recorded);

    private static Element Stanza()
    {
        var m = new Element("message", Ns.Client).SetAttr("to", "alice@localhost/phone").SetAttr("from", "bob@localhost/r").SetAttr("id", "t1");
        m.AddChild("body").AddText("hi");
        return m;
    }

    private (object Back, string Manifest, byte[] Bytes) RoundTrip(object message)
    {
        var serializer = Sys.Serialization.FindSerializerFor(message);
        var bytes = serializer.ToBinary(message);
        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, message);
        return (Sys.Serialization.Deserialize(bytes, serializer.Identifier, manifest), manifest, bytes);
    }

    private static void AssertSameParent(ActivityContext sent, ActivityContext received)
    {
        Assert.Equal(sent.TraceId, received.TraceId);
        Assert.Equal(sent.SpanId, received.SpanId);
        Assert.Equal(sent.TraceFlags, received.TraceFlags);
        Assert.True(received.IsRemote); // the span that told it ran on another node
    }

    [Fact]
    public void A_traced_delivery_crosses_nodes_with_its_trace_context_and_the_stanza_unchanged()
    {
        var (back, manifest, bytes) = RoundTrip(new SessionMessages.Deliver(Stanza(), Sampled));
        Assert.Equal(StanzaSerializer.DeliverTracedManifest, manifest);
        var deliver = Assert.IsType<SessionMessages.Deliver>(back);
        AssertSameParent(Sampled, deliver.Trace);
        Assert.Equal(Stanza().ToString(), deliver.Stanza.ToString());
        Assert.DoesNotContain(Sampled.TraceId.ToHexString(), deliver.Stanza.ToString());
        Assert.Equal(XmppTracing.WireSize + System.Text.Encoding.UTF8.GetByteCount(Stanza().ToString()), bytes.Length);
    }

    [Fact]
    public void An_untraced_delivery_keeps_the_v1_manifest_and_bytes()
    {
        var (back, manifest, bytes) = RoundTrip(new SessionMessages.Deliver(Stanza()));
        Assert.Equal(StanzaSerializer.DeliverManifest, manifest);
        Assert.Equal(default, Assert.IsType<SessionMessages.Deliver>(back).Trace);
        Assert.Equal(Stanza().ToString(), System.Text.Encoding.UTF8.GetString(bytes));
    }

    [Fact]
    public void A_traced_route_in_an_envelope_crosses_nodes_with_its_trace_context()
    {
        var alice = Jid.Parse("alice@localhost/phone");
        var bob = Jid.Parse("bob@localhost/r");
        var (back, _, _) = RoundTrip(new UsersActor.Envelope(alice.Bare, new AccountResourcesActor.RouteStanza(Stanza(), bob, alice, Sampled)));
        var route = Assert.IsType<AccountResourcesActor.RouteStanza>(Assert.IsType<UsersActor.Envelope>(back).Message);
        AssertSameParent(Sampled, route.Trace);
        Assert.Equal(bob, route.From);
        Assert.Equal(alice, route.To);
        Assert.Equal(Stanza().ToString(), route.Stanza.ToString());

        var (untraced, _, _) = RoundTrip(new AccountResourcesActor.RouteStanza(Stanza(), bob, alice));
        Assert.Equal(default, Assert.IsType<AccountResourcesActor.RouteStanza>(untraced).Trace);
    }

    [Fact]
    public void W3C_trace_context_all_zero_ids_are_invalid_and_read_as_no_context()
    {
        // W3C Trace Context §3.2.2.3/§3.2.2.4: an all-zero trace-id or parent-id is invalid
        var bytes = new byte[XmppTracing.WireSize];
        XmppTracing.WriteContext(bytes, Sampled);
        bytes.AsSpan(16, 8).Clear();
        Assert.Equal(default, XmppTracing.ReadContext(bytes));
        XmppTracing.WriteContext(bytes, Sampled);
        bytes.AsSpan(0, 16).Clear();
        Assert.Equal(default, XmppTracing.ReadContext(bytes));
        // §3.2.2.5: of the flags only 'sampled' is defined; the others are not passed on
        XmppTracing.WriteContext(bytes, Sampled);
        bytes[24] = 0xFF;
        Assert.Equal(ActivityTraceFlags.Recorded, XmppTracing.ReadContext(bytes).TraceFlags);
        Assert.Throws<System.Runtime.Serialization.SerializationException>(() => XmppTracing.ReadContext(bytes.AsSpan(0, 10)));
    }

    [Fact]
    public void Tracing_settings_name_the_key_of_an_invalid_value()
    {
        var ratio = Assert.Throws<InvalidOperationException>(() =>
            new XmppServerOptions.TracingSettings { OtlpEndpoint = "http://127.0.0.1:4317", SampleRatio = 1.5 }.Validate());
        Assert.Contains("Xmpp:Tracing:SampleRatio", ratio.Message);
        var endpoint = Assert.Throws<InvalidOperationException>(() => new XmppServerOptions.TracingSettings { OtlpEndpoint = "collector:4317" }.Validate());
        Assert.Contains("Xmpp:Tracing:OtlpEndpoint", endpoint.Message);
        var protocol = Assert.Throws<InvalidOperationException>(() =>
            new XmppServerOptions.TracingSettings { OtlpEndpoint = "http://127.0.0.1:4317", OtlpProtocol = "udp" }.Validate());
        Assert.Contains("Xmpp:Tracing:OtlpProtocol", protocol.Message);
        new XmppServerOptions.TracingSettings().Validate(); // off: nothing to check
    }
}
