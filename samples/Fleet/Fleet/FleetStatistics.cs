namespace Samples.Fleet;

/// <summary>What the fleet did, counted from every device's task (Interlocked counters).</summary>
public sealed class FleetStatistics
{
    public long XmppConnected;
    public long MqttConnected;
    public long Registered;
    public long ConnectFailures;
    public long Disconnected;
    public long ReadingsPublished;
    public long PublishFailures;
    public long ReadoutsAnswered;
    public long ControlSetsAnswered;
    public long ControlSetsRefused;
    public long ReadoutsRefused;

    public long Connected => Interlocked.Read(ref XmppConnected) + Interlocked.Read(ref MqttConnected);

    public Snapshot Take() => new(Interlocked.Read(ref XmppConnected), Interlocked.Read(ref MqttConnected), Interlocked.Read(ref Registered),
        Interlocked.Read(ref ConnectFailures), Interlocked.Read(ref Disconnected), Interlocked.Read(ref ReadingsPublished),
        Interlocked.Read(ref PublishFailures), Interlocked.Read(ref ReadoutsAnswered), Interlocked.Read(ref ControlSetsAnswered),
        Interlocked.Read(ref ReadoutsRefused), Interlocked.Read(ref ControlSetsRefused));

    public sealed record Snapshot(long XmppConnected, long MqttConnected, long Registered, long ConnectFailures, long Disconnected,
        long ReadingsPublished, long PublishFailures, long ReadoutsAnswered, long ControlSetsAnswered, long ReadoutsRefused, long ControlSetsRefused)
    {
        public long Errors => ConnectFailures + Disconnected + PublishFailures;
    }
}
