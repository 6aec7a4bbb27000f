using Actors.Xmpp;
using Actors.Xmpp.Server;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;
using Microsoft.Extensions.DependencyInjection;

namespace Actors.Plugins.Tests.Things;

/// <summary>XEP-0323 (sensor data) and XEP-0325 (control) as the server owes them (the 'things' plugin), over TCP: devices
/// and their owners as clients, ownership from the XEP-0347 registry, read-outs of offline devices from their twins.</summary>
public sealed class SensorDataSpec(ThingsServer fixture) : IClassFixture<ThingsServer>
{
    private const string Registry = "discovery.localhost";
    private const string IoT = "urn:xmpp:iot:discovery";
    private const string Sd = "urn:xmpp:iot:sensordata";
    private const string Control = "urn:xmpp:iot:control";
    private TestServer Server => fixture.Server;

    private static string Unique() => Guid.NewGuid().ToString("N")[..12];

    /// <summary>A new device account logged in as <paramref name="resource"/>, registered and claimed by a new owner
    /// (XEP-0347 §3.2, §3.4); returns both, the device having acknowledged the claim.</summary>
    private async Task<(XmppTestClient Device, XmppTestClient Owner)> ClaimedDevice(string resource = "sensor")
    {
        var deviceUser = "device-" + Unique();
        var ownerUser = "owner-" + Unique();
        await Server.AddUserAsync(deviceUser);
        await Server.AddUserAsync(ownerUser);
        var device = await Server.LoginAsync(deviceUser, resource);
        var owner = await Server.LoginAsync(ownerUser, "phone");
        var tags = $"<str name='SN' value='{Unique()}'/><str name='KEY' value='{Unique()}'/>";
        Assert.Equal("result", (await device.Query($"<iq type='set' id='r1' to='{Registry}'><register xmlns='{IoT}'>{tags}</register></iq>")).Type);
        Assert.Equal("result", (await owner.Query($"<iq type='set' id='c1' to='{Registry}'><mine xmlns='{IoT}'>{tags}</mine></iq>")).Type);
        var told = await device.Receives(e => e.Name == "iq" && e.Type == "set" && e.Child("claimed", IoT) is not null, "<claimed/>");
        await device.Sends($"<iq type='result' id='{told.Id}' to='{Registry}'/>");
        return (device, owner);
    }

    private async Task<XmppTestClient> Stranger()
    {
        var user = "stranger-" + Unique();
        await Server.AddUserAsync(user);
        return await Server.LoginAsync(user, "pc");
    }

    private static string Fields(int seqnr, string stamp, string fields, string nodeId = "Device01") =>
        $"<fields xmlns='{Sd}' seqnr='{seqnr}' done='true'><node nodeId='{nodeId}'><timestamp value='{stamp}'>{fields}</timestamp></node></fields>";

    private static void AssertForbiddenCancel(Element reply)
    {
        Assert.True(reply.Type == "error", $"expected an error, got {reply}");
        var error = reply.Child("error", Ns.Client)!;
        Assert.Equal("cancel", error.Attr("type"));
        Assert.NotNull(error.Child("forbidden", Ns.StanzaErrors));
    }

    /// <summary>Waits until the server has no session of <paramref name="device"/> left (its stream closed).</summary>
    private async Task Offline(XmppTestClient device)
    {
        var bare = device.Jid.Bare;
        await device.DisposeAsync();
        var sessions = Server.Services.GetRequiredService<ServerContext>().Router.Sessions;
        for (var i = 0; i < 200 && sessions.Resources(bare).Count > 0; i++) await Task.Delay(50);
        Assert.Empty(sessions.Resources(bare));
    }

