using System.Net;
using System.Net.Sockets;
using Actors.Xmpp.Testing;
using Samples.Dashboard;
using Samples.Fleet;

namespace Samples.Fleet.Tests;

/// <summary>A server with PubSub, the MQTT bridge, the things plugin and in-band registration; a fleet of 50 devices,
/// 10 of them on MQTT, registered by the simulator; the dashboard logged in as alice and subscribed to every node.</summary>
public sealed class SmallFleet : IAsyncLifetime
{
    public const int Devices = 50;
    public TestServer Server { get; private set; } = null!;
    public FleetRunner Fleet { get; private set; } = null!;
    public FleetDashboard Dashboard { get; private set; } = null!;
    public IReadOnlyDictionary<string, string> SubscribeFailures { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var mqttPort = FreePort();
        Server = await TestServer.StartAsync(["disco", "pubsub", "mqtt", "things", "register"], new Dictionary<string, string?>
        {
            ["Xmpp:Registration:Enabled"] = "true",
            ["Xmpp:Registration:MaxPerAddress"] = "0",
            ["Xmpp:Plugins:mqtt:Enabled"] = "true",
            ["Xmpp:Plugins:mqtt:Port"] = mqttPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        Fleet = new FleetRunner(new FleetOptions
        {
            Devices = Devices, MqttShare = 0.2, Port = Server.C2sEndPoint.Port, MqttPort = mqttPort, Domain = TestServer.Domain,
            Rate = 60, Register = true, Concurrency = 10,
        });
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await Fleet.StartAsync(cts.Token);
        Dashboard = await FleetDashboard.ConnectAsync("127.0.0.1", Server.C2sEndPoint.Port, TestServer.Domain, "alice", TestServer.Password, false, cts.Token);
        SubscribeFailures = await Dashboard.SubscribeAsync(Enumerable.Range(1, Devices).Select(i => Fleet.Options.UserOf(i)), cts.Token);
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public async Task DisposeAsync()
    {
        await Dashboard.DisposeAsync();
        await Fleet.DisposeAsync();
        await Server.DisposeAsync();
    }
}

/// <summary>The fleet simulator and the dashboard end to end: devices registered (XEP-0077), logged in over XMPP and
/// MQTT, their readings delivered to a subscriber, and read-out and control round trips through the server's
/// 'things' plugin.</summary>
public sealed class FleetSpec(SmallFleet fixture) : IClassFixture<SmallFleet>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private const string FirstXmppDevice = "dev00001";
    private const string LastMqttDevice = "dev00050";

    [Fact]
    public void Xep0077_3_1_every_device_registers_and_logs_in_40_over_XMPP_and_10_over_MQTT()
    {
        var s = fixture.Fleet.Statistics.Take();
        Assert.Equal(SmallFleet.Devices, s.Registered);
        Assert.Equal(0, s.ConnectFailures);
        Assert.Equal(40, s.XmppConnected);
        Assert.Equal(10, s.MqttConnected);
        Assert.Empty(fixture.SubscribeFailures);
    }

    [Fact]
    public async Task Xep0060_7_1_2_1_readings_of_XMPP_and_MQTT_devices_reach_the_subscribed_dashboard()
    {
        var until = DateTime.UtcNow + Patience;
        while (fixture.Dashboard.Latest.Count < SmallFleet.Devices && DateTime.UtcNow < until) await Task.Delay(100);
        Assert.Equal(SmallFleet.Devices, fixture.Dashboard.Latest.Count);
        Assert.True(fixture.Fleet.Options.IsMqtt(50) && !fixture.Fleet.Options.IsMqtt(40));
        Assert.InRange(fixture.Dashboard.Latest[LastMqttDevice].Temperature, 10, 40);   // JSON over MQTT, as an item
        Assert.InRange(fixture.Dashboard.Latest[FirstXmppDevice].Temperature, 10, 40);  // XEP-0323 fields, as an item

        // readings keep coming: a device's later reading replaces its earlier one
        var seen = fixture.Dashboard.Latest[LastMqttDevice].SequenceNumber;
        until = DateTime.UtcNow + Patience;
        while (fixture.Dashboard.Latest[LastMqttDevice].SequenceNumber <= seen && DateTime.UtcNow < until) await Task.Delay(100);
        Assert.True(fixture.Dashboard.Latest[LastMqttDevice].SequenceNumber > seen);
        var s = fixture.Fleet.Statistics.Take();
        Assert.Equal(0, s.PublishFailures);
        Assert.Equal(0, s.Disconnected);
    }

    [Fact]
    public async Task Xep0323_3_1_a_momentary_readout_sent_to_a_devices_bare_JID_is_accepted_and_answered_with_its_fields()
    {
        using var cts = new CancellationTokenSource(Patience);
        var device = fixture.Fleet.XmppDevices.Single(d => d.User == FirstXmppDevice);
        var (before, _) = device.Model.Current();
        var reading = await fixture.Dashboard.ReadOutAsync(FirstXmppDevice, cts.Token);
        var (after, now) = device.Model.Current();
        Assert.Equal(FirstXmppDevice, reading.Device);
        // the device's value when it answered: the same as now, unless it published meanwhile (each reading moves it
        // by at most 0.5 + 0.025 degrees)
        Assert.InRange(Math.Abs(now - reading.Temperature), 0, 0.01 + (after - before) * 0.525);
        Assert.True(fixture.Fleet.Statistics.Take().ReadoutsAnswered >= 1);
    }

    [Fact]
    public async Task Xep0325_3_1_a_control_set_reaches_the_device_and_is_answered_and_3_1_3_an_unknown_parameter_is_a_bad_request()
    {
        using var cts = new CancellationTokenSource(Patience);
        const string device = "dev00002";
        var model = fixture.Fleet.XmppDevices.Single(d => d.User == device).Model;
        await fixture.Dashboard.SetAsync(device, Protocol.DoubleType, Protocol.SetPointParameter, "30.5", cts.Token);
        Assert.Equal(30.5, model.SetPoint);
        await fixture.Dashboard.SetAsync(device, Protocol.BooleanType, Protocol.OutputParameter, "true", cts.Token);
        Assert.True(model.Output);

        var refused = await Assert.ThrowsAsync<XmppException>(() => fixture.Dashboard.SetAsync(device, "int", "Valve", "1", cts.Token));
        var error = refused.Stanza!.Child("error", Protocol.Client)!;
        Assert.Equal("modify", error.Attr("type"));
        Assert.NotNull(error.Child("bad-request", Protocol.StanzaErrors));
        Assert.Equal("Valve", error.Child("paramError", Protocol.Control)?.Attr("var"));
        Assert.Equal(30.5, model.SetPoint); // nothing applied
    }

    [Fact]
    public async Task Xep0323_3_3_an_MQTT_device_has_no_XMPP_session_so_the_server_answers_a_stranger_for_it_with_forbidden()
    {
        using var cts = new CancellationTokenSource(Patience);
        // no bound resource: the things plugin answers from the device's twin, and only to the device, its owner and
        // its friends (docs/architecture.md, "The thing registry"); the dashboard is none of these for an unclaimed device
        var refused = await Assert.ThrowsAsync<XmppException>(() => fixture.Dashboard.ReadOutAsync(LastMqttDevice, cts.Token));
        var error = refused.Stanza?.Child("error", Protocol.Client);
        Assert.True(error?.Child("forbidden", Protocol.StanzaErrors) is not null, refused.Message);
        Assert.Equal("cancel", error!.Attr("type"));
    }
}
