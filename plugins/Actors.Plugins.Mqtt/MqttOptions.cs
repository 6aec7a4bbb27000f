using System.ComponentModel.DataAnnotations;
using System.Net;

namespace Actors.Plugins.Mqtt;

/// <summary>Options (section Xmpp:Plugins:mqtt).</summary>
public sealed class MqttOptions : IValidatableObject
{
    /// <summary>Off unless set: the bridge opens a TCP port, so an operator turns it on.</summary>
    public bool Enabled { get; set; }

    /// <summary>The MQTT listener's port (1883 is MQTT's own).</summary>
    [Range(1, 65535)] public int Port { get; set; } = 1883;

    /// <summary>The MQTT over TLS listener's port (8883 is MQTT's own), 0 for none: it presents the server's own
    /// certificate (Xmpp:Tls, or the self-signed one), TLS 1.2 or 1.3, on the same address.</summary>
    [Range(0, 65535)] public int TlsPort { get; set; }

    /// <summary>The address the listener binds (plain TCP: passwords cross it in the clear, so loopback by default).</summary>
    [Required] public string BindAddress { get; set; } = "127.0.0.1";

    /// <summary>The PubSub service topics map onto: &lt;PubSubSubdomain&gt;.&lt;the account's domain&gt; (Xmpp:PubSub:Subdomain).</summary>
    [Required, RegularExpression("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")]
    public string PubSubSubdomain { get; set; } = "pubsub";

    /// <summary>An MQTT client of account A with client id C is the XMPP address A/&lt;ResourcePrefix&gt;C.</summary>
    [Required, StringLength(64, MinimumLength = 1)] public string ResourcePrefix { get; set; } = "mqtt/";

    /// <summary>How long the bridge waits for the PubSub service's answer to one request.</summary>
    [Range(0.5, 600)] public double RequestTimeoutSeconds { get; set; } = 10;

    /// <summary>Messages one MQTT client may have queued unsent (MQTTnet's pending queue; the oldest go first beyond).</summary>
    [Range(1, 1_000_000)] public int MaxPendingMessagesPerClient { get; set; } = 1000;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!IPAddress.TryParse(BindAddress, out _))
            yield return new ValidationResult("not an IP address", [nameof(BindAddress)]);
    }
}
