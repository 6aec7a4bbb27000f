using System.Collections.Concurrent;
using System.Globalization;
using Actors.Xmpp.Xml;
using Samples.Fleet;

namespace Samples.Dashboard;

/// <summary>
/// The dashboard's client: one XMPP account subscribed (XEP-0060 §6.1) to the devices' nodes <c>fleet/&lt;device&gt;</c>,
/// keeping the latest reading per device from the notifications (§7.1.2.1) and counting them; and the two requests an
/// operator sends one device: a XEP-0323 momentary read-out (§3.1) and a XEP-0325 control set (§3.1), both to the
/// device's bare JID, which the server's 'things' plugin routes to the device.
/// </summary>
public sealed class FleetDashboard : IAsyncDisposable
{
    private readonly XmppConnection _connection;
    private readonly string _domain;
    private readonly ConcurrentDictionary<string, Reading> _latest = new(StringComparer.Ordinal);
    // read-outs under way by seqnr: the device asked and the fields message awaited from it
    private readonly ConcurrentDictionary<string, (string Device, TaskCompletionSource<Element> Fields)> _readouts = new(StringComparer.Ordinal);
    private long _notifications;
    private long _seqnr;

    private FleetDashboard(XmppConnection connection, string domain)
    {
        _connection = connection;
        _domain = domain;
        connection.StanzaReceived = OnStanza;
    }

    public string PubSubService { get; init; } = "";
    /// <summary>Readings received since the start.</summary>
    public long Notifications => Interlocked.Read(ref _notifications);
    public IReadOnlyDictionary<string, Reading> Latest => _latest;
    public string Jid => _connection.Jid;

    /// <summary>Logs in as <paramref name="user"/> (registering it first when <paramref name="register"/>).</summary>
    public static async Task<FleetDashboard> ConnectAsync(string host, int port, string domain, string user, string password,
        bool register, CancellationToken ct, string? pubsubService = null)
    {
        if (register)
        {
            await using var r = await XmppConnection.ConnectAsync(host, port, domain, ct);
            await r.RegisterAsync(user, password, ct);
        }
        var c = await XmppConnection.ConnectAsync(host, port, domain, ct, bufferBytes: 64 * 1024);
        try
        {
            var dashboard = new FleetDashboard(c, domain) { PubSubService = pubsubService ?? "pubsub." + domain };
            await c.LoginAsync(user, password, "dashboard", ct);
            await c.SendAsync(new Element("presence", Protocol.Client), ct);
            return dashboard;
        }
        catch
        {
            await c.DisposeAsync();
            throw;
        }
    }

    /// <summary>Subscribes to each device's node (at most <paramref name="inFlight"/> requests at once); returns the
    /// devices whose node could not be subscribed to, with the error.</summary>
    public async Task<IReadOnlyDictionary<string, string>> SubscribeAsync(IEnumerable<string> devices, CancellationToken ct, int inFlight = 50)
    {
        var failed = new ConcurrentDictionary<string, string>(StringComparer.Ordinal);
        using var gate = new SemaphoreSlim(inFlight);
        var tasks = new List<Task>();
        foreach (var device in devices)
        {
            await gate.WaitAsync(ct);
            tasks.Add(Subscribe(device));
        }
        await Task.WhenAll(tasks);
        return failed;

        async Task Subscribe(string device)
        {
            try
            {
                var pubsub = new Element("pubsub", Protocol.PubSub);
                pubsub.AddChild("subscribe", Protocol.PubSub).SetAttr("node", Protocol.NodeOf(device)).SetAttr("jid", BareOf(_connection.Jid));
                var answer = await _connection.SendIqAsync(Protocol.Set, PubSubService, pubsub, ct);
                if (answer.Type != Protocol.Result) failed[device] = ErrorCondition(answer);
            }
            catch (Exception e) when (e is XmppException or TimeoutException)
            {
                failed[device] = e.Message;
            }
            finally
            {
                gate.Release();
            }
        }
    }

