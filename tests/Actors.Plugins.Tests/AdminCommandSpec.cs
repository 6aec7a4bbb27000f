using System.Text.Json.Nodes;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Testing;

namespace Actors.Plugins.Tests;

/// <summary>A plugin's admin commands, registered once (the counter test plugin's show/add/wait and the admin
/// plugin's XEP-0133 announce and online-users), reached through the admin socket's JSON, the CLI and XEP-0050.</summary>
public sealed class AdminCommandSpec : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(TestServer.RepositoryPlugins.Append("counter"));

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private Task<JsonObject> Socket(JsonObject request) => Operator.SocketAsync(_server, request);

    private static JsonObject Run(string plugin, string command, JsonObject? args = null) =>
        new() { ["cmd"] = "plugin-command", ["plugin"] = plugin, ["command"] = command, ["args"] = args ?? new JsonObject() };

    // ------------------------------------------------------------------ admin socket

    [Fact]
    public async Task Socket_lists_every_plugins_commands_with_typed_arguments_and_access()
    {
        var list = await Socket(new JsonObject { ["cmd"] = "plugin-commands" });
        Assert.True((bool?)list["ok"], list.ToJsonString());
        var commands = list["commands"]!.AsArray().Select(c => c!.AsObject()).ToList();
        var add = commands.Single(c => (string?)c["plugin"] == "counter" && (string?)c["name"] == "add");
        Assert.Equal("admin", (string?)add["access"]);
        Assert.Equal("urn:actors:command:counter:add", (string?)add["node"]);
        var by = add["arguments"]!.AsArray().Single(a => (string?)a!["name"] == "by")!;
        Assert.Equal("integer", (string?)by["kind"]);
        Assert.True((bool?)by["required"]);
        var direction = add["arguments"]!.AsArray().Single(a => (string?)a!["name"] == "direction")!;
        Assert.Equal(["up", "down"], direction["choices"]!.AsArray().Select(x => (string?)x));
        Assert.Equal("up", (string?)direction["default"]);
        Assert.Equal("operator", (string?)commands.Single(c => (string?)c["plugin"] == "counter" && (string?)c["name"] == "show")["access"]);
        var announce = commands.Single(c => (string?)c["plugin"] == "admin" && (string?)c["name"] == "announce");
        Assert.Equal("http://jabber.org/protocol/admin#announce", (string?)announce["node"]);
    }

    [Fact]
    public async Task Socket_runs_a_command_with_converted_arguments_and_returns_text_and_fields()
    {
        var r = await Socket(Run("counter", "add", new JsonObject { ["by"] = 5, ["loud"] = true, ["cc"] = new JsonArray("bob@localhost"), ["note"] = "hi" }));
        Assert.True((bool?)r["ok"], r.ToJsonString());
        Assert.Equal("count is 5 (hi)", (string?)r["message"]);
        Assert.Equal(["5"], r["fields"]!["count"]!.AsArray().Select(x => (string?)x));
        Assert.Equal(["operator", "bob@localhost"], r["fields"]!["by"]!.AsArray().Select(x => (string?)x));
        var down = await Socket(Run("counter", "add", new JsonObject { ["by"] = "2", ["direction"] = "down" }));
        Assert.Equal("count is 3", (string?)down["message"]);
        var show = await Socket(Run("counter", "show"));
        Assert.Equal(["3"], show["fields"]!["count"]!.AsArray().Select(x => (string?)x));
    }

    [Theory]
    [InlineData("{}", "argument 'by' is required (How much)")]
    [InlineData("{\"by\":\"three\"}", "argument 'by' must be a whole number, not 'three'")]
    [InlineData("{\"by\":1,\"direction\":\"sideways\"}", "argument 'direction' must be one of up, down, not 'sideways'")]
    [InlineData("{\"by\":1,\"loud\":\"maybe\"}", "argument 'loud' must be true or false (or 1 or 0), not 'maybe'")]
    [InlineData("{\"by\":1,\"cc\":[\"@@\"]}", "argument 'cc' must be JIDs, and '@@' is not one")]
    [InlineData("{\"by\":[1,2]}", "argument 'by' takes one value, not 2")]
    [InlineData("{\"by\":1,\"colour\":\"red\"}", "'add' has no argument 'colour' (it takes: by, direction, loud, cc, note)")]
    public async Task Socket_refuses_bad_arguments_naming_the_argument(string args, string error)
    {
        var r = await Socket(Run("counter", "add", JsonNode.Parse(args)!.AsObject()));
        Assert.False((bool?)r["ok"]);
        Assert.Equal(error, (string?)r["error"]);
    }

    [Fact]
    public async Task Socket_reports_a_failed_command_and_an_unknown_one()
    {
        var zero = await Socket(Run("counter", "add", new JsonObject { ["by"] = 0 }));
        Assert.False((bool?)zero["ok"]);
        Assert.Equal("adding 0 changes nothing", (string?)zero["error"]);
        var unknown = await Socket(Run("counter", "subtract"));
        Assert.Equal("no command 'subtract' in plugin 'counter'", (string?)unknown["error"]);
    }

    [Fact]
    public async Task Unload_removes_the_commands_and_cancels_a_run_in_progress()
    {
        var waiting = Socket(Run("counter", "wait"));
        await Task.Delay(300);
        Assert.False(waiting.IsCompleted);
        var unload = await _server.Plugins.UnloadAsync("counter");
        Assert.True(unload.Ok, unload.Message);
        var cancelled = await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("'counter wait' was cancelled", (string?)cancelled["error"]);
        var list = await Socket(new JsonObject { ["cmd"] = "plugin-commands" });
        Assert.DoesNotContain(list["commands"]!.AsArray(), c => (string?)c!["plugin"] == "counter");
        Assert.Equal("no command 'show' in plugin 'counter'", (string?)(await Socket(Run("counter", "show")))["error"]);
        await using var admin = await _server.LoginAsync("admin");
        var items = await admin.Query("<iq type='get' id='i' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'/></iq>");
        Assert.DoesNotContain("urn:actors:command:counter:", items.ToString());
        Assert.True((await _server.Plugins.LoadAsync("counter")).Ok);
        Assert.Equal(["0"], (await Socket(Run("counter", "show")))["fields"]!["count"]!.AsArray().Select(x => (string?)x));
    }

    // ------------------------------------------------------------------ CLI (child process, through the socket)

    [Fact]
    public async Task Cli_lists_and_runs_commands_through_the_running_server()
    {
        var list = await Operator.CliAsync(_server, "plugin", "commands", "counter");
        Assert.Equal(0, list.ExitCode);
        Assert.Contains("counter      add              admin     Add to the count", list.Stdout);
        Assert.Contains("by=… (integer, required): How much", list.Stdout);
        Assert.Contains("direction=… (choice, default up, one of up|down): Up or down", list.Stdout);
        Assert.DoesNotContain("announce", list.Stdout);
        var all = await Operator.CliAsync(_server, "plugin", "commands");
        Assert.Contains("admin        announce         admin     Send Announcement to Online Users", all.Stdout);
        Assert.Contains("counter      show             operator  Show the count", all.Stdout);

        var add = await Operator.CliAsync(_server, "plugin", "command", "counter", "add", "by=4", "loud=1", "cc=alice@localhost", "cc=bob@localhost");
        Assert.True(add.ExitCode == 0, add.Stderr);
        Assert.Equal(["count is 4", "count: 4", "by: operator, alice@localhost, bob@localhost"], add.Stdout.Trim().Split('\n'));

        var bad = await Operator.CliAsync(_server, "plugin", "command", "counter", "add", "by=x");
        Assert.Equal(1, bad.ExitCode);
        Assert.Equal("error: argument 'by' must be a whole number, not 'x'", bad.Stderr.Trim());
        var notPair = await Operator.CliAsync(_server, "plugin", "command", "counter", "add", "4");
        Assert.Equal(2, notPair.ExitCode);
    }

    [Fact]
    public async Task Cli_runs_the_XEP_0133_announce_converted_to_an_admin_command()
    {
        await using var bob = await _server.LoginAsync("bob");
        var r = await Operator.CliAsync(_server, "plugin", "command", "admin", "announce", "subject=Notice", "announcement=maintenance at noon");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal("sent to 1 sessions", r.Stdout.Trim());
        await bob.Receives("<message type='headline' from='localhost'><subject>Notice</subject><body>maintenance at noon</body></message>");
    }

    // ------------------------------------------------------------------ XEP-0050 over TCP

    private const string AddNode = "urn:actors:command:counter:add";

    private static string Execute(string id, string node, string attrs = "", string inner = "") =>
        $"<iq type='set' id='{id}' to='localhost'><command xmlns='http://jabber.org/protocol/commands' node='{node}'{attrs}>{inner}</command></iq>";

    private static string Submit(params (string Var, string Value)[] fields) =>
        "<x xmlns='jabber:x:data' type='submit'>" + string.Concat(fields.Select(f => $"<field var='{f.Var}'><value>{f.Value}</value></field>")) + "</x>";

    [Fact]
    public async Task Xep0050_admin_commands_are_listed_for_admins_only_and_operator_commands_never()
    {
        await using var admin = await _server.LoginAsync("admin");
        await using var alice = await _server.LoginAsync("alice");
        const string items = "<iq type='get' id='{0}' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'/></iq>";
        var forAdmin = await admin.Query(string.Format(items, "a"));
        Assert.True(XmppTestClient.Matches(XmppTestClient.Parse(
            $"<iq type='result'><query xmlns='http://jabber.org/protocol/disco#items'><item jid='localhost' node='{AddNode}' name='Add to the count'/></query></iq>"),
            forAdmin), forAdmin.ToString());
        Assert.DoesNotContain("urn:actors:command:counter:show", forAdmin.ToString());
        Assert.DoesNotContain("urn:actors:command:counter:", (await alice.Query(string.Format(items, "b"))).ToString());
        // §4.6 forbidden for a non-admin; an operator-only command is not there at all
        await alice.Sends(Execute("f1", AddNode));
        await alice.Receives("<iq type='error' id='f1'><error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
        await admin.Sends(Execute("f2", "urn:actors:command:counter:show"));
        await admin.Receives("<iq type='error' id='f2'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    }

    [Fact]
    public async Task Xep0050_section_3_4_arguments_become_a_form_and_the_submitted_form_runs_the_command()
    {
        await using var admin = await _server.LoginAsync("admin");
        var form = await admin.Query(Execute("s1", AddNode, " action='execute'"));
        Assert.True(XmppTestClient.Matches(XmppTestClient.Parse(
            $"<iq type='result' id='s1'><command xmlns='http://jabber.org/protocol/commands' node='{AddNode}' status='executing'>" +
            "<actions execute='complete'><complete/></actions>" +
            "<x xmlns='jabber:x:data' type='form'><title>Add to the count</title>" +
            "<field var='by' type='text-single' label='How much'><required/><validate xmlns='http://jabber.org/protocol/xdata-validate' datatype='xs:integer'/></field>" +
            "<field var='direction' type='list-single'><value>up</value><option label='up'><value>up</value></option><option label='down'><value>down</value></option></field>" +
            "<field var='loud' type='boolean'/><field var='cc' type='jid-multi'/><field var='note' type='text-single'/>" +
            "</x></command></iq>"), form), form.ToString());
        var session = form.Child("command", AdHoc.Ns)!.Attr("sessionid")!;
        var done = await admin.Query(Execute("s2", AddNode, $" sessionid='{session}'", Submit(("by", "7"), ("loud", "true"))));
        Assert.True(XmppTestClient.Matches(XmppTestClient.Parse(
            $"<iq type='result' id='s2'><command xmlns='http://jabber.org/protocol/commands' node='{AddNode}' sessionid='{session}' status='completed'>" +
            "<note type='info'>count is 7</note>" +
            "<x xmlns='jabber:x:data' type='result'><field var='count' label='The count'><value>7</value></field>" +
            "<field var='by' type='jid-multi'><value>admin@localhost/test</value></field></x></command></iq>"), done), done.ToString());
        // a failed run completes with an error note
        var zero = await admin.Query(Execute("s3", AddNode, "", Submit(("by", "0"))));
        Assert.True(XmppTestClient.Matches(XmppTestClient.Parse(
            "<iq type='result' id='s3'><command xmlns='http://jabber.org/protocol/commands' status='completed'><note type='error'>adding 0 changes nothing</note></command></iq>"),
            zero), zero.ToString());
    }

    private static string Condition(string condition, string type, string? specific) =>
        $"<error type='{type}'><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>" +
        (specific is null ? "" : $"<{specific} xmlns='http://jabber.org/protocol/commands'/>") + "</error>";

    [Fact]
    public async Task Xep0050_section_4_6_errors_for_actions_sessions_and_payloads()
    {
        await using var admin = await _server.LoginAsync("admin");
        await using var other = await _server.LoginAsync("admin", "other");
        // malformed-action: not an action XEP-0050 defines
        await admin.Sends(Execute("e1", AddNode, " action='jump'"));
        await admin.Receives($"<iq type='error' id='e1'>{Condition("bad-request", "modify", "malformed-action")}</iq>");
        // bad-action: next without a session
        await admin.Sends(Execute("e2", AddNode, " action='next'"));
        await admin.Receives($"<iq type='error' id='e2'>{Condition("bad-request", "modify", "bad-action")}</iq>");
        // bad-sessionid: a session that never existed
        await admin.Sends(Execute("e3", AddNode, " sessionid='nope'", Submit(("by", "1"))));
        await admin.Receives($"<iq type='error' id='e3'>{Condition("bad-request", "modify", "bad-sessionid")}</iq>");

        var form = await admin.Query(Execute("e4", AddNode));
        var session = form.Child("command", AdHoc.Ns)!.Attr("sessionid")!;
        // bad-action: the stage offered only 'complete'
        await admin.Sends(Execute("e5", AddNode, $" sessionid='{session}' action='prev'"));
        await admin.Receives($"<iq type='error' id='e5'>{Condition("bad-request", "modify", "bad-action")}</iq>");
        // bad-sessionid: the session belongs to another requester (another resource of the same account)
        await other.Sends(Execute("e6", AddNode, $" sessionid='{session}'", Submit(("by", "1"))));
        await other.Receives($"<iq type='error' id='e6'>{Condition("bad-request", "modify", "bad-sessionid")}</iq>");
        // bad-payload: the form's value is not what the argument takes
        await admin.Sends(Execute("e7", AddNode, $" sessionid='{session}' action='complete'", Submit(("by", "many"))));
        await admin.Receives($"<iq type='error' id='e7'>{Condition("bad-request", "modify", "bad-payload")}</iq>");
        // completing it ends the session: using it again is session-expired
        await admin.Sends(Execute("e8", AddNode, $" sessionid='{session}' action='complete'", Submit(("by", "1"))));
        await admin.Receives("<iq type='result' id='e8'><command xmlns='http://jabber.org/protocol/commands' status='completed'/></iq>");
        await admin.Sends(Execute("e9", AddNode, $" sessionid='{session}'", Submit(("by", "1"))));
        await admin.Receives($"<iq type='error' id='e9'>{Condition("not-allowed", "cancel", "session-expired")}</iq>");
        // cancel (§3.5) ends a session too
        var second = (await admin.Query(Execute("e10", AddNode))).Child("command", AdHoc.Ns)!.Attr("sessionid")!;
        await admin.Sends(Execute("e11", AddNode, $" sessionid='{second}' action='cancel'"));
        await admin.Receives("<iq type='result' id='e11'><command xmlns='http://jabber.org/protocol/commands' status='canceled'/></iq>");
        await admin.Sends(Execute("e12", AddNode, $" sessionid='{second}'", Submit(("by", "1"))));
        await admin.Receives($"<iq type='error' id='e12'>{Condition("not-allowed", "cancel", "session-expired")}</iq>");
        // item-not-found: no such node
        await admin.Sends(Execute("e13", "urn:actors:command:counter:nothing"));
        await admin.Receives($"<iq type='error' id='e13'>{Condition("item-not-found", "cancel", null)}</iq>");
    }
}
