using System.ComponentModel.DataAnnotations;

namespace Actors.Plugins.PubSub;

/// <summary>Who may create nodes on the service (Xmpp:PubSub:NodeCreation).</summary>
public enum NodeCreation
{
    /// <summary>Any account of this server (the default, and what the harness runs with).</summary>
    Accounts,
    /// <summary>Only the JIDs in Xmpp:PubSub:Admins.</summary>
    Admins,
    /// <summary>Nobody (nodes exist only if created before).</summary>
    Nobody,
}

/// <summary>Options (section Xmpp:PubSub).</summary>
public sealed class PubSubOptions
{
    public const string Section = "Xmpp:PubSub";

    /// <summary>The service is &lt;Subdomain&gt;.&lt;domain&gt; for every served domain.</summary>
    [Required, RegularExpression("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")]
    public string Subdomain { get; set; } = "pubsub";

    public NodeCreation NodeCreation { get; set; } = NodeCreation.Accounts;

    /// <summary>Bare JIDs that may create nodes when NodeCreation is Admins, and that own every node (XEP-0060 §4.1).</summary>
    public string[] Admins { get; set; } = [];

    /// <summary>Nodes one account may own on the service.</summary>
    [Range(1, 1_000_000)] public int MaxNodesPerUser { get; set; } = 1000;

    /// <summary>Items one node may keep (pubsub#max_items 'max' is this).</summary>
    [Range(1, 100_000)] public int MaxItemsPerNode { get; set; } = 1000;

    /// <summary>Bytes of one item's payload (XEP-0060 §7.1.3.4 payload-too-big beyond).</summary>
    [Range(64, 16 * 1024 * 1024)] public int MaxPayloadBytes { get; set; } = 64 * 1024;

    /// <summary>Subscriptions one node may have (§6.1.3.9 too-many-subscriptions beyond).</summary>
    [Range(1, 10_000_000)] public int MaxSubscriptionsPerNode { get; set; } = 100_000;

    /// <summary>A node nobody used for this long leaves memory (its state stays in the journal).</summary>
    [Range(1, 86_400)] public int IdleSeconds { get; set; } = 120;

    /// <summary>Notification copies per second one fan-out lane routes (the host streams a node's notifications to its
    /// subscribers off the node's actor, IEntityContext.SendToEach); 0: as fast as the router takes them.</summary>
    [Range(0, 100_000_000)] public int FanoutPerSecond { get; set; }

    /// <summary>Limits that accept anything (replaying the journal: what was accepted then stays).</summary>
    internal static readonly PubSubOptions Unlimited = new() { MaxItemsPerNode = int.MaxValue, MaxPayloadBytes = int.MaxValue };
}
