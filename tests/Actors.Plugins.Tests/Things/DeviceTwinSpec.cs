using Actors.Xmpp;
using Actors.Xmpp.Server;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;
using Microsoft.Extensions.DependencyInjection;

namespace Actors.Plugins.Tests.Things;

/// <summary>A server with the registry and PEP (the twins' nodes are PEP nodes of the devices' accounts).</summary>
public sealed class TwinServer : IAsyncLifetime
{
    public TestServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await TestServer.StartAsync(["disco", "pubsub", "things"]);

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>Device twins (the 'things' plugin over the 'pubsub' plugin's PEP), over TCP: a desired and a reported state
/// as whitelist PEP nodes of the device, the owner a publisher of the first and a member of the second.</summary>
public sealed class DeviceTwinSpec(TwinServer fixture) : IClassFixture<TwinServer>
{
    private const string Registry = "discovery.localhost";
    private const string IoT = "urn:xmpp:iot:discovery";
    private const string Sd = "urn:xmpp:iot:sensordata";
    private const string Control = "urn:xmpp:iot:control";
    private const string PubSub = "http://jabber.org/protocol/pubsub";
    private const string Event = "http://jabber.org/protocol/pubsub#event";
    private const string Caps = "http://jabber.org/protocol/caps";
    private const string Desired = "urn:actors:iot:twin:desired";
    private const string Reported = "urn:actors:iot:twin:reported";
    private TestServer Server => fixture.Server;

    private static string Unique() => Guid.NewGuid().ToString("N")[..12];

    private async Task<(XmppTestClient Device, XmppTestClient Owner)> ClaimedDevice()
    {
        var deviceUser = "device-" + Unique();
        var ownerUser = "owner-" + Unique();
        await Server.AddUserAsync(deviceUser);
        await Server.AddUserAsync(ownerUser);
        var device = await Server.LoginAsync(deviceUser, "sensor");
        var owner = await Server.LoginAsync(ownerUser, "phone");
        var tags = $"<str name='SN' value='{Unique()}'/><str name='KEY' value='{Unique()}'/>";
        Assert.Equal("result", (await device.Query($"<iq type='set' id='r1' to='{Registry}'><register xmlns='{IoT}'>{tags}</register></iq>")).Type);
        var claim = owner.Query($"<iq type='set' id='c1' to='{Registry}'><mine xmlns='{IoT}'>{tags}</mine></iq>");
        var told = await device.Receives(e => e.Name == "iq" && e.Type == "set" && e.Child("claimed", IoT) is not null, "<claimed/>");
        await device.Sends($"<iq type='result' id='{told.Id}' to='{Registry}'/>");
        Assert.Equal("result", (await claim).Type); // answered once the twin's nodes are made and the owner affiliated
        return (device, owner);
    }

    private async Task Offline(XmppTestClient device)
    {
        var bare = device.Jid.Bare;
        await device.DisposeAsync();
        var sessions = Server.Services.GetRequiredService<ServerContext>().Router.Sessions;
        for (var i = 0; i < 200 && sessions.Resources(bare).Count > 0; i++) await Task.Delay(50);
        Assert.Empty(sessions.Resources(bare));
    }

    /// <summary>Available presence with XEP-0115 caps saying +notify for <paramref name="node"/>; answers the server's
    /// disco#info for them (the only client with these caps on this server).</summary>
    private static async Task ComeOnlineWithCaps(XmppTestClient c, string node)
    {
        const string Client = "https://example.org/device";
        string Info(string n) => $"<query xmlns='{Ns.DiscoInfo}' node='{n}'><identity category='client' type='bot' name='Device'/><feature var='{Ns.DiscoInfo}'/><feature var='{node}+notify'/></query>";
        var ver = Actors.Xmpp.Plugins.EntityCapabilities.Ver(Element.Parse(Info(Client)))!;
        await c.Sends($"<presence><c xmlns='{Caps}' hash='sha-1' node='{Client}' ver='{ver}'/></presence>");
        var query = await c.Receives(e => e.Name == "iq" && e.Type == "get" && e.Child("query", Ns.DiscoInfo) is not null, "the server's disco#info for the caps");
        await c.Sends($"<iq type='result' id='{query.Id}' to='{query.From}'>{Info($"{Client}#{ver}")}</iq>");
    }

    private static string Condition(Element reply) =>
        reply.Child("error", Ns.Client)?.Elements().FirstOrDefault(e => e.Namespace == Ns.StanzaErrors)?.Name ?? "";

    [Fact]
    public async Task A_desired_state_published_by_the_owner_while_the_device_is_offline_reaches_the_device_when_it_reconnects()
    {
        var (device, owner) = await ClaimedDevice();
        await using var __ = owner;
        var user = device.Jid.Local!;
        var bare = device.Jid.Bare.ToString();
        await Offline(device);

        var published = await owner.Query($"<iq type='set' id='d1' to='{bare}'><pubsub xmlns='{PubSub}'><publish node='{Desired}'><item id='current'>" +
            $"<set xmlns='{Control}'><boolean name='Output' value='true'/></set></item></publish></pubsub></iq>");
        Assert.True(published.Type == "result", $"the owner publishes the desired state: {published}");

        // private: a stranger neither publishes nor reads it (whitelist, XEP-0060 §6.5.9.5 / §7.1.3.1)
        var bobUser = "stranger-" + Unique();
        await Server.AddUserAsync(bobUser);
        await using var bob = await Server.LoginAsync(bobUser, "pc");
        Assert.Equal("forbidden", Condition(await bob.Query($"<iq type='set' id='b1' to='{bare}'><pubsub xmlns='{PubSub}'><publish node='{Desired}'><item id='current'><set xmlns='{Control}'/></item></publish></pubsub></iq>")));
        Assert.Equal("error", (await bob.Query($"<iq type='get' id='b2' to='{bare}'><pubsub xmlns='{PubSub}'><items node='{Desired}'/></pubsub></iq>")).Type);

        await using var back = await Server.LoginAsync(user, "sensor");
        await ComeOnlineWithCaps(back, Desired);
        var notification = await back.Receives(e => e.Name == "message" && e.Child("event", Event)?.Child("items", Event)?.Attr("node") == Desired, "the desired state");
        var set = notification.Child("event", Event)!.Child("items", Event)!.Child("item", Event)!.Child("set", Control)!;
        Assert.Equal("Output", set.Child("boolean", Control)?.Attr("name"));
        Assert.Equal("true", set.Child("boolean", Control)?.Attr("value"));
    }

    [Fact]
    public async Task The_reported_state_follows_the_devices_readouts_and_only_its_owner_reads_it()
    {
        var (device, owner) = await ClaimedDevice();
        await using var _ = device;
        await using var __ = owner;
        var bare = device.Jid.Bare.ToString();
        await device.Sends($"<message to='{owner.Jid}'><fields xmlns='{Sd}' seqnr='1' done='true'><node nodeId='Device01'><timestamp value='2026-03-07T16:24:30Z'>" +
            "<numeric name='Temperature' momentary='true' automaticReadout='true' value='23.4' unit='°C'/></timestamp></node></fields></message>");
        await device.Sends($"<message to='{owner.Jid}'><fields xmlns='{Sd}' seqnr='2' done='true'><node nodeId='Device01'><timestamp value='2026-03-07T16:25:30Z'>" +
            "<numeric name='Temperature' momentary='true' automaticReadout='true' value='23.9' unit='°C'/></timestamp></node></fields></message>");

        Element? numeric = null;
        for (var i = 0; i < 100 && numeric?.Attr("value") != "23.9"; i++)
        {
            var items = await owner.Query($"<iq type='get' id='{owner.NextId()}' to='{bare}'><pubsub xmlns='{PubSub}'><items node='{Reported}'/></pubsub></iq>");
            Assert.True(items.Type == "result", $"the owner (member) reads the reported state: {items}");
            numeric = items.Child("pubsub", PubSub)?.Child("items", PubSub)?.Child("item", PubSub)?.FirstChild()?.Child("node", Sd)?.Child("timestamp", Sd)?.Child("numeric", Sd);
            if (numeric?.Attr("value") != "23.9") await Task.Delay(100);
        }
        Assert.Equal("23.9", numeric?.Attr("value"));
        Assert.Equal("Temperature", numeric?.Attr("name"));

        var bobUser = "stranger-" + Unique();
        await Server.AddUserAsync(bobUser);
        await using var bob = await Server.LoginAsync(bobUser, "pc");
        Assert.Equal("error", (await bob.Query($"<iq type='get' id='b1' to='{bare}'><pubsub xmlns='{PubSub}'><items node='{Reported}'/></pubsub></iq>")).Type);
    }
}
