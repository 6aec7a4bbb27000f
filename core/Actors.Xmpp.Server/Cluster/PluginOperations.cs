namespace Actors.Xmpp.Server.Cluster;

/// <summary>
/// Cluster-wide plugin operations (issue 10): <c>plugin load|unload|reload ID</c> on one node's admin channel runs on
/// every member, each through its own plugin host (the actor at /user/<see cref="ActorName"/>, started by the plugin
/// host on a clustered node), and the answer reports each node. A node where the operation fails says so (a failed
/// reload keeps the old version there, as on one node). A node that joins takes the cluster's plugin set: it asks the
/// oldest other member for the plugins loaded there (<see cref="ListLoaded"/>), loads those it has not loaded (from its
/// own plugin folder) and unloads those the cluster does not run. The records cross nodes with <see cref="RoutingSerializer"/>.
/// </summary>
public static class PluginOperations
{
    public const string ActorName = "plugin-operations";

    /// <summary>Run <paramref name="Command"/> (plugin-load, plugin-unload or plugin-reload) for <paramref name="Plugin"/>
    /// on this node only.</summary>
    public sealed record Run(string Command, string Plugin);

    /// <summary>The outcome on one node.</summary>
    public sealed record Result(bool Ok, string Message);

    /// <summary>Asked of a member by a node that joins: answered with <see cref="LoadedSet"/>.</summary>
    public sealed record ListLoaded
    {
        public static readonly ListLoaded Instance = new();
    }

    /// <summary>The ids of the plugins loaded on the node that answers.</summary>
    public sealed record LoadedSet(IReadOnlyList<string> Plugins);
}
