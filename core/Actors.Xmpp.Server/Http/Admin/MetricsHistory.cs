using System.Diagnostics.Metrics;
using Actors.Xmpp.Server.Diagnostics;

namespace Actors.Xmpp.Server.Http.Admin;

/// <summary>
/// The last minutes of the main numbers for the web admin's charts: messages per second (from the server's
/// "xmpp.c2s.stanzas" meter, those clients sent), bound sessions, client connections and the process's memory, sampled
/// every <see cref="Interval"/> into a ring of <see cref="Capacity"/> samples. Runs only while the web admin is on.
/// </summary>
public sealed class MetricsHistory : IDisposable
{
    public const int Capacity = 120; // ten minutes at one sample every 5 s
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    public readonly record struct Sample(DateTimeOffset Time, double MessagesPerSecond, int Sessions, long Connections, long MemoryBytes);

    private readonly Func<int> _sessions;
    private readonly MeterListener _listener = new();
    private readonly Sample[] _ring = new Sample[Capacity];
    private readonly object _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private int _count, _next;
    private long _messagesIn, _lastMessages, _lastTicks;

    public MetricsHistory(Func<int> sessions)
    {
        _sessions = sessions;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == XmppMetrics.MeterName && instrument.Name == XmppMetrics.StanzasName)
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>(OnStanza);
    }

    /// <summary>Starts listening to the meter and sampling.</summary>
    public void Start()
    {
        _listener.Start();
        _lastTicks = Environment.TickCount64;
        Take();
        _ = SampleAsync(_stop.Token);
    }

    private void OnStanza(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        var message = false;
        var fromClient = false;
        foreach (var tag in tags)
        {
            if (tag.Key == XmppMetrics.Tags.Kind) message = tag.Value is "message";
            else if (tag.Key == XmppMetrics.Tags.Direction) fromClient = tag.Value is XmppMetrics.Tags.FromClient;
        }
        if (message && fromClient) Interlocked.Add(ref _messagesIn, value);
    }

    private async Task SampleAsync(CancellationToken token)
    {
        using var timer = new PeriodicTimer(Interval);
        try
        {
            while (await timer.WaitForNextTickAsync(token).ConfigureAwait(false)) Take();
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Take()
    {
        var now = Environment.TickCount64;
        var messages = Interlocked.Read(ref _messagesIn);
        lock (_gate)
        {
            var seconds = Math.Max(0.001, (now - _lastTicks) / 1000.0);
            var rate = _count == 0 ? 0 : (messages - _lastMessages) / seconds;
            _lastMessages = messages;
            _lastTicks = now;
            _ring[_next] = new Sample(DateTimeOffset.UtcNow, rate, _sessions(), XmppMetrics.ActiveConnections, Environment.WorkingSet);
            _next = (_next + 1) % Capacity;
            if (_count < Capacity) _count++;
        }
    }

    /// <summary>The samples kept, oldest first.</summary>
    public Sample[] Snapshot()
    {
        lock (_gate)
        {
            var samples = new Sample[_count];
            var first = (_next - _count + Capacity) % Capacity;
            for (var i = 0; i < _count; i++) samples[i] = _ring[(first + i) % Capacity];
            return samples;
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
        _stop.Dispose();
    }
}
