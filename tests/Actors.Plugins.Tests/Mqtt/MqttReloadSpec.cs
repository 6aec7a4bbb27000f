using Actors.Xmpp.Testing;

namespace Actors.Plugins.Tests.Mqtt;

/// <summary>The bridge across a reload of its plugin (a server of its own: the reload would disturb other tests).</summary>
public sealed class MqttReloadSpec
{
    private const string Service = "pubsub.localhost";
    private const string PubSub = "http://jabber.org/protocol/pubsub";

    private static async Task<bool> Subscribed(XmppTestClient owner, string node, string clientId) =>
        (await owner.Query($"<iq type='get' id='{owner.NextId()}' to='{Service}'><pubsub xmlns='{PubSub}#owner'><subscriptions node='{node}'/></pubsub></iq>"))
        .ToString().Contains("/mqtt/" + clientId, StringComparison.Ordinal);

    private static async Task Until(Func<Task<bool>> condition, string what)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < until, what);
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task A_reload_closes_the_MQTT_clients_ends_their_subscriptions_rebinds_the_port_and_the_old_code_is_collected()
    {
        var port = Mosquitto.FreePort();
        await using var server = await TestServer.StartAsync(["disco", "pubsub", "mqtt"], new Dictionary<string, string?>
        {
            ["Xmpp:Plugins:mqtt:Enabled"] = "true",
            ["Xmpp:Plugins:mqtt:Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        await using var alice = await server.LoginAsync("alice");
        var node = "reload/" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal("result", (await alice.Query($"<iq type='set' id='c1' to='{Service}'><pubsub xmlns='{PubSub}'><create node='{node}'/></pubsub></iq>")).Type);
        var before = Mosquitto.SubscribeAsync(port, "bob@localhost", TestServer.Password, node, "before-reload", count: 1, seconds: 60);
        await Until(() => Subscribed(alice, node, "before-reload"), "mosquitto_sub never subscribed");

        var reload = await server.Plugins.ReloadAsync("mqtt");
        Assert.True(reload.Ok, reload.Message);
        Assert.True(TestServer.AllCollected(reload.Released), "the old load context of the mqtt plugin (MQTTnet with it) is still alive after reload");
        var closed = await before; // MQTT 5 §3.14: the server's DISCONNECT (server shutting down) ends it, with no message
        Assert.True(closed.Stdout.Length == 0, closed.ToString());
        await Until(async () => !await Subscribed(alice, node, "before-reload"), "the closed client's subscription did not end");

        var after = DateTime.UtcNow.AddSeconds(30);
        ExternalProgram.Outcome published;
        do published = await Mosquitto.PublishAsync(port, "alice@localhost", TestServer.Password, node, "after", qos: 1);
        while (published.ExitCode != 0 && DateTime.UtcNow < after && await Task.Delay(200).ContinueWith(_ => true));
        Assert.True(published.ExitCode == 0, published.ToString()); // the new listener has the port
        var received = await Mosquitto.SubscribeAsync(port, "bob@localhost", TestServer.Password, node, "after-reload", count: 1, seconds: 20);
        Assert.True(received.ExitCode == 0, received.ToString());
        Assert.Equal($"{node} after", received.Stdout.Trim()); // the last item, on subscription (XEP-0060 §6.1.7)
    }
}
