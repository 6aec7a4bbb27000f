using System.Text.Json.Nodes;
using Actors.Xmpp.Server.Routing;
using Akka.Actor;
using Akka.Cluster.Sharding;

namespace Actors.Xmpp.Server.Cluster;

/// <summary>
/// The admin channel's cluster commands (<c>actors-server cluster status|leave NODE</c>): the members as this node
/// sees them (address, status, roles, reachability) with each node's bound sessions (asked of that node's
/// <see cref="NodeInfoActor"/>) and account entities (the "users" region's statistics); and a member asked to leave
/// gracefully (its sessions get &lt;system-shutdown/&gt; when it stops, its shards move).
/// </summary>
public sealed class ClusterAdminCommands(ActorSystem system, XmppServerOptions options, ISessionRegistry sessions,
    ShardedUserDirectory directory) : Hosting.IAdminCommandExtension
{
    public const string StatusCommand = "cluster-status";
    public const string LeaveCommand = "cluster-leave";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    public async Task<JsonObject?> TryExecuteAsync(JsonObject request)
    {
        var command = (string?)request["cmd"];
        if (command is not (StatusCommand or LeaveCommand)) return null;
        if (!options.Cluster.Enabled)
            return new JsonObject { ["ok"] = false, ["error"] = "this server is not clustered (Xmpp:Cluster:Enabled is off)" };
        var cluster = Akka.Cluster.Cluster.Get(system);
        if (command == LeaveCommand)
        {
            var node = (string?)request["node"] ?? "";
            var member = Find(cluster, node);
            if (member is null) return new JsonObject { ["ok"] = false, ["error"] = $"no member {node} (see cluster status)" };
            cluster.Leave(member.Address);
            return new JsonObject { ["ok"] = true, ["message"] = $"{member.Address} asked to leave the cluster" };
        }
        return await StatusAsync(cluster);
    }

    private static Akka.Cluster.Member? Find(Akka.Cluster.Cluster cluster, string node)
    {
        foreach (var m in cluster.State.Members)
        {
            var a = m.Address;
            if (a.ToString() == node || $"{a.Host}:{a.Port}" == node) return m;
        }
        return null;
    }

    private async Task<JsonObject> StatusAsync(Akka.Cluster.Cluster cluster)
    {
        var state = cluster.State;
        var entities = new Dictionary<Address, int>();
        try
        {
            var stats = await directory.Region.Ask<ClusterShardingStats>(new GetClusterShardingStats(Timeout), Timeout + Timeout);
            foreach (var (address, region) in stats.Regions)
            {
                var count = 0;
                foreach (var shard in region.Stats.Values) count += shard;
                entities[address] = count;
            }
        }
        catch (AskTimeoutException) { }
        var members = new JsonArray();
        foreach (var m in state.Members)
        {
            int? sessionCount = null;
            if (m.Address.Equals(cluster.SelfAddress)) sessionCount = sessions.Count;
            else
            {
                try
                {
                    var info = await system.ActorSelection(new RootActorPath(m.Address) / "user" / NodeInfoActor.Name)
                        .Ask<NodeInfoActor.Info>(NodeInfoActor.Query.Instance, Timeout);
                    sessionCount = info.Sessions;
                }
                catch (Exception ex) when (ex is AskTimeoutException or ActorNotFoundException) { }
            }
            var roles = new JsonArray();
            foreach (var r in m.Roles) roles.Add(r);
            members.Add(new JsonObject
            {
                ["address"] = m.Address.ToString(),
                ["status"] = m.Status.ToString(),
                ["roles"] = roles,
                ["reachable"] = !state.Unreachable.Contains(m),
                ["self"] = m.Address.Equals(cluster.SelfAddress),
                ["leader"] = m.Address.Equals(state.Leader),
                ["sessions"] = sessionCount,
                ["entities"] = entities.TryGetValue(m.Address, out var e) ? e : null,
            });
        }
        return new JsonObject { ["ok"] = true, ["members"] = members };
    }
}

/// <summary>This node's answers to the others (/user/cluster-info): its count of bound sessions for <c>cluster status</c>,
/// and an account's sessions bound here for a resources entity that starts (<see cref="AccountResourcesActor.FindSessions"/>).</summary>
public sealed class NodeInfoActor : ReceiveActor
{
    public const string Name = "cluster-info";

    public sealed record Query
    {
        public static readonly Query Instance = new();
    }

    public sealed record Info(int Sessions);

    public NodeInfoActor(ISessionRegistry sessions)
    {
        Receive<Query>(_ => Sender.Tell(new Info(sessions.Count)));
        // a resources entity that starts asks every node for the account's sessions (AccountResourcesActor's census)
        Receive<AccountResourcesActor.FindSessions>(m => Sender.Tell(new AccountResourcesActor.SessionsOnNode(sessions.Resources(m.Account))));
    }
}
