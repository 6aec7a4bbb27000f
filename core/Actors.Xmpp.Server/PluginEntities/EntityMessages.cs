using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Server.PluginEntities;

// The host's envelopes around what crosses a plugin keyed entity's actor boundary: XML and strings only, never a
// plugin's type, so that they are location transparent (on a clustered node they cross nodes through the entity kind's
// shard region, with Cluster.RoutingSerializer). The actors that carry them are the plugin host's.

/// <summary>A command for the entity of <paramref name="Key"/>; with <paramref name="ExpectsReply"/> the sender gets an
/// <see cref="EntityReply"/> (or <see cref="EntityFailed"/> when the behaviour failed).</summary>
public sealed record EntityCommand(string Key, Element Command, bool ExpectsReply);

/// <summary>An entity's answer to an asked command (null payload: it did not reply).</summary>
public sealed record EntityReply(Element? Payload);

/// <summary>The behaviour failed on an asked command (the entity restarts from its journal): the failure's message
/// only, since the exception may be a plugin's type.</summary>
public sealed record EntityFailed(string Reason);
