using System.Net;
using System.Net.Sockets;

namespace Actors.Plugins.Tests.Mqtt;

/// <summary>Debian's mosquitto-clients (mosquitto_pub, mosquitto_sub) against the bridge, over TCP, MQTT 5.</summary>
public static class Mosquitto
{
    /// <summary>A free port on 127.0.0.1 for the bridge's listener (this test's own: others run at the same time).</summary>
    public static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static List<string> Common(int port, string user, string password, string clientId) =>
        ["-h", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-V", "mqttv5",
         "-u", user, "-P", password, "-i", clientId];

    /// <summary>mosquitto_pub: one message to <paramref name="topic"/> at <paramref name="qos"/>.</summary>
    public static Task<ExternalProgram.Outcome> PublishAsync(int port, string user, string password, string topic, string message, int qos = 1, string? clientId = null, params string[] extra)
    {
        var args = Common(port, user, password, clientId ?? "pub-" + Guid.NewGuid().ToString("N")[..8]);
        args.AddRange(["-t", topic, "-m", message, "-q", qos.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        args.AddRange(extra);
        return RunAsync("mosquitto_pub", args, TimeSpan.FromSeconds(30));
    }

    /// <summary>Starts mosquitto_sub on <paramref name="topic"/>, exiting after <paramref name="count"/> messages or
    /// <paramref name="seconds"/> without one; each message line is "topic payload" (-v).</summary>
    public static Task<ExternalProgram.Outcome> SubscribeAsync(int port, string user, string password, string topic, string clientId, int count = 1, int seconds = 30, params string[] extra)
    {
        var args = Common(port, user, password, clientId);
        args.AddRange(["-t", topic, "-q", "1", "-v", "-C", count.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-W", seconds.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        args.AddRange(extra);
        return RunAsync("mosquitto_sub", args, TimeSpan.FromSeconds(seconds + 30));
    }

    private static Task<ExternalProgram.Outcome> RunAsync(string program, List<string> args, TimeSpan timeout) =>
        ExternalProgram.RunAsync(program, args, timeout);
}
