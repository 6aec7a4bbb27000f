using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Samples.Fleet;

var devices = new Option<int>("--devices") { Description = "simulated devices", DefaultValueFactory = _ => 10_000 };
var mqttShare = new Option<double>("--mqtt-share") { Description = "fraction of the devices on MQTT (0-1; the last ones by index)", DefaultValueFactory = _ => 0 };
var host = new Option<string>("--host") { Description = "server address", DefaultValueFactory = _ => "127.0.0.1" };
var port = new Option<int>("--port") { Description = "XMPP client port", DefaultValueFactory = _ => 5222 };
var mqttPort = new Option<int>("--mqtt-port") { Description = "MQTT port of the server's bridge", DefaultValueFactory = _ => 1883 };
var domain = new Option<string>("--domain") { Description = "XMPP domain of the accounts", DefaultValueFactory = _ => "localhost" };
var rate = new Option<double>("--rate") { Description = "readings per device per minute (0: one reading on connect, then idle)", DefaultValueFactory = _ => 6 };
var prefix = new Option<string>("--prefix") { Description = "account names are PREFIX00001, PREFIX00002, ...", DefaultValueFactory = _ => "dev" };
var password = new Option<string>("--password") { Description = "the devices' password", DefaultValueFactory = _ => "fleet-secret" };
var register = new Option<bool>("--register") { Description = "create the accounts first by XEP-0077 in-band registration (existing ones are kept)" };
var concurrency = new Option<int>("--concurrency") { Description = "logins in flight at once", DefaultValueFactory = _ => 100 };
var pubsub = new Option<string?>("--pubsub") { Description = "PubSub service JID (default pubsub.DOMAIN)" };
var duration = new Option<double>("--duration") { Description = "seconds to run once connected (0: until Ctrl+C)", DefaultValueFactory = _ => 0 };
var every = new Option<double>("--report-every") { Description = "seconds between progress lines", DefaultValueFactory = _ => 5 };
var json = new Option<bool>("--json") { Description = "print the final summary as one JSON object" };

var root = new RootCommand("Actors fleet simulator: many XMPP and MQTT devices publishing readings and answering XEP-0323 read-outs and XEP-0325 control")
{
    devices, mqttShare, host, port, mqttPort, domain, rate, prefix, password, register, concurrency, pubsub, duration, every, json,
};
root.SetAction(async (p, ct) =>
{
    var options = new FleetOptions
    {
        Devices = p.GetValue(devices), MqttShare = p.GetValue(mqttShare), Host = p.GetValue(host)!, Port = p.GetValue(port),
        MqttPort = p.GetValue(mqttPort), Domain = p.GetValue(domain)!, Rate = p.GetValue(rate), UserPrefix = p.GetValue(prefix)!,
        Password = p.GetValue(password)!, Register = p.GetValue(register), Concurrency = p.GetValue(concurrency),
        PubSubServiceOverride = p.GetValue(pubsub),
    };
    if (options.Devices is < 1 or > 99_999) { Console.Error.WriteLine("--devices: 1 to 99999"); return 2; }
    var errors = TextWriter.Synchronized(Console.Error);
    await using var fleet = new FleetRunner(options, errors);
    var clock = Stopwatch.StartNew();
    Console.WriteLine($"fleet: {options.Devices} devices ({options.Devices - options.MqttDevices} XMPP on {options.Host}:{options.Port}, {options.MqttDevices} MQTT on {options.Host}:{options.MqttPort}), {options.Rate} readings/device/min{(options.Register ? ", registering the accounts" : "")}");
    using var reporter = new CancellationTokenSource();
    var progress = Report(fleet.Statistics, TimeSpan.FromSeconds(Math.Max(0.5, p.GetValue(every))), reporter.Token);
    try
    {
        await fleet.StartAsync(ct);
        var s = fleet.Statistics.Take();
        Console.WriteLine($"fleet: connected {s.XmppConnected} XMPP + {s.MqttConnected} MQTT in {clock.Elapsed.TotalSeconds:0.0} s ({s.ConnectFailures} failed{(options.Register ? $", {s.Registered} accounts registered" : "")})");
        var before = s.ReadingsPublished;
        var running = Stopwatch.StartNew();
        var seconds = p.GetValue(duration);
        try { await Task.Delay(seconds > 0 ? TimeSpan.FromSeconds(seconds) : Timeout.InfiniteTimeSpan, ct); }
        catch (OperationCanceledException) { }
        s = fleet.Statistics.Take();
        var perSecond = (s.ReadingsPublished - before) / Math.Max(0.001, running.Elapsed.TotalSeconds);
        await reporter.CancelAsync();
        await progress;
        if (p.GetValue(json))
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                devices = options.Devices, xmppConnected = s.XmppConnected, mqttConnected = s.MqttConnected, registered = s.Registered,
                connectFailures = s.ConnectFailures, disconnected = s.Disconnected, readings = s.ReadingsPublished,
                readingsPerSecond = Math.Round(perSecond, 1), publishFailures = s.PublishFailures, readouts = s.ReadoutsAnswered,
                controlSets = s.ControlSetsAnswered, seconds = Math.Round(running.Elapsed.TotalSeconds, 1),
            }));
        else
            Console.WriteLine($"fleet: {s.ReadingsPublished} readings acknowledged, {perSecond.ToString("0.0", CultureInfo.InvariantCulture)}/s over {running.Elapsed.TotalSeconds:0} s; {s.ReadoutsAnswered} read-outs and {s.ControlSetsAnswered} control sets answered; errors: {s.ConnectFailures} connect, {s.PublishFailures} publish, {s.Disconnected} dropped");
        return s.Errors == 0 ? 0 : 1;
    }
    finally
    {
        await reporter.CancelAsync();
    }
});
return await root.Parse(args).InvokeAsync();

static async Task Report(FleetStatistics statistics, TimeSpan every, CancellationToken ct)
{
    var last = statistics.Take();
    var clock = Stopwatch.StartNew();
    using var timer = new PeriodicTimer(every);
    try
    {
        while (await timer.WaitForNextTickAsync(ct))
        {
            var s = statistics.Take();
            var elapsed = clock.Elapsed.TotalSeconds;
            clock.Restart();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  connected {s.XmppConnected + s.MqttConnected} (XMPP {s.XmppConnected}, MQTT {s.MqttConnected}), readings {s.ReadingsPublished} ({(s.ReadingsPublished - last.ReadingsPublished) / elapsed:0.0}/s), read-outs {s.ReadoutsAnswered}, control {s.ControlSetsAnswered}, errors {s.Errors}"));
            last = s;
        }
    }
    catch (OperationCanceledException) { }
}
