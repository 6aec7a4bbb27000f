using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Stanzas;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Things;

/// <summary>
/// What the server owes devices and their callers for XEP-0323 (sensor data) and XEP-0325 (control):
/// <list type="bullet">
/// <item>Read-out and control requests to a device's bare JID (the XEP-0323 §3.1 examples address the bare JID) go to
/// the device's resource (the available one of highest priority, else any bound one); its answer comes back from the
/// bare JID the caller asked, with the caller's id (RFC 6120 §8.2.3). Requests to a full JID are routed as they are.</item>
/// <item>Who may: a thing claimed in the XEP-0347 registry is read and controlled by its owner, by itself and by its
/// friends (contacts it lets see its presence: roster subscription 'from' or 'both'); anyone else gets
/// &lt;forbidden/&gt; of type cancel, "Access denied." (XEP-0323 §3.3, XEP-0325 §5.1), and a control message (XEP-0325
/// §3.1.1: responses suppressed) is dropped. An unclaimed thing decides for itself: its requests pass.</item>
/// <item>A momentary (or any) read-out of a device that is offline is answered by the server from the device's twin
/// (<see cref="DeviceTwin"/>: the last values the device reported in &lt;fields/&gt; messages): &lt;accepted/&gt;, then
/// one &lt;fields done='true'/&gt; message, both from the address the caller asked; only its owner, itself and its
/// friends are answered so. A device offline with nothing reported: &lt;service-unavailable/&gt; (RFC 6121 §8.5).</item>
/// </list>
/// Hooks are synchronous and the decision needs the registry and the roster: a gated stanza is held, decided, and
/// routed again marked (<see cref="_passing"/>) so the hook lets it through.
/// </summary>
internal sealed class DeviceGateway(IPluginContext ctx, ThingsOptions options, IStoreMap things, ISessions sessions, IRosters rosters, IAccounts accounts, IEntityKind twins)
{
    private const string AccessDenied = "Access denied.";
    private static readonly object Pass = new();
    private readonly ConditionalWeakTable<Element, object> _passing = new();
    private readonly ConcurrentDictionary<string, Forwarded> _forwarded = new(StringComparer.Ordinal);
    private readonly string _idPrefix = "iot-" + Guid.NewGuid().ToString("N")[..8] + "-";
    private long _nextId;

    private sealed record Forwarded(Jid Device, TaskCompletionSource<Element> Answer);

    /// <summary>Who is asking, as far as a device is concerned.</summary>
    private enum Caller { Self, Owner, Friend, Stranger, Forbidden }

    private TimeSpan Timeout => TimeSpan.FromSeconds(options.DeviceTimeoutSeconds);

    // ---------------------------------------------------------------- hooks

    /// <summary>FromClient: a device's &lt;fields/&gt; message updates its twin (it passes on); a device's answer to a
    /// request forwarded from its bare JID is caught here and answered from there.</summary>
    public bool FromClient(StanzaEvent e)
    {
        var stanza = e.Stanza;
        if (stanza.Name == "message")
        {
            if (SensorData.FieldsOf(stanza) is { } fields && Sanitized(fields) is { } clean)
                twins.Tell(e.Session.Bare.ToString(), new Element(DeviceTwin.Report, DeviceTwin.Ns).Add(clean));
            return false;
        }
        if (stanza.Name != "iq" || stanza.Type is not ("result" or "error") || stanza.Id is not { } id
            || !id.StartsWith(_idPrefix, StringComparison.Ordinal) || !_forwarded.TryGetValue(id, out var forwarded)
            || !forwarded.Device.Equals(e.Session))
            return false;
        _forwarded.TryRemove(id, out _);
        forwarded.Answer.TrySetResult(stanza);
        return true;
    }

