using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Samples.Dashboard;
using Samples.Fleet;

var host = new Option<string>("--host") { Description = "server address", DefaultValueFactory = _ => "127.0.0.1" };
var port = new Option<int>("--port") { Description = "XMPP client port", DefaultValueFactory = _ => 5222 };
var domain = new Option<string>("--domain") { Description = "XMPP domain", DefaultValueFactory = _ => "localhost" };
var user = new Option<string>("--user") { Description = "the dashboard's account", DefaultValueFactory = _ => "dashboard" };
var password = new Option<string>("--password") { Description = "its password", DefaultValueFactory = _ => "dashboard-secret" };
var register = new Option<bool>("--register") { Description = "create the dashboard's account first (XEP-0077)" };
var pubsub = new Option<string?>("--pubsub") { Description = "PubSub service JID (default pubsub.DOMAIN)" };
var devices = new Option<int>("--devices") { Description = "devices to watch: PREFIX00001 to PREFIX<N>", DefaultValueFactory = _ => 10_000 };
var prefix = new Option<string>("--prefix") { Description = "the fleet's account prefix", DefaultValueFactory = _ => "dev" };
var rows = new Option<int>("--rows") { Description = "devices shown (the most recently updated)", DefaultValueFactory = _ => 15 };
var device = new Argument<string>("device") { Description = "the device's account name (e.g. dev00001)" };
var parameter = new Argument<string>("parameter") { Description = "XEP-0325 parameter name (SetPoint, Output)" };
var value = new Argument<string>("value") { Description = "its value" };
var type = new Option<string?>("--type") { Description = "XEP-0325 parameter type (default: double for SetPoint, boolean for Output, else string)" };

var watch = new Command("watch", "subscribe to the fleet's nodes and show the latest reading per device and the rate") { devices, prefix, rows };
var read = new Command("read", "XEP-0323 momentary read-out of one device") { device };
var set = new Command("set", "XEP-0325 control set of one parameter of one device") { device, parameter, value, type };
var root = new RootCommand("Actors fleet dashboard") { watch, read, set };
foreach (var o in new Option[] { host, port, domain, user, password, register, pubsub }) root.Options.Add(o);
foreach (var o in new Option[] { host, port, domain, user, password, register, pubsub }) o.Recursive = true;

watch.SetAction(async (p, ct) =>
{
    await using var dashboard = await Connect(p, ct);
    var names = Enumerable.Range(1, p.GetValue(devices)).Select(i => Protocol.DeviceUser(p.GetValue(prefix)!, i)).ToList();
    Console.WriteLine($"dashboard {dashboard.Jid}: subscribing to {names.Count} nodes fleet/... on {dashboard.PubSubService}");
    var failed = await dashboard.SubscribeAsync(names, ct);
    Console.WriteLine($"subscribed to {names.Count - failed.Count}; {failed.Count} failed{(failed.Count > 0 ? " (first: " + failed.First().Key + ": " + failed.First().Value + ")" : "")}");
    var clock = Stopwatch.StartNew();
    var last = dashboard.Notifications;
    using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
    try
    {
        while (await timer.WaitForNextTickAsync(ct))
        {
            var now = dashboard.Notifications;
            var perSecond = (now - last) / clock.Elapsed.TotalSeconds;
            clock.Restart();
            last = now;
            var shown = dashboard.Latest.Values.OrderByDescending(r => r.Timestamp).Take(p.GetValue(rows));
            if (!Console.IsOutputRedirected) Console.Clear();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{DateTime.UtcNow:HH:mm:ss} devices reporting {dashboard.Latest.Count}/{names.Count}, readings {now} ({perSecond:0.0}/s)"));
            Console.WriteLine("device        seq     temperature  time (UTC)");
            foreach (var r in shown)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{r.Device,-13} {r.SequenceNumber,-7} {r.Temperature,8:0.00} °C  {r.Timestamp.UtcDateTime:HH:mm:ss.fff}"));
        }
    }
    catch (OperationCanceledException) { }
    return 0;
});
read.SetAction(async (p, ct) =>
{
    await using var dashboard = await Connect(p, ct);
    try
    {
        var r = await dashboard.ReadOutAsync(p.GetValue(device)!, ct);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{r.Device}: {r.Temperature:0.00} °C at {r.Timestamp.UtcDateTime:O}"));
        return 0;
    }
    catch (Exception e) when (e is XmppException or TimeoutException)
    {
        Console.Error.WriteLine(e.Message);
        return 1;
    }
});
set.SetAction(async (p, ct) =>
{
    await using var dashboard = await Connect(p, ct);
    var name = p.GetValue(parameter)!;
    var t = p.GetValue(type) ?? name switch { Protocol.SetPointParameter => Protocol.DoubleType, Protocol.OutputParameter => Protocol.BooleanType, _ => "string" };
    try
    {
        await dashboard.SetAsync(p.GetValue(device)!, t, name, p.GetValue(value)!, ct);
        Console.WriteLine($"{p.GetValue(device)}: {name} set");
        return 0;
    }
    catch (Exception e) when (e is XmppException or TimeoutException)
    {
        Console.Error.WriteLine(e.Message);
        return 1;
    }
});
return await root.Parse(args).InvokeAsync();

Task<FleetDashboard> Connect(ParseResult p, CancellationToken ct) => FleetDashboard.ConnectAsync(p.GetValue(host)!, p.GetValue(port), p.GetValue(domain)!,
    p.GetValue(user)!, p.GetValue(password)!, p.GetValue(register), ct, p.GetValue(pubsub));
