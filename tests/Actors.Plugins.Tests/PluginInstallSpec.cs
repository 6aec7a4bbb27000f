using System.IO.Compression;
using Actors.Xmpp.PluginHost;
using Actors.Xmpp.Testing;

namespace Actors.Plugins.Tests;

/// <summary>Issue 16, plugin SDK: `actors-server plugin install PACKAGE.nupkg|FOLDER` checks the plugin as a load does
/// (contract version, hard dependencies), swaps its folder in at once under its id, and the watcher loads it; what
/// it refuses leaves the plugin directory as it was.</summary>
public sealed class PluginInstallSpec
{
    private const string CountIq = "<iq type='get' id='c1' to='localhost'><count xmlns='urn:actors:test:counter'/></iq>";

    private static async Task<PluginInfo> Loaded(TestServer server, string id, Func<PluginInfo, bool>? also = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var info = server.Plugins.List().FirstOrDefault(p => p.Id == id && p.State == "loaded" && (also?.Invoke(p) ?? true));
            if (info is not null) return info;
            if (DateTime.UtcNow > deadline)
                throw new Xunit.Sdk.XunitException($"{id} not loaded: " + string.Join("; ", server.Plugins.List().Select(p => $"{p.Id} {p.State} {p.Error}")));
            await Task.Delay(100);
        }
    }

    /// <summary>Nothing staged is left behind (the install's dot folders).</summary>
    private static void NoStagingLeft(TestServer server) =>
        Assert.DoesNotContain(Directory.GetDirectories(server.PluginDirectory), d => Path.GetFileName(d).StartsWith('.'));

    /// <summary>A NuGet package (a zip with a .nuspec) of the counter test plugin built next to the tests.</summary>
    private static string Package(string root, string built, params (string Entry, string Text)[] extra)
    {
        var file = Path.Combine(root, built + ".1.0.0.nupkg");
        using var zip = ZipFile.Open(file, ZipArchiveMode.Create);
        var nuspec = zip.CreateEntry(built + ".nuspec");
        using (var w = new StreamWriter(nuspec.Open()))
            w.Write($"<?xml version='1.0'?><package xmlns='http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd'><metadata><id>{built}</id><version>1.0.0</version><authors>tests</authors><description>test</description></metadata></package>");
        var source = Path.Combine(TestServer.BuiltPlugins, built);
        foreach (var f in Directory.GetFiles(source, "*", SearchOption.AllDirectories))
            zip.CreateEntryFromFile(f, "lib/net10.0/" + Path.GetRelativePath(source, f).Replace('\\', '/'));
        foreach (var (entry, text) in extra)
            using (var w = new StreamWriter(zip.CreateEntry(entry).Open()))
                w.Write(text);
        return file;
    }

    [Fact]
    public async Task A_folder_is_installed_under_its_plugin_id_and_the_watcher_loads_it()
    {
        await using var server = await TestServer.StartAsync([]);
        var cli = await Operator.CliAsync(server, "plugin", "install", Path.Combine(TestServer.BuiltPlugins, "counter"));
        Assert.True(cli.ExitCode == 0, cli.Stderr);
        Assert.Contains("installed counter 1.0.0", cli.Stdout);
        var info = await Loaded(server, "counter");
        Assert.Equal("1.0.0", info.Version);
        Assert.Equal(Path.Combine(server.PluginDirectory, "counter"), info.Folder);
        NoStagingLeft(server);
        await using var alice = await server.LoginAsync("alice", "r");
        Assert.Equal("result", (await alice.Query(CountIq)).Type);
    }

    [Fact]
    public async Task A_nupkg_is_installed_from_its_lib_folder_for_this_runtime_only()
    {
        await using var server = await TestServer.StartAsync([]);
        var package = Package(server.Root, "counter", ("lib/netstandard2.0/other.txt", "another framework's file"));
        var cli = await Operator.CliAsync(server, "plugin", "install", package);
        Assert.True(cli.ExitCode == 0, cli.Stderr);
        var info = await Loaded(server, "counter");
        Assert.False(File.Exists(Path.Combine(info.Folder, "other.txt")));
        Assert.True(File.Exists(Path.Combine(info.Folder, "Tests.Counter.dll")));
        NoStagingLeft(server);
    }

    [Fact]
    public async Task A_nupkg_entry_that_points_outside_its_folder_is_refused_and_nothing_is_written()
    {
        await using var server = await TestServer.StartAsync([]);
        var package = Package(server.Root, "counter", ("lib/net10.0/../../../escaped.txt", "outside"));
        var cli = await Operator.CliAsync(server, "plugin", "install", package);
        Assert.NotEqual(0, cli.ExitCode);
        Assert.Contains("outside its folder", cli.Stderr);
        Assert.Empty(Directory.GetFiles(server.Root, "escaped.txt", SearchOption.AllDirectories));
        Assert.False(Directory.Exists(Path.Combine(server.PluginDirectory, "counter")));
        NoStagingLeft(server);
    }

    [Fact]
    public async Task A_plugin_built_against_another_contract_version_is_refused_and_the_installed_one_stays()
    {
        await using var server = await TestServer.StartAsync(["counter"]);
        await Loaded(server, "counter");
        var before = File.ReadAllBytes(Path.Combine(server.PluginDirectory, "counter", "Tests.Counter.dll"));
        var cli = await Operator.CliAsync(server, "plugin", "install", Path.Combine(TestServer.BuiltPlugins, "counter-future"));
        Assert.NotEqual(0, cli.ExitCode);
        Assert.Contains("contract version 99", cli.Stderr);
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(server.PluginDirectory, "counter", "Tests.Counter.dll")));
        Assert.Equal("1.0.0", (await Loaded(server, "counter")).Version);
        NoStagingLeft(server);
    }

    [Fact]
    public async Task A_plugin_whose_hard_dependency_is_not_loaded_is_refused()
    {
        await using var server = await TestServer.StartAsync([]);
        var cli = await Operator.CliAsync(server, "plugin", "install", Path.Combine(TestServer.BuiltPlugins, "counter-missing"));
        Assert.NotEqual(0, cli.ExitCode);
        Assert.Contains("'nonexistent'", cli.Stderr);
        Assert.False(Directory.Exists(Path.Combine(server.PluginDirectory, "counter")));
        NoStagingLeft(server);
    }

    [Fact]
    public async Task Installing_over_a_loaded_plugin_swaps_its_folder_and_the_watcher_reloads_it()
    {
        await using var server = await TestServer.StartAsync(["counter"]);
        await Loaded(server, "counter");
        var activations = server.Plugins.ActivationCount;
        var cli = await Operator.CliAsync(server, "plugin", "install", Path.Combine(TestServer.BuiltPlugins, "counter"));
        Assert.True(cli.ExitCode == 0, cli.Stderr);
        Assert.Contains("reloads it", cli.Stdout);
        await Loaded(server, "counter", _ => server.Plugins.ActivationCount > activations);
        NoStagingLeft(server);
        await using var alice = await server.LoginAsync("alice", "r");
        Assert.Equal("result", (await alice.Query(CountIq)).Type);
    }
}