    /// <summary>InboundFull and InboundBare: a read-out, control request or control message for a device is decided
    /// first (the bare JID's IQs come to <see cref="ToBareAsync"/> instead).</summary>
    public bool Inbound(StanzaEvent e)
    {
        var stanza = e.Stanza;
        if (stanza.Name == "presence" || e.From is not { } from) return false;
        if (_passing.TryGetValue(stanza, out _))
        {
            _passing.Remove(stanza);
            return false;
        }
        if (e.Point == HookPoint.InboundBare && stanza.Name == "iq") return false; // the account namespace owner takes them
        if (!SensorData.IsDeviceRequest(stanza) || from.Bare.Equals(e.Session.Bare) || !accounts.Exists(e.Session.Bare)) return false;
        _ = DecideAsync(stanza, from, e.Session);
        return true;
    }

    private async Task DecideAsync(Element stanza, Jid from, Jid to)
    {
        try
        {
            var caller = await CallerAsync(from, to.Bare, stanza.FirstChild());
            if (caller == Caller.Forbidden)
            {
                if (stanza.Name == "iq") Send(StanzaErrors.Reply(stanza, "forbidden", AccessDenied, "cancel"));
                return; // XEP-0325 §3.1.1: a control message gets no answer
            }
            if (stanza.Name == "iq" && to.Resource is not null && !IsBound(to) && stanza.FirstChild() is { Name: SensorData.Req, Namespace: SensorData.Ns } req)
            {
                await FromTwinAsync(stanza, req, from, to, caller);
                return;
            }
            Release(stanza);
        }
        catch (Exception ex)
        {
            ctx.Logger.LogDeviceRequestFailed(ex, stanza.Name, to);
            if (stanza.Name == "iq") Send(StanzaErrors.Reply(stanza, "internal-server-error"));
        }
    }

    // ---------------------------------------------------------------- the bare JID

    /// <summary>XEP-0323 and XEP-0325 IQs to a device's bare JID (owned account namespaces).</summary>
    public async ValueTask ToBareAsync(AddressedStanza s)
    {
        var payload = s.Payload!;
        var readout = payload.Namespace == SensorData.Ns;
        if (readout && payload.Name is not (SensorData.Req or SensorData.Cancel) || readout && !SensorData.TryInt(payload.Attr(SensorData.SeqNr), out _))
        {
            Send(s.Error("bad-request")); // XEP-0323 §3.3: malformed
            return;
        }
        if (payload.Name == SensorData.Req && readout && ReadoutRequest.Parse(payload) is null)
        {
            Send(s.Error("bad-request"));
            return;
        }
        var caller = s.From.Bare.Equals(s.To) ? Caller.Self : await CallerAsync(s.From, s.To, payload);
        if (caller == Caller.Forbidden)
        {
            Send(StanzaErrors.Reply(s.Stanza, "forbidden", AccessDenied, "cancel")); // XEP-0323 §3.3, XEP-0325 §5.1
            return;
        }
        if (Device(s.To, s.From) is not { } device)
        {
            if (readout && payload.Name == SensorData.Req) await FromTwinAsync(s.Stanza, payload, s.From, s.To, caller);
            else Send(s.Error("service-unavailable")); // RFC 6121 §8.5.2.2.3: no resource to take the IQ
            return;
        }
        var id = _idPrefix + Interlocked.Increment(ref _nextId).ToString(CultureInfo.InvariantCulture);
        var forwarded = new Forwarded(device, new TaskCompletionSource<Element>(TaskCreationOptions.RunContinuationsAsynchronously));
        _forwarded[id] = forwarded;
        var iq = new Element("iq", Ns.Client).SetAttr("type", s.Stanza.Type).SetAttr("id", id)
            .SetAttr("from", s.From.ToString()).SetAttr("to", device.ToString()).Add(payload.Clone());
        Element answer;
        try
        {
            Release(iq);
            answer = await forwarded.Answer.Task.WaitAsync(Timeout);
        }
        catch (TimeoutException)
        {
            Send(s.Error("remote-server-timeout", "the device did not answer"));
            return;
        }
        finally
        {
            _forwarded.TryRemove(id, out _);
        }
        var reply = new Element("iq", Ns.Client).SetAttr("type", answer.Type).SetAttr("id", s.Stanza.Id)
            .SetAttr("from", s.To.ToString()).SetAttr("to", s.From.ToString());
        foreach (var child in answer.Elements()) reply.Add(child.Clone());
        Send(reply);
    }

