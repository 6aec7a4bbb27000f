using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Actors.Xmpp;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Tests.Mqtt;

/// <summary>
/// MQTT over TLS (the 'mqtt' plugin's Xmpp:Plugins:mqtt:TlsPort): the bridge presents the server's own certificate
/// (Xmpp:Tls:CertificatePath, here issued by a test CA for "localhost"), and Debian's mosquitto clients verify it with
/// that CA (--cafile): a PUBLISH over TLS reaches an XMPP subscriber, an XMPP item reaches mosquitto_sub over TLS, and a
/// client trusting another CA does not connect.
/// </summary>
public sealed class MqttTlsSpec : IAsyncLifetime
{
    private const string Service = "pubsub.localhost";
    private const string PubSub = "http://jabber.org/protocol/pubsub";
    private const string Owner = "http://jabber.org/protocol/pubsub#owner";
    private const string Event = "http://jabber.org/protocol/pubsub#event";
    private const string MqttNs = "urn:actors:mqtt:0";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mqtts-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly int _tlsPort = Mosquitto.FreePort();
    private TestServer _server = null!;
    private string _caFile = null!;
    private string _otherCaFile = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        using var ca = TestCertificates.Make("Test MQTT CA", null, isCa: true);
        using var other = TestCertificates.Make("Another CA", null, isCa: true);
        using var leaf = TestCertificates.Make("localhost", ca);
        _caFile = Write("ca.pem", ca.ExportCertificatePem());
        _otherCaFile = Write("other-ca.pem", other.ExportCertificatePem());
        var certFile = Write("cert.pem", leaf.ExportCertificatePem() + "\n" + ca.ExportCertificatePem());
        var keyFile = Write("key.pem", leaf.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        _server = await TestServer.StartAsync(["disco", "pubsub", "mqtt"], new Dictionary<string, string?>
        {
            ["Xmpp:Tls:CertificatePath"] = certFile,
            ["Xmpp:Tls:KeyPath"] = keyFile,
            ["Xmpp:Plugins:mqtt:Enabled"] = "true",
            ["Xmpp:Plugins:mqtt:Port"] = Mosquitto.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Xmpp:Plugins:mqtt:TlsPort"] = _tlsPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
    }

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>mosquitto's TLS options: the CA to verify the server with; --insecure skips only the host name check
    /// (the clients connect to 127.0.0.1, the certificate names localhost), the chain is still verified.</summary>
    private static string[] Tls(string caFile) => ["--cafile", caFile, "--insecure"];

    private static async Task<Element> Ok(XmppTestClient c, string iq)
    {
        var reply = await c.Query(iq);
        Assert.True(reply.Type == "result", $"expected a result, got {reply}");
        return reply;
    }

    [Fact]
    public async Task Mqtt5_4_2_a_PUBLISH_over_TLS_verified_with_the_servers_CA_reaches_an_XMPP_subscriber()
    {
        var node = "tls/t1-" + Guid.NewGuid().ToString("N")[..8];
        await using var alice = await _server.LoginAsync("alice");
        await Ok(alice, $"<iq type='set' id='c1' to='{Service}'><pubsub xmlns='{PubSub}'><create node='{node}'/></pubsub></iq>");
        await Ok(alice, $"<iq type='set' id='s1' to='{Service}'><pubsub xmlns='{PubSub}'><subscribe node='{node}' jid='{alice.Jid}'/></pubsub></iq>");

        var published = await Mosquitto.PublishAsync(_tlsPort, "alice@localhost", TestServer.Password, node, "22.5", qos: 1, extra: Tls(_caFile));
        Assert.True(published.ExitCode == 0, published.ToString());
        var n = await alice.Receives(e => e.Name == "message" && e.Child("event", Event)?.Child("items", Event)?.Attr("node") == node, "the notification");
        Assert.Equal("22.5", n.Child("event", Event)!.Child("items", Event)!.Child("item", Event)!.Child("message", MqttNs)?.Text);

        // a client that trusts another CA refuses the server's certificate: nothing is published
        var refused = await Mosquitto.PublishAsync(_tlsPort, "alice@localhost", TestServer.Password, node, "99", qos: 1, extra: Tls(_otherCaFile));
        Assert.True(refused.ExitCode != 0, refused.ToString());
    }

    [Fact]
    public async Task Mqtt5_4_2_an_item_published_over_XMPP_reaches_mosquitto_sub_over_TLS()
    {
        var node = "tls/setpoint-" + Guid.NewGuid().ToString("N")[..8];
        await using var alice = await _server.LoginAsync("alice");
        await Ok(alice, $"<iq type='set' id='c1' to='{Service}'><pubsub xmlns='{PubSub}'><create node='{node}'/></pubsub></iq>");
        var clientId = "sub-" + Guid.NewGuid().ToString("N")[..8];
        var received = Mosquitto.SubscribeAsync(_tlsPort, "bob@localhost", TestServer.Password, node, clientId, extra: Tls(_caFile));
        var address = $"bob@localhost/mqtt/{clientId}";
        var until = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var subs = await Ok(alice, $"<iq type='get' id='{alice.NextId()}' to='{Service}'><pubsub xmlns='{Owner}'><subscriptions node='{node}'/></pubsub></iq>");
            if (subs.Child("pubsub", Owner)!.Child("subscriptions", Owner)!.Elements("subscription", Owner).Any(s => s.Attr("jid") == address)) break;
            Assert.True(DateTime.UtcNow < until, "mosquitto_sub never subscribed over TLS");
            await Task.Delay(50);
        }
        await Ok(alice, $"<iq type='set' id='p1' to='{Service}'><pubsub xmlns='{PubSub}'><publish node='{node}'><item><message xmlns='{MqttNs}'>19.0</message></item></publish></pubsub></iq>");
        var outcome = await received;
        Assert.True(outcome.ExitCode == 0, outcome.ToString());
        Assert.Equal($"{node} 19.0", outcome.Stdout.Trim());
    }
}
