using Actors.Xmpp.Testing;

namespace Samples.IotDevice.Tests;

public sealed class ThermometerSpec : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(["disco", "iot-thermometer"], new Dictionary<string, string?>
    {
        ["Xmpp:Plugins:iot-thermometer:IntervalMs"] = "200",
        ["Xmpp:Plugins:iot-thermometer:Readings:0"] = "21.5",
        ["Xmpp:Plugins:iot-thermometer:Readings:1"] = "30",
    });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Device_advertises_its_namespace_and_answers_with_a_reading()
    {
        await using var alice = await _server.LoginAsync("alice");
        Assert.True(await alice.IsFeatureAdvertised("urn:example:iot:0", to: "thermometer.localhost"));
        await alice.Sends("<iq type='get' id='r1' to='thermometer.localhost'><reading xmlns='urn:example:iot:0'/></iq>");
        await alice.Receives("<iq type='result' id='r1' from='thermometer.localhost'><reading xmlns='urn:example:iot:0' unit='Cel'/></iq>");
        await alice.Sends("<iq type='set' id='r2' to='thermometer.localhost'><reading xmlns='urn:example:iot:0'/></iq>");
        await alice.Receives("<iq type='error' id='r2'><error><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    }

    [Fact]
    public async Task Device_owns_its_address_and_is_listed_in_the_servers_disco_items()
    {
        await using var alice = await _server.LoginAsync("alice");
        await alice.Sends("<iq type='get' id='i1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>");
        await alice.Receives("<iq type='result' id='i1'><query xmlns='http://jabber.org/protocol/disco#items'><item jid='thermometer.localhost' name='Thermometer'/></query></iq>");
        // a reading asked of the server itself is not the device's business: the server answers (RFC 6120 §8.4)
        await alice.Sends("<iq type='get' id='r0' to='localhost'><reading xmlns='urn:example:iot:0'/></iq>");
        await alice.Receives("<iq type='error' id='r0' from='localhost'><error><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    }

    [Fact]
    public async Task Watchers_get_presence_when_the_state_changes()
    {
        await using var alice = await _server.LoginAsync("alice");
        await alice.Sends("<presence to='thermometer.localhost'/>");
        await alice.Receives("<presence from='thermometer.localhost'/>");
        await alice.Receives("<presence from='thermometer.localhost'><show>dnd</show></presence>");     // 30 °C: hot
        var normal = await alice.Receives("<presence from='thermometer.localhost'/>");              // 21.5 °C: normal again
        Assert.StartsWith("normal", normal.ChildText("status", "jabber:client"));
    }

    [Fact]
    public async Task Reload_keeps_the_watchers()
    {
        await using var alice = await _server.LoginAsync("alice");
        await alice.Sends("<presence to='thermometer.localhost'/>");
        await alice.Receives("<presence from='thermometer.localhost'/>");
        var result = await _server.Plugins.ReloadAsync("iot-thermometer");
        Assert.True(result.Ok, result.Message);
        Assert.True(TestServer.AllCollected(result.Released));
        await alice.Receives("<presence from='thermometer.localhost'><show>dnd</show></presence>");
    }
}
