using System.CommandLine;
using System.Text.Json.Nodes;
using Actors.Xmpp.Server;
using Actors.Xmpp.Server.Tls;
using Microsoft.Extensions.Configuration;

namespace Actors.Host.Server;

/// <summary>`actors-server cert reload|list`: the certificates of the running server, through its admin socket.
/// `cert reload` is what a certbot deploy hook runs after a renewal (README): connections stay up.</summary>
internal static class CertCommands
{
    public static Command Create()
    {
        var cert = new Command("cert", "The running server's TLS certificates: reload, list.");
        var reload = new Command("reload", "Read the certificate files again; new connections get them, established ones stay up.");
        reload.SetAction((p, ct) => Run(p, new JsonObject { ["cmd"] = CertificateReload.ReloadCommand }, json: false));
        var json = new Option<bool>("--json") { Description = "Print the listing as JSON" };
        var list = new Command("list", "The certificates in use: names, expiry, chain, file.") { json };
        list.SetAction((p, ct) => Run(p, new JsonObject { ["cmd"] = CertificateReload.ListCommand }, p.GetValue(json)));
        cert.Subcommands.Add(reload);
        cert.Subcommands.Add(list);
        return cert;
    }

    private static async Task<int> Run(ParseResult parse, JsonObject request, bool json)
    {
        if (await RunningServer.RequestAsync(parse, request) is not { } response) return 1;
        if (json)
        {
            Console.WriteLine(response["certificates"]?.ToJsonString() ?? "[]");
            return 0;
        }
        if (response["message"] is { } message) Console.WriteLine((string?)message);
        else if (response["certificates"] is JsonArray certificates)
            foreach (var c in certificates)
            {
                var names = string.Join(' ', ((JsonArray?)c!["names"] ?? []).Select(n => (string?)n));
                var chain = string.Join(" <- ", ((JsonArray?)c["intermediates"] ?? []).Select(n => (string?)n));
                Console.WriteLine($"{names}  expires {(string?)c["notAfter"]}  chain: {(chain.Length == 0 ? "(leaf only)" : chain)}  {(string?)c["file"] ?? "(self-signed, generated)"}");
            }
        return 0;
    }
}
