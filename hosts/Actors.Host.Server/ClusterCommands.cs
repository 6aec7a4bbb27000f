using System.CommandLine;
using System.Text.Json.Nodes;
using Actors.Xmpp.Server;
using Actors.Xmpp.Server.Cluster;
using Microsoft.Extensions.Configuration;

namespace Actors.Host.Server;

/// <summary>`actors-server cluster status|leave NODE`: the running node's view of its cluster, through its admin socket.</summary>
internal static class ClusterCommands
{
    public static Command Create()
    {
        var cluster = new Command("cluster", "The running node's cluster: status, leave.");
        var json = new Option<bool>("--json") { Description = "Print the members as JSON" };
        var status = new Command("status", "Members: address, status, roles, reachability, sessions and account entities per node.") { json };
        status.SetAction((p, ct) => Run(p, new JsonObject { ["cmd"] = ClusterAdminCommands.StatusCommand }, p.GetValue(json)));
        var node = new Argument<string>("NODE") { Description = "The member, host:port (its Akka.Remote address) or akka.tcp://actors@host:port" };
        var leave = new Command("leave", "Ask a member to leave the cluster gracefully (its shards move; stopping it closes its sessions with <system-shutdown/>).") { node };
        leave.SetAction((p, ct) => Run(p, new JsonObject { ["cmd"] = ClusterAdminCommands.LeaveCommand, ["node"] = p.GetValue(node) }, json: false));
        cluster.Subcommands.Add(status);
        cluster.Subcommands.Add(leave);
        return cluster;
    }

    private static async Task<int> Run(ParseResult parse, JsonObject request, bool json)
    {
        var configuration = ServerRunner.CreateBuilder(ConfigOverrides.For(parse)).Configuration;
        var options = new XmppServerOptions();
        configuration.GetSection(XmppServerOptions.Section).Bind(options);
        JsonObject? response;
        try
        {
            response = await UserCommands.ThroughRunningServer(options.DataDir, request);
        }
        catch (IOException ex)
        {
            await Console.Error.WriteLineAsync("error: " + ex.Message);
            return 1;
        }
        if (response is null)
        {
            await Console.Error.WriteLineAsync($"error: no server is running on the data folder {Path.GetFullPath(options.DataDir)}");
            return 1;
        }
        if ((bool?)response["ok"] != true)
        {
            await Console.Error.WriteLineAsync("error: " + (string?)response["error"]);
            return 1;
        }
        if (response["message"] is { } message)
        {
            Console.WriteLine((string?)message);
            return 0;
        }
        if (json)
        {
            Console.WriteLine(response["members"]?.ToJsonString() ?? "[]");
            return 0;
        }
        Console.WriteLine($"{"address",-36} {"status",-8} {"reachable",-9} {"sessions",8} {"entities",8}  roles");
        foreach (var m in (JsonArray?)response["members"] ?? [])
        {
            var roles = string.Join(',', ((JsonArray?)m!["roles"] ?? []).Select(r => (string?)r));
            var marks = ((bool?)m["self"] == true ? " (this node)" : "") + ((bool?)m["leader"] == true ? " (leader)" : "");
            Console.WriteLine($"{(string?)m["address"],-36} {(string?)m["status"],-8} {((bool?)m["reachable"] == true ? "yes" : "NO"),-9} " +
                              $"{Show(m["sessions"]),8} {Show(m["entities"]),8}  {roles}{marks}");
        }
        return 0;
    }

    private static string Show(JsonNode? n) => n is null ? "?" : n.ToJsonString();
}
