using System.CommandLine;
using System.Text.Json.Nodes;
using Ops = Actors.Xmpp.Server.Diagnostics.OperationsCommands;

namespace Actors.Host.Server;

/// <summary>`actors-server health`, `stats`, `session list|kick`: the running server's state, through its admin socket.
/// `health` exits 0 when the server is ready (listeners open, journal writable), 1 otherwise (a systemd or container
/// check can run it).</summary>
internal static class OperationsCommands
{
    public static IEnumerable<Command> Create()
    {
        var json = new Option<bool>("--json") { Description = "Print the answer as JSON" };

        var health = new Command("health", "Liveness and readiness of the running server; exit code 0 when ready, 1 otherwise.") { json };
        health.SetAction(async (p, ct) =>
        {
            if (await RunningServer.RequestAsync(p, new JsonObject { ["cmd"] = Ops.Health }) is not { } r) return 1;
            var ready = (bool?)r["ready"] == true;
            if (p.GetValue(json))
            {
                r.Remove("ok");
                Console.WriteLine(r.ToJsonString());
            }
            else
            {
                Console.WriteLine(ready ? "ready" : (bool?)r["live"] == true ? "live, not ready" : "not live");
                foreach (var c in (JsonArray?)r["checks"] ?? [])
                    Console.WriteLine($"  {((bool?)c!["ok"] == true ? "ok  " : "FAIL")} {(string?)c["name"]}: {(string?)c["detail"]}");
            }
            return ready ? 0 : 1;
        });

        var stats = new Command("stats", "The running server's numbers: connections, sessions, accounts, logins, memory, CPU.") { json };
        stats.SetAction(async (p, ct) =>
        {
            if (await RunningServer.RequestAsync(p, new JsonObject { ["cmd"] = Ops.Stats }) is not { } r) return 1;
            r.Remove("ok");
            if (p.GetValue(json)) Console.WriteLine(r.ToJsonString());
            else foreach (var (key, value) in r) Console.WriteLine($"{key}: {(value is JsonArray a ? string.Join(", ", a) : value?.ToString())}");
            return 0;
        });

        var session = new Command("session", "The running server's client sessions: list, kick.");
        var listJson = new Option<bool>("--json") { Description = "Print the listing as JSON" };
        var list = new Command("list", "Bound sessions: full JID, available, priority.") { listJson };
        list.SetAction(async (p, ct) =>
        {
            if (await RunningServer.RequestAsync(p, new JsonObject { ["cmd"] = Ops.SessionList }) is not { } r) return 1;
            var sessions = (JsonArray?)r["sessions"] ?? [];
            if (p.GetValue(listJson)) Console.WriteLine(sessions.ToJsonString());
            else foreach (var s in sessions)
                Console.WriteLine($"{(string?)s!["jid"]}  {((bool?)s["available"] == true ? "available" : "unavailable")}  priority {(int?)s["priority"]}");
            return 0;
        });
        var jid = new Argument<string>("JID") { Description = "A full JID (that session) or a bare JID (every session of the account)" };
        var condition = new Option<string>("--condition")
        {
            Description = "The RFC 6120 §4.9.3 stream error to close with",
            DefaultValueFactory = _ => Actors.Xmpp.Server.Stanzas.StreamErrors.PolicyViolation,
        };
        var reason = new Option<string?>("--reason") { Description = "The text sent with the stream error" };
        var kick = new Command("kick", "Close a session's stream with a stream error (policy-violation by default).") { jid, condition, reason };
        kick.SetAction(async (p, ct) =>
        {
            var request = new JsonObject { ["cmd"] = Ops.SessionKick, ["jid"] = p.GetValue(jid), ["condition"] = p.GetValue(condition) };
            if (p.GetValue(reason) is { } text) request["reason"] = text;
            if (await RunningServer.RequestAsync(p, request) is not { } r) return 1;
            foreach (var k in (JsonArray?)r["kicked"] ?? []) Console.WriteLine($"kicked {(string?)k}");
            return 0;
        });
        session.Subcommands.Add(list);
        session.Subcommands.Add(kick);
        return [health, stats, session];
    }
}
