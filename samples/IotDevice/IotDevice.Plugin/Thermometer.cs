using System.Globalization;
using System.Text;
using Actors.Xmpp;

namespace Samples.IotDevice;

/// <summary>Options (Xmpp:Plugins:iot-thermometer).</summary>
public sealed class ThermometerOptions
{
    /// <summary>The device's JID is the service JID &lt;Subdomain&gt;.&lt;domain&gt;.</summary>
    public string Subdomain { get; set; } = "thermometer";
    public int IntervalMs { get; set; } = 5000;
    /// <summary>Above this the state is "hot".</summary>
    public double Threshold { get; set; } = 25;
    /// <summary>Simulated sensor: the readings it cycles through.</summary>
    public List<double> Readings { get; set; } = new();
}

/// <summary>The device itself: no XMPP in here. Thread-safe (the timer and the address handler run on other threads).</summary>
internal sealed class Thermometer
{
    private readonly object _lock = new();
    private readonly HashSet<Jid> _watchers = new();
    private double[] _readings = [21.0, 21.5, 22.0];
    private double _threshold = 25;
    private int _next;

    public double Value { get; private set; } = 21.0;
    public string State => Value > _threshold ? "hot" : "normal";

    public IReadOnlyList<Jid> Watchers
    {
        get { lock (_lock) return _watchers.ToArray(); }
    }

    public void Configure(ThermometerOptions o)
    {
        if (o.Readings.Count > 0) _readings = o.Readings.ToArray();
        _threshold = o.Threshold;
    }

    /// <summary>Takes a reading; true when the state changed.</summary>
    public bool Sample()
    {
        lock (_lock)
        {
            var before = State;
            Value = _readings[_next++ % _readings.Length];
            return State != before;
        }
    }

    public void Watch(Jid client)
    {
        lock (_lock) _watchers.Add(client);
    }

    public void Retain(IEnumerable<Jid> online)
    {
        var set = online.ToHashSet();
        lock (_lock) _watchers.RemoveWhere(w => !set.Contains(w));
    }

    public void Unwatch(Jid client)
    {
        lock (_lock) _watchers.Remove(client);
    }

    /// <summary>State for the next version: bytes only (here: value, position and watchers, one per line).</summary>
    public byte[] Save()
    {
        lock (_lock)
            return Encoding.UTF8.GetBytes(string.Join('\n',
                new[] { Value.ToString(CultureInfo.InvariantCulture), _next.ToString(CultureInfo.InvariantCulture) }.Concat(_watchers.Select(w => w.ToString()))));
    }

    public void Restore(byte[] state)
    {
        var lines = Encoding.UTF8.GetString(state).Split('\n');
        lock (_lock)
        {
            Value = double.Parse(lines[0], CultureInfo.InvariantCulture);
            _next = int.Parse(lines[1], CultureInfo.InvariantCulture);
            foreach (var w in lines.Skip(2)) if (Jid.TryParse(w, out var j) && j is not null) _watchers.Add(j);
        }
    }
}