    /// <summary>The resource of <paramref name="bare"/> that takes a request: the available one of highest priority, else
    /// any bound one (an IQ needs no presence); never the caller's own.</summary>
    private Jid? Device(Jid bare, Jid caller)
    {
        OnlineSession? best = null;
        foreach (var r in sessions.Resources(bare))
        {
            if (r.Jid.Equals(caller)) continue;
            if (best is null || r.Available && (!best.Available || r.Priority > best.Priority)) best = r;
        }
        return best?.Jid;
    }

    private bool IsBound(Jid full)
    {
        foreach (var r in sessions.Resources(full.Bare))
            if (r.Jid.Equals(full)) return true;
        return false;
    }

    // ---------------------------------------------------------------- the twin

    /// <summary>The server answers a read-out for an offline device from its twin (XEP-0323 §3.1's sequence: accepted,
    /// then the fields with done='true'), from the address the caller asked.</summary>
    private async Task FromTwinAsync(Element iq, Element req, Jid from, Jid to, Caller caller)
    {
        if (caller is not (Caller.Self or Caller.Owner or Caller.Friend))
        {
            Send(StanzaErrors.Reply(iq, "forbidden", AccessDenied, "cancel"));
            return;
        }
        var fields = await twins.AskAsync(to.Bare.ToString(), new Element(DeviceTwin.Read, DeviceTwin.Ns).Add(req.Clone()), Timeout);
        if (fields is null || fields.Name != SensorData.Fields)
        {
            Send(StanzaErrors.Reply(iq, "service-unavailable", "the device is offline and has reported nothing"));
            return;
        }
        Send(StanzaErrors.IqResult(iq, new Element(SensorData.Accepted, SensorData.Ns).SetAttr(SensorData.SeqNr, fields.Attr(SensorData.SeqNr))));
        Send(new Element("message", Ns.Client).SetAttr("from", to.ToString()).SetAttr("to", from.ToString()).Add(fields));
    }

    /// <summary>A device's reported &lt;fields/&gt; rebuilt from what the schema allows (XML is hostile input): nodes with a
    /// nodeId, timestamps with an xs:dateTime, the ten field elements with a name and their known attributes, each
    /// value at most <see cref="MaxText"/> characters; null when nothing is left.</summary>
    private static Element? Sanitized(Element fields)
    {
        Element? clean = null;
        foreach (var node in fields.Elements(SensorData.Node, SensorData.Ns))
        {
            if (!Short(node.Attr(SensorData.NodeId)) || !Short(node.Attr(SensorData.SourceId)) || !Short(node.Attr(SensorData.CacheType))) continue;
            Element? cleanNode = null;
            foreach (var ts in node.Elements(SensorData.Timestamp, SensorData.Ns))
            {
                if (ts.Attr("value") is not { } stamp || !DateTimeOffset.TryParse(stamp, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out _)) continue;
                Element? cleanTs = null;
                foreach (var field in ts.Elements())
                {
                    if (field.Namespace != SensorData.Ns || !SensorData.IsFieldElement(field.Name) || field.Attr("name") is not { } name || !Short(name)) continue;
                    var copy = new Element(field.Name, SensorData.Ns);
                    var ok = true;
                    foreach (var a in field.Attributes)
                    {
                        if (a.Namespace is not null || !FieldAttributes.Contains(a.Name)) continue;
                        if (!Short(a.Value)) { ok = false; break; }
                        copy.SetAttr(a.Name, a.Value);
                    }
                    if (!ok || copy.Attr("value") is null) continue;
                    (cleanTs ??= new Element(SensorData.Timestamp, SensorData.Ns).SetAttr("value", stamp)).Add(copy);
                }
                if (cleanTs is not null)
                    (cleanNode ??= new Element(SensorData.Node, SensorData.Ns).SetAttr(SensorData.NodeId, node.Attr(SensorData.NodeId))
                        .SetAttr(SensorData.SourceId, node.Attr(SensorData.SourceId)).SetAttr(SensorData.CacheType, node.Attr(SensorData.CacheType))).Add(cleanTs);
            }
            if (cleanNode is not null) (clean ??= new Element(SensorData.Fields, SensorData.Ns)).Add(cleanNode);
        }
        return clean;
    }

