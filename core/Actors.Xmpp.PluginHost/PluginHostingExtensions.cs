using System.Text.Json.Nodes;
using Actors.Xmpp.Server;
using Actors.Xmpp.Server.Hosting;
using Akka.Actor;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Actors.Xmpp.PluginHost;

public static class PluginHostingExtensions
{
    /// <summary>
    /// Adds the plugin host to a server added with AddXmppServer: plugins load once the actor system is up and
    /// before the client listeners open; the admin channel gets the plugin commands.
    /// </summary>
    public static IServiceCollection AddXmppPlugins(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton(sp => new PluginManager(sp.GetRequiredService<ServerContext>(), sp.GetRequiredService<ActorSystem>(),
            configuration, sp.GetRequiredService<ILoggerFactory>()));
        services.AddSingleton<IAdminCommandExtension, Commands.AdminCommandChannel>(); // before plugin-*: it takes plugin-command(s)
        services.AddSingleton<IAdminCommandExtension, PluginAdminCommands>();
        var hosted = ServiceDescriptor.Singleton<IHostedService, PluginHostService>();
        // hosted services start in order: insert ours before XmppServerService's (listeners), so clients never see
        // a server without its plugins; the actor system (Akka.Hosting) is registered earlier and starts first.
        var index = -1;
        for (var i = 0; i < services.Count; i++)
            if (services[i].ServiceType == typeof(XmppServerService)) index = i;
        if (index >= 0)
        {
            for (var i = index + 1; i < services.Count; i++)
            {
                if (services[i].ServiceType != typeof(IHostedService)) continue;
                services.Insert(i, hosted);
                return services;
            }
        }
        services.Add(hosted);
        return services;
    }
}

internal sealed class PluginHostService(PluginManager plugins, ServerContext server, ActorSystem system) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await plugins.StartAsync();
        // a clustered node: the other members' `plugin load|unload|reload` run here too
        if (server.Options.Cluster.Enabled)
            system.ActorOf(Props.Create(() => new PluginOperationsActor(plugins)), Server.Cluster.PluginOperations.ActorName);
    }

    public Task StopAsync(CancellationToken cancellationToken) => plugins.DisposeAsync().AsTask();
}

/// <summary>Admin channel commands: {"cmd":"plugin-list"}, {"cmd":"plugin-load","plugin":"folder"},
/// {"cmd":"plugin-unload","plugin":"id"}, {"cmd":"plugin-reload","plugin":"id"}. On a clustered node load, unload and
/// reload run on every member that is up (this node directly, the others through their
/// <see cref="Server.Cluster.PluginOperations"/> actor) and the answer lists each node ("nodes"), unless the request
/// says "local": true.</summary>
internal sealed class PluginAdminCommands(PluginManager plugins, ServerContext server, ActorSystem system) : IAdminCommandExtension
{
    private static readonly TimeSpan NodeTimeout = TimeSpan.FromSeconds(60);

    public async Task<JsonObject?> TryExecuteAsync(JsonObject request)
    {
        var cmd = (string?)request["cmd"];
        if (cmd is null || !cmd.StartsWith("plugin-", StringComparison.Ordinal)) return null;
        if (cmd == "plugin-list")
        {
            var list = new JsonArray();
            foreach (var p in plugins.List())
            {
                var xeps = new JsonArray();
                foreach (var x in p.Xeps) xeps.Add(x);
                list.Add(new JsonObject
                {
                    ["id"] = p.Id, ["version"] = p.Version, ["state"] = p.State, ["xeps"] = xeps, ["folder"] = p.Folder, ["error"] = p.Error,
                });
            }
            return new JsonObject { ["ok"] = true, ["plugins"] = list, ["directory"] = plugins.Directory };
        }
        var name = (string?)request["plugin"];
        if (string.IsNullOrEmpty(name)) return new JsonObject { ["ok"] = false, ["error"] = "missing 'plugin'" };
        if (cmd is not ("plugin-load" or "plugin-unload" or "plugin-reload"))
            return new JsonObject { ["ok"] = false, ["error"] = $"unknown command '{cmd}'" };
        if (server.Options.Cluster.Enabled && (bool?)request["local"] != true) return await OnEveryNodeAsync(cmd, name);
        var result = await RunAsync(plugins, cmd, name);
        return result.Ok
            ? new JsonObject { ["ok"] = true, ["message"] = result.Message }
            : new JsonObject { ["ok"] = false, ["error"] = result.Message };
    }

    internal static Task<PluginResult> RunAsync(PluginManager plugins, string cmd, string name) => cmd switch
    {
        "plugin-load" => plugins.LoadAsync(name),
        "plugin-unload" => plugins.UnloadAsync(name),
        _ => plugins.ReloadAsync(name),
    };

    /// <summary>The operation on every member that is up, in parallel; ok when it succeeded on all of them.</summary>
    private async Task<JsonObject> OnEveryNodeAsync(string cmd, string name)
    {
        var cluster = Akka.Cluster.Cluster.Get(system);
        var members = new List<Akka.Actor.Address>();
        foreach (var m in cluster.State.Members)
            if (m.Status == Akka.Cluster.MemberStatus.Up) members.Add(m.Address);
        var runs = new Task<Server.Cluster.PluginOperations.Result>[members.Count];
        for (var i = 0; i < runs.Length; i++) runs[i] = OnNodeAsync(members[i], members[i].Equals(cluster.SelfAddress), cmd, name);
        var results = await Task.WhenAll(runs);
        var nodes = new JsonArray();
        var ok = true;
        var summary = new System.Text.StringBuilder();
        for (var i = 0; i < results.Length; i++)
        {
            ok &= results[i].Ok;
            nodes.Add(new JsonObject { ["node"] = members[i].ToString(), ["ok"] = results[i].Ok, ["message"] = results[i].Message });
            if (summary.Length > 0) summary.Append('\n');
            summary.Append(members[i]).Append(": ").Append(results[i].Ok ? "" : "failed: ").Append(results[i].Message);
        }
        return ok
            ? new JsonObject { ["ok"] = true, ["message"] = summary.ToString(), ["nodes"] = nodes }
            : new JsonObject { ["ok"] = false, ["error"] = summary.ToString(), ["nodes"] = nodes };
    }

    private async Task<Server.Cluster.PluginOperations.Result> OnNodeAsync(Akka.Actor.Address node, bool self, string cmd, string name)
    {
        if (self)
        {
            var local = await RunAsync(plugins, cmd, name);
            return new(local.Ok, local.Message);
        }
        try
        {
            return await system.ActorSelection(new RootActorPath(node) / "user" / Server.Cluster.PluginOperations.ActorName)
                .Ask<Server.Cluster.PluginOperations.Result>(new Server.Cluster.PluginOperations.Run(cmd, name), NodeTimeout);
        }
        catch (AskTimeoutException)
        {
            return new(false, $"no answer within {NodeTimeout.TotalSeconds} s");
        }
    }
}

/// <summary>Runs another member's cluster-wide plugin operation on this node (/user/plugin-operations).</summary>
internal sealed class PluginOperationsActor : ReceiveActor
{
    public PluginOperationsActor(PluginManager plugins)
    {
        Receive<Server.Cluster.PluginOperations.Run>(m =>
        {
            var replyTo = Sender;
            PluginAdminCommands.RunAsync(plugins, m.Command, m.Plugin).PipeTo(replyTo,
                success: r => new Server.Cluster.PluginOperations.Result(r.Ok, r.Message),
                failure: ex => new Server.Cluster.PluginOperations.Result(false, ex.Message));
        });
    }
}
