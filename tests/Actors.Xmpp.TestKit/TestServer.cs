using System.Net;
using Actors.Xmpp.PluginHost;
using Actors.Xmpp.Server;
using Actors.Xmpp.Server.Accounts;
using Actors.Xmpp.Server.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Actors.Xmpp.Testing;

/// <summary>
/// The XMPP server in a Generic Host inside the test process (actor system, listeners on ephemeral ports of
/// 127.0.0.1, plugin host), domain 'localhost', in a fresh folder deleted on dispose. Two ways to start one:
/// <list type="bullet">
/// <item><c>new TestServer(overrides)</c> (and the fixtures <see cref="DefaultServer"/>, <see cref="PlainServer"/>): the
/// server as shipped (STARTTLS required, every plugin of the repository built next to the tests, no accounts), with
/// per-test configuration overrides ("Xmpp:Tls:Required" = "false", ...).</item>
/// <item><see cref="StartAsync"/>: for plugin tests: a private plugin directory holding copies of the chosen plugin
/// folders (so that a test may swap or remove them), TLS optional, PLAIN allowed, and the accounts alice, bob and
/// admin (an administrator) with <see cref="Password"/>.</item>
/// </list>
/// </summary>
public class TestServer : IAsyncDisposable, IDisposable
{
    public const string Domain = "localhost";
    public const string Password = "pw";

    /// <summary>Where the test project's build puts the plugins (plugins/&lt;id&gt;/ next to the tests).</summary>
    public static readonly string BuiltPlugins = Path.Combine(AppContext.BaseDirectory, "plugins");
    public static readonly string[] RepositoryPlugins = ["disco", "ping", "version", "time", "last", "caps", "adhoc", "admin", "private", "bookmarks", "vcard", "blocking", "register", "offline", "muc", "carbons", "pubsub", "upload", "push", "extdisco", "mqtt", "things", "mam", "proxy65", "turn"];

    private readonly IHost _host;
    private bool _stopped;

    public TestServer() : this(new Dictionary<string, string?>()) { }

