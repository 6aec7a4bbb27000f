using Actors.Xmpp.PluginHost.Entities;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.PluginHost.Boundary;
using Actors.Xmpp.PluginHost.Commands;
using Actors.Xmpp.PluginHost.Options;
using Actors.Xmpp.Server;
using Actors.Xmpp.Server.Lifecycle;
using Actors.Xmpp.Server.PluginStores;
using Actors.Xmpp.Xml;
using Akka.Actor;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Actors.Xmpp.PluginHost;

/// <summary>
/// The context one loaded plugin configures itself with. Every registration goes into <see cref="Ledger"/>, which
/// the host disposes (in reverse order) on unload, so a plugin writes no teardown code.
/// </summary>
internal sealed partial class PluginContext : IPluginContext
{
    private readonly ServerContext _server;
    private readonly ServiceRegistry _services;
    private readonly IConfiguration _configuration;
    private readonly IActorRef _supervisor;
    private readonly ActorSystem _system;
    private readonly List<IDisposable> _ledger = new();
    private int _timers;

    private readonly string _optionsSection;

    /// <param name="optionsSection">The descriptor's <see cref="PluginDescriptor.OptionsSection"/> (null: Xmpp:Plugins:&lt;id&gt;).</param>
    public PluginContext(string id, ServerContext server, ServiceRegistry services, IConfiguration configuration,
        ILogger logger, IActorRef supervisor, ActorSystem system, string? optionsSection = null)
    {
        _optionsSection = string.IsNullOrEmpty(optionsSection) ? $"Xmpp:Plugins:{id}" : optionsSection;
        _system = system;
        PluginId = id;
        _server = server;
        _services = services;
        _configuration = configuration;
        Logger = logger;
        _supervisor = supervisor;
    }

    public string PluginId { get; }
    public IReadOnlyList<string> Domains => _server.Domains;
    public ILogger Logger { get; }

    /// <summary>The configuration section the options come from (Xmpp:Plugins:&lt;id&gt; unless the descriptor names another).</summary>
    public IConfigurationSection OptionsSection => _configuration.GetSection(_optionsSection);

    public T Options<T>() where T : class, new() => PluginOptions.Bind<T>(OptionsSection);

    public IDisposable AddFeature(string feature, IqScope scope = IqScope.Server) => Track(_server.Iq.AddFeature(scope, feature));

    public IDisposable AddIdentity(string category, string type, string? name = null, IqScope scope = IqScope.Server) =>
        Track(_server.Iq.AddIdentity(scope, category, type, name));

    public IDisposable HandleIq(string type, IqScope scope, string ns, string name, IqHandler handler) =>
        Track(_server.Iq.Register(type, scope, ns, name, handler));

    public IDisposable Hook(HookPoint point, int priority, StanzaHook handler) => Track(_server.Router.Hooks.Add(point, priority, handler));

    public IDisposable AddStreamFeature(Func<Element?> provider) => Track(_server.Iq.AddStreamFeature(provider));

    public void SendStanza(Element stanza) => _services.Host.Send(stanza);

    public Task<Element> SendIqAsync(Element iq, TimeSpan timeout) => _services.Host.SendIqAsync(iq, timeout);

    public IDisposable Provide<T>(T service) where T : class => Track(_services.Provide(typeof(T), service, PluginId));

    public T Require<T>() where T : class =>
        (T?)_services.Find(typeof(T)) ?? throw new InvalidOperationException(
            $"plugin '{PluginId}' requires the service {typeof(T).Name}, which no loaded plugin provides (declare its provider as a dependency)");

    public T? Optional<T>() where T : class => (T?)_services.Find(typeof(T));

    public IDisposable Every(TimeSpan interval, Func<CancellationToken, Task> action)
    {
        if (interval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(interval), "a timer interval must be positive");
        var name = "timer-" + Interlocked.Increment(ref _timers);
        _supervisor.Tell(new PluginSupervisorActor.Spawn(PluginTimerActor.Props(action, interval, Logger), name));
        return Track(new Undo(() => _supervisor.Tell(new PluginSupervisorActor.StopChild(name))));
    }

    // ---- addresses and keyed entities ----
    public IDisposable OwnService(string subdomain, DiscoInfo info, AddressHandler handler)
    {
        var owned = Track(_server.Router.Addresses.AddService(PluginId, subdomain, info, handler));
        lock (_servicesOwned) _servicesOwned.Add(subdomain + ".");
        return owned;
    }

    /// <summary>Subdomains this plugin has owned (kept after it released them): its entities' stanzas may still come
    /// from them while it unloads (<see cref="HostServices.Send(Element, Func{string, bool})"/>).</summary>
    private readonly HashSet<string> _servicesOwned = new(StringComparer.Ordinal);

    private bool OwnedBefore(string domain)
    {
        lock (_servicesOwned)
            foreach (var prefix in _servicesOwned)
                if (domain.StartsWith(prefix, StringComparison.Ordinal) && _server.Serves(domain[prefix.Length..])) return true;
        return false;
    }