    [Fact]
    public async Task Xep0323_3_1_a_readout_sent_to_the_devices_bare_JID_reaches_its_resource_and_is_answered_from_the_bare_JID()
    {
        var (device, owner) = await ClaimedDevice();
        await using var _ = device;
        await using var __ = owner;
        var bare = device.Jid.Bare.ToString();

        await owner.Sends($"<iq type='get' id='S0001' to='{bare}'><req xmlns='{Sd}' seqnr='1' momentary='true'/></iq>");
        var asked = await device.Receives(e => e.Name == "iq" && e.Type == "get" && e.Child("req", Sd) is not null, "the read-out request");
        Assert.Equal(owner.Jid.ToString(), asked.From);
        Assert.Equal(device.Jid.ToString(), asked.To);
        Assert.Equal("1", asked.Child("req", Sd)!.Attr("seqnr"));
        Assert.Equal("true", asked.Child("req", Sd)!.Attr("momentary"));

        await device.Sends($"<iq type='result' id='{asked.Id}' to='{owner.Jid}'><accepted xmlns='{Sd}' seqnr='1'/></iq>");
        var accepted = await owner.Receives(e => e.Name == "iq" && e.Id == "S0001", "the answer to S0001");
        Assert.Equal("result", accepted.Type);
        Assert.Equal(bare, accepted.From); // RFC 6120 §8.2.3: from the address asked
        Assert.Equal("1", accepted.Child("accepted", Sd)?.Attr("seqnr"));

        await device.Sends($"<message to='{owner.Jid}'>{Fields(1, "2026-03-07T16:24:30Z", "<numeric name='Temperature' momentary='true' automaticReadout='true' value='23.4' unit='°C'/>")}</message>");
        var fields = await owner.Receives(e => e.Name == "message" && e.Child("fields", Sd) is not null, "the fields");
        Assert.Equal("23.4", fields.Child("fields", Sd)!.Child("node", Sd)!.Child("timestamp", Sd)!.Child("numeric", Sd)!.Attr("value"));
    }

    [Fact]
    public async Task Xep0323_3_3_a_claimed_device_refuses_a_strangers_readout_with_forbidden_of_type_cancel_at_either_address()
    {
        var (device, owner) = await ClaimedDevice();
        await using var _ = device;
        await using var __ = owner;
        await using var bob = await Stranger();

        AssertForbiddenCancel(await bob.Query($"<iq type='get' id='b1' to='{device.Jid.Bare}'><req xmlns='{Sd}' seqnr='7' momentary='true'/></iq>"));
        AssertForbiddenCancel(await bob.Query($"<iq type='get' id='b2' to='{device.Jid}'><req xmlns='{Sd}' seqnr='8' momentary='true'/></iq>"));

        // the device saw neither: the next request it gets is its owner's, to its full JID (routed as it is)
        await owner.Sends($"<iq type='get' id='o1' to='{device.Jid}'><req xmlns='{Sd}' seqnr='9' momentary='true'/></iq>");
        var asked = await device.Receives(e => e.Name == "iq" && e.Type == "get", "a request");
        Assert.Equal(owner.Jid.ToString(), asked.From);
        Assert.Equal("o1", asked.Id);
    }

    [Fact]
    public async Task Xep0325_3_1_5_1_the_owner_controls_its_device_a_stranger_is_forbidden_and_a_strangers_control_message_is_dropped()
    {
        var (device, owner) = await ClaimedDevice();
        await using var _ = device;
        await using var __ = owner;
        await using var bob = await Stranger();

        AssertForbiddenCancel(await bob.Query($"<iq type='set' id='b1' to='{device.Jid}'><set xmlns='{Control}'><boolean name='Output' value='true'/></set></iq>"));
        AssertForbiddenCancel(await bob.Query($"<iq type='set' id='b2' to='{device.Jid.Bare}'><set xmlns='{Control}'><boolean name='Output' value='true'/></set></iq>"));
        AssertForbiddenCancel(await bob.Query($"<iq type='get' id='b3' to='{device.Jid.Bare}'><getForm xmlns='{Control}'/></iq>"));
        await bob.Sends($"<message to='{device.Jid}'><set xmlns='{Control}'><boolean name='Output' value='false'/></set></message>");

        await owner.Sends($"<message to='{device.Jid}'><set xmlns='{Control}'><boolean name='Output' value='true'/></set></message>");
        var message = await device.Receives(e => e.Name == "message", "a control message");
        Assert.Equal(owner.Jid.ToString(), message.From); // the stranger's never arrived

        await owner.Sends($"<iq type='set' id='1' to='{device.Jid.Bare}'><set xmlns='{Control}' xml:lang='en'><boolean name='Output' value='true'/></set></iq>");
        var set = await device.Receives(e => e.Name == "iq" && e.Type == "set" && e.Child("set", Control) is not null, "the control request");
        Assert.Equal(owner.Jid.ToString(), set.From);
        await device.Sends($"<iq type='result' id='{set.Id}' to='{owner.Jid}'><setResponse xmlns='{Control}'/></iq>");
        var reply = await owner.Receives(e => e.Name == "iq" && e.Id == "1", "the answer to 1");
        Assert.Equal("result", reply.Type);
        Assert.Equal(device.Jid.Bare.ToString(), reply.From);
        Assert.NotNull(reply.Child("setResponse", Control));

        // the device's own error comes back as it is (XEP-0325 §3.1.3)
        await owner.Sends($"<iq type='set' id='2' to='{device.Jid.Bare}'><set xmlns='{Control}'><int name='Output' value='1'/></set></iq>");
        set = await device.Receives(e => e.Name == "iq" && e.Type == "set", "the second control request");
        await device.Sends($"<iq type='error' id='{set.Id}' to='{owner.Jid}'><error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><paramError xmlns='{Control}' var='Output'>Invalid parameter type.</paramError></error></iq>");
        reply = await owner.Receives(e => e.Name == "iq" && e.Id == "2", "the answer to 2");
        Assert.Equal("error", reply.Type);
        Assert.Equal("Output", reply.Child("error", Ns.Client)?.Child("paramError", Control)?.Attr("var"));
    }

