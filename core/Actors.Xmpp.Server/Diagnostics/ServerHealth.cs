using System.Text.Json.Nodes;
using Actors.Xmpp.Persistence;
using Actors.Xmpp.Server.Hosting;
using Akka.Actor;

namespace Actors.Xmpp.Server.Diagnostics;

/// <summary>
/// Liveness and readiness of this node, for the operator's HTTP endpoint (/health/live, /health/ready) and
/// `actors-server health`. Live: the actor system runs. Ready: live, the client listeners are open, and the journal's
/// database takes writes (<see cref="JournalProbe"/>).
/// </summary>
public sealed class ServerHealth(ActorSystem system, XmppServerService service, XmppServerOptions options, XmppPersistenceOptions persistence)
{
    public const string LivePath = "/health/live";
    public const string ReadyPath = "/health/ready";

    /// <summary>How long the journal check may take before it counts as failed.</summary>
    public static readonly TimeSpan JournalTimeout = TimeSpan.FromSeconds(3);

    public sealed record Check(string Name, bool Ok, string Detail);

    public sealed record Report(bool Live, bool Ready, IReadOnlyList<Check> Checks)
    {
        public JsonObject ToJson()
        {
            var checks = new JsonArray();
            foreach (var c in Checks) checks.Add(new JsonObject { ["name"] = c.Name, ["ok"] = c.Ok, ["detail"] = c.Detail });
            return new JsonObject { ["live"] = Live, ["ready"] = Ready, ["checks"] = checks };
        }
    }

    public bool Live => !system.WhenTerminated.IsCompleted;

    public async Task<Report> CheckAsync(CancellationToken ct = default)
    {
        var checks = new List<Check>(3);
        var live = Live;
        checks.Add(new Check("actor-system", live, live ? $"actor system '{system.Name}' running" : "the actor system has terminated"));
        var listening = service.C2sEndPoint is not null && !service.Stopping;
        checks.Add(new Check("listeners", listening, listening
            ? $"client connections accepted on {service.C2sEndPoint}{(service.DirectTlsEndPoint is { } tls ? $" and {tls}" : "")}"
            : service.Stopping ? "the server is stopping" : "the client listeners are not open yet"));
        var journal = await JournalProbe.CheckWritableAsync(persistence, options.DataDir, JournalTimeout, ct).ConfigureAwait(false);
        checks.Add(new Check("journal", journal.Writable, journal.Detail));
        return new Report(live, live && listening && journal.Writable, checks);
    }
}
