namespace Actors.Plugins.PubSub;

/// <summary>The namespaces of XEP-0060 and of this plugin's own journal elements.</summary>
public static class PubSubNs
{
    public const string PubSub = "http://jabber.org/protocol/pubsub";
    public const string Owner = "http://jabber.org/protocol/pubsub#owner";
    public const string Event = "http://jabber.org/protocol/pubsub#event";
    public const string Errors = "http://jabber.org/protocol/pubsub#errors";
    public const string NodeConfig = "http://jabber.org/protocol/pubsub#node_config";
    public const string PublishOptions = "http://jabber.org/protocol/pubsub#publish-options";
    /// <summary>§8.6 the form an owner gets to approve a subscription to an 'authorize' node.</summary>
    public const string SubscribeOptions = "http://jabber.org/protocol/pubsub#subscribe_options";
    public const string SubscribeAuthorization = "http://jabber.org/protocol/pubsub#subscribe_authorization";
    public const string MetaData = "http://jabber.org/protocol/pubsub#meta-data";
    /// <summary>XEP-0059 result set management (paging retrieved items, XEP-0060 §6.5.4).</summary>
    public const string Rsm = "http://jabber.org/protocol/rsm";
    /// <summary>XEP-0131 stanza headers: a notification delivered through a collection names it (XEP-0248 §5.3.1).</summary>
    public const string Shim = "http://jabber.org/protocol/shim";
    /// <summary>The node engine's commands, events and snapshots (never seen by clients).</summary>
    public const string Internal = "urn:actors:pubsub:node:0";

    /// <summary>XEP-0060 §10 features, as "http://jabber.org/protocol/pubsub#" + name.</summary>
    public static string Feature(string name) => PubSub + "#" + name;
}

/// <summary>XEP-0060 §10 feature names this service implements (each is honoured; disco lists exactly these).</summary>
public static class PubSubFeatures
{
    public const string AccessAuthorize = "access-authorize";
    public const string AccessOpen = "access-open";
    public const string AccessPresence = "access-presence";
    public const string AccessRoster = "access-roster";
    public const string AccessWhitelist = "access-whitelist";
    /// <summary>XEP-0248: collection nodes (the service at pubsub.&lt;domain&gt; only, not PEP).</summary>
    public const string Collections = "collections";
    public const string ConfigNode = "config-node";
    public const string ConfigNodeMax = "config-node-max";
    public const string CreateAndConfigure = "create-and-configure";
    public const string CreateNodes = "create-nodes";
    public const string DeleteItems = "delete-items";
    public const string DeleteNodes = "delete-nodes";
    public const string InstantNodes = "instant-nodes";
    public const string ItemIds = "item-ids";
    public const string LastPublished = "last-published";
    public const string ManageSubscriptions = "manage-subscriptions";
    public const string MemberAffiliation = "member-affiliation";
    public const string MetaData = "meta-data";
    public const string ModifyAffiliations = "modify-affiliations";
    public const string OutcastAffiliation = "outcast-affiliation";
    public const string PersistentItems = "persistent-items";
    public const string Publish = "publish";
    public const string PublishOptions = "publish-options";
    public const string PublisherAffiliation = "publisher-affiliation";
    public const string PurgeNodes = "purge-nodes";
    public const string RetractItems = "retract-items";
    public const string RetrieveAffiliations = "retrieve-affiliations";
    public const string RetrieveDefault = "retrieve-default";
    public const string RetrieveItems = "retrieve-items";
    public const string RetrieveSubscriptions = "retrieve-subscriptions";
    public const string Subscribe = "subscribe";
    public const string SubscriptionOptions = "subscription-options";

    public static readonly string[] Implemented =
    [
        AccessAuthorize, AccessOpen, AccessPresence, AccessRoster, AccessWhitelist, ConfigNode, ConfigNodeMax, CreateAndConfigure, CreateNodes,
        DeleteItems, DeleteNodes, InstantNodes, ItemIds, LastPublished, ManageSubscriptions, MemberAffiliation, MetaData,
        ModifyAffiliations, OutcastAffiliation, PersistentItems, Publish, PublishOptions, PublisherAffiliation, PurgeNodes,
        RetractItems, RetrieveAffiliations, RetrieveDefault, RetrieveItems, RetrieveSubscriptions, Subscribe, SubscriptionOptions,
    ];
}

/// <summary>XEP-0060 §4.1 affiliations.</summary>
public static class Affiliations
{
    public const string Owner = "owner";
    public const string Publisher = "publisher";
    public const string PublishOnly = "publish-only";
    public const string Member = "member";
    public const string None = "none";
    public const string Outcast = "outcast";

    public static bool IsValid(string? a) => a is Owner or Publisher or PublishOnly or Member or None or Outcast;
}

/// <summary>XEP-0060 §4.2 subscription states.</summary>
public static class SubscriptionStates
{
    public const string Subscribed = "subscribed";
    public const string Pending = "pending";
    public const string Unconfigured = "unconfigured";
    public const string None = "none";
}

/// <summary>XEP-0060 §4.5 access models this service implements.</summary>
public static class AccessModels
{
    public const string Open = "open";
    public const string Presence = "presence";
    public const string Whitelist = "whitelist";
    /// <summary>§4.5: entities in one of pubsub#roster_groups_allowed of an owner's roster.</summary>
    public const string Roster = "roster";
    public const string Authorize = "authorize";
}

/// <summary>pubsub#publish_model values.</summary>
public static class PublishModels
{
    public const string Publishers = "publishers";
    public const string Subscribers = "subscribers";
    public const string Open = "open";
}

/// <summary>pubsub#send_last_published_item values.</summary>
public static class SendLastPublished
{
    public const string Never = "never";
    public const string OnSub = "on_sub";
    public const string OnSubAndPresence = "on_sub_and_presence";
}

/// <summary>The pubsub#errors application conditions (XEP-0060 §14.3) this service sends.</summary>
public static class PubSubErrors
{
    public const string ClosedNode = "closed-node";
    public const string InvalidJid = "invalid-jid";
    public const string InvalidOptions = "invalid-options";
    public const string InvalidPayload = "invalid-payload";
    public const string InvalidSubId = "invalid-subid";
    public const string ItemForbidden = "item-forbidden";
    public const string ItemRequired = "item-required";
    public const string NodeIdRequired = "nodeid-required";
    public const string NotSubscribed = "not-subscribed";
    public const string PayloadRequired = "payload-required";
    public const string PendingSubscription = "pending-subscription";
    public const string PayloadTooBig = "payload-too-big";
    public const string PreconditionNotMet = "precondition-not-met";
    public const string PresenceSubscriptionRequired = "presence-subscription-required";
    public const string NotInRosterGroup = "not-in-roster-group";
    public const string SubIdRequired = "subid-required";
    public const string TooManySubscriptions = "too-many-subscriptions";
    public const string Unsupported = "unsupported";
    public const string MaxItemsExceeded = "max-items-exceeded";
    public const string MaxNodesExceeded = "max-nodes-exceeded";
}