    public IDisposable OwnAccountNamespace(string ns, AddressHandler handler, AccountStanzas kinds = AccountStanzas.Iq) =>
        Track(_server.Router.Addresses.AddAccountNamespace(PluginId, ns, kinds, handler));

    private readonly HashSet<string> _entityKinds = new(StringComparer.Ordinal);

    public IEntityKind AddEntityKind(string kind, IEntityBehavior behavior, EntityKindOptions? options = null)
    {
        lock (_entityKinds)
            if (!_entityKinds.Add(kind ?? "")) throw new InvalidOperationException($"plugin '{PluginId}' registered the entity kind '{kind}' already");
        return Track(EntityKinds.Start(PluginId, kind!, behavior, options, _supervisor, stanza => _services.Host.Send(stanza, OwnedBefore), _system,
            _server.Options.Cluster));
    }

    // ---- admin commands ----
    public IDisposable AddCommand(AdminCommand command) => Track(_services.Commands.Add(PluginId, command));

    public IDisposable AddPortableData(PortableAccountData data) => Track(_services.Host.Server.PortableData.Add(PluginId, data));

    public T Track<T>(T registration) where T : IDisposable
    {
        lock (_ledger) _ledger.Add(registration);
        return registration;
    }

    public IPluginStorage Storage => PluginStores.Of(_system).For(PluginId);

    public IDisposable On(ServerEventKind kind, ServerEventHandler handler, int priority = 0) =>
        Track(ServerEvents.Of(_system).On(kind, handler, priority));

    public void Signal(string name, Jid about)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(about);
        Actors.Xmpp.Server.Cluster.ClusterSignals.Of(_system).Tell(PluginId, name, about);
    }

    public IDisposable OnSignal(string name, Action<Jid> handler)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(handler);
        return Track(Actors.Xmpp.Server.Cluster.ClusterSignals.Of(_system).On(PluginId, name, handler));
    }

    /// <summary>Undoes every registration, newest first. Failures are logged, never thrown.</summary>
    public void DisposeLedger()
    {
        IDisposable[] items;
        lock (_ledger)
        {
            items = _ledger.ToArray();
            _ledger.Clear();
        }
        for (var i = items.Length - 1; i >= 0; i--)
        {
            try { items[i].Dispose(); }
            catch (Exception ex) { Logger.LogWarning(ex, "undoing a registration of plugin {Plugin} failed", PluginId); }
        }
    }

    public int LedgerCount
    {
        get { lock (_ledger) return _ledger.Count; }
    }

    internal sealed class Undo(Action undo) : IDisposable
    {
        private Action? _undo = undo;
        public void Dispose() => Interlocked.Exchange(ref _undo, null)?.Invoke();
    }
}

/// <summary>Services by contract interface: the host's own, then whatever plugins provide.</summary>
internal sealed class ServiceRegistry
{
    private readonly object _lock = new();
    private readonly Dictionary<Type, (object Service, string Provider)> _services = new();

    public ServiceRegistry(HostServices host, AdminCommandRegistry commands, Actors.Xmpp.Transport.Tls.ServerCertificates? certificates = null)
    {
        Host = host;
        Commands = commands;
        _services[typeof(IAdminCommands)] = (commands, "host");
        _services[typeof(IAccounts)] = (host, "host");
        _services[typeof(ISessions)] = (host, "host");
        _services[typeof(IRouter)] = (host, "host");
        _services[typeof(IServerFeatures)] = (host, "host");
        _services[typeof(IOwnedAddresses)] = (host, "host");
        _services[typeof(ISessionDelivery)] = (host, "host");
        _services[typeof(IRosters)] = (new RosterService(host.Users), "host");
        _services[typeof(IAuthentication)] = (new HostAuthentication(host.Server), "host");
        _services[typeof(IByteStreamRelay)] = (new Actors.Xmpp.Server.ByteStreams.ByteStreamRelay(host.System), "host");
        if (host.MessageArchive is { } archive) _services[typeof(IMessageArchive)] = (archive, "host");
        if (certificates is not null) _services[typeof(IServerCertificates)] = (new HostCertificates(certificates), "host");
    }

    public HostServices Host { get; }
    public AdminCommandRegistry Commands { get; }

    public IDisposable Provide(Type type, object service, string provider)
    {
        if (!type.IsInterface) throw new ArgumentException($"a service must be an interface from the plugin contract, not {type.FullName}");
        service = ServiceBoundary.Wrap(type, service);
        lock (_lock)
        {
            if (_services.TryGetValue(type, out var existing))
                throw new InvalidOperationException($"{type.Name} is provided by '{existing.Provider}' already");
            _services[type] = (service, provider);
        }
        return new PluginContext.Undo(() =>
        {
            lock (_lock)
            {
                if (_services.TryGetValue(type, out var current) && ReferenceEquals(current.Service, service)) _services.Remove(type);
            }
        });
    }

    public object? Find(Type type)
    {
        lock (_lock) return _services.TryGetValue(type, out var s) ? s.Service : null;
    }
}
