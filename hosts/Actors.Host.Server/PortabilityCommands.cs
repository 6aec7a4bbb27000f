using System.CommandLine;
using System.Text.Json.Nodes;
using Commands = Actors.Xmpp.Server.Portability.PortabilityCommands;

namespace Actors.Host.Server;

/// <summary>`actors-server export FILE [--domain D]` and `import FILE`: accounts, credentials, rosters, vCards, private
/// XML and offline messages in XEP-0227's portable format, through the running server (its actors read and write the
/// data, so sessions stay consistent). A file from ejabberd's `export_piefxis` or Prosody's mod_storage_xep0227 imports;
/// an export imports into them.</summary>
internal static class PortabilityCommands
{
    public static IEnumerable<Command> Create()
    {
        var json = new Option<bool>("--json") { Description = "Print the answer as JSON" };
        var to = new Argument<string>("FILE") { Description = "The XEP-0227 file to write (replaced if it exists)" };
        var domain = new Option<string>("--domain") { Description = "Only this served domain (default: every one)" };
        var export = new Command("export", "Write the accounts and their data to a XEP-0227 file.") { to, domain, json };
        export.SetAction(async (p, ct) =>
        {
            var request = new JsonObject { ["cmd"] = Commands.Export, ["path"] = Path.GetFullPath(p.GetValue(to)!) };
            if (p.GetValue(domain) is { } d) request["domain"] = d;
            return Print(p, await RunningServer.RequestAsync(p, request), p.GetValue(json), "exported");
        });

        var from = new Argument<string>("FILE") { Description = "A XEP-0227 file (ejabberd's export_piefxis, Prosody's, or `actors-server export`)" };
        var import = new Command("import", "Create the accounts of a XEP-0227 file and store their data.") { from, json };
        import.SetAction(async (p, ct) =>
        {
            var path = Path.GetFullPath(p.GetValue(from)!);
            if (!File.Exists(path))
            {
                Console.Error.WriteLine($"no file {path}");
                return 1;
            }
            return Print(p, await RunningServer.RequestAsync(p, new JsonObject { ["cmd"] = Commands.Import, ["path"] = path }),
                p.GetValue(json), "imported");
        });
        return [export, import];
    }

    private static int Print(ParseResult p, JsonObject? r, bool json, string verb)
    {
        if (r is null) return 1;
        if (json)
        {
            r.Remove("ok");
            Console.WriteLine(r.ToJsonString());
            return 0;
        }
        Console.WriteLine($"{verb} {(int?)r["accounts"]} accounts ({(int?)r["existing"]} existing) on {(int?)r["hosts"]} hosts, " +
                          $"{(int?)r["rosterItems"]} roster items, {(int?)r["pluginElements"]} plugin elements");
        foreach (var w in (JsonArray?)r["warnings"] ?? []) Console.Error.WriteLine("warning: " + (string?)w);
        return 0;
    }
}
