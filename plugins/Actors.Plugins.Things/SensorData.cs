using System.Globalization;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Things;

/// <summary>XEP-0323 (Internet of Things - Sensor Data, 0.5) and XEP-0325 (Control, 0.5.1): the names the server
/// needs to route read-outs and control, and to answer read-outs from a device's twin.</summary>
internal static class SensorData
{
    public const string Ns = "urn:xmpp:iot:sensordata";
    public const string ControlNs = "urn:xmpp:iot:control";

    // XEP-0323 §3 requests and answers
    public const string Req = "req";
    public const string Cancel = "cancel";
    public const string Accepted = "accepted";
    public const string Fields = "fields";
    public const string Done = "done";
    public const string Node = "node";
    public const string Field = "field";
    public const string Timestamp = "timestamp";
    public const string SeqNr = "seqnr";
    public const string NodeId = "nodeId";
    public const string SourceId = "sourceId";
    public const string CacheType = "cacheType";

    // XEP-0325 §3 control
    public const string Set = "set";
    public const string GetForm = "getForm";

    /// <summary>§11 schema: the field elements (value types) a &lt;timestamp/&gt; holds.</summary>
    public static bool IsFieldElement(string name) => name is "boolean" or "date" or "dateTime" or "duration" or "enum"
        or "int" or "long" or "numeric" or "string" or "time";

    /// <summary>§11 schema, attribute group fieldTypes: what kind of value a field is, and what a request asks for.</summary>
    public static readonly string[] FieldTypes =
    [
        "momentary", "peak", "status", "computed", "identity",
        "historicalSecond", "historicalMinute", "historicalHour", "historicalDay", "historicalWeek",
        "historicalMonth", "historicalQuarter", "historicalYear", "historicalOther",
    ];

    /// <summary>xs:boolean ('true'/'1').</summary>
    public static bool IsTrue(string? value) => value is "true" or "1";

    /// <summary>xs:int, as seqnr must be.</summary>
    public static bool TryInt(string? value, out int number) =>
        int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out number);

    /// <summary>The node triple a &lt;node/&gt; names (§5.8: nodeId, and sourceId and cacheType when given).</summary>
    public static string NodeKey(Element node) =>
        node.Attr(NodeId) + "\n" + node.Attr(SourceId) + "\n" + node.Attr(CacheType);

    /// <summary>Whether the stanza is a read-out or control request a device answers (IQ get/set), or a control message.</summary>
    public static bool IsDeviceRequest(Element stanza)
    {
        if (stanza.Name == "iq")
        {
            if (stanza.Type is not ("get" or "set") || stanza.FirstChild() is not { } payload) return false;
            return payload.Namespace == Ns ? payload.Name is Req or Cancel : payload.Namespace == ControlNs;
        }
        return stanza.Name == "message" && ControlMessage(stanza) is not null;
    }

    /// <summary>XEP-0325 §3.1.1: the &lt;set/&gt; a message carries, or null.</summary>
    public static Element? ControlMessage(Element message)
    {
        foreach (var node in message.Nodes)
            if (node is Element e && e.Name == Set && e.Namespace == ControlNs) return e;
        return null;
    }

    /// <summary>The &lt;fields/&gt; a message carries (a device reporting values), or null.</summary>
    public static Element? FieldsOf(Element message)
    {
        foreach (var node in message.Nodes)
            if (node is Element e && e.Name == Fields && e.Namespace == Ns) return e;
        return null;
    }
}

/// <summary>What a &lt;req/&gt; asks for (XEP-0323 §3, §11): field types (or all), nodes and field names; the device
/// "is not required to follow the hints", but a twin answering for it follows them exactly.</summary>
internal sealed class ReadoutRequest
{
    private readonly HashSet<string> _types = new(StringComparer.Ordinal);
    private readonly bool _all;
    private readonly bool _historical;
    private readonly HashSet<string>? _nodes;
    private readonly HashSet<string>? _fieldNames;

    public int SeqNr { get; }

    private ReadoutRequest(Element req, int seqnr)
    {
        SeqNr = seqnr;
        _all = SensorData.IsTrue(req.Attr("all"));
        _historical = SensorData.IsTrue(req.Attr("historical"));
        foreach (var type in SensorData.FieldTypes)
            if (SensorData.IsTrue(req.Attr(type))) _types.Add(type);
        foreach (var child in req.Elements())
        {
            if (child.Namespace != SensorData.Ns) continue;
            if (child.Name == SensorData.Node && child.Attr(SensorData.NodeId) is not null) (_nodes ??= new(StringComparer.Ordinal)).Add(SensorData.NodeKey(child));
            else if (child.Name == SensorData.Field && child.Attr("name") is { } name) (_fieldNames ??= new(StringComparer.Ordinal)).Add(name);
        }
    }

    /// <summary>The request, or null when it breaks the schema (no or a malformed seqnr, a node without nodeId, a field
    /// without name): bad-request (§3.3).</summary>
    public static ReadoutRequest? Parse(Element req)
    {
        if (!SensorData.TryInt(req.Attr(SensorData.SeqNr), out var seqnr)) return null;
        foreach (var child in req.Elements())
        {
            if (child.Namespace != SensorData.Ns) return null;
            if (child.Name == SensorData.Node ? child.Attr(SensorData.NodeId) is null : child.Name != SensorData.Field || child.Attr("name") is null) return null;
        }
        return new ReadoutRequest(req, seqnr);
    }

    /// <summary>Whether the node (its triple key) is asked for. §5.8: a request naming only a nodeId takes every node with
    /// that nodeId.</summary>
    public bool WantsNode(string nodeKey)
    {
        if (_nodes is null || _nodes.Contains(nodeKey)) return true;
        var nodeId = nodeKey[..nodeKey.IndexOf('\n')];
        return _nodes.Contains(nodeId + "\n\n");
    }

    /// <summary>Whether a reported field (its element) is of a kind and name the request asks for; a request naming no
    /// field type asks for every type.</summary>
    public bool WantsField(Element field)
    {
        if (_fieldNames is not null && (field.Attr("name") is not { } name || !_fieldNames.Contains(name))) return false;
        if (_all || _types.Count == 0 && !_historical) return true;
        foreach (var type in _types)
            if (SensorData.IsTrue(field.Attr(type))) return true;
        if (_historical)
            foreach (var type in SensorData.FieldTypes)
                if (type.StartsWith("historical", StringComparison.Ordinal) && SensorData.IsTrue(field.Attr(type))) return true;
        return false;
    }
}
