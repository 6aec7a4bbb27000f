using System.Text.Json.Nodes;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Server.Hosting;

namespace Actors.Xmpp.PluginHost.Commands;

/// <summary>
/// Plugins' admin commands on the admin socket (data/admin.sock), for the CLI and scripts:
/// <c>{"cmd":"plugin-commands"}</c> lists them with their arguments;
/// <c>{"cmd":"plugin-command","plugin":"admin","command":"announce","args":{"announcement":"text"}}</c> runs one
/// (a value may be a string, a number, a boolean or an array of them) and answers
/// <c>{"ok":true,"message":...,"fields":{"name":[values]}}</c> or <c>{"ok":false,"error":...}</c>.
/// The socket is the operator's (mode 0600): every command may run here.
/// </summary>
internal sealed class AdminCommandChannel(PluginManager plugins) : IAdminCommandExtension
{
    public const string ListCommand = "plugin-commands";
    public const string RunCommand = "plugin-command";

    public async Task<JsonObject?> TryExecuteAsync(JsonObject request)
    {
        switch ((string?)request["cmd"])
        {
            case ListCommand:
                return List((string?)request["plugin"]);
            case RunCommand:
                return await Run(request);
            default:
                return null;
        }
    }

    private JsonObject List(string? plugin)
    {
        var commands = new JsonArray();
        foreach (var r in plugins.Commands.List())
        {
            if (plugin is not null && r.Plugin != plugin) continue;
            var arguments = new JsonArray();
            foreach (var a in r.Command.Arguments)
            {
                var argument = new JsonObject
                {
                    ["name"] = a.Name, ["kind"] = Kind(a.Kind), ["description"] = a.Description, ["required"] = a.Required,
                };
                if (a.Default is not null) argument["default"] = a.Default;
                if (a.Choices is not null) argument["choices"] = Array(a.Choices);
                arguments.Add(argument);
            }
            commands.Add(new JsonObject
            {
                ["plugin"] = r.Plugin, ["name"] = r.Command.Name, ["description"] = r.Command.Description,
                ["access"] = r.Command.Access == CommandAccess.Admin ? "admin" : "operator", ["node"] = r.AdHocNode, ["arguments"] = arguments,
            });
        }
        return new JsonObject { ["ok"] = true, ["commands"] = commands };
    }

    private async Task<JsonObject> Run(JsonObject request)
    {
        var plugin = (string?)request["plugin"];
        var command = (string?)request["command"];
        if (string.IsNullOrEmpty(plugin) || string.IsNullOrEmpty(command)) return Fail("missing 'plugin' or 'command'");
        var arguments = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        if (request["args"] is JsonObject args)
        {
            foreach (var (name, node) in args)
            {
                var values = new List<string>();
                if (node is JsonArray many)
                {
                    foreach (var item in many)
                        if (Scalar(item) is { } s) values.Add(s);
                        else return Fail($"argument '{name}': give strings, numbers or booleans");
                }
                else if (Scalar(node) is { } one) values.Add(one);
                else if (node is not null) return Fail($"argument '{name}': give a string, a number, a boolean or an array of them");
                arguments[name] = values;
            }
        }
        else if (request["args"] is not null) return Fail("'args' must be an object of name: value");

        var outcome = await plugins.Commands.ExecuteAsync(plugin, command, arguments, CommandCaller.Operator);
        if (!outcome.Ran) return Fail(outcome.Error!);
        var result = outcome.Result!;
        var response = new JsonObject { ["ok"] = result.Ok };
        if (!result.Ok) response["error"] = result.Text ?? "failed";
        else if (result.Text is not null) response["message"] = result.Text;
        if (result.Fields is { Count: > 0 })
        {
            var fields = new JsonObject();
            foreach (var f in result.Fields) fields[f.Name] = Array(f.Values);
            response["fields"] = fields;
        }
        return response;
    }

    private static string? Scalar(JsonNode? node) => node is JsonValue v
        ? v.TryGetValue<string>(out var s) ? s
        : v.TryGetValue<bool>(out var b) ? (b ? "true" : "false")
        : v.TryGetValue<long>(out var l) ? l.ToString(System.Globalization.CultureInfo.InvariantCulture)
        : null
        : null;

    private static JsonArray Array(IEnumerable<string> values)
    {
        var array = new JsonArray();
        foreach (var v in values) array.Add(v);
        return array;
    }

    private static string Kind(ArgumentKind kind) => kind switch
    {
        ArgumentKind.Text => "text",
        ArgumentKind.Secret => "secret",
        ArgumentKind.Lines => "lines",
        ArgumentKind.Integer => "integer",
        ArgumentKind.Boolean => "boolean",
        ArgumentKind.Jid => "jid",
        ArgumentKind.Jids => "jids",
        _ => "choice",
    };

    private static JsonObject Fail(string error) => new() { ["ok"] = false, ["error"] = error };
}
