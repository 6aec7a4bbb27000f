using Actors.Xmpp.Server.Tls;
using Actors.Xmpp.Server.C2s;
using Actors.Xmpp.Server.Accounts;
using Actors.Xmpp.Server.Iq;
using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Server.Sasl;
using Actors.Xmpp.Server.Security;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Server.Cluster;
using Actors.Xmpp.Transport.Tls;
using Actors.Xmpp.Persistence;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Actors.Xmpp.Server.Hosting;

public static class XmppServerHostingExtensions
{
    /// <summary>
    /// Adds the XMPP server (actor system, listeners, admin channel) to a Generic Host, configured from the
    /// "Xmpp" section.
    /// </summary>
    public static IServiceCollection AddXmppServer(this IServiceCollection services, IConfiguration configuration)
    {
        // a key no option has is a typo that would otherwise be ignored silently: refuse to start, naming it
        if (ConfigurationKeys.Check(configuration).Unknown is { Count: > 0 } unknown)
            throw new InvalidOperationException("unknown configuration key(s): " + string.Join(", ", unknown) +
                                                " (see README: Configuration; `actors-server check` lists every problem)");
        var options = new XmppServerOptions();
        configuration.GetSection(XmppServerOptions.Section).Bind(options);
        options.ReadComponentDomains(configuration.GetSection(XmppServerOptions.Section).GetSection(nameof(XmppServerOptions.Components)));
        options.Validate();
        var domains = options.AllDomains();
        services.AddSingleton(options);
        var persistence = new XmppPersistenceOptions();
        configuration.GetSection(XmppPersistenceOptions.Section).Bind(persistence);
        options.Cluster.Validate(persistence); // a cluster needs the shared journal: a clear refusal on SQLite
        services.AddSingleton(persistence);
        services.AddSingleton<IAccountStore>(sp =>
        {
            var store = new JournalAccountStore(sp.GetRequiredService<ActorSystem>(), domains, options.Auth.ScramIterations,
                persistence.SnapshotEvery, followEvery: options.Cluster.Enabled ? persistence.RefreshInterval : null);
            var migrated = store.MigrateAccountFileAsync(options.DataDir).GetAwaiter().GetResult();
            if (migrated > 0)
                sp.GetRequiredService<ILogger<JournalAccountStore>>().LogInformation(
                    "moved {Count} accounts from accounts.json into the journal", migrated);
            return store;
        });
        // the node's own sessions (routing, the census, operators); plugins see them through the session view, which on a
        // clustered node also replicates every other member's and publishes this node's changes to them
        services.AddSingleton(_ => new Cluster.SessionView(new LocalSessionRegistry()));
        if (options.Cluster.Enabled) services.AddSingleton(sp => sp.GetRequiredService<Cluster.SessionView>().Publishing());
        else services.AddSingleton(sp => sp.GetRequiredService<Cluster.SessionView>().Local);
        services.AddSingleton<LocalUserDirectory>();
        services.AddSingleton<Cluster.ShardedUserDirectory>();
        // a clustered node reaches accounts through the "users" shard region; a single node through /user/users
        if (options.Cluster.Enabled) services.AddSingleton<IUserDirectory>(sp => sp.GetRequiredService<Cluster.ShardedUserDirectory>());
        else services.AddSingleton<IUserDirectory>(sp => sp.GetRequiredService<LocalUserDirectory>());
        services.AddSingleton(sp => new AccountLifecycle(sp.GetRequiredService<IAccountStore>(), sp.GetRequiredService<IUserDirectory>()));
        services.AddSingleton(sp =>
        {
            var iq = new IqHandlers();
            UserIqHandlers.Register(iq, sp.GetRequiredService<IUserDirectory>());
            return iq;
        });
        services.AddSingleton(sp => new StanzaRouter(domains, sp.GetRequiredService<ISessionRegistry>(),
            sp.GetRequiredService<IAccountStore>(), sp.GetRequiredService<IqHandlers>(), sp.GetRequiredService<ILogger<StanzaRouter>>(),
            sp.GetRequiredService<IUserDirectory>(), new ComponentRoutes(options.Components.Secrets.Keys))
        {
            MaxPendingIqsPerSender = Math.Max(0, options.Limits.MaxPendingIqsPerSession),
        });
        services.AddSingleton(_ => new SaslMechanisms(new SaslOptions
        {
            AllowPlainWithoutTls = options.Auth.AllowPlainWithoutTls,
            ServerSecret = ServerSecret(options.DataDir),
            FakeIterations = options.Auth.ScramIterations,
        }));
        services.AddSingleton(_ => new LoginRateLimiter(new LoginLimits(options.Auth.MaxFailuresPerMinute, options.Auth.BanSeconds,
            options.Auth.MaxConcurrentExchangesPerAddress, options.Limits.ExemptLoopback)));
        services.AddSingleton(sp => new ServerContext(options, domains, sp.GetRequiredService<IAccountStore>(),
            sp.GetRequiredService<ISessionRegistry>(), sp.GetRequiredService<StanzaRouter>(), sp.GetRequiredService<IqHandlers>(),
            sp.GetRequiredService<SaslMechanisms>(), sp.GetRequiredService<LoginRateLimiter>())
        {
            AccountLifecycle = sp.GetRequiredService<AccountLifecycle>(),
            Timers = sp.GetRequiredService<TimerWheel>(),
            MessageArchive = sp.GetRequiredService<Archive.MessageArchive>(),
            SessionView = sp.GetRequiredService<Cluster.SessionView>(),
            Shapers = new AccountShapers(options.Limits.AccountClasses, XmppServerService.ClientShaper(options.Limits)),
        });
        services.AddSingleton(sp => new Archive.MessageArchive(new Persistence.Archive.MessageArchiveTable(persistence, options.DataDir),
            sp.GetRequiredService<ILogger<Archive.MessageArchive>>()));
        services.AddSingleton(_ => new TimerWheel(static () => Environment.TickCount64));
        services.AddSingleton(_ => new ServerCertificates(() => CertificateReload.Load(options, domains)));
        services.AddSingleton<IAdminCommandExtension, CertificateAdminCommands>();
        services.AddSingleton<IAdminCommandExtension>(sp => new ClusterAdminCommands(sp.GetRequiredService<ActorSystem>(), options,
            sp.GetRequiredService<ISessionRegistry>(), sp.GetRequiredService<ShardedUserDirectory>()));
        services.AddSingleton(sp => new AccountCommands(sp.GetRequiredService<AccountLifecycle>(), domains[0],
            () => sp.GetRequiredService<ISessionRegistry>().Count));

        services.AddAkka("actors", builder =>
        {
            builder.ConfigureLoggers(l =>
            {
                l.ClearLoggers();
                l.AddLoggerFactory();
            });
            builder.WithXmppPersistence(persistence, options.DataDir);
            if (options.Cluster.Enabled) builder.WithXmppCluster(options.Cluster); // else Akka's local provider, as always
            builder.AddHocon("akka.coordinated-shutdown.run-by-clr-shutdown-hook = off\nakka.actor.ask-timeout = 10s", HoconAddMode.Prepend);
            // stanzas between nodes travel as XML read back by the framer, never through Newtonsoft (Runtime/StanzaSerializer)
            builder.AddHocon(StanzaSerializer.Config, HoconAddMode.Prepend);
            // Akka's own scheduler wakes a thread-pool thread every akka.scheduler.tick-duration whether or not
            // anything is due (100 wake-ups a second at its 10 ms default: most of the idle CPU at 10,000 sessions,
            // docs/benchmarks.md). This one keeps Akka's timers (asks, IWithTimers, receive timeouts, backoff) in a
            // TimerWheel and wakes only when one is due, at the same 10 ms resolution.
            builder.AddHocon(TimerWheelScheduler.Config, HoconAddMode.Prepend);
            // the mailbox of actors that ask for nothing in particular (connections, sessions...): unbounded like
            // Akka's, without its 1 KiB queue segment per idle actor; and the same queue for actors with a stash
            // (persistent ones), which ask for deque semantics
            builder.AddHocon($"akka.actor.default-mailbox.mailbox-type = \"{typeof(LeanMailboxType).FullName}, {typeof(LeanMailboxType).Assembly.GetName().Name}\"",
                HoconAddMode.Prepend);
            builder.AddHocon(LeanDequeMailboxType.Hocon, HoconAddMode.Prepend);
        });
        services.AddSingleton<XmppServerService>();
        services.AddHostedService(sp => sp.GetRequiredService<XmppServerService>());
        // health and metrics (after the server: the endpoint answers once the listeners are open)
        services.AddSingleton(sp => new Diagnostics.ServerHealth(sp.GetRequiredService<ActorSystem>(),
            sp.GetRequiredService<XmppServerService>(), options, persistence));
        services.AddSingleton<IAdminCommandExtension>(sp => new Diagnostics.OperationsCommands(
            sp.GetRequiredService<Diagnostics.ServerHealth>(), sp.GetRequiredService<ServerContext>()));
        services.AddSingleton<IAdminCommandExtension>(sp => new Portability.PortabilityCommands(sp.GetRequiredService<ServerContext>()));
        services.AddSingleton<Diagnostics.OperationsService>();
        services.AddHostedService(sp => sp.GetRequiredService<Diagnostics.OperationsService>());
        services.AddSingleton<OperatorCommands>();
        if (options.Http.Admin.Enabled) // the web admin page, for the admin plugin's administrators
            services.AddSingleton(sp => new Http.Admin.WebAdmin(sp.GetRequiredService<ServerContext>(), sp.GetRequiredService<OperatorCommands>(),
                sp.GetRequiredService<ActorSystem>(), configuration.GetSection(Http.Admin.WebAdmin.AdminsKey).Get<string[]>() ?? [],
                sp.GetRequiredService<ILogger<Http.Admin.WebAdmin>>()));
        services.AddHostedService<AdminChannel>();
        services.AddHostedService<IdleHeapTrimmer>();
        if (options.Tls.WatchFiles && CertificateReload.Files(options) is { Count: > 0 } certificateFiles)
            services.AddHostedService(sp => new CertificateFilesWatcher(sp.GetRequiredService<ServerCertificates>(), certificateFiles,
                sp.GetRequiredService<ILogger<CertificateFilesWatcher>>()));
        return services;
    }

    /// <summary>A random secret kept in the data folder (used to answer SCRAM for unknown users like for real ones).</summary>
    private static byte[] ServerSecret(string dataDir)
    {
        var path = Path.Combine(dataDir, "server.secret");
        if (File.Exists(path)) return File.ReadAllBytes(path);
        Directory.CreateDirectory(dataDir);
        var secret = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
        File.WriteAllBytes(path, secret);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return secret;
    }
}
