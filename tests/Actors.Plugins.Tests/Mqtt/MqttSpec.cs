using Actors.Xmpp;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Tests.Mqtt;

/// <summary>One server with the MQTT bridge on a port of its own (each test uses its own topics and client ids).</summary>
public sealed class MqttServer : IAsyncLifetime
{
    public TestServer Server { get; private set; } = null!;
    public int Port { get; } = Mosquitto.FreePort();

    public async Task InitializeAsync()
    {
        Server = await TestServer.StartAsync(["disco", "pubsub", "mqtt"], new Dictionary<string, string?>
        {
            ["Xmpp:Plugins:mqtt:Enabled"] = "true",
            ["Xmpp:Plugins:mqtt:Port"] = Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>
/// The MQTT 5 bridge (the 'mqtt' plugin) with a real MQTT client, Debian's mosquitto-clients, on one side and XMPP
/// clients on the other: an MQTT topic is the PubSub node of the same name at pubsub.localhost, an MQTT message an
/// item whose payload is &lt;message xmlns='urn:actors:mqtt:0'&gt;, and both sides meet the same access rules.
/// </summary>
public sealed class MqttSpec(MqttServer fixture) : IClassFixture<MqttServer>
{
    private const string Service = "pubsub.localhost";
    private const string PubSub = "http://jabber.org/protocol/pubsub";
    private const string Owner = "http://jabber.org/protocol/pubsub#owner";
    private const string Event = "http://jabber.org/protocol/pubsub#event";
    private const string MqttNs = "urn:actors:mqtt:0";
    private const string Password = TestServer.Password;
    private TestServer Server => fixture.Server;
    private int Port => fixture.Port;

    private static string Unique(string name) => name + "-" + Guid.NewGuid().ToString("N")[..8];

    private static async Task<Element> Ok(XmppTestClient c, string iq)
    {
        var reply = await c.Query(iq);
        Assert.True(reply.Type == "result", $"expected a result, got {reply}");
        return reply;
    }

    private static Task<Element> Create(XmppTestClient c, string node, string? config = null) =>
        Ok(c, $"<iq type='set' id='{c.NextId()}' to='{Service}'><pubsub xmlns='{PubSub}'><create node='{node}'/>{(config is null ? "" : $"<configure><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field>{config}</x></configure>")}</pubsub></iq>");

    private static Task<Element> Subscribe(XmppTestClient c, string node) =>
        Ok(c, $"<iq type='set' id='{c.NextId()}' to='{Service}'><pubsub xmlns='{PubSub}'><subscribe node='{node}' jid='{c.Jid}'/></pubsub></iq>");

    private static Task<Element> Publish(XmppTestClient c, string node, string payload) =>
        Ok(c, $"<iq type='set' id='{c.NextId()}' to='{Service}'><pubsub xmlns='{PubSub}'><publish node='{node}'><item>{payload}</item></publish></pubsub></iq>");

    private static Task<Element> Notification(XmppTestClient c, string node) =>
        c.Receives(e => e.Name == "message" && e.From == Service && e.Child("event", Event)?.Child("items", Event)?.Attr("node") == node,
            $"a notification from node {node}");

    private static Element Payload(Element notification) =>
        notification.Child("event", Event)!.Child("items", Event)!.Child("item", Event)!.FirstChild()!;

    /// <summary>The node's subscriptions as its owner sees them (XEP-0060 §8.8.1): "jid=state".</summary>
    private static async Task<string[]> Subscriptions(XmppTestClient owner, string node)
    {
        var reply = await Ok(owner, $"<iq type='get' id='{owner.NextId()}' to='{Service}'><pubsub xmlns='{Owner}'><subscriptions node='{node}'/></pubsub></iq>");
        return reply.Child("pubsub", Owner)!.Child("subscriptions", Owner)!.Elements("subscription", Owner)
            .Select(s => s.Attr("jid") + "=" + s.Attr("subscription")).ToArray();
    }

    /// <summary>Waits until <paramref name="address"/> is subscribed to <paramref name="node"/> (a mosquitto_sub started in the background).</summary>
    private static async Task UntilSubscribed(XmppTestClient owner, string node, string address, bool subscribed = true)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var has = (await Subscriptions(owner, node)).Contains(address + "=subscribed");
            if (has == subscribed) return;
            if (DateTime.UtcNow > until) throw new TimeoutException($"{address} {(subscribed ? "never subscribed to" : "stayed subscribed to")} {node}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Mqtt5_3_3_a_PUBLISH_from_mosquitto_pub_is_an_Xep0060_7_1_publish_that_XMPP_subscribers_are_notified_of()
    {
        var node = Unique("sensors/t1");
        await using var alice = await Server.LoginAsync("alice");
        await using var bob = await Server.LoginAsync("bob");
        await Create(alice, node);
        await Subscribe(bob, node);

        var published = await Mosquitto.PublishAsync(Port, "alice@localhost", Password, node, "21.5", qos: 1);
        Assert.True(published.ExitCode == 0, published.ToString());

        var payload = Payload(await Notification(bob, node)); // XEP-0060 §7.1.2.1: the notification carries the payload
        Assert.True(payload.Is("message", MqttNs), payload.ToString());
        Assert.Equal("21.5", payload.Text);
        Assert.Null(payload.Attr("encoding"));
        var items = await Ok(bob, $"<iq type='get' id='{bob.NextId()}' to='{Service}'><pubsub xmlns='{PubSub}'><items node='{node}'/></pubsub></iq>");
        var item = items.Child("pubsub", PubSub)!.Child("items", PubSub)!.Child("item", PubSub)!;
        Assert.Equal("21.5", item.Child("message", MqttNs)?.Text); // §6.5: the item is stored as any other
    }

    [Fact]
    public async Task Mqtt5_3_3_2_3_9_a_message_XML_cannot_carry_as_text_is_an_item_in_base64_and_the_content_type_is_kept()
    {
        var node = Unique("sensors/raw");
        await using var alice = await Server.LoginAsync("alice");
        await Create(alice, node);
        await Subscribe(alice, node);

        var published = await Mosquitto.PublishAsync(Port, "alice@localhost", Password, node, "a\rb\u0001", qos: 1, extra: ["-D", "publish", "content-type", "application/octet-stream"]);
        Assert.True(published.ExitCode == 0, published.ToString());

        var payload = Payload(await Notification(alice, node));
        Assert.Equal("base64", payload.Attr("encoding"));
        Assert.Equal("application/octet-stream", payload.Attr("content-type"));
        Assert.Equal("a\rb\u0001"u8.ToArray(), Convert.FromBase64String(payload.Text));
    }

    [Fact]
    public async Task Xep0060_7_1_2_1_an_item_published_over_XMPP_reaches_a_mosquitto_sub_subscriber_as_an_MQTT_message()
    {
        var node = Unique("dashboard/setpoint");
        await using var alice = await Server.LoginAsync("alice");
        await Create(alice, node);
        var clientId = Unique("sub");
        var received = Mosquitto.SubscribeAsync(Port, "bob@localhost", Password, node, clientId, count: 2);
        await UntilSubscribed(alice, node, $"bob@localhost/mqtt/{clientId}");

        await Publish(alice, node, $"<message xmlns='{MqttNs}'>19 &amp; rising</message>"); // an MQTT message: its text
        await Publish(alice, node, "<reading xmlns='urn:example:sensor' value='19'/>");    // any other payload: its XML

        var outcome = await received;
        Assert.True(outcome.ExitCode == 0, outcome.ToString());
        var lines = outcome.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.Equal($"{node} 19 & rising", lines[0]);
        Assert.StartsWith($"{node} <reading xmlns=", lines[1]);
        Assert.Contains("value=", lines[1]);
    }

    [Fact]
    public async Task Mqtt5_3_3_a_message_from_one_MQTT_client_reaches_another_through_the_PubSub_node()
    {
        var node = Unique("fleet/t2");
        var clientId = Unique("sub");
        await using var alice = await Server.LoginAsync("alice");
        await Create(alice, node);
        var received = Mosquitto.SubscribeAsync(Port, "bob@localhost", Password, node, clientId);
        await UntilSubscribed(alice, node, $"bob@localhost/mqtt/{clientId}");

        var published = await Mosquitto.PublishAsync(Port, "alice@localhost", Password, node, "{\"t\":20.25}", qos: 0);
        Assert.True(published.ExitCode == 0, published.ToString());

        var outcome = await received;
        Assert.True(outcome.ExitCode == 0, outcome.ToString());
        Assert.Equal($"{node} {{\"t\":20.25}}", outcome.Stdout.Trim());
    }

    [Fact]
    public async Task Mqtt5_3_2_2_2_a_wrong_password_an_unknown_account_and_a_user_name_that_is_not_a_JID_are_refused_with_0x86()
    {
        var wrong = await Mosquitto.PublishAsync(Port, "alice@localhost", "not-the-password", "x/y", "1");
        Assert.NotEqual(0, wrong.ExitCode);
        Assert.Contains("bad user name or password", wrong.Stderr, StringComparison.OrdinalIgnoreCase);

        var unknown = await Mosquitto.PublishAsync(Port, "nobody@localhost", Password, "x/y", "1");
        Assert.NotEqual(0, unknown.ExitCode);
        Assert.Contains("bad user name or password", unknown.Stderr, StringComparison.OrdinalIgnoreCase);

        var notJid = await Mosquitto.PublishAsync(Port, "alice", Password, "x/y", "1");
        Assert.NotEqual(0, notJid.ExitCode);
        Assert.Contains("bad user name or password", notJid.Stderr, StringComparison.OrdinalIgnoreCase);

        var right = await Mosquitto.PublishAsync(Port, "alice@localhost", Password, Unique("x/y"), "1");
        Assert.True(right.ExitCode == 0, right.ToString());
    }

    [Fact]
    public async Task Xep0060_7_1_3_1_a_topic_the_account_may_not_publish_to_is_refused_with_PUBACK_0x87_and_nobody_is_notified()
    {
        var node = Unique("alice/only");
        await using var alice = await Server.LoginAsync("alice");
        await Create(alice, node); // pubsub#publish_model 'publishers': only alice publishes
        await Subscribe(alice, node);

        var refused = await Mosquitto.PublishAsync(Port, "bob@localhost", Password, node, "intrusion", qos: 1, extra: "-d");
        Assert.True(refused.Stdout.Contains("received PUBACK (Mid: 1, RC:135)", StringComparison.Ordinal), refused.ToString()); // 0x87 Not authorized
        Assert.Contains("Not authorized", refused.Stderr);

        var allowed = await Mosquitto.PublishAsync(Port, "alice@localhost", Password, node, "mine", qos: 1);
        Assert.True(allowed.ExitCode == 0, allowed.ToString());
        Assert.Equal("mine", Payload(await Notification(alice, node)).Text); // the first and only notification
    }

    [Fact]
    public async Task Xep0060_8_1_publishing_to_a_topic_without_a_node_creates_it_owned_by_the_publishing_account()
    {
        var node = Unique("new/topic");
        var published = await Mosquitto.PublishAsync(Port, "bob@localhost", Password, node, "first", qos: 1);
        Assert.True(published.ExitCode == 0, published.ToString());

        await using var bob = await Server.LoginAsync("bob");
        var affiliations = await Ok(bob, $"<iq type='get' id='{bob.NextId()}' to='{Service}'><pubsub xmlns='{PubSub}'><affiliations/></pubsub></iq>");
        Assert.Contains(affiliations.Child("pubsub", PubSub)!.Child("affiliations", PubSub)!.Elements("affiliation", PubSub),
            a => a.Attr("node") == node && a.Attr("affiliation") == "owner");
        var items = await Ok(bob, $"<iq type='get' id='{bob.NextId()}' to='{Service}'><pubsub xmlns='{PubSub}'><items node='{node}'/></pubsub></iq>");
        Assert.Equal("first", items.Child("pubsub", PubSub)!.Child("items", PubSub)!.Child("item", PubSub)!.Child("message", MqttNs)?.Text);
    }

    [Fact]
    public async Task Xep0060_6_1_3_a_subscription_the_node_access_model_refuses_is_refused_with_SUBACK_0x87()
    {
        var node = Unique("private/feed");
        await using var alice = await Server.LoginAsync("alice");
        await Create(alice, node, "<field var='pubsub#access_model'><value>whitelist</value></field>");

        var refused = await Mosquitto.SubscribeAsync(Port, "bob@localhost", Password, node, Unique("sub"), seconds: 5, extra: "-d");
        Assert.True(refused.Stderr.Contains("All subscription requests were denied", StringComparison.Ordinal), refused.ToString());
        Assert.Contains("Subscribed (mid: 1): 135", refused.Stdout); // SUBACK reason code 0x87 Not authorized
        Assert.Empty(await Subscriptions(alice, node));
    }

    [Fact]
    public async Task Mqtt5_3_9_3_a_wildcard_subscription_is_refused_with_0xA2()
    {
        var refused = await Mosquitto.SubscribeAsync(Port, "alice@localhost", Password, "sensors/#", Unique("sub"), seconds: 5, extra: "-d");
        Assert.True(refused.Stderr.Contains("All subscription requests were denied", StringComparison.Ordinal), refused.ToString());
        Assert.Contains("Subscribed (mid: 1): 162", refused.Stdout); // SUBACK reason code 0xA2 Wildcard Subscriptions not supported
    }

    [Fact]
    public async Task Xep0060_6_2_the_bridge_subscription_ends_when_the_MQTT_client_disconnects()
    {
        var node = Unique("short/lived");
        var clientId = Unique("sub");
        await using var alice = await Server.LoginAsync("alice");
        await Create(alice, node);
        var received = Mosquitto.SubscribeAsync(Port, "bob@localhost", Password, node, clientId);
        await UntilSubscribed(alice, node, $"bob@localhost/mqtt/{clientId}");
        await Publish(alice, node, $"<message xmlns='{MqttNs}'>bye</message>");
        Assert.Equal(0, (await received).ExitCode); // -C 1: gone after one message

        await UntilSubscribed(alice, node, $"bob@localhost/mqtt/{clientId}", subscribed: false);
    }
}
