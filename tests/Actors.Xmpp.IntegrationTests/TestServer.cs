using Actors.Xmpp.PluginHost;
using System.Net;
using Actors.Xmpp.Server;
using Actors.Xmpp.Server.Accounts;
using Actors.Xmpp.Server.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Actors.Xmpp.IntegrationTests;

/// <summary>
/// The XMPP server in a Generic Host inside the test process: ephemeral ports on 127.0.0.1, a fresh data folder
/// (deleted on dispose), domain 'localhost', and per-test configuration overrides ("Xmpp:Tls:Required" = "false", ...).
/// </summary>
public class TestServer : IAsyncDisposable, IDisposable
{
    public const string Domain = "localhost";
    public const string Password = "secret-pw";

    private readonly IHost _host;
    private bool _stopped;

    public TestServer() : this(new Dictionary<string, string?>()) { }

    public TestServer(IDictionary<string, string?> overrides)
    {
        DataDir = Path.Combine(Path.GetTempPath(), "xit-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(DataDir);
        var settings = new Dictionary<string, string?>
        {
            ["Xmpp:Domain"] = Domain,
            ["Xmpp:BindAddress"] = "127.0.0.1",
            ["Xmpp:C2sPort"] = "0",
            ["Xmpp:DirectTlsPort"] = "0",
            ["Xmpp:DataDir"] = DataDir,
            ["Xmpp:Auth:ScramIterations"] = "4096",
            ["Xmpp:Auth:MaxFailuresPerMinute"] = "0", // per-address limit off unless a test wants it (all tests share 127.0.0.1)
            ["Xmpp:Plugins:Directory"] = Path.Combine(AppContext.BaseDirectory, "plugins"), // the repository's plugins, built next to the tests
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
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(15));
        builder.Services.AddXmppServer(builder.Configuration);
        builder.Services.AddXmppPlugins(builder.Configuration);
        _host = builder.Build();
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
            _host.StartAsync(cts.Token).GetAwaiter().GetResult();

        Service = _host.Services.GetRequiredService<XmppServerService>();
        Accounts = _host.Services.GetRequiredService<IAccountStore>();
        Options = _host.Services.GetRequiredService<XmppServerOptions>();
        C2sEndPoint = Service.C2sEndPoint ?? throw new InvalidOperationException("no C2S endpoint");
        DirectTlsEndPoint = Service.DirectTlsEndPoint ?? throw new InvalidOperationException("no direct TLS endpoint");
    }

    public string DataDir { get; }
    public XmppServerService Service { get; }
    public IAccountStore Accounts { get; }
    public XmppServerOptions Options { get; }
    public IServiceProvider Services => _host.Services;
    public IPEndPoint C2sEndPoint { get; }
    public IPEndPoint DirectTlsEndPoint { get; }

    /// <summary>Creates an account (user@localhost) with <see cref="Password"/> unless another password is given.</summary>
    public async Task<Jid> AddUserAsync(string user, string password = Password)
    {
        var jid = Jid.Create(user, Domain);
        if (!await Accounts.AddAsync(jid, password)) throw new InvalidOperationException($"{jid} exists already");
        return jid;
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
            try { Directory.Delete(DataDir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
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
