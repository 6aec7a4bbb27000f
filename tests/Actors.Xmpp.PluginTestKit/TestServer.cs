using System.Net;
using Actors.Xmpp;
using Actors.Xmpp.PluginHost;
using Actors.Xmpp.Server.Accounts;
using Actors.Xmpp.Server.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Actors.Xmpp.PluginTestKit;

/// <summary>
/// A real server in-process (actor system, TCP listener on a free port, plugin host) with a private data folder
/// and a private plugin directory holding copies of the chosen plugin folders built next to the tests.
/// </summary>
public sealed class TestServer : IAsyncDisposable
{
    public static readonly string BuiltPlugins = Path.Combine(AppContext.BaseDirectory, "plugins");
    public static readonly string[] RepositoryPlugins = ["disco", "ping", "version", "time", "last", "caps", "adhoc", "admin", "private", "vcard"];

    private readonly IHost _host;

    public string Root { get; }
    public string PluginDirectory => Path.Combine(Root, "plugins");
    public IPEndPoint EndPoint { get; }
    public PluginManager Plugins { get; }
    public IServiceProvider Services => _host.Services;

    private TestServer(IHost host, string root)
    {
        _host = host;
        Root = root;
        EndPoint = host.Services.GetRequiredService<XmppServerService>().C2sEndPoint!;
        Plugins = host.Services.GetRequiredService<PluginManager>();
    }

    /// <summary>Starts a server with these plugin folders (ids of folders built next to the tests) and accounts
    /// alice, bob and admin (password "pw"). <paramref name="settings"/> are extra configuration keys.</summary>
    public static async Task<TestServer> StartAsync(IEnumerable<string> plugins, IDictionary<string, string?>? settings = null)
    {
        var root = Path.Combine(Path.GetTempPath(), "actors-plugins-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path.Combine(root, "plugins"));
        foreach (var p in plugins) CopyPlugin(p, Path.Combine(root, "plugins", p));
        var config = new Dictionary<string, string?>
        {
            ["Xmpp:Domain"] = "localhost",
            ["Xmpp:C2sPort"] = "0",
            ["Xmpp:DirectTlsPort"] = "-1",
            ["Xmpp:DataDir"] = Path.Combine(root, "data"),
            ["Xmpp:Tls:Required"] = "false",
            ["Xmpp:Auth:AllowPlainWithoutTls"] = "true",
            ["Xmpp:Auth:ScramIterations"] = "64",
            ["Xmpp:Auth:MaxFailuresPerMinute"] = "1000",
            ["Xmpp:Plugins:Directory"] = Path.Combine(root, "plugins"),
            ["Xmpp:Plugins:ReloadDelayMs"] = "300",
            ["Xmpp:Plugins:admin:Admins:0"] = "admin@localhost",
        };
        if (settings is not null)
            foreach (var (k, v) in settings) config[k] = v;
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(config);
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddXmppServer(builder.Configuration);
        builder.Services.AddXmppPlugins(builder.Configuration);
        var host = builder.Build();
        var accounts = host.Services.GetRequiredService<IAccountStore>();
        foreach (var user in new[] { "alice", "bob", "admin" }) await accounts.AddAsync(Jid.Parse(user + "@localhost"), "pw");
        await host.StartAsync();
        return new TestServer(host, root);
    }

    public Task<XmppTestClient> LoginAsync(string user, string? resource = null) => XmppTestClient.LoginAsync(EndPoint, user, "pw", resource: resource);

    /// <summary>Copies a plugin folder built next to the tests (e.g. "ping", "counter-future") to <paramref name="target"/>.</summary>
    public static void CopyPlugin(string builtId, string target)
    {
        var source = Path.Combine(BuiltPlugins, builtId);
        if (!Directory.Exists(source)) throw new DirectoryNotFoundException($"plugin {builtId} was not built into {source}");
        Directory.CreateDirectory(target);
        foreach (var f in Directory.GetFiles(source, "*", SearchOption.AllDirectories))
        {
            var to = Path.Combine(target, Path.GetRelativePath(source, f));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(f, to, overwrite: true);
        }
    }

    /// <summary>Deploys a plugin the recommended way: into a hidden staging folder, then renamed over the live one.</summary>
    public void SwapPluginFolder(string liveId, string builtId)
    {
        var live = Path.Combine(PluginDirectory, liveId);
        var staging = Path.Combine(PluginDirectory, "." + liveId + ".new");
        var old = Path.Combine(PluginDirectory, "." + liveId + ".old-" + Guid.NewGuid().ToString("N")[..6]);
        CopyPlugin(builtId, staging);
        if (Directory.Exists(live)) Directory.Move(live, old);
        Directory.Move(staging, live);
    }

    /// <summary>Forces collections until every weak reference is dead (or about 5 s pass).</summary>
    public static bool AllCollected(IEnumerable<WeakReference> refs)
    {
        var list = refs.ToList();
        for (var i = 0; i < 50 && list.Any(r => r.IsAlive); i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            Thread.Sleep(100);
        }
        return list.All(r => !r.IsAlive);
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}
