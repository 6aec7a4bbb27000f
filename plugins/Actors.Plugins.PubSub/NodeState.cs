using System.Globalization;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.PubSub;

/// <summary>One published item (XEP-0060 §7.1): its id, who published it, when, and its payload (null: none).</summary>
public sealed record PublishedItem(string Id, string Publisher, DateTimeOffset At, Element? Payload);

/// <summary>One subscription (XEP-0060 §4.2): the subscribed JID as given (bare or full), its subid and state, and its
/// options (§6.3: pubsub#deliver, whether notifications are sent at all; on a collection, XEP-0248 §6.1
/// pubsub#subscription_type "nodes", "items" or "all" and pubsub#subscription_depth, a number or "all").</summary>
public sealed record NodeSubscription(string Jid, string SubId, string State, bool Deliver = true, string? Type = null, string? Depth = null)
{
    /// <summary>Whether a collection's event of <paramref name="kind"/> ("items" or "nodes") from <paramref name="depth"/>
    /// levels below reaches this subscription (XEP-0248 §6.1; defaults "nodes" and 1).</summary>
    public bool Wants(string kind, int depth)
    {
        var type = Type ?? CollectionSubscriptions.Nodes;
        if (type != CollectionSubscriptions.All && type != kind) return false;
        var d = Depth ?? "1";
        return d == CollectionSubscriptions.All || (int.TryParse(d, NumberStyles.None, CultureInfo.InvariantCulture, out var max) && depth <= max);
    }
}

/// <summary>XEP-0248 §6.1 subscription option values.</summary>
public static class CollectionSubscriptions
{
    public const string TypeField = "pubsub#subscription_type";
    public const string DepthField = "pubsub#subscription_depth";
    public const string Items = "items";
    public const string Nodes = "nodes";
    public const string All = "all";
}

/// <summary>
/// A node's state, in memory only: changed by <see cref="NodeEvents.Apply"/> alone (on the node's entity actor, one
/// event at a time, also on recovery). Items are kept oldest first.
/// </summary>
public sealed class NodeState
{
    public bool Exists;
    public NodeConfig Config = new();
    /// <summary>Bare JID to affiliation (never "none": that removes the entry).</summary>
    public readonly Dictionary<string, string> Affiliations = new(StringComparer.Ordinal);
    /// <summary>Subid to subscription, in subscription order.</summary>
    public readonly Dictionary<string, NodeSubscription> Subscriptions = new(StringComparer.Ordinal);
    public readonly List<PublishedItem> Items = new();
    /// <summary>A collection's children (XEP-0248 pubsub#children), in association order.</summary>
    public readonly List<string> Children = new();

    public PublishedItem? Item(string id)
    {
        foreach (var item in Items)
            if (item.Id == id) return item;
        return null;
    }

    public PublishedItem? LastItem => Items.Count == 0 ? null : Items[^1];

    public void Clear()
    {
        Exists = false;
        Config = new NodeConfig();
        Affiliations.Clear();
        Subscriptions.Clear();
        Items.Clear();
        Children.Clear();
    }
}

/// <summary>
/// The node's journal events (XML in <see cref="PubSubNs.Internal"/>, written through the host's entity envelope) and
/// how each changes <see cref="NodeState"/>. A snapshot is the same events: the state re-told from the start, so
/// "actors-server events rebuild entity:pubsub/node/&lt;service&gt;/&lt;node&gt;" shows the configuration,
/// affiliations, subscribers and items in order.
/// </summary>
public static class NodeEvents
{
    public const string Created = "created";
    public const string Configured = "configured";
    public const string Deleted = "deleted";
    public const string Purged = "purged";
    public const string Published = "published";
    public const string Retracted = "retracted";
    public const string Subscribed = "subscribed";
    public const string Unsubscribed = "unsubscribed";
    public const string Affiliated = "affiliated";
    /// <summary>XEP-0248: a child node associated with this collection, or dissociated from it.</summary>
    public const string Associated = "associated";
    public const string Dissociated = "dissociated";
    public const string Snapshot = "node";

    private static Element E(string name) => new(name, PubSubNs.Internal);

    public static Element Create(string creator, NodeConfig config) => E(Created).SetAttr("creator", creator).Add(config.ToElement());
    public static Element Configure(NodeConfig config) => E(Configured).Add(config.ToElement());
    public static Element Delete() => E(Deleted);
    public static Element Purge() => E(Purged);

