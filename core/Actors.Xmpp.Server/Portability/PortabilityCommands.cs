using System.Text.Json.Nodes;
using Actors.Xmpp.Server.Hosting;

namespace Actors.Xmpp.Server.Portability;

/// <summary>`export` and `import` on the admin channel (XEP-0227 files, <see cref="ServerDataPortability"/>): the path is
/// the server process's own (the CLI sends it absolute); the answer counts what was written or stored.</summary>
public sealed class PortabilityCommands(ServerContext server) : IAdminCommandExtension
{
    public const string Export = "export";
    public const string Import = "import";

    public async Task<JsonObject?> TryExecuteAsync(JsonObject request)
    {
        var cmd = (string?)request["cmd"];
        if (cmd is not (Export or Import)) return null;
        var path = (string?)request["path"];
        if (string.IsNullOrEmpty(path) || !Path.IsPathFullyQualified(path)) return Fail("give the file as an absolute path");
        var portability = new ServerDataPortability(server);
        try
        {
            var report = cmd == Export
                ? await portability.ExportAsync(path, (string?)request["domain"], CancellationToken.None).ConfigureAwait(false)
                : await portability.ImportAsync(path, CancellationToken.None).ConfigureAwait(false);
            var warnings = new JsonArray();
            foreach (var w in report.Warnings) warnings.Add(w);
            return new JsonObject
            {
                ["ok"] = true,
                ["hosts"] = report.Hosts,
                ["accounts"] = report.Accounts,
                ["existing"] = report.AccountsExisting,
                ["rosterItems"] = report.RosterItems,
                ["pluginElements"] = report.PluginElements,
                ["warnings"] = warnings,
            };
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException or ArgumentException
                                       or InvalidOperationException or Akka.Actor.AskTimeoutException)
        {
            return Fail(ex.Message);
        }
    }

    private static JsonObject Fail(string error) => new() { ["ok"] = false, ["error"] = error };
}
