using System.Globalization;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Things;

/// <summary>
/// A device's twin: the last value it reported of each field (XEP-0323 &lt;fields/&gt; it sent), per node, field name and
/// field type, so that the server answers a read-out for the device while it is offline (the concentrator's role in
/// XEP-0323 §5.8 / XEP-0326: the server reads out what it holds for the device). A keyed entity (kind "twin", key: the
/// device's bare JID): one actor per device while it reports or is read, passivated when idle, its values in its
/// journal as XML events.
/// </summary>
/// <remarks>Commands: &lt;report&gt;&lt;fields/&gt;&lt;/report&gt; (persists what changed), &lt;read&gt;&lt;req/&gt;&lt;/read&gt;
/// (replies &lt;fields seqnr done='true'/&gt; with what the request asks for, or &lt;empty/&gt; when the twin holds nothing),
/// &lt;forget/&gt; (the account is gone). Events: &lt;reported/&gt; (the node/timestamp/field tree of what changed),
/// &lt;forgotten/&gt;.</remarks>
internal sealed class DeviceTwin(int maxFields) : EntityBehavior<Dictionary<string, DeviceTwin.Value>>
{
    public const string Ns = "urn:actors:iot:twin:0";
    public const string Report = "report";
    public const string Read = "read";
    public const string Forget = "forget";
    public const string Empty = "empty";
    private const string Reported = "reported";
    private const string Forgotten = "forgotten";
    private const string Snap = "twin";

    /// <summary>One field's last value: its node (the &lt;node/&gt; without children), the timestamp and the field element.</summary>
    public sealed record Value(string NodeKey, Element Node, string Timestamp, DateTimeOffset? At, Element Field);

    public override Dictionary<string, Value> Initial(string key) => new(StringComparer.Ordinal);

    public override Dictionary<string, Value> Apply(Dictionary<string, Value> state, Element e)
    {
        if (e.Name == Forgotten) state.Clear();
        else if (e.Name is Reported or Snap) foreach (var v in Values(e)) state[Key(v)] = v;
        return state;
    }

    public override void Handle(IEntityContext twin, Dictionary<string, Value> state, Element command)
    {
        switch (command.Name)
        {
            case Report when command.FirstChild() is { } fields:
                var changed = new List<Value>();
                var added = 0;
                foreach (var v in Values(fields))
                {
                    var key = Key(v);
                    if (state.TryGetValue(key, out var old))
                    {
                        if (old.At is { } before && v.At is { } at && at < before) continue; // an older reading than the one held
                        if (old.Timestamp == v.Timestamp && Same(old.Field, v.Field)) continue;
                    }
                    else if (state.Count + ++added > maxFields) continue; // XML is hostile: a twin holds maxFields fields at most
                    changed.Add(v);
                }
                if (changed.Count == 0) return;
                twin.Persist(Tree(Reported, changed));
                // the reported state as the device's PEP item (TwinNodes): every current value, the changed ones new
                var current = new Dictionary<string, Value>(state, StringComparer.Ordinal);
                foreach (var v in changed) current[Key(v)] = v;
                twin.Send(TwinNodes.PublishReported(Xmpp.Jid.Parse(twin.Key), Tree(Reported, current.Values), "twin-" + Guid.NewGuid().ToString("N")));
                return;
            case Read when command.FirstChild() is { } req && ReadoutRequest.Parse(req) is { } request:
                if (state.Count == 0)
                {
                    twin.Reply(new Element(Empty, Ns));
                    return;
                }
                var wanted = new List<Value>();
                foreach (var v in state.Values)
                    if (request.WantsNode(v.NodeKey) && request.WantsField(v.Field)) wanted.Add(v);
                var answer = Tree(SensorData.Fields, wanted, SensorData.Ns);
                answer.SetAttr(SensorData.SeqNr, request.SeqNr.ToString(CultureInfo.InvariantCulture)).SetAttr("done", "true");
                twin.Reply(answer);
                return;
            case Forget:
                if (state.Count > 0) twin.Persist(new Element(Forgotten, Ns));
                twin.Reply(new Element(Forgotten, Ns));
                return;
        }
    }

    public override EntitySnapshot? Snapshot(Dictionary<string, Value> state) => EntitySnapshot.Of(Tree(Snap, state.Values));

    public override Dictionary<string, Value> Restore(string key, EntitySnapshot snapshot) =>
        Apply(Initial(key), snapshot.Xml ?? new Element(Snap, Ns));

    private static string Key(Value v)
    {
        var types = "";
        foreach (var type in SensorData.FieldTypes)
            if (SensorData.IsTrue(v.Field.Attr(type))) types += type + ",";
        return v.NodeKey + "\n" + v.Field.Attr("name") + "\n" + v.Field.Name + "\n" + types;
    }

    private static bool Same(Element a, Element b)
    {
        if (a.Name != b.Name || a.Attributes.Count != b.Attributes.Count) return false;
        foreach (var attr in a.Attributes)
            if (b.Attr(attr.Name, attr.Namespace) != attr.Value) return false;
        return true;
    }

    /// <summary>The fields of a node/timestamp/field tree (a sanitized &lt;fields/&gt; or one of the twin's own events).</summary>
    private static IEnumerable<Value> Values(Element tree)
    {
        foreach (var node in tree.Elements())
        {
            if (node.Name != SensorData.Node) continue;
            var nodeKey = SensorData.NodeKey(node);
            var bare = new Element(SensorData.Node, SensorData.Ns);
            foreach (var a in node.Attributes) bare.SetAttr(a.Name, a.Value);
            foreach (var ts in node.Elements())
            {
                if (ts.Name != SensorData.Timestamp || ts.Attr("value") is not { } stamp) continue;
                DateTimeOffset? at = DateTimeOffset.TryParse(stamp, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed) ? parsed : null;
                foreach (var field in ts.Elements())
                    if (SensorData.IsFieldElement(field.Name) && field.Attr("name") is not null)
                        yield return new Value(nodeKey, bare, stamp, at, field.CloneIn(field.Namespace, SensorData.Ns));
            }
        }
    }

    /// <summary>Values as a node/timestamp/field tree under &lt;<paramref name="name"/>/&gt;, in the order given.</summary>
    private static Element Tree(string name, IEnumerable<Value> values, string ns = Ns)
    {
        var root = new Element(name, ns);
        var nodes = new Dictionary<string, Element>(StringComparer.Ordinal);
        var stamps = new Dictionary<string, Element>(StringComparer.Ordinal);
        foreach (var v in values)
        {
            if (!nodes.TryGetValue(v.NodeKey, out var node))
            {
                node = v.Node.CloneIn(v.Node.Namespace, SensorData.Ns);
                nodes[v.NodeKey] = node;
                root.Add(node);
            }
            var stampKey = v.NodeKey + "\n" + v.Timestamp;
            if (!stamps.TryGetValue(stampKey, out var ts))
            {
                ts = new Element(SensorData.Timestamp, SensorData.Ns).SetAttr("value", v.Timestamp);
                stamps[stampKey] = ts;
                node.Add(ts);
            }
            ts.Add(v.Field.Clone());
        }
        return root;
    }
}
