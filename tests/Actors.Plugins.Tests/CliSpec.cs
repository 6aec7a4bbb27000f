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
    public async Task Version_is_the_builds_version_from_git_tags()
    {
        var r = await Operator.CliAsync(_server, "--version");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var printed = r.Stdout.Trim();
        // the informational version MinVer stamped on the build (with the commit as build metadata)
        Assert.Equal(System.Diagnostics.FileVersionInfo.GetVersionInfo(ServerBinary.Dll).ProductVersion, printed);
        // SemVer 2.0.0 MAJOR.MINOR.PATCH[-PRE][+BUILD], not the SDK's default 1.0.0: untagged builds are pre-releases
        Assert.Matches(@"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$", printed);
        Assert.False(printed.StartsWith("1.0.0", StringComparison.Ordinal), printed);
    }

    [Fact]
    public async Task Run_is_the_server_command_and_parses_strictly()
    {
        var r = await Operator.CliAsync(_server, "run", "--nope");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("'--nope'", r.Stderr);
        var help = await Operator.CliAsync(_server, "--help");
        Assert.Contains("run", help.Stdout);
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

/// <summary>`actors-server check` (offline: no server needed) and the unknown-key check at start.</summary>
public sealed class CheckSpec : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync([]);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private string WritePem(string name, DateTimeOffset notBefore, DateTimeOffset notAfter, params string[] dnsNames)
    {
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=" + dnsNames[0], key,
            System.Security.Cryptography.HashAlgorithmName.SHA256);
        var san = new System.Security.Cryptography.X509Certificates.SubjectAlternativeNameBuilder();
        foreach (var n in dnsNames) san.AddDnsName(n);
        request.CertificateExtensions.Add(san.Build());
        using var cert = request.CreateSelfSigned(notBefore, notAfter);
        var path = Path.Combine(_server.Root, name + ".pem");
        File.WriteAllText(path, cert.ExportCertificatePem() + "\n" + key.ExportPkcs8PrivateKeyPem());
        return path;
    }

    [Fact]
    public async Task Fresh_default_setup_passes_with_the_self_signed_warning()
    {
        var r = await Operator.CliAsync(_server, "check");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("warning: no Xmpp:Tls:CertificatePath", r.Stdout);
        Assert.Contains("0 error(s)", r.Stdout);
    }

    [Fact]
    public async Task Unknown_keys_are_errors_named_by_their_path()
    {
        var r = await Operator.CliAsync(_server, "check", "--set", "Xmpp:C2sPrt=5222", "--set", "Xmpp:Tls:Requird=false");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("error: unknown configuration key Xmpp:C2sPrt", r.Stdout);
        Assert.Contains("error: unknown configuration key Xmpp:Tls:Requird", r.Stdout);
    }

    [Fact]
    public async Task Xep0114_component_domains_are_known_keys_and_a_misspelt_secret_is_not()
    {
        var ok = await Operator.CliAsync(_server, "check", "--set", "Xmpp:Components:Port=0", "--set", "Xmpp:Components:bot.example:Secret=s");
        Assert.True(ok.ExitCode == 0, ok.Stdout + ok.Stderr);
        var r = await Operator.CliAsync(_server, "check", "--set", "Xmpp:Components:bot.example:Secrt=s");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("error: unknown configuration key Xmpp:Components:bot.example:Secrt", r.Stdout);
    }

    [Fact]
    public async Task Invalid_values_are_errors_named_by_their_key()
    {
        var text = await Operator.CliAsync(_server, "check", "--set", "Xmpp:C2sPort=abc");
        Assert.Equal(1, text.ExitCode);
        Assert.Contains("'Xmpp:C2sPort'", text.Stdout);
        var range = await Operator.CliAsync(_server, "check", "--set", "Xmpp:DirectTlsPort=70000");
        Assert.Equal(1, range.ExitCode);
        Assert.Contains("error: Xmpp:DirectTlsPort = 70000", range.Stdout);
        var address = await Operator.CliAsync(_server, "check", "--set", "Xmpp:BindAddress=not-an-address");
        Assert.Equal(1, address.ExitCode);
        Assert.Contains("Xmpp:BindAddress", address.Stdout);
    }

    [Fact]
    public async Task Expired_certificate_and_certificate_naming_no_domain_are_errors()
    {
        var expired = WritePem("expired", DateTimeOffset.UtcNow.AddDays(-30), DateTimeOffset.UtcNow.AddDays(-1), TestServer.Domain);
        var r = await Operator.CliAsync(_server, "check", "--set", "Xmpp:Tls:CertificatePath=" + expired);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("expired on", r.Stdout);
        var other = WritePem("other", DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(90), "other.example");
        var o = await Operator.CliAsync(_server, "check", "--set", "Xmpp:Tls:CertificatePath=" + other);
        Assert.Equal(1, o.ExitCode);
        Assert.Contains("error: no certificate names the domain " + TestServer.Domain, o.Stdout);
        Assert.Contains("warning: certificate", o.Stdout); // self-signed: the chain does not verify against the system's roots
    }

    [Fact]
    public async Task Certificate_expiring_soon_is_a_warning_only()
    {
        var soon = WritePem("soon", DateTimeOffset.UtcNow.AddDays(-80), DateTimeOffset.UtcNow.AddDays(5), TestServer.Domain);
        var r = await Operator.CliAsync(_server, "check", "--set", "Xmpp:Tls:CertificatePath=" + soon);
        Assert.True(r.ExitCode == 0, r.Stdout);
        Assert.Contains("expires on", r.Stdout);
    }

    [Fact]
    public async Task Unreachable_postgresql_is_an_error()
    {
        var r = await Operator.CliAsync(_server, "check", "--set", "Xmpp:Persistence:Provider=PostgreSQL",
            "--set", "Xmpp:Persistence:ConnectionString=Host=127.0.0.1;Port=1;Database=x;Username=x;Password=x");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("error: PostgreSQL database not reachable", r.Stdout);
    }

    [Fact]
    public async Task Server_refuses_to_start_with_an_unknown_key()
    {
        var r = await Operator.CliAsync(_server, "--set", "Xmpp:Limits:MaxStanzaByte=1000", "--set", "Xmpp:C2sPort=0");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("unknown configuration key(s): Xmpp:Limits:MaxStanzaByte", r.Stderr);
    }
}
