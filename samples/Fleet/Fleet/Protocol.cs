namespace Samples.Fleet;

/// <summary>The protocol values the fleet and the dashboard use (namespaces, names of the simulated fields).</summary>
public static class Protocol
{
    public const string Client = "jabber:client";
    public const string Streams = "http://etherx.jabber.org/streams";
    public const string StartTls = "urn:ietf:params:xml:ns:xmpp-tls";
    public const string Sasl = "urn:ietf:params:xml:ns:xmpp-sasl";
    public const string Bind = "urn:ietf:params:xml:ns:xmpp-bind";
    public const string StanzaErrors = "urn:ietf:params:xml:ns:xmpp-stanzas";
    public const string Register = "jabber:iq:register";
    public const string PubSub = "http://jabber.org/protocol/pubsub";
    public const string PubSubEvent = "http://jabber.org/protocol/pubsub#event";
    public const string PubSubErrors = "http://jabber.org/protocol/pubsub#errors";
    /// <summary>XEP-0323 sensor data.</summary>
    public const string SensorData = "urn:xmpp:iot:sensordata";
    /// <summary>XEP-0325 control.</summary>
    public const string Control = "urn:xmpp:iot:control";
    /// <summary>The MQTT bridge's item payload (README, "MQTT bridge").</summary>
    public const string MqttPayload = "urn:actors:mqtt:0";

    /// <summary>IQ types (RFC 6120 §8.2.3) and the stanza error types the devices use (§8.3.2).</summary>
    public const string Get = "get";
    public const string Set = "set";
    public const string Result = "result";
    public const string Error = "error";
    public const string ErrorModify = "modify";
    public const string ErrorCancel = "cancel";
    public const string ErrorWait = "wait";

    /// <summary>The PubSub node (and MQTT topic) of a device: <c>fleet/&lt;user&gt;</c>.</summary>
    public const string NodePrefix = "fleet/";
    /// <summary>The momentary field every simulated device reports.</summary>
    public const string TemperatureField = "Temperature";
    public const string TemperatureUnit = "°C";
    /// <summary>The XEP-0325 parameters a simulated device accepts: a set point (double) and an output (boolean).</summary>
    public const string SetPointParameter = "SetPoint";
    public const string OutputParameter = "Output";
    public const string DoubleType = "double";
    public const string BooleanType = "boolean";

    public static string NodeOf(string user) => NodePrefix + user;
    public static string DeviceUser(string prefix, int index) => prefix + index.ToString("D5", System.Globalization.CultureInfo.InvariantCulture);
}