    /// <summary>XEP-0323 §3.1 momentary read-out of <paramref name="device"/>: the request, the device's
    /// &lt;accepted/&gt; and its fields message (done); the reading in it.</summary>
    public async Task<Reading> ReadOutAsync(string device, CancellationToken ct)
    {
        var seqnr = Interlocked.Increment(ref _seqnr).ToString(CultureInfo.InvariantCulture);
        var fields = new TaskCompletionSource<Element>(TaskCreationOptions.RunContinuationsAsynchronously);
        _readouts[seqnr] = (DeviceJid(device), fields);
        try
        {
            var req = new Element("req", Protocol.SensorData);
            req.SetAttr("seqnr", seqnr).SetAttr("momentary", "true");
            var answer = await _connection.SendIqAsync(Protocol.Get, DeviceJid(device), req, ct);
            if (answer.Type != Protocol.Result) throw new XmppException($"read-out of {device} refused: {ErrorCondition(answer)}", answer);
            if (answer.Child("accepted", Protocol.SensorData) is null) throw new XmppException($"read-out of {device}: no <accepted/> in {answer}", answer);
            var done = await fields.Task.WaitAsync(_connection.Timeout, ct);
            return Readings.Parse(device, done) ?? throw new XmppException($"read-out of {device}: no temperature in {done}", done);
        }
        finally
        {
            _readouts.TryRemove(seqnr, out _);
        }
    }

    /// <summary>XEP-0325 §3.1 control set of one parameter (<paramref name="type"/>: boolean, double, int, string, ...);
    /// returns normally on &lt;setResponse/&gt;, throws with the device's error otherwise.</summary>
    public async Task SetAsync(string device, string type, string name, string value, CancellationToken ct)
    {
        var set = new Element("set", Protocol.Control);
        set.AddChild(type, Protocol.Control).SetAttr("name", name).SetAttr("value", value);
        var answer = await _connection.SendIqAsync(Protocol.Set, DeviceJid(device), set, ct);
        if (answer.Type != Protocol.Result) throw new XmppException($"control set of {device} refused: {ErrorCondition(answer)}", answer);
    }

    public string DeviceJid(string device) => device + "@" + _domain;

    private void OnStanza(Element stanza)
    {
        if (stanza.Name != "message") return;
        if (stanza.Child("event", Protocol.PubSubEvent)?.Child("items", Protocol.PubSubEvent) is { } items)
        {
            var node = items.Attr("node");
            if (node is null || !node.StartsWith(Protocol.NodePrefix, StringComparison.Ordinal)) return;
            var device = node[Protocol.NodePrefix.Length..];
            foreach (var item in items.Elements("item", Protocol.PubSubEvent))
                if (item.FirstChild() is { } payload && Readings.Parse(device, payload) is { } reading)
                {
                    Interlocked.Increment(ref _notifications);
                    _latest.AddOrUpdate(device, reading, (_, old) => reading.SequenceNumber >= old.SequenceNumber || reading.Timestamp > old.Timestamp ? reading : old);
                }
            return;
        }
        // XEP-0323 §3.1: the fields of a read-out under way, from the device asked (its bare or a full JID)
        if (stanza.Child("fields", Protocol.SensorData) is { } fields && fields.Attr("seqnr") is { } seqnr
            && fields.Attr("done") == "true" && _readouts.TryGetValue(seqnr, out var waiting)
            && stanza.From is { } from && BareOf(from) == waiting.Device)
            waiting.Fields.TrySetResult(fields);
    }

    private static string BareOf(string jid) => jid.IndexOf('/') is var slash and >= 0 ? jid[..slash] : jid;

    private static string ErrorCondition(Element answer)
    {
        var error = answer.Child(Protocol.Error, Protocol.Client);
        if (error is null) return answer.ToString();
        foreach (var e in error.Elements())
            if (e.Namespace == Protocol.StanzaErrors && e.Name != "text") return e.Name;
        return error.ToString();
    }

    public ValueTask DisposeAsync() => _connection.DisposeAsync();
}
