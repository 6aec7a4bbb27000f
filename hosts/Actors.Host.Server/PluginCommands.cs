using System.CommandLine;
using System.Text.Json.Nodes;
using Actors.Xmpp.Server;
using Microsoft.Extensions.Configuration;

namespace Actors.Host.Server;

/// <summary>`actors-server plugin list|load|unload|reload`: through the running server's admin socket.</summary>
internal static class PluginCommands
{
    public static Command Create()
    {
        var plugin = new Command("plugin", "Manage the plugins of the running server: list, load, unload, reload.");
        var id = new Argument<string>("plugin") { Description = "A plugin id (unload, reload) or a folder name/path under the plugin directory (load)" };

        var list = new Command("list", "List plugins: id, version, XEPs, state.");
        list.TreatUnmatchedTokensAsErrors = false;
        list.SetAction((p, ct) => Run(p, new JsonObject { ["cmd"] = "plugin-list" }));
        plugin.Subcommands.Add(list);
        foreach (var (name, help) in new[] { ("load", "Load a plugin folder."), ("unload", "Unload a plugin (and its dependants)."), ("reload", "Reload a plugin from its folder, keeping its state.") })
        {
            var c = new Command(name, help) { id };
            c.TreatUnmatchedTokensAsErrors = false;
            c.SetAction((p, ct) => Run(p, new JsonObject { ["cmd"] = "plugin-" + name, ["plugin"] = p.GetValue(id) }));
            plugin.Subcommands.Add(c);
        }
        return plugin;
    }

    private static async Task<int> Run(ParseResult parse, JsonObject request)
    {
        var configuration = ServerRunner.CreateBuilder(parse.UnmatchedTokens.ToArray()).Configuration;
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
        if (response["plugins"] is JsonArray plugins)
        {
            Console.WriteLine($"{"ID",-12} {"VERSION",-10} {"STATE",-9} XEPS");
            foreach (var p in plugins)
            {
                var xeps = string.Join(", ", ((JsonArray?)p!["xeps"] ?? []).Select(x => (string?)x));
                Console.WriteLine($"{(string?)p["id"],-12} {(string?)p["version"] ?? "-",-10} {(string?)p["state"],-9} {xeps}");
                if ((string?)p["error"] is { } error) Console.WriteLine($"{"",-12} error: {error}");
            }
        }
        else if (response["message"] is { } message)
        {
            Console.WriteLine((string?)message);
        }
        return 0;
    }
}
