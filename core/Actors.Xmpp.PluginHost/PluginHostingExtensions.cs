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

internal sealed class PluginHostService(PluginManager plugins) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => plugins.StartAsync();
    public Task StopAsync(CancellationToken cancellationToken) => plugins.DisposeAsync().AsTask();
}

/// <summary>Admin channel commands: {"cmd":"plugin-list"}, {"cmd":"plugin-load","plugin":"folder"},
/// {"cmd":"plugin-unload","plugin":"id"}, {"cmd":"plugin-reload","plugin":"id"}.</summary>
internal sealed class PluginAdminCommands(PluginManager plugins) : IAdminCommandExtension
{
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
        var result = cmd switch
        {
            "plugin-load" => await plugins.LoadAsync(name),
            "plugin-unload" => await plugins.UnloadAsync(name),
            "plugin-reload" => await plugins.ReloadAsync(name),
            _ => new PluginResult(false, $"unknown command '{cmd}'"),
        };
        return result.Ok
            ? new JsonObject { ["ok"] = true, ["message"] = result.Message }
            : new JsonObject { ["ok"] = false, ["error"] = result.Message };
    }
}