    private const int MaxText = 1024;
    private static bool Short(string? text) => text is null || text.Length <= MaxText;

    /// <summary>XEP-0323 §11: a field's attributes (name, value, unit, dataType, module, stringIds, writable), its field
    /// types and its quality of service.</summary>
    private static readonly HashSet<string> FieldAttributes = new(StringComparer.Ordinal)
    {
        "name", "value", "unit", "dataType", "module", "stringIds", "writable",
        "momentary", "peak", "status", "computed", "identity", "historicalSecond", "historicalMinute", "historicalHour",
        "historicalDay", "historicalWeek", "historicalMonth", "historicalQuarter", "historicalYear", "historicalOther",
        "missing", "inProgress", "automaticEstimate", "manualEstimate", "manualReadout", "automaticReadout", "timeOffset",
        "warning", "error", "signed", "invoiced", "endOfSeries", "powerFailure", "invoiceConfirmed",
    };

    // ---------------------------------------------------------------- who may

    /// <summary>The caller's standing with the device: itself; the owner of its XEP-0347 registry record (the thing's
    /// own record, or, for a request naming nodes behind a concentrator, the records of every node named, §3.3); a friend
    /// (the device's roster lets the caller see its presence); else a stranger to an unclaimed thing, or forbidden.</summary>
    private async Task<Caller> CallerAsync(Jid caller, Jid device, Element? request)
    {
        if (caller.Bare.Equals(device)) return Caller.Self;
        var owner = await OwnerAsync(device, request);
        if (owner is not null && owner == caller.Bare.ToString()) return Caller.Owner;
        var subscription = await rosters.SubscriptionAsync(device, caller.Bare);
        if (subscription is "from" or "both") return Caller.Friend;
        return owner is null ? Caller.Stranger : Caller.Forbidden;
    }

    private const string SeveralOwners = "\n";

    private async Task<string?> OwnerAsync(Jid device, Element? request)
    {
        var registry = Jid.Create(null, options.Subdomain + "." + device.Domain);
        var top = (await things.GetAsync(registry, ThingRegistry.Key(device, null, null, null)))?.Xml;
        if (top?.Attr("owner") is { } owner) return owner;
        if (request is null) return null;
        string? common = null;
        foreach (var node in request.Elements(SensorData.Node, request.Namespace))
        {
            var record = (await things.GetAsync(registry, ThingRegistry.Key(device, node.Attr(SensorData.NodeId), node.Attr(SensorData.SourceId), node.Attr(SensorData.CacheType))))?.Xml;
            if (record?.Attr("owner") is not { } nodeOwner) return null;
            if (common is not null && common != nodeOwner) return SeveralOwners; // claimed, but no one caller owns it all
            common = nodeOwner;
        }
        return common;
    }

    // ---------------------------------------------------------------- sending

    /// <summary>Routes a held stanza again; the hooks let it through once.</summary>
    private void Release(Element stanza)
    {
        _passing.AddOrUpdate(stanza, Pass);
        ctx.SendStanza(stanza);
    }

    private void Send(Element? stanza)
    {
        if (stanza is not null) ctx.SendStanza(stanza);
    }
}

internal static partial class DeviceGatewayLog
{
    [Microsoft.Extensions.Logging.LoggerMessage(Level = Microsoft.Extensions.Logging.LogLevel.Warning, Message = "a device request ({Kind}) for {Device} failed")]
    public static partial void LogDeviceRequestFailed(this Microsoft.Extensions.Logging.ILogger logger, Exception ex, string kind, Jid device);
}