    /// <summary>An item published; <paramref name="keep"/> items stay after it (the oldest beyond go).</summary>
    public static Element Publish(PublishedItem item, int keep)
    {
        var e = E(Published).SetAttr("id", item.Id).SetAttr("publisher", item.Publisher)
            .SetAttr("at", item.At.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture))
            .SetAttr("keep", keep.ToString(CultureInfo.InvariantCulture));
        if (item.Payload is not null) e.Add(item.Payload.Clone());
        return e;
    }

    public static Element Retract(string id) => E(Retracted).SetAttr("id", id);
    public static Element Subscribe(NodeSubscription s) => E(Subscribed).SetAttr("jid", s.Jid).SetAttr("subid", s.SubId).SetAttr("state", s.State)
        .SetAttr("deliver", s.Deliver ? null : "0").SetAttr("type", s.Type).SetAttr("depth", s.Depth);
    public static Element Unsubscribe(string subId) => E(Unsubscribed).SetAttr("subid", subId);
    public static Element Associate(string child) => E(Associated).SetAttr("child", child);
    public static Element Dissociate(string child) => E(Dissociated).SetAttr("child", child);
    public static Element Affiliate(string jid, string affiliation) => E(Affiliated).SetAttr("jid", jid).SetAttr("affiliation", affiliation);

    public static NodeState Apply(NodeState state, Element e)
    {
        switch (e.Name)
        {
            case Created:
                state.Clear();
                state.Exists = true;
                state.Config = e.Child("config", PubSubNs.Internal) is { } c ? NodeConfig.FromElement(c) : new NodeConfig();
                if (e.Attr("creator") is { Length: > 0 } creator) state.Affiliations[creator] = Affiliations.Owner;
                break;
            case Configured:
                if (e.Child("config", PubSubNs.Internal) is { } config) state.Config = NodeConfig.FromElement(config);
                break;
            case Deleted:
                state.Clear();
                break;
            case Purged:
                state.Items.Clear();
                break;
            case Published:
            {
                var id = e.Attr("id")!;
                var at = DateTimeOffset.Parse(e.Attr("at")!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
                var keep = int.Parse(e.Attr("keep") ?? "1", CultureInfo.InvariantCulture);
                Remove(state, id);
                state.Items.Add(new PublishedItem(id, e.Attr("publisher") ?? "", at, e.FirstChild()?.Clone()));
                if (state.Items.Count > keep) state.Items.RemoveRange(0, state.Items.Count - keep);
                break;
            }
            case Retracted:
                Remove(state, e.Attr("id")!);
                break;
            case Subscribed:
            {
                var s = new NodeSubscription(e.Attr("jid")!, e.Attr("subid")!, e.Attr("state") ?? SubscriptionStates.Subscribed, e.Attr("deliver") != "0", e.Attr("type"), e.Attr("depth"));
                state.Subscriptions[s.SubId] = s;
                break;
            }
            case Unsubscribed:
                state.Subscriptions.Remove(e.Attr("subid")!);
                break;
            case Affiliated:
                if (e.Attr("affiliation") is Affiliations.None or null) state.Affiliations.Remove(e.Attr("jid")!);
                else state.Affiliations[e.Attr("jid")!] = e.Attr("affiliation")!;
                break;
            case Associated:
                if (e.Attr("child") is { Length: > 0 } associated && !state.Children.Contains(associated)) state.Children.Add(associated);
                break;
            case Dissociated:
                state.Children.Remove(e.Attr("child") ?? "");
                break;
            case Snapshot:
                state.Clear();
                foreach (var child in e.Elements()) Apply(state, child);
                break;
        }
        return state;
    }

    private static void Remove(NodeState state, string id)
    {
        for (var i = 0; i < state.Items.Count; i++)
        {
            if (state.Items[i].Id != id) continue;
            state.Items.RemoveAt(i);
            return;
        }
    }

    /// <summary>The state as the events that make it (a node that does not exist is an empty snapshot).</summary>
    public static Element SnapshotOf(NodeState state)
    {
        var node = E(Snapshot);
        if (!state.Exists) return node;
        node.Add(E(Created).Add(state.Config.ToElement()));
        foreach (var (jid, affiliation) in state.Affiliations) node.Add(Affiliate(jid, affiliation));
        foreach (var child in state.Children) node.Add(Associate(child));
        foreach (var s in state.Subscriptions.Values) node.Add(Subscribe(s));
        var keep = Math.Max(1, state.Items.Count);
        foreach (var item in state.Items) node.Add(Publish(item, keep));
        return node;
    }
}
