using Actors.Xmpp.PluginTestKit;

namespace Actors.Plugins.Tests;

/// <summary>Reload keeps state; a bad build (other contract version, missing dependency) fails with a clear
/// message and the previous version keeps serving.</summary>
public sealed class PluginReloadSpec
{
    private const string Count = "<iq type='get' id='{0}' to='localhost'><count xmlns='urn:actors:test:counter'/></iq>";

    private static async Task<string> Counted(XmppTestClient c, string id) =>
        (await c.Query(string.Format(Count, id))).Child("count", "urn:actors:test:counter")!.Text;

    [Fact]
    public async Task Reload_keeps_state_through_save_and_restore()
    {
        await using var server = await TestServer.StartAsync(["counter"]);
        await using var alice = await server.LoginAsync("alice");
        Assert.Equal("1", await Counted(alice, "c1"));
        Assert.Equal("2", await Counted(alice, "c2"));
        var result = await server.Plugins.ReloadAsync("counter");
        Assert.True(result.Ok, result.Message);
        Assert.Equal("3", await Counted(alice, "c3"));
    }

    [Fact]
    public async Task Contract_version_mismatch_fails_clearly_and_previous_version_keeps_serving()
    {
        await using var server = await TestServer.StartAsync(["counter"]);
        await using var alice = await server.LoginAsync("alice");
        Assert.Equal("1", await Counted(alice, "c1"));
        server.SwapPluginFolder("counter", "counter-future");
        var result = await server.Plugins.ReloadAsync("counter");
        Assert.False(result.Ok);
        Assert.Contains("built against plugin contract version 99", result.Message);
        Assert.Contains($"this server implements version {Actors.Xmpp.Plugins.PluginContract.Version}", result.Message);
        Assert.Contains("1.0.0 keeps serving", result.Message);
        Assert.Equal("2", await Counted(alice, "c2"));
        Assert.Contains(server.Plugins.List(), p => p.Id == "counter" && p.Version == "1.0.0" && p.State == "loaded");
    }

    [Fact]
    public async Task Missing_dependency_fails_clearly_and_previous_version_keeps_serving()
    {
        await using var server = await TestServer.StartAsync(["counter"]);
        await using var alice = await server.LoginAsync("alice");
        Assert.Equal("1", await Counted(alice, "c1"));
        server.SwapPluginFolder("counter", "counter-missing");
        var result = await server.Plugins.ReloadAsync("counter");
        Assert.False(result.Ok);
        Assert.Contains("depends on plugin 'nonexistent', which is not installed", result.Message);
        Assert.Equal("2", await Counted(alice, "c2"));
    }

    [Fact]
    public async Task At_start_a_bad_plugin_is_reported_and_the_others_load()
    {
        await using var server = await TestServer.StartAsync(["ping", "counter-missing", "counter-future"]);
        var list = server.Plugins.List();
        Assert.Contains(list, p => p.Id == "ping" && p.State == "loaded");
        Assert.Contains(list, p => p.State == "failed" && p.Error!.Contains("depends on plugin 'nonexistent', which is not installed"));
        Assert.Contains(list, p => p.State == "failed" && p.Error!.Contains("contract version 99"));
        await using var alice = await server.LoginAsync("alice");
        Assert.Equal("result", (await alice.Query("<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")).Type);
    }

    [Fact]
    public async Task Unloading_a_dependency_unloads_its_dependants_and_loading_it_brings_them_back()
    {
        await using var server = await TestServer.StartAsync(TestServer.RepositoryPlugins);
        var unload = await server.Plugins.UnloadAsync("adhoc");
        Assert.True(unload.Ok, unload.Message);
        Assert.False(server.Plugins.IsLoaded("admin"));
        Assert.Contains(server.Plugins.List(), p => p.Id == "admin" && p.Error!.Contains("depends on plugin 'adhoc'"));
        var load = await server.Plugins.LoadAsync("adhoc");
        Assert.True(load.Ok, load.Message);
        Assert.True(server.Plugins.IsLoaded("admin"));
    }
}
