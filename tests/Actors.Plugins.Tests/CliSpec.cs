using System.Text.Json.Nodes;
using Actors.Xmpp.Testing;

namespace Actors.Plugins.Tests;

/// <summary>The actors-server command line: strict parsing (unknown commands and options are errors, never a server
/// start), configuration overrides (--set and the older --Xmpp:Key=value), passwords from standard input, --json
/// listings, and `cert list|reload` against a running server.</summary>
public sealed class CliSpec : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync([]);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Unknown_command_is_an_error_and_starts_no_server()
    {
        var r = await Operator.CliAsync(_server, "bogus");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("'bogus'", r.Stderr);
    }

    [Fact]
    public async Task Unknown_option_is_an_error()
    {
        var r = await Operator.CliAsync(_server, "user", "list", "--nope");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("'--nope'", r.Stderr);
        var top = await Operator.CliAsync(_server, "--verbose-please");
        Assert.NotEqual(0, top.ExitCode);
        Assert.Contains("'--verbose-please'", top.Stderr);
    }

    [Fact]
    public async Task Unknown_subcommand_is_an_error()
    {
        var r = await Operator.CliAsync(_server, "user", "lst");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("'lst'", r.Stderr);
    }

    [Fact]
    public async Task Set_without_a_value_is_an_error()
    {
        var r = await Operator.CliAsync(_server, "user", "list", "--set", "Xmpp:Domain");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("KEY=VALUE", r.Stderr);
    }

    [Fact]
    public async Task Password_from_standard_input_and_json_listing()
    {
        var add = await Operator.CliWithInputAsync(_server, "s3cret-from-stdin\n", "user", "add", "stdin-user", "--password-stdin");
        Assert.True(add.ExitCode == 0, add.Stderr);
        var list = await Operator.CliAsync(_server, "user", "list", "--json");
        Assert.True(list.ExitCode == 0, list.Stderr);
        var users = JsonNode.Parse(list.Stdout)!.AsArray().Select(u => (string?)u).ToList();
        Assert.Contains("stdin-user@" + TestServer.Domain, users);
        // the password is the line read, without its line end
        await using var c = await XmppTestClient.LoginAsync(_server.C2sEndPoint, "stdin-user", "s3cret-from-stdin");
    }

    [Fact]
    public async Task Password_argument_and_password_stdin_together_is_an_error()
    {
        var r = await Operator.CliWithInputAsync(_server, "x\n", "user", "add", "both-user", "pw", "--password-stdin");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("--password-stdin", r.Stderr);
    }

    [Fact]
    public async Task No_password_and_no_terminal_is_an_error()
    {
        var r = await Operator.CliAsync(_server, "user", "add", "nopass-user");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("--password-stdin", r.Stderr);
    }

    [Fact]
    public async Task Positional_password_and_older_override_forms_keep_working()
    {
        // what tests/harness/server.sh and the bench pass: user add NAME PASSWORD --Xmpp:Key=value
        var add = await Operator.CliAsync(_server, "user", "add", "legacy-user", "pw", "--Xmpp:Auth:ScramIterations=4096");
        Assert.True(add.ExitCode == 0, add.Stderr);
        var bulk = await Operator.CliAsync(_server, "user", "bulk", "2", "bulk-user", "pw", "--Xmpp:Tls:Required", "false");
        Assert.True(bulk.ExitCode == 0, bulk.Stderr);
        var list = await Operator.CliAsync(_server, "user", "list", "--json", "--set", "Xmpp:Domain=" + TestServer.Domain);
        var users = JsonNode.Parse(list.Stdout)!.AsArray().Select(u => (string?)u).ToList();
        Assert.Contains("legacy-user@" + TestServer.Domain, users);
        Assert.Contains("bulk-user0@" + TestServer.Domain, users);
        Assert.Contains("bulk-user1@" + TestServer.Domain, users);
    }

    [Fact]
    public async Task Cert_list_json_and_cert_reload_through_the_running_server()
    {
        var list = await Operator.CliAsync(_server, "cert", "list", "--json");
        Assert.True(list.ExitCode == 0, list.Stderr);
        var first = JsonNode.Parse(list.Stdout)!.AsArray()[0]!;
        Assert.Contains(TestServer.Domain, ((JsonArray)first["names"]!).Select(n => (string?)n));
        var reload = await Operator.CliAsync(_server, "cert", "reload");
        Assert.True(reload.ExitCode == 0, reload.Stderr);
        Assert.Contains("certificates reloaded", reload.Stdout);
    }

    [Fact]
    public async Task Plugin_list_json()
    {
        var list = await Operator.CliAsync(_server, "plugin", "list", "--json");
        Assert.True(list.ExitCode == 0, list.Stderr);
        Assert.NotNull(JsonNode.Parse(list.Stdout)!.AsArray());
    }
}
