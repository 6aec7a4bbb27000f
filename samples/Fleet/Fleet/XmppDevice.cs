using System.Globalization;
using Actors.Xmpp.Xml;

namespace Samples.Fleet;

/// <summary>
/// A simulated XMPP device: logs in with SCRAM-SHA-1, sends available presence, publishes its readings to its PubSub
/// node <c>fleet/&lt;user&gt;</c> on the service, answers XEP-0323 read-outs (§3.1: <c>&lt;accepted/&gt;</c>, then
/// the fields in a message with the request's seqnr and <c>done='true'</c>) and XEP-0325 control (§3.1: a set by IQ is
/// answered with <c>&lt;setResponse/&gt;</c>, or, for a parameter it does not have or of another type, §3.1.3's
/// <c>&lt;bad-request/&gt;</c> with <c>&lt;paramError/&gt;</c>; a set by message is applied without an answer).
/// Requests it does not understand get <c>&lt;service-unavailable/&gt;</c> (RFC 6120 §8.4).
/// </summary>
public sealed class XmppDevice(FleetOptions options, string user, FleetStatistics stats) : IAsyncDisposable
{
    private static readonly string[] FieldTypes = ["momentary", "peak", "status", "computed", "identity", "historicalSecond",
        "historicalMinute", "historicalHour", "historicalDay", "historicalWeek", "historicalMonth", "historicalQuarter",
        "historicalYear", "historicalOther"];
    private readonly DeviceModel _model = new(user);
    private XmppConnection? _connection;

    public string User => user;
    public DeviceModel Model => _model;