    public TestServer(IDictionary<string, string?> overrides) : this(NewRoot(), overrides, privatePlugins: false, log: Environment.GetEnvironmentVariable("XMPP_TEST_LOG") == "1")
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        _host.StartAsync(cts.Token).GetAwaiter().GetResult();
    }

    private TestServer(string root, IDictionary<string, string?> overrides, bool privatePlugins, bool log)
    {
        Root = root;
        DataDir = Path.Combine(root, "data");
        Directory.CreateDirectory(DataDir);
        PluginDirectory = privatePlugins ? Path.Combine(root, "plugins") : BuiltPlugins;
        var settings = new Dictionary<string, string?>
        {
            ["Xmpp:Domain"] = Domain,
            ["Xmpp:BindAddress"] = "127.0.0.1",
            ["Xmpp:C2sPort"] = "0",
            ["Xmpp:DirectTlsPort"] = "0",
            ["Xmpp:DataDir"] = DataDir,
            ["Xmpp:Auth:ScramIterations"] = "4096",
            ["Xmpp:Auth:MaxFailuresPerMinute"] = "0", // per-address limit off unless a test wants it (all tests share 127.0.0.1)
            ["Xmpp:Plugins:Directory"] = PluginDirectory,
            ["Xmpp:Plugins:Watch"] = "false",
        };
        foreach (var kv in overrides) settings[kv.Key] = kv.Value;

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            DisableDefaults = true,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.ClearProviders();
        if (log) builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(15));
        builder.Services.AddXmppServer(builder.Configuration);
        builder.Services.AddXmppPlugins(builder.Configuration);
        _host = builder.Build();

        Service = _host.Services.GetRequiredService<XmppServerService>();
        Accounts = _host.Services.GetRequiredService<IAccountStore>();
        Options = _host.Services.GetRequiredService<XmppServerOptions>();
    }

    /// <summary>Starts a server for plugin tests with these plugin folders (ids of folders built next to the tests,
    /// copied into <see cref="PluginDirectory"/>, watched for changes) and the accounts alice, bob and admin (password
    /// <see cref="Password"/>; admin@localhost is the admin plugin's administrator). <paramref name="settings"/> are
    /// extra configuration keys.</summary>
    public static async Task<TestServer> StartAsync(IEnumerable<string> plugins, IDictionary<string, string?>? settings = null)
    {
        var root = NewRoot();
        Directory.CreateDirectory(Path.Combine(root, "plugins"));
        foreach (var p in plugins) CopyPlugin(p, Path.Combine(root, "plugins", p));
        var config = new Dictionary<string, string?>
        {
            ["Xmpp:DirectTlsPort"] = "-1",
            ["Xmpp:Tls:Required"] = "false",
            ["Xmpp:Auth:AllowPlainWithoutTls"] = "true",
            ["Xmpp:Auth:ScramIterations"] = "64",
            ["Xmpp:Auth:MaxFailuresPerMinute"] = "1000",
            ["Xmpp:Plugins:Watch"] = "true",
            ["Xmpp:Plugins:ReloadDelayMs"] = "300",
            ["Xmpp:Plugins:admin:Admins:0"] = "admin@" + Domain,
        };
        if (settings is not null)
            foreach (var (k, v) in settings) config[k] = v;
        var server = new TestServer(root, config, privatePlugins: true, log: true);
        try
        {
            foreach (var user in new[] { "alice", "bob", "admin" }) await server.Accounts.AddAsync(Jid.Create(user, Domain), Password);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await server._host.StartAsync(cts.Token);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    private static string NewRoot()
    {
        var root = Path.Combine(Path.GetTempPath(), "actors-test-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(root);
        return root;
    }

    /// <summary>The server's folder (deleted on dispose): <see cref="DataDir"/> and, for <see cref="StartAsync"/>,
    /// the private <see cref="PluginDirectory"/>.</summary>
    public string Root { get; }
    public string DataDir { get; }
    public string PluginDirectory { get; }
    public XmppServerService Service { get; }
    public IAccountStore Accounts { get; }
    public XmppServerOptions Options { get; }
    public IServiceProvider Services => _host.Services;
    public PluginManager Plugins => _host.Services.GetRequiredService<PluginManager>();
    public IPEndPoint C2sEndPoint => Service.C2sEndPoint ?? throw new InvalidOperationException("no C2S endpoint");
    /// <summary>The same as <see cref="C2sEndPoint"/>.</summary>
    public IPEndPoint EndPoint => C2sEndPoint;
    public IPEndPoint ComponentEndPoint => Service.ComponentEndPoint ?? throw new InvalidOperationException("no component endpoint (Xmpp:Components:Port is -1)");
    /// <summary>The server-to-server listener (Xmpp:S2s:Port ≥ 0).</summary>
    public IPEndPoint S2sEndPoint => Service.S2sEndPoint ?? throw new InvalidOperationException("no s2s endpoint (Xmpp:S2s:Port is -1)");
    public IPEndPoint S2sTlsEndPoint => Service.S2sTlsEndPoint ?? throw new InvalidOperationException("no direct TLS s2s endpoint (Xmpp:S2s:TlsPort is -1)");
    public IPEndPoint DirectTlsEndPoint => Service.DirectTlsEndPoint ?? throw new InvalidOperationException("no direct TLS endpoint (Xmpp:DirectTlsPort is -1)");

    /// <summary>Creates an account (user@localhost) with <see cref="Password"/> unless another password is given.</summary>
    public async Task<Jid> AddUserAsync(string user, string password = Password)
    {
        var jid = Jid.Create(user, Domain);
        if (!await Accounts.AddAsync(jid, password)) throw new InvalidOperationException($"{jid} exists already");
        return jid;
    }

    /// <summary>A transcript-style client logged in as <paramref name="user"/> with <see cref="Password"/> (see
    /// <see cref="XmppTestClient.LoginAsync(IPEndPoint, string, string, string, string?)"/>).</summary>
    public Task<XmppTestClient> LoginAsync(string user, string? resource = null) =>
        XmppTestClient.LoginAsync(C2sEndPoint, user, Password, resource: resource);

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

    /// <summary>Deploys a plugin the recommended way: into a hidden staging folder, then renamed over the live one
    /// (a server from <see cref="StartAsync"/>: the others share the built plugins).</summary>
    public void SwapPluginFolder(string liveId, string builtId)
    {
        if (PluginDirectory == BuiltPlugins) throw new InvalidOperationException("only a server from StartAsync has a private plugin directory");
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

    public async Task StopAsync()
    {
        if (_stopped) return;
        _stopped = true;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _host.StopAsync(cts.Token);
    }

    public async ValueTask DisposeAsync()
    {
        try { await StopAsync(); }
        finally
        {
            _host.Dispose();
            try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        GC.SuppressFinalize(this);
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}

/// <summary>Default server for class fixtures: STARTTLS required, registration off.</summary>
public sealed class DefaultServer : TestServer { }

/// <summary>TLS optional, PLAIN allowed without TLS: for tests of the layers above TLS (routing, bind, bad input).</summary>
public sealed class PlainServer : TestServer
{
    public PlainServer() : base(new Dictionary<string, string?>
    {
        ["Xmpp:Tls:Required"] = "false",
        ["Xmpp:Auth:AllowPlainWithoutTls"] = "true",
        ["Xmpp:Registration:Enabled"] = "true",
    }) { }
}
