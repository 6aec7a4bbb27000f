namespace Samples.Fleet;

/// <summary>
/// Runs the fleet: registers the accounts when asked, connects the devices with at most
/// <see cref="FleetOptions.Concurrency"/> logins in flight, each device publishing its first reading as part of the
/// start (so that its node exists before the start returns and the dashboard has a value), then gives it a publishing
/// loop (one reading every 60/<see cref="FleetOptions.Rate"/> seconds from a random phase). Everything is async: a device costs a socket, a read buffer and a timer, no thread.
/// </summary>
public sealed class FleetRunner(FleetOptions options, TextWriter? log = null) : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<XmppDevice> _xmpp = new();
    private readonly List<MqttDevice> _mqtt = new();
    private readonly List<Task> _loops = new();
    private readonly Lock _lock = new();

    public FleetStatistics Statistics { get; } = new();
    public FleetOptions Options => options;
    public IReadOnlyList<XmppDevice> XmppDevices { get { lock (_lock) return _xmpp.ToArray(); } }

    /// <summary>Registers (if asked) and connects every device; returns when each has connected and had its first
    /// reading acknowledged (so its node exists and can be subscribed to), or failed.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _stop.Token);
        var token = linked.Token;
        using var gate = new SemaphoreSlim(Math.Max(1, options.Concurrency));
        if (options.Register)
        {
            var registrations = new Task[options.Devices];
            for (var i = 1; i <= options.Devices; i++) registrations[i - 1] = Gated(gate, RegisterAsync(options.UserOf(i), token), token);
            await Task.WhenAll(registrations);
        }
        var starts = new Task[options.Devices];
        for (var i = 1; i <= options.Devices; i++) starts[i - 1] = Gated(gate, ConnectAsync(i, token), token);
        await Task.WhenAll(starts);
    }

    private static async Task Gated(SemaphoreSlim gate, Func<Task> work, CancellationToken ct)
    {
        await gate.WaitAsync(ct);
        try { await work(); }
        finally { gate.Release(); }
    }

    private Func<Task> RegisterAsync(string user, CancellationToken ct) => async () =>
    {
        try
        {
            await using var c = await XmppConnection.ConnectAsync(options.Host, options.Port, options.Domain, ct);
            if (await c.RegisterAsync(user, options.Password, ct)) Interlocked.Increment(ref Statistics.Registered);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            Interlocked.Increment(ref Statistics.ConnectFailures);
            log?.WriteLine($"register {user}: {e.Message}");
        }
    };

    private Func<Task> ConnectAsync(int index, CancellationToken ct) => async () =>
    {
        var user = options.UserOf(index);
        try
        {
            if (options.IsMqtt(index))
            {
                var device = new MqttDevice(options, user, Statistics);
                try { await device.ConnectAsync(ct); }
                catch { await device.DisposeAsync(); throw; }
                Interlocked.Increment(ref Statistics.MqttConnected);
                lock (_lock) _mqtt.Add(device);
                await PublishOnceAsync(device.PublishAsync, user, ct);
                lock (_lock) _loops.Add(PublishLoopAsync(device.PublishAsync, user));
            }
            else
            {
                var device = new XmppDevice(options, user, Statistics);
                try { await device.ConnectAsync(ct); }
                catch { await device.DisposeAsync(); throw; }
                Interlocked.Increment(ref Statistics.XmppConnected);
                lock (_lock) _xmpp.Add(device);
                await PublishOnceAsync(device.PublishAsync, user, ct);
                lock (_lock) _loops.Add(PublishLoopAsync(device.PublishAsync, user));
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            Interlocked.Increment(ref Statistics.ConnectFailures);
            log?.WriteLine($"connect {user}: {e.Message}");
        }
    };

    private async Task PublishLoopAsync(Func<CancellationToken, Task> publish, string user)
    {
        var ct = _stop.Token;
        try
        {
            // the first reading was published by ConnectAsync
            if (options.Rate <= 0) return;
            var interval = TimeSpan.FromMinutes(1 / options.Rate);
            await Task.Delay(interval * Random.Shared.NextDouble(), ct);
            using var timer = new PeriodicTimer(interval);
            do await PublishOnceAsync(publish, user, ct);
            while (await timer.WaitForNextTickAsync(ct));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
    }

    private async Task PublishOnceAsync(Func<CancellationToken, Task> publish, string user, CancellationToken ct)
    {
        try
        {
            await publish(ct);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            Interlocked.Increment(ref Statistics.PublishFailures);
            log?.WriteLine($"publish {user}: {e.Message}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        Task[] loops;
        lock (_lock) loops = _loops.ToArray();
        await Task.WhenAll(loops);
        foreach (var d in XmppDevices) await d.DisposeAsync();
        MqttDevice[] mqtt;
        lock (_lock) mqtt = _mqtt.ToArray();
        foreach (var d in mqtt) await d.DisposeAsync();
        _stop.Dispose();
    }
}
