using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Actors.Xmpp.Server.C2s;
using Actors.Xmpp.Server.Hosting;
using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Server.Stanzas;
using Akka.Actor;

namespace Actors.Xmpp.Server.Diagnostics;

/// <summary>
/// The operator's commands on a running server through the admin channel: `health` (the readiness checks),
/// `stats` (this node's numbers), `session-list` and `session-kick` (the bound sessions; a kick closes the stream with
/// the stream error the operator names, &lt;policy-violation/&gt; by default, RFC 6120 §4.9.3).
/// </summary>
public sealed class OperationsCommands(ServerHealth health, ServerContext server) : IAdminCommandExtension
{
    public const string Health = "health";
    public const string Stats = "stats";
    public const string SessionList = "session-list";
    public const string SessionKick = "session-kick";

    private static readonly DateTimeOffset Started = DateTimeOffset.UtcNow;

    public async Task<JsonObject?> TryExecuteAsync(JsonObject request)
    {
        switch ((string?)request["cmd"])
        {
            case Health:
            {
                var report = await health.CheckAsync().ConfigureAwait(false);
                var answer = report.ToJson();
                answer["ok"] = true;
                return answer;
            }
            case Stats:
                return StatsNow();
            case SessionList:
            {
                var sessions = new JsonArray();
                foreach (var e in server.Sessions.All())
                    sessions.Add(new JsonObject { ["jid"] = e.Jid.ToString(), ["available"] = e.Available, ["priority"] = e.Priority });
                return new JsonObject { ["ok"] = true, ["sessions"] = sessions };
            }
            case SessionKick:
            {
                var text = (string?)request["jid"];
                if (string.IsNullOrEmpty(text) || !Jid.TryParse(text, out var jid) || jid is null)
                    return Fail($"'{text}' is not a JID");
                var condition = (string?)request["condition"] ?? StreamErrors.PolicyViolation;
                if (!StreamErrors.IsDefined(condition)) return Fail($"'{condition}' is not an RFC 6120 §4.9.3 stream error condition");
                var reason = (string?)request["reason"] ?? "closed by the operator";
                // a full JID: that session; a bare JID: every session of the account
                var kicked = new JsonArray();
                foreach (var e in jid.IsBare ? server.Sessions.Resources(jid) : Single(server.Sessions.Find(jid)))
                {
                    e.Session.Tell(new C2sConnectionActor.CloseWithStreamError(condition, reason));
                    kicked.Add(e.Jid.ToString());
                }
                return kicked.Count == 0 ? Fail($"no session of {jid}") : new JsonObject { ["ok"] = true, ["kicked"] = kicked };
            }
            default:
                return null;
        }
    }

    private static IEnumerable<SessionEntry> Single(SessionEntry? e) => e is null ? [] : [e];

    private JsonObject StatsNow()
    {
        using var process = Process.GetCurrentProcess();
        var uptime = DateTimeOffset.UtcNow - Started;
        return new JsonObject
        {
            ["ok"] = true,
            ["domains"] = new JsonArray(server.Domains.Select(d => (JsonNode)JsonValue.Create(d)).ToArray()),
            ["uptimeSeconds"] = (long)uptime.TotalSeconds,
            ["connections"] = XmppMetrics.ActiveConnections,
            ["sessions"] = server.Sessions.Count,
            ["accounts"] = server.Accounts.List().Count,
            ["loginsSucceeded"] = XmppMetrics.LoginsSucceeded,
            ["loginsFailed"] = XmppMetrics.LoginsFailed,
            ["rssBytes"] = process.WorkingSet64,
            ["gcHeapBytes"] = GC.GetTotalMemory(false),
            ["threads"] = process.Threads.Count,
            ["cpuSeconds"] = Math.Round(process.TotalProcessorTime.TotalSeconds, 3),
            ["started"] = Started.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
        };
    }

    private static JsonObject Fail(string message) => new() { ["ok"] = false, ["error"] = message };
}