    public async Task ConnectAsync(CancellationToken ct)
    {
        var c = await XmppConnection.ConnectAsync(options.Host, options.Port, options.Domain, ct);
        try
        {
            c.StanzaReceived = OnStanza;
            await c.LoginAsync(user, options.Password, options.Resource, ct);
            await c.SendAsync(new Element("presence", Protocol.Client), ct);
            // a node left from an earlier run is fine (XEP-0060 §8.1.3: <conflict/>); an error of type wait is
            // retried after a pause (RFC 6120 §8.3.2)
            for (var attempt = 1; ; attempt++)
            {
                var create = new Element("pubsub", Protocol.PubSub);
                create.AddChild("create", Protocol.PubSub).SetAttr("node", Protocol.NodeOf(user));
                var created = await c.SendIqAsync(Protocol.Set, options.PubSubService, create, ct);
                var error = created.Child(Protocol.Error, Protocol.Client);
                if (created.Type == Protocol.Result || error?.Child("conflict", Protocol.StanzaErrors) is not null) break;
                if (error?.Attr("type") != Protocol.ErrorWait || attempt == 5) throw new XmppException($"{user}: could not create its node: {created}", created);
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt + Random.Shared.Next(200)), ct);
            }
        }
        catch
        {
            await c.DisposeAsync();
            throw;
        }
        _connection = c;
        _ = c.Closed.ContinueWith(_ => { if (!ct.IsCancellationRequested) Interlocked.Increment(ref stats.Disconnected); }, TaskScheduler.Default);
    }

    /// <summary>Publishes the next reading (XEP-0060 §7.1) and waits for the service's answer.</summary>
    public async Task PublishAsync(CancellationToken ct)
    {
        var (seqnr, temperature) = _model.Next();
        var pubsub = new Element("pubsub", Protocol.PubSub);
        var publish = pubsub.AddChild("publish", Protocol.PubSub);
        publish.SetAttr("node", Protocol.NodeOf(user));
        publish.AddChild("item", Protocol.PubSub).Add(Readings.Fields(user, seqnr, temperature, DateTimeOffset.UtcNow));
        var answer = await _connection!.SendIqAsync(Protocol.Set, options.PubSubService, pubsub, ct);
        Interlocked.Increment(ref answer.Type == Protocol.Result ? ref stats.ReadingsPublished : ref stats.PublishFailures);
    }

    private void OnStanza(Element stanza)
    {
        if (stanza.Name == "iq" && stanza.Type is Protocol.Get or Protocol.Set) OnRequest(stanza);
        else if (stanza.Name == "message" && stanza.Child("set", Protocol.Control) is { } set) Apply(set); // XEP-0325 §3.1.1: no answer
    }

    private void OnRequest(Element iq)
    {
        var from = iq.From;
        if (from is null || iq.Id is null) return;
        var req = iq.Type == Protocol.Get ? iq.Child("req", Protocol.SensorData) : null;
        var set = iq.Type == Protocol.Set ? iq.Child("set", Protocol.Control) : null;
        if (req is not null) Send(ReadoutAnswer(iq, req, from));
        else if (set is not null)
        {
            var bad = Apply(set);
            if (bad is null)
            {
                Interlocked.Increment(ref stats.ControlSetsAnswered);
                Send(Reply(iq, Protocol.Result).Add(new Element("setResponse", Protocol.Control)));
            }
            else
            {
                Interlocked.Increment(ref stats.ControlSetsRefused);
                var paramError = new Element("paramError", Protocol.Control).SetAttr("var", bad).AddText("Invalid parameter type.");
                Send(ErrorReply(iq, Protocol.ErrorModify, "bad-request", paramError));
            }
        }
        else
        {
            Send(ErrorReply(iq, Protocol.ErrorCancel, "service-unavailable"));
        }
    }

    /// <summary>XEP-0323 §3.1: the request accepted, then the fields (one message, done). The field types asked
    /// for (none: all, §3.1) and the field names asked for (none: all) decide whether the momentary temperature is in it.</summary>
    private Element[] ReadoutAnswer(Element iq, Element req, string from)
    {
        var seqnr = req.Attr("seqnr");
        if (seqnr is null || !long.TryParse(seqnr, NumberStyles.Integer, CultureInfo.InvariantCulture, out _))
        {
            Interlocked.Increment(ref stats.ReadoutsRefused);
            return [ErrorReply(iq, Protocol.ErrorModify, "bad-request")];
        }
        Interlocked.Increment(ref stats.ReadoutsAnswered);
        var accepted = Reply(iq, Protocol.Result);
        accepted.AddChild("accepted", Protocol.SensorData).SetAttr("seqnr", seqnr);

        var anyType = false;
        foreach (var type in FieldTypes)
            if (req.Attr(type) == "true") anyType = true;
        var momentary = !anyType || req.Attr("momentary") == "true";
        var named = true;
        foreach (var field in req.Elements("field", Protocol.SensorData))
        {
            named = false;
            if (field.Attr("name") == Protocol.TemperatureField) { named = true; break; }
        }
        var forDevice = true;
        foreach (var node in req.Elements("node", Protocol.SensorData))
        {
            forDevice = false;
            if (node.Attr("nodeId") == user) { forDevice = true; break; }
        }
        Element fields;
        if (momentary && named && forDevice)
        {
            var (_, temperature) = _model.Current();
            fields = Readings.Fields(user, 0, temperature, DateTimeOffset.UtcNow);
            fields.SetAttr("seqnr", seqnr);
        }
        else
        {
            fields = new Element("fields", Protocol.SensorData);
            fields.SetAttr("seqnr", seqnr).SetAttr("done", "true");
        }
        var message = new Element("message", Protocol.Client);
        message.SetAttr("to", from);
        message.Add(fields);
        return [accepted, message];
    }

    /// <summary>Applies a XEP-0325 set; returns the name of the first parameter it does not have (nothing applied then).</summary>
    private string? Apply(Element set)
    {
        double? setPoint = null;
        bool? output = null;
        foreach (var p in set.Elements())
        {
            var name = p.Attr("name") ?? "";
            if (name == Protocol.SetPointParameter && p.Name == Protocol.DoubleType
                && double.TryParse(p.Attr("value"), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d))
                setPoint = d;
            else if (name == Protocol.OutputParameter && p.Name == Protocol.BooleanType && p.Attr("value") is "true" or "false" or "1" or "0")
                output = p.Attr("value") is "true" or "1";
            else return name;
        }
        if (setPoint is { } s) _model.SetPoint = s;
        if (output is { } o) _model.Output = o;
        return null;
    }

    private static Element Reply(Element iq, string type)
    {
        var reply = new Element("iq", Protocol.Client);
        reply.SetAttr("type", type).SetAttr("id", iq.Id).SetAttr("to", iq.From);
        return reply;
    }

    /// <summary>RFC 6120 §8.3: an error reply with the condition and, after it, an application-specific element.</summary>
    private static Element ErrorReply(Element iq, string type, string condition, Element? specific = null)
    {
        var reply = Reply(iq, Protocol.Error);
        var error = reply.AddChild(Protocol.Error, Protocol.Client);
        error.SetAttr("type", type);
        error.AddChild(condition, Protocol.StanzaErrors);
        if (specific is not null) error.Add(specific);
        return reply;
    }

    private void Send(params Element[] stanzas)
    {
        var c = _connection;
        if (c is null) return;
        _ = SendAllAsync(c, stanzas);
    }

    private async Task SendAllAsync(XmppConnection c, Element[] stanzas)
    {
        try
        {
            foreach (var s in stanzas) await c.SendAsync(s);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException) { }
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is { } c) await c.DisposeAsync();
    }
}

/// <summary>A device's simulated temperature: drifts toward its set point (XEP-0325 parameter), faster with the output on.</summary>
public sealed class DeviceModel
{
    private readonly Lock _lock = new();
    private double _temperature;
    private long _seqnr;

    public DeviceModel(string name)
    {
        _temperature = 18 + (uint)name.GetHashCode() % 800 / 100.0;
        SetPoint = 21;
    }

    public double SetPoint { get; set; }
    public bool Output { get; set; }

    public (long SequenceNumber, double Temperature) Next()
    {
        lock (_lock)
        {
            var step = Output ? 0.5 : 0.1;
            _temperature += Math.Clamp(SetPoint - _temperature, -step, step) + (Random.Shared.NextDouble() - 0.5) * 0.05;
            return (++_seqnr, _temperature);
        }
    }

    public (long SequenceNumber, double Temperature) Current()
    {
        lock (_lock) return (_seqnr, _temperature);
    }
}
