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

    // XEP-0248 collections: the service walks the node graph with these keyed commands (a node never reaches another)
    /// <summary>Asks a node what the service needs to associate a child with it: &lt;about requester='bare JID'/&gt;
    /// answered by &lt;about exists='1' type='leaf|collection' parent='its parent' owner='1 when the requester owns it'/&gt;.</summary>
    public const string About = "about";
    /// <summary>Tells a collection that a child was associated with it (&lt;associate child=''/&gt;) or dissociated.</summary>
    public const string Associate = "associate";
    public const string Dissociate = "dissociate";
    /// <summary>Tells a child that its collection <c>parent</c> was deleted: it moves to the root (XEP-0248 §8.2).</summary>
    public const string Orphan = "orphan";
    /// <summary>In an outcome: an event to deliver through the node's ancestors (kind 'items' or 'nodes', from the
    /// collection 'parent' up), or the node's parent changed ('old', 'new'; 'deleted' when the node went).</summary>
    public const string Ascend = "ascend";
    public const string ParentChanged = "parent-changed";
    /// <summary>In a deleted collection's outcome: one &lt;child node=''/&gt; per child it had.</summary>
    public const string Child = "child";
    /// <summary>An event of a node 'depth' levels below the collection: the collection delivers it to its subscribers
    /// who asked for that kind and depth and answers &lt;collection-event parent='its own parent'/&gt;.</summary>
    public const string CollectionEvent = "collection-event";

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
