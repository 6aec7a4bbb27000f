using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Samples.Fleet;

/// <summary>
/// A simulated MQTT device (MQTTnet's client, MQTT 5): logs in with its account's JID and password and publishes its
/// readings as JSON, QoS 1, to the topic <c>fleet/&lt;user&gt;</c>, which the server's bridge maps to the PubSub node
/// of the same name (README, "MQTT bridge"). MQTT has no request/response for read-outs or control, so these
/// devices only publish.
/// </summary>
public sealed class MqttDevice(FleetOptions options, string user, FleetStatistics stats) : IAsyncDisposable
{
    private readonly DeviceModel _model = new(user);
    private IMqttClient? _client;

    public string User => user;

    public async Task ConnectAsync(CancellationToken ct)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var connectOptions = new MqttClientOptionsBuilder()
            .WithTcpServer(options.Host, options.MqttPort)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithClientId(user)
            .WithCredentials(user + "@" + options.Domain, options.Password)
            .WithCleanStart()
            .WithTimeout(TimeSpan.FromSeconds(30))
            .Build();
        try
        {
            var result = await client.ConnectAsync(connectOptions, ct);
            if (result.ResultCode != MqttClientConnectResultCode.Success) throw new InvalidOperationException($"{user}: MQTT CONNACK {result.ResultCode}");
        }
        catch
        {
            client.Dispose();
            throw;
        }
        client.DisconnectedAsync += _ =>
        {
            if (!ct.IsCancellationRequested) Interlocked.Increment(ref stats.Disconnected);
            return Task.CompletedTask;
        };
        _client = client;
    }

    public async Task PublishAsync(CancellationToken ct)
    {
        var (seqnr, temperature) = _model.Next();
        var message = new MqttApplicationMessageBuilder()
            .WithTopic(Protocol.NodeOf(user))
            .WithPayload(Readings.Json(seqnr, temperature, DateTimeOffset.UtcNow))
            .WithContentType("application/json")
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build();
        var result = await _client!.PublishAsync(message, ct);
        Interlocked.Increment(ref result.IsSuccess ? ref stats.ReadingsPublished : ref stats.PublishFailures);
    }

    public async ValueTask DisposeAsync()
    {
        if (_client is not { } c) return;
        try
        {
            if (c.IsConnected) await c.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build());
        }
        catch (Exception e) when (e is OperationCanceledException or InvalidOperationException or MQTTnet.Exceptions.MqttCommunicationException) { }
        c.Dispose();
    }
}
