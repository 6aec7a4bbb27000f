using Actors.Xmpp;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.PubSub;

/// <summary>
/// What the service and a node entity say to each other (XML in <see cref="PubSubNs.Internal"/>: entity commands and
/// replies cross the actor boundary as elements). A request carries the client's IQ and what the service knows about
/// the requester; an outcome carries the IQ's reply and what the service must record outside the node.
/// </summary>
public static class NodeRequests
{
    public const string Request = "request";
    public const string Outcome = "outcome";
    public const string NeedPresence = "need-presence";
    public const string Index = "index";
    public const string NodeCreated = "node-created";
    public const string NodeDeleted = "node-deleted";
    public const string Subscription = "subscription";
    public const string Affiliation = "affiliation";
    public const string Notify = "notify";
    public const string SendLast = "send-last";
    public const string Expire = "expire";
    public const string Group = "group";

    /// <summary>A client's IQ for a node. <paramref name="mayCreate"/>: the requester may create nodes;
    /// <paramref name="admin"/>: the requester owns every node; <paramref name="presence"/>: whether the requester passes the
    /// owners' roster check of the node's access model (presence: an owner shares presence with it; roster: an owner has
    /// it in an allowed group; null: not asked yet).</summary>
    public static Element For(Element iq, bool mayCreate, bool admin, bool? presence, bool pep = false)
    {
        var r = new Element(Request, PubSubNs.Internal);
        if (pep) r.SetAttr("pep", "1");
        if (mayCreate) r.SetAttr("may-create", "1");
        if (admin) r.SetAttr("admin", "1");
        if (presence is { } p) r.SetAttr("presence", p ? "1" : "0");
        return r.Add(iq);
    }

    /// <summary>The roster groups of the roster access model, as &lt;group/&gt; children of a question or notification.</summary>
    public static void AddGroups(Element e, string[] groups)
    {
        foreach (var g in groups) e.Add(new Element(Group, PubSubNs.Internal).AddText(g));
    }

    public static List<string> GroupsOf(Element e)
    {
        var groups = new List<string>();
        foreach (var g in e.Elements(Group, PubSubNs.Internal)) groups.Add(g.Text);
        return groups;
    }

    /// <summary>The entity key of a node: its service JID, '/', its name (service JIDs hold no '/').</summary>
    public static string Key(string service, string node) => service + "/" + node;

    public static (string Service, string Node) Split(string key)
    {
        var slash = key.IndexOf('/');
        return (key[..slash], key[(slash + 1)..]);
    }

    /// <summary>A subscription or affiliation changed: the service keeps each account's own list (§5.6, §5.7).</summary>
    public static Element SubscriptionChanged(NodeSubscription s, bool removed) =>
        new Element(Index, PubSubNs.Internal).SetAttr("kind", Subscription).SetAttr("jid", s.Jid).SetAttr("subid", s.SubId)
            .SetAttr("state", removed ? SubscriptionStates.None : s.State);

    public static Element AffiliationChanged(string jid, string affiliation) =>
        new Element(Index, PubSubNs.Internal).SetAttr("kind", Affiliation).SetAttr("jid", jid).SetAttr("affiliation", affiliation);

    public static Jid? BareOf(string? jid) => jid is not null && Jid.TryParse(jid, out var j) && j is not null ? j.Bare : null;
}