    [Fact]
    public async Task Xep0323_a_read_out_of_an_offline_device_is_answered_by_the_server_from_its_twin_with_the_last_reported_values()
    {
        var (device, owner) = await ClaimedDevice();
        await using var __ = owner;
        await using var bob = await Stranger();
        var bare = device.Jid.Bare.ToString();
        var full = device.Jid.ToString();

        // the device reports (to its owner): an older and a newer temperature, and a peak value
        await device.Sends($"<message to='{owner.Jid}'>{Fields(1, "2026-03-07T16:00:00Z", "<numeric name='Temperature' momentary='true' automaticReadout='true' value='21.0' unit='°C'/>")}</message>");
        await device.Sends($"<message to='{owner.Jid}'>{Fields(2, "2026-03-07T17:00:00Z", "<numeric name='Temperature' momentary='true' automaticReadout='true' value='23.4' unit='°C'/><numeric name='Temperature, Max' peak='true' automaticReadout='true' value='25.9' unit='°C'/>")}</message>");
        await owner.Receives(e => e.Name == "message" && e.Child("fields", Sd)?.Attr("seqnr") == "2", "the second report");
        await Offline(device);

        foreach (var (to, id) in new[] { (bare, "S1"), (full, "S2") })
        {
            Element? numeric = null;
            Element? message = null;
            for (var attempt = 0; attempt < 50 && numeric?.Attr("value") != "23.4"; attempt++) // the twin is told as the report passes
            {
                var reply = await owner.Query($"<iq type='get' id='{id}-{attempt}' to='{to}'><req xmlns='{Sd}' seqnr='{attempt + 10}' momentary='true'/></iq>");
                Assert.Equal("result", reply.Type);
                Assert.Equal(to, reply.From);
                Assert.Equal((attempt + 10).ToString(), reply.Child("accepted", Sd)?.Attr("seqnr"));
                message = await owner.Receives(e => e.Name == "message" && e.Child("fields", Sd)?.Attr("seqnr") == (attempt + 10).ToString(), "the twin's fields");
                numeric = message.Child("fields", Sd)!.Child("node", Sd)?.Child("timestamp", Sd)?.Child("numeric", Sd);
                if (numeric?.Attr("value") != "23.4") await Task.Delay(100);
            }
            Assert.Equal(to, message!.From);
            var answered = message.Child("fields", Sd)!;
            Assert.Equal("true", answered.Attr("done"));
            Assert.Equal("Device01", answered.Child("node", Sd)!.Attr("nodeId"));
            var timestamp = answered.Child("node", Sd)!.Child("timestamp", Sd)!;
            Assert.Equal("2026-03-07T17:00:00Z", timestamp.Attr("value"));
            Assert.Equal(["Temperature"], timestamp.Elements().Select(f => f.Attr("name")!).ToArray()); // momentary only: not the peak
            Assert.Equal("°C", numeric!.Attr("unit"));
        }

        // a request for peak values gets the peak value alone; one naming another node gets no node
        await owner.Sends($"<iq type='get' id='P1' to='{bare}'><req xmlns='{Sd}' seqnr='30' peak='true'/></iq>");
        var peak = await owner.Receives(e => e.Name == "message" && e.Child("fields", Sd)?.Attr("seqnr") == "30", "the peak fields");
        Assert.Equal(["Temperature, Max"], peak.Child("fields", Sd)!.Child("node", Sd)!.Child("timestamp", Sd)!.Elements().Select(f => f.Attr("name")!).ToArray());
        await owner.Sends($"<iq type='get' id='N1' to='{bare}'><req xmlns='{Sd}' seqnr='31' all='true'><node nodeId='Other'/></req></iq>");
        var none = await owner.Receives(e => e.Name == "message" && e.Child("fields", Sd)?.Attr("seqnr") == "31", "no node's fields");
        Assert.Empty(none.Child("fields", Sd)!.Elements());

        // the twin answers the owner, not a stranger (XEP-0323 §3.3)
        AssertForbiddenCancel(await bob.Query($"<iq type='get' id='b1' to='{bare}'><req xmlns='{Sd}' seqnr='1' momentary='true'/></iq>"));
        AssertForbiddenCancel(await bob.Query($"<iq type='get' id='b2' to='{full}'><req xmlns='{Sd}' seqnr='1' momentary='true'/></iq>"));
    }

