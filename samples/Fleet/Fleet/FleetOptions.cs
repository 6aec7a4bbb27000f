namespace Samples.Fleet;

/// <summary>The simulator's settings (the CLI's options, Program.cs).</summary>
public sealed record FleetOptions
{
    public int Devices { get; init; } = 10_000;
    /// <summary>The fraction of the devices on MQTT (0–1): the last ones by index.</summary>
    public double MqttShare { get; init; }
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; } = 5222;
    public int MqttPort { get; init; } = 1883;
    public string Domain { get; init; } = "localhost";
    /// <summary>Readings per device per minute; 0: one reading on connect, then idle.</summary>
    public double Rate { get; init; } = 6;
    public string UserPrefix { get; init; } = "dev";
    public string Password { get; init; } = "fleet-secret";
    public string Resource { get; init; } = "sensor";
    /// <summary>Create the accounts first with XEP-0077 in-band registration (an account that exists is fine).</summary>
    public bool Register { get; init; }
    /// <summary>Logins (and registrations) in flight at once.</summary>
    public int Concurrency { get; init; } = 100;
    public string? PubSubServiceOverride { get; init; }
    public string PubSubService => PubSubServiceOverride ?? "pubsub." + Domain;

    public int MqttDevices => (int)Math.Round(Devices * Math.Clamp(MqttShare, 0, 1));
    public bool IsMqtt(int index) => index > Devices - MqttDevices;
    public string UserOf(int index) => Protocol.DeviceUser(UserPrefix, index);
}
