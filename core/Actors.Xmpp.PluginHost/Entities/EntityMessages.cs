using Actors.Xmpp.Xml;

namespace Actors.Xmpp.PluginHost.Entities;

// The host's envelopes around what crosses a keyed entity's actor boundary: XML and strings only, never a plugin's
// type, so that they are location transparent (a cluster-sharded region can carry them between nodes).

/// <summary>A command for the entity of <paramref name="Key"/>; with <paramref name="ExpectsReply"/> the sender gets an
/// <see cref="EntityReply"/> (or a Status.Failure when the behaviour failed).</summary>
public sealed record EntityCommand(string Key, Element Command, bool ExpectsReply);

/// <summary>An entity's answer to an asked command (null payload: it did not reply).</summary>
public sealed record EntityReply(Element? Payload);