    [Fact]
    public async Task Xep0323_an_offline_device_that_reported_nothing_is_service_unavailable_and_a_malformed_request_is_bad_request()
    {
        var (device, owner) = await ClaimedDevice();
        await using var __ = owner;
        var bare = device.Jid.Bare.ToString();
        var noSeqnr = await owner.Query($"<iq type='get' id='m1' to='{bare}'><req xmlns='{Sd}' momentary='true'/></iq>");
        Assert.Equal("error", noSeqnr.Type);
        Assert.Equal("modify", noSeqnr.Child("error", Ns.Client)?.Attr("type"));
        Assert.NotNull(noSeqnr.Child("error", Ns.Client)?.Child("bad-request", Ns.StanzaErrors));

        await Offline(device);
        var reply = await owner.Query($"<iq type='get' id='u1' to='{bare}'><req xmlns='{Sd}' seqnr='1' momentary='true'/></iq>");
        Assert.Equal("error", reply.Type);
        Assert.NotNull(reply.Child("error", Ns.Client)?.Child("service-unavailable", Ns.StanzaErrors));
        var control = await owner.Query($"<iq type='set' id='u2' to='{bare}'><set xmlns='{Control}'><boolean name='Output' value='true'/></set></iq>");
        Assert.NotNull(control.Child("error", Ns.Client)?.Child("service-unavailable", Ns.StanzaErrors));
    }

    [Fact]
    public async Task Xep0323_an_unclaimed_device_decides_itself_requests_pass_and_its_twin_answers_only_friends()
    {
        var user = "free-" + Unique();
        await Server.AddUserAsync(user);
        var device = await Server.LoginAsync(user, "sensor");
        await using var bob = await Stranger();
        await bob.Sends($"<iq type='get' id='f1' to='{device.Jid.Bare}'><req xmlns='{Sd}' seqnr='1' momentary='true'/></iq>");
        var asked = await device.Receives(e => e.Name == "iq" && e.Type == "get", "the stranger's request");
        Assert.Equal(bob.Jid.ToString(), asked.From);
        await device.Sends($"<iq type='error' id='{asked.Id}' to='{bob.Jid}'><error type='cancel'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Access denied.</text></error></iq>");
        AssertForbiddenCancel(await bob.Receives(e => e.Name == "iq" && e.Id == "f1", "the device's refusal"));

        await device.Sends($"<message to='{bob.Jid}'>{Fields(1, "2026-03-07T16:00:00Z", "<boolean name='Door' status='true' value='true'/>")}</message>");
        await bob.Receives(e => e.Name == "message" && e.Child("fields", Sd) is not null, "the report");
        await Offline(device);
        AssertForbiddenCancel(await bob.Query($"<iq type='get' id='f2' to='{device.Jid.Bare}'><req xmlns='{Sd}' seqnr='2' all='true'/></iq>"));
    }
}
