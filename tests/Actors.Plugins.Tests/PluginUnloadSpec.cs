using Actors.Xmpp.Testing;

namespace Actors.Plugins.Tests;

/// <summary>The DotNetCorePlugins unload test, for every plugin in the repository: after unload (and after
/// reload) no reference into the old load context is left.</summary>
public sealed class PluginUnloadSpec
{
    public static TheoryData<string> Plugins => new(TestServer.RepositoryPlugins.Append("counter"));

    /// <summary>The plugins that are off by default switched on where a test can (the turn plugin's sockets on a free
    /// port), so that their unload is the real one.</summary>
    private static Dictionary<string, string?> Settings() => Turn.TurnServerFixture.Settings(Turn.TurnServerFixture.FreePort());

    [Theory]
    [MemberData(nameof(Plugins))]
    public async Task Unloaded_plugin_context_is_collected(string id)
    {
        await using var server = await TestServer.StartAsync(TestServer.RepositoryPlugins.Append("counter"), Settings());
        // use it first, so that handlers have run and caches had their chance to grab a type
        await using (var alice = await server.LoginAsync("alice"))
        {
            await alice.Query("<iq type='get' id='d1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
            await alice.Query("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
        }
        var result = await server.Plugins.UnloadAsync(id);
        Assert.True(result.Ok, result.Message);
        Assert.NotEmpty(result.Released);
        Assert.True(TestServer.AllCollected(result.Released), $"a load context released by unloading {id} is still alive");
    }

    [Theory]
    [MemberData(nameof(Plugins))]
    public async Task Reloaded_plugin_old_context_is_collected(string id)
    {
        await using var server = await TestServer.StartAsync(TestServer.RepositoryPlugins.Append("counter"), Settings());
        var result = await server.Plugins.ReloadAsync(id);
        Assert.True(result.Ok, result.Message);
        Assert.True(TestServer.AllCollected(result.Released), $"an old load context of {id} is still alive after reload");
        Assert.True(server.Plugins.IsLoaded(id));
    }
}
