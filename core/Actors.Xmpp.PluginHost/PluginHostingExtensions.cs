using System.Text.Json.Nodes;
using Actors.Xmpp.Server;
using Actors.Xmpp.Server.Hosting;
using Akka.Actor;
using Akka.Event;
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
            configuration, sp.GetRequiredService<ILoggerFactory>(), sp.GetService<Actors.Xmpp.Transport.Tls.ServerCertificates>()));
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
/// says "local": true. {"cmd":"plugin-install","source":"/path/x.nupkg or folder"} installs into this node's plugin
/// directory (<see cref="PluginManager.InstallAsync"/>; files are per node).</summary>
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
        if (cmd == "plugin-install")
        {
            var source = (string?)request["source"];
            if (string.IsNullOrEmpty(source) || !Path.IsPathFullyQualified(source))
                return new JsonObject { ["ok"] = false, ["error"] = "'source' must be the full path of a .nupkg file or a folder" };
            var installed = await plugins.InstallAsync(source);
            return installed.Ok
                ? new JsonObject { ["ok"] = true, ["message"] = installed.Message }
                : new JsonObject { ["ok"] = false, ["error"] = installed.Message };
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

/// <summary>Runs another member's cluster-wide plugin operation on this node (/user/plugin-operations), tells a joining
/// member which plugins run here, and, once this node is up in the cluster, takes the cluster's plugin set: the oldest
/// other member's loaded plugins are loaded here (from this node's plugin folder), and those it does not run are unloaded.</summary>
internal sealed class PluginOperationsActor : ReceiveActor
{
    /// <summary>How long a joining node waits for the oldest member's list.</summary>
    public static readonly TimeSpan ListTimeout = TimeSpan.FromSeconds(30);

    private sealed record Joined
    {
        public static readonly Joined Instance = new();
    }

    private sealed record Adopted(string Report);

    private readonly ILoggingAdapter _log = Context.GetLogger();

    public PluginOperationsActor(PluginManager plugins)
    {
        Receive<Server.Cluster.PluginOperations.Run>(m =>
        {
            var replyTo = Sender;
            PluginAdminCommands.RunAsync(plugins, m.Command, m.Plugin).PipeTo(replyTo,
                success: r => new Server.Cluster.PluginOperations.Result(r.Ok, r.Message),
                failure: ex => new Server.Cluster.PluginOperations.Result(false, ex.Message));
        });
        // the plugin list is read under the manager's lock: off the actor's thread
        Receive<Server.Cluster.PluginOperations.ListLoaded>(_ =>
            Task.Run(() => new Server.Cluster.PluginOperations.LoadedSet(LoadedIds(plugins))).PipeTo(Sender));
        Receive<Joined>(_ =>
        {
            var cluster = Akka.Cluster.Cluster.Get(Context.System);
            Akka.Cluster.Member? oldest = null;
            foreach (var m in cluster.State.Members)
                if (m.Status == Akka.Cluster.MemberStatus.Up && !m.Address.Equals(cluster.SelfAddress) && !cluster.State.Unreachable.Contains(m)
                    && (oldest is null || m.IsOlderThan(oldest)))
                    oldest = m;
            if (oldest is null) return; // the first member: its own plugin folder is the cluster's set
            var source = oldest.Address;
            Context.ActorSelection(new RootActorPath(source) / "user" / Server.Cluster.PluginOperations.ActorName)
                .Ask<Server.Cluster.PluginOperations.LoadedSet>(Server.Cluster.PluginOperations.ListLoaded.Instance, ListTimeout)
                .ContinueWith(t => t.IsCompletedSuccessfully
                    ? AdoptAsync(plugins, source, t.Result.Plugins)
                    : Task.FromResult($"the plugin set of {source} was not learnt ({t.Exception?.GetBaseException().Message ?? "cancelled"}): this node keeps its own"))
                .Unwrap()
                .PipeTo(Self, success: report => new Adopted(report), failure: ex => new Adopted("taking the cluster's plugin set failed: " + ex.Message));
        });
        Receive<Adopted>(m => _log.Info("{0}", m.Report));
    }

    protected override void PreStart()
    {
        var self = Self;
        Akka.Cluster.Cluster.Get(Context.System).RegisterOnMemberUp(() => self.Tell(Joined.Instance));
    }

    private static List<string> LoadedIds(PluginManager plugins)
    {
        var ids = new List<string>();
        foreach (var p in plugins.List())
            if (p.State == "loaded") ids.Add(p.Id);
        return ids;
    }

    /// <summary>This node's plugins made those of <paramref name="source"/>: the ones it does not run are unloaded (last
    /// loaded first, so that dependents go before what they depend on), then the missing ones are loaded. Returns
    /// what was done, each failure named (a plugin this node's folder lacks stays missing here, and says so).</summary>
    private static async Task<string> AdoptAsync(PluginManager plugins, Akka.Actor.Address source, IReadOnlyList<string> wanted)
    {
        var want = new HashSet<string>(wanted, StringComparer.Ordinal);
        var here = LoadedIds(plugins);
        var report = new System.Text.StringBuilder("the cluster's plugin set, from ").Append(source).Append(':');
        var changed = false;
        for (var i = here.Count - 1; i >= 0; i--)
        {
            if (want.Contains(here[i])) continue;
            var r = await plugins.UnloadAsync(here[i]);
            report.Append(r.Ok ? " unloaded " : " could not unload ").Append(here[i]).Append(r.Ok ? "" : " (" + r.Message + ")").Append(';');
            changed = true;
        }
        var folders = new Dictionary<string, string>(StringComparer.Ordinal); // the plugins this node knows, by id
        foreach (var p in plugins.List()) folders[p.Id] = p.Folder;
        foreach (var id in wanted)
        {
            if (here.Contains(id)) continue;
            // its known folder, else a folder of that name under the plugin directory
            var r = await plugins.LoadAsync(folders.GetValueOrDefault(id, id));
            report.Append(r.Ok ? " loaded " : " could not load ").Append(id).Append(r.Ok ? "" : " (" + r.Message + ")").Append(';');
            changed = true;
        }
        if (!changed) report.Append(" the same as this node's");
        return report.ToString();
    }
}
