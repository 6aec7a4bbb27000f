using System.CommandLine;
using System.Text.Json.Nodes;
using Actors.Xmpp.Server;
using Microsoft.Extensions.Configuration;

namespace Actors.Host.Server;

/// <summary>`actors-server plugin list|load|unload|reload|install|commands|command`: through the running server's admin socket.</summary>
internal static class PluginCommands
{
    public static Command Create()
    {
        var plugin = new Command("plugin", "Manage the plugins of the running server: list, load, unload, reload, install; list and run their admin commands.");
        var id = new Argument<string>("plugin") { Description = "A plugin id (unload, reload) or a folder name/path under the plugin directory (load)" };

        var json = new Option<bool>("--json") { Description = "Print the listing as JSON" };
        var list = new Command("list", "List plugins: id, version, XEPs, state.") { json };
        list.SetAction((p, ct) => Run(p, new JsonObject { ["cmd"] = "plugin-list" }, p.GetValue(json)));
        plugin.Subcommands.Add(list);
        foreach (var (name, help) in new[] { ("load", "Load a plugin folder."), ("unload", "Unload a plugin (and its dependants)."), ("reload", "Reload a plugin from its folder, keeping its state.") })
        {
            var c = new Command(name, help) { id };
            c.SetAction((p, ct) => Run(p, new JsonObject { ["cmd"] = "plugin-" + name, ["plugin"] = p.GetValue(id) }));
            plugin.Subcommands.Add(c);
        }

        var source = new Argument<string>("source") { Description = "A plugin's NuGet package (.nupkg) or a folder with its build output" };
        var install = new Command("install",
            "Install a plugin from a .nupkg or a folder: checked as a load is (contract version, dependencies), swapped in under its id at once; the watcher loads it.") { source };
        install.SetAction((p, ct) => Run(p, new JsonObject { ["cmd"] = "plugin-install", ["source"] = Path.GetFullPath(p.GetValue(source)!) }));
        plugin.Subcommands.Add(install);

        var only = new Argument<string?>("plugin") { Description = "Only this plugin's commands", Arity = ArgumentArity.ZeroOrOne };
        var commands = new Command("commands", "List the plugins' admin commands and their arguments.") { only, json };
        commands.SetAction((p, ct) => Run(p, new JsonObject { ["cmd"] = "plugin-commands", ["plugin"] = p.GetValue(only) }, p.GetValue(json)));
        plugin.Subcommands.Add(commands);

        // Arguments are name=value words: their names are known only to the running server.
        var owner = new Argument<string>("plugin") { Description = "The plugin id" };
        var commandName = new Argument<string>("command") { Description = "The command (see `plugin commands`)" };
        var values = new Argument<string[]>("arguments") { Description = "name=value (repeat a name for several values)", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("command", "Run a plugin's admin command: plugin command <plugin> <command> [name=value ...].") { owner, commandName, values };
        command.SetAction((p, ct) =>
        {
            var words = p.GetValue(values) ?? [];
            var args = new JsonObject();
            foreach (var word in words)
            {
                var eq = word.IndexOf('=');
                if (eq <= 0)
                {
                    Console.Error.WriteLine($"error: '{word}' is not name=value");
                    return Task.FromResult(2);
                }
                var (key, value) = (word[..eq], word[(eq + 1)..]);
                if (args[key] is JsonArray many) many.Add(value);
                else if (args[key] is { } first) args[key] = new JsonArray((string?)first, value);
                else args[key] = value;
            }
            var request = new JsonObject { ["cmd"] = "plugin-command", ["plugin"] = p.GetValue(owner), ["command"] = p.GetValue(commandName), ["args"] = args };
            return Run(p, request);
        });
        plugin.Subcommands.Add(command);
        return plugin;
    }

    private static async Task<int> Run(ParseResult parse, JsonObject request, bool json = false)
    {
        if (await RunningServer.RequestAsync(parse, request) is not { } response) return 1;
        if (json && (response["commands"] ?? response["plugins"]) is JsonArray listing)
        {
            Console.WriteLine(listing.ToJsonString());
            return 0;
        }
        if (response["commands"] is JsonArray list)
        {
            PrintCommands(list);
            return 0;
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
        if (response["fields"] is JsonObject fields)
            foreach (var (field, values) in fields)
                Console.WriteLine($"{field}: {string.Join(", ", ((JsonArray?)values ?? []).Select(v => (string?)v))}");
        return 0;
    }

    private static void PrintCommands(JsonArray commands)
    {
        Console.WriteLine($"{"PLUGIN",-12} {"COMMAND",-16} {"ACCESS",-9} DESCRIPTION");
        foreach (var c in commands)
        {
            Console.WriteLine($"{(string?)c!["plugin"],-12} {(string?)c["name"],-16} {(string?)c["access"],-9} {(string?)c["description"]}");
            foreach (var a in (JsonArray?)c["arguments"] ?? [])
            {
                var traits = new List<string> { (string?)a!["kind"] ?? "text" };
                if ((bool?)a["required"] == true) traits.Add("required");
                if ((string?)a["default"] is { } d) traits.Add("default " + d);
                if (a["choices"] is JsonArray choices) traits.Add("one of " + string.Join("|", choices.Select(x => (string?)x)));
                Console.WriteLine($"{"",-12}   {(string?)a["name"]}=… ({string.Join(", ", traits)}): {(string?)a["description"]}");
            }
        }
    }
}
