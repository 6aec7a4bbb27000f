using Actors.Xmpp.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Actors.Plugins.Tests;

/// <summary>Options are validated at load (DataAnnotations attributes and IValidatableObject): an invalid plugin
/// does not load and says which key is wrong and why; a reload with invalid options leaves the old version serving.</summary>
public sealed class OptionsValidationSpec
{
    private const string Ping = "<iq type='get' id='{0}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>";

    [Fact]
    public async Task A_range_attribute_failure_keeps_the_plugin_from_loading_with_the_key_and_the_reason()
    {
        await using var server = await TestServer.StartAsync(["ping", "time"], new Dictionary<string, string?> { ["Xmpp:Plugins:ping:IdleSeconds"] = "-5" });
        var ping = Assert.Single(server.Plugins.List(), p => p.Id == "ping");
        Assert.Equal("failed", ping.State);
        Assert.Equal("plugin 'ping' 1.0.0: invalid options: Xmpp:Plugins:ping:IdleSeconds: The field IdleSeconds must be between 0 and 86400.", ping.Error);
        Assert.Contains(server.Plugins.List(), p => p.Id == "time" && p.State == "loaded");
        await using var alice = await server.LoginAsync("alice");
        await alice.Sends(string.Format(Ping, "p1"));
        await alice.Receives("<iq type='error' id='p1'><error><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    }

    [Fact]
    public async Task Plugin_list_in_the_CLI_shows_the_plugin_failed_with_the_reason()
    {
        await using var server = await TestServer.StartAsync(["ping"], new Dictionary<string, string?> { ["Xmpp:Plugins:ping:TimeoutSeconds"] = "0" });
        var list = await Operator.CliAsync(server, "plugin", "list");
        Assert.True(list.ExitCode == 0, list.Stderr);
        Assert.Contains("ping         1.0.0      failed", list.Stdout);
        Assert.Contains("error: plugin 'ping' 1.0.0: invalid options: Xmpp:Plugins:ping:TimeoutSeconds: The field TimeoutSeconds must be between 0.1 and 3600.", list.Stdout);
    }

    [Fact]
    public async Task IValidatableObject_names_the_element_of_a_list()
    {
        await using var server = await TestServer.StartAsync(["disco", "adhoc", "admin"], new Dictionary<string, string?>
        {
            ["Xmpp:Plugins:admin:Admins:0"] = "admin@localhost",
            ["Xmpp:Plugins:admin:Admins:1"] = "root@localhost/laptop",
        });
        var admin = Assert.Single(server.Plugins.List(), p => p.Id == "admin");
        Assert.Equal("failed", admin.State);
        Assert.Equal("plugin 'admin' 1.1.0: invalid options: Xmpp:Plugins:admin:Admins:1: 'root@localhost/laptop' is not a bare JID", admin.Error);
    }

    [Fact]
    public async Task Disco_refuses_an_address_kind_XEP_0157_does_not_register_and_its_dependants_say_why_they_wait()
    {
        await using var server = await TestServer.StartAsync(["disco", "caps"], new Dictionary<string, string?>
        {
            ["Xmpp:Plugins:disco:ContactAddresses:complaints:0"] = "mailto:x@localhost",
        });
        var list = server.Plugins.List();
        Assert.Contains(list, p => p.Id == "disco" && p.State == "failed" && p.Error!.Contains(
            "Xmpp:Plugins:disco:ContactAddresses:complaints: 'complaints' is not an XEP-0157 address kind"));
        Assert.Contains(list, p => p.Id == "caps" && p.State == "failed" && p.Error!.Contains("depends on plugin 'disco', which is failed"));
    }

    [Fact]
    public async Task Several_problems_are_reported_together()
    {
        await using var server = await TestServer.StartAsync(["version"], new Dictionary<string, string?>
        {
            ["Xmpp:Plugins:version:Name"] = "",
            ["Xmpp:Plugins:version:Version"] = new string('9', 101),
        });
        var version = Assert.Single(server.Plugins.List());
        Assert.Equal("plugin 'version' 1.0.0: invalid options: Xmpp:Plugins:version:Name: The Name field is required.; " +
                     "Xmpp:Plugins:version:Version: The field Version must be a string with a minimum length of 1 and a maximum length of 100.", version.Error);
    }

    [Fact]
    public async Task Reload_with_invalid_options_fails_clearly_and_the_old_version_keeps_serving()
    {
        await using var server = await TestServer.StartAsync(["ping"]);
        await using var alice = await server.LoginAsync("alice");
        Assert.Equal("result", (await alice.Query(string.Format(Ping, "p1"))).Type);
        var configuration = server.Services.GetRequiredService<IConfiguration>();
        configuration["Xmpp:Plugins:ping:IdleSeconds"] = "soon";
        var result = await server.Plugins.ReloadAsync("ping");
        Assert.False(result.Ok);
        Assert.Contains("Failed to convert configuration value", result.Message);
        Assert.Contains("Xmpp:Plugins:ping:IdleSeconds", result.Message);
        Assert.EndsWith("version 1.0.0 keeps serving", result.Message);
        Assert.Equal("result", (await alice.Query(string.Format(Ping, "p2"))).Type);
        Assert.Contains(server.Plugins.List(), p => p.Id == "ping" && p.State == "loaded");

        // fixed: the next reload takes the new options
        configuration["Xmpp:Plugins:ping:IdleSeconds"] = "600";
        Assert.True((await server.Plugins.ReloadAsync("ping")).Ok);
    }
}
