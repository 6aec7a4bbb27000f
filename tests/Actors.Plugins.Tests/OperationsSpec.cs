using System.Net;
using System.Text.Json.Nodes;
using Actors.Xmpp.Server.Diagnostics;
using Actors.Xmpp.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Actors.Plugins.Tests;

/// <summary>Issue 16, observability: the Prometheus scrape endpoint (OpenTelemetry), the health endpoint and
/// `actors-server health`, `stats`, `session list|kick` against a running server.</summary>
public sealed class OperationsSpec : IAsyncLifetime
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(15) };
    private TestServer _server = null!;

    public async Task InitializeAsync() =>
        _server = await TestServer.StartAsync([], new Dictionary<string, string?> { ["Xmpp:Metrics:Port"] = "0" });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private string MetricsUrl => _server.Services.GetRequiredService<OperationsService>().MetricsUrl
                                ?? throw new InvalidOperationException("the metrics endpoint is not running");

    private Uri Url(string path) => new(new Uri(MetricsUrl), path);

    [Fact]
    public async Task Metrics_are_scraped_in_prometheus_text_on_loopback_with_logins_sessions_and_stanzas()
    {
        Assert.StartsWith("http://127.0.0.1:", MetricsUrl); // loopback by default
        await _server.AddUserAsync("ops-a");
        await _server.AddUserAsync("ops-b");
        await using var a = await XmppTestClient.LoginAsync(_server, "ops-a");
        await using var b = await XmppTestClient.LoginAsync(_server, "ops-b");
        await a.SendAsync($"<message to='{b.Jid}' type='chat' id='m1'><body>hi</body></message>");
        Assert.Equal("m1", (await b.NextMatchingAsync(e => e.Name == "message")).Id);

        // the Prometheus exporter caches a scrape briefly: read until the numbers of this test are in
        string text = "";
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (DateTime.UtcNow < deadline)
        {
            using var response = await Http.GetAsync(MetricsUrl);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType ?? "");
            text = await response.Content.ReadAsStringAsync();
            if (Line(text, "xmpp_c2s_stanzas_total", "kind=\"message\"", "direction=\"out\"") is not null) break;
            await Task.Delay(500);
        }
        Assert.NotNull(Line(text, "xmpp_c2s_logins_total", "result=\"success\""));
        Assert.NotNull(Line(text, "xmpp_c2s_stanzas_total", "kind=\"message\"", "direction=\"in\""));
        Assert.NotNull(Line(text, "xmpp_c2s_stanzas_total", "kind=\"message\"", "direction=\"out\""));
        Assert.True(Value(Line(text, "xmpp_c2s_sessions_active")) >= 2, text);
        Assert.True(Value(Line(text, "xmpp_c2s_connections_active")) >= 2, text);
    }

    [Fact]
    public async Task Health_ready_is_200_with_its_checks_and_the_cli_exits_0_when_ready()
    {
        using (var live = await Http.GetAsync(Url(ServerHealth.LivePath))) Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        using var ready = await Http.GetAsync(Url(ServerHealth.ReadyPath));
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        var report = JsonNode.Parse(await ready.Content.ReadAsStringAsync())!.AsObject();
        Assert.True((bool?)report["ready"]);
        var checks = ((JsonArray)report["checks"]!).Select(c => ((string?)c!["name"], (bool?)c["ok"])).ToList();
        Assert.Contains(("journal", (bool?)true), checks);
        Assert.Contains(("listeners", (bool?)true), checks);
        Assert.Contains(("actor-system", (bool?)true), checks);

        var cli = await Operator.CliAsync(_server, "health");
        Assert.Equal(0, cli.ExitCode);
        Assert.StartsWith("ready", cli.Stdout);
    }

    [Fact]
    public async Task Health_is_not_ready_when_the_journal_database_refuses_writes()
    {
        // a writer holding SQLite's write lock longer than the check waits: the journal does not take writes now
        var file = Path.Combine(_server.Root, "data", "actors.db");
        await using var blocker = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={file};Pooling=False");
        await blocker.OpenAsync();
        await using (var begin = blocker.CreateCommand())
        {
            begin.CommandText = "BEGIN EXCLUSIVE;";
            await begin.ExecuteNonQueryAsync();
        }
        using var ready = await Http.GetAsync(Url(ServerHealth.ReadyPath));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        var report = JsonNode.Parse(await ready.Content.ReadAsStringAsync())!.AsObject();
        Assert.False((bool?)report["ready"]);
        Assert.True((bool?)report["live"]);
        await using (var rollback = blocker.CreateCommand())
        {
            rollback.CommandText = "ROLLBACK;";
            await rollback.ExecuteNonQueryAsync();
        }
        using var again = await Http.GetAsync(Url(ServerHealth.ReadyPath));
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
    }

    [Fact]
    public async Task Rfc6120_4_9_3_session_kick_closes_the_stream_with_the_condition_the_operator_names()
    {
        await _server.AddUserAsync("ops-kick");
        await using var c = await XmppTestClient.LoginAsync(_server, "ops-kick", "laptop");

        var list = await Operator.CliAsync(_server, "session", "list", "--json");
        Assert.Equal(0, list.ExitCode);
        var sessions = JsonNode.Parse(list.Stdout)!.AsArray();
        Assert.Contains(sessions, s => (string?)s!["jid"] == "ops-kick@localhost/laptop");

        var bad = await Operator.CliAsync(_server, "session", "kick", "ops-kick@localhost/laptop", "--condition", "no-such-condition");
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("no-such-condition", bad.Stderr);
        var nobody = await Operator.CliAsync(_server, "session", "kick", "nobody@localhost");
        Assert.Equal(1, nobody.ExitCode);

        var kick = await Operator.CliAsync(_server, "session", "kick", "ops-kick@localhost", "--condition", "conflict", "--reason", "maintenance");
        Assert.Equal(0, kick.ExitCode);
        Assert.Contains("kicked ops-kick@localhost/laptop", kick.Stdout);
        var error = await c.ExpectStreamErrorAsync("conflict", skipStanzas: true);
        Assert.Contains("maintenance", error.ToString());
    }

    [Fact]
    public async Task Stats_reports_sessions_accounts_and_logins_as_json()
    {
        await _server.AddUserAsync("ops-stats");
        await using var c = await XmppTestClient.LoginAsync(_server, "ops-stats");
        var r = await Operator.CliAsync(_server, "stats", "--json");
        Assert.Equal(0, r.ExitCode);
        var stats = JsonNode.Parse(r.Stdout)!.AsObject();
        Assert.True((int?)stats["sessions"] >= 1);
        Assert.True((int?)stats["accounts"] >= 1);
        Assert.True((long?)stats["loginsSucceeded"] >= 1);
        Assert.True((long?)stats["rssBytes"] > 0);
    }

    /// <summary>The first sample line of <paramref name="metric"/> with all of <paramref name="labels"/>.</summary>
    private static string? Line(string text, string metric, params string[] labels)
    {
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith(metric, StringComparison.Ordinal) || line.Length == metric.Length || line[metric.Length] is not ('{' or ' ')) continue;
            if (labels.All(line.Contains)) return line;
        }
        return null;
    }

    private static double Value(string? line) => line is null ? -1
        : double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
}
