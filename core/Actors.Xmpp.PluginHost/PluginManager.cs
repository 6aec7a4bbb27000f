using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.Loader;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.PluginHost.Boundary;
using Actors.Xmpp.PluginHost.Commands;
using Actors.Xmpp.PluginHost.Options;
using Actors.Xmpp.Server;
using Actors.Xmpp.Xml;
using Akka.Actor;
using McMaster.NETCore.Plugins;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Actors.Xmpp.PluginHost;

/// <summary>The "Xmpp:Plugins" section (besides one sub-section of options per plugin id).</summary>
public sealed class PluginHostOptions
{
    /// <summary>The folder holding one sub-folder per plugin. Default: "plugins" next to the server binary.</summary>
    public string? Directory { get; set; }
    /// <summary>Reload plugins whose folder changes (debounced by <see cref="ReloadDelayMs"/>).</summary>
    public bool Watch { get; set; } = true;
    public int ReloadDelayMs { get; set; } = 1000;

    public string ResolveDirectory() =>
        Path.GetFullPath(string.IsNullOrEmpty(Directory) ? Path.Combine(AppContext.BaseDirectory, "plugins") : Directory);
}

/// <summary>What an operator sees of a plugin.</summary>
public sealed record PluginInfo(string Id, string? Version, IReadOnlyList<string> Xeps, string State, string Folder, string? Error = null);

/// <summary>The outcome of an operator command.</summary>
public sealed record PluginResult(bool Ok, string Message)
{
    /// <summary>Weak references to the load contexts released by the command (tests check they die).</summary>
    public IReadOnlyList<WeakReference> Released { get; init; } = [];
}

/// <summary>
/// Loads, unloads and reloads plugins: one collectible McMaster load context per plugin folder, dependency order,
/// contract-version check, a ledger per plugin, host-owned actors under /user/plugins, save/restore across reloads
/// and cascading reloads of dependants. One operation at a time.
/// </summary>
public sealed partial class PluginManager : IAsyncDisposable
{
    private readonly ServerContext _server;
    private readonly ActorSystem _system;
    private readonly IConfiguration _configuration;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _log;
    private readonly ServiceRegistry _services;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, Loaded> _loaded = new(StringComparer.Ordinal);     // by id, in load order
    private readonly Dictionary<string, PluginInfo> _notLoaded = new(StringComparer.Ordinal); // by folder
    private readonly List<string> _order = new();
    private IActorRef? _root;
    private int _generation;
    private PluginWatcher? _watcher;

    public PluginManager(ServerContext server, ActorSystem system, IConfiguration configuration, ILoggerFactory loggers,
        Actors.Xmpp.Transport.Tls.ServerCertificates? certificates = null)
    {
        _server = server;
        _system = system;
        _configuration = configuration;
        _loggers = loggers;
        _log = loggers.CreateLogger("Actors.Xmpp.PluginHost");
        Commands = new AdminCommandRegistry(_log);
        var host = new HostServices(server, system);
        _services = new ServiceRegistry(host, Commands, certificates);
        // the sessions' flags (ISessions.SetFlag) end with them, whichever plugins are loaded
        Actors.Xmpp.Server.Lifecycle.ServerEvents.Of(system).On(ServerEventKind.SessionClosed, e =>
        {
            host.SessionClosed(e.Jid);
            return ValueTask.CompletedTask;
        }, int.MinValue);
        // the message archive (IMessageArchive): an account's archives go with the account, whichever plugins are loaded
        if (server.MessageArchive is { } archive)
            Actors.Xmpp.Server.Lifecycle.ServerEvents.Of(system).On(ServerEventKind.AccountRemoved,
                e => new ValueTask(archive.RemoveOwnerAsync(e.Jid)), int.MinValue);
        _server.Router.Hooks.Failed ??= ex => _log.LogError(ex, "a plugin stanza hook failed");
        Options = new PluginHostOptions();
        configuration.GetSection("Xmpp:Plugins").Bind(Options);
        Directory = Options.ResolveDirectory();
    }

    public PluginHostOptions Options { get; }

    /// <summary>The admin commands of the loaded plugins (CLI, admin socket, XEP-0050 through the admin plugin).</summary>
    internal AdminCommandRegistry Commands { get; }

    /// <summary>How many times a plugin was configured (load or reload) since start.</summary>
    public int ActivationCount => Volatile.Read(ref _generation);
    public string Directory { get; }

    private sealed class Loaded
    {
        public required string Id;
        public required string Folder;
        public required PluginDescriptor Descriptor;
        public required IReadOnlyList<string> Xeps;
        public PluginLoader? Loader;
        public IXmppPlugin? Plugin;
        public PluginContext? Context;
        public IActorRef? Supervisor;
        /// <summary>The options section as it was when this version configured itself: if a reload fails, this
        /// version is configured again from it (the live configuration may be what made the reload fail).</summary>
        public IConfiguration? OptionsSnapshot;
    }

    private sealed class PluginLoadException(string message) : Exception(message);

    // ------------------------------------------------------------------ operator view
    public IReadOnlyList<PluginInfo> List()
    {
        _gate.Wait();
        try
        {
            var list = _order.Select(id => _loaded[id])
                .Select(p => new PluginInfo(p.Id, p.Descriptor.Version, p.Xeps, "loaded", p.Folder)).ToList();
            list.AddRange(_notLoaded.Values);
            return list;
        }
        finally
        {
            _gate.Release();
        }
    }

    public bool IsLoaded(string id)
    {
        _gate.Wait();
        try { return _loaded.ContainsKey(id); }
        finally { _gate.Release(); }
    }

    // ------------------------------------------------------------------ start / stop
    /// <summary>Loads every plugin folder in dependency order and starts the watcher.</summary>
    public async Task StartAsync()
    {
        _root ??= _system.ActorOf(Props.Create(typeof(PluginSupervisorActor)), "plugins");
        System.IO.Directory.CreateDirectory(Directory);
        await _gate.WaitAsync();
        try
        {
            var candidates = new List<Candidate>();
            foreach (var folder in PluginFolders())
            {
                try { candidates.Add(Prepare(folder)); }
                catch (PluginLoadException ex) { Fail(folder, null, ex.Message); }
            }
            foreach (var c in DependencyOrder(candidates))
            {
                try { Activate(c, null); }
                catch (PluginLoadException ex)
                {
                    Fail(c.Folder, c.Descriptor, ex.Message);
                    Release(c.Loader, c.Plugin);
                }
            }
        }
        finally
        {
            _gate.Release();
        }
        _log.LogInformation("plugins from {Directory}: {Loaded}", Directory,
            _order.Count == 0 ? "none" : string.Join(", ", _order.Select(id => id + " " + _loaded[id].Descriptor.Version)));
        if (Options.Watch) _watcher = new PluginWatcher(Directory, TimeSpan.FromMilliseconds(Math.Max(50, Options.ReloadDelayMs)), OnFoldersChanged, _log);
    }

    public async ValueTask DisposeAsync()
    {
        _watcher?.Dispose();
        _watcher = null;
        await _gate.WaitAsync();
        try
        {
            for (var i = _order.Count - 1; i >= 0; i--)
            {
                var p = _loaded[_order[i]];
                await Deactivate(p, save: false);
                Release(p);
            }
            _loaded.Clear();
            _order.Clear();
        }
        finally
        {
            _gate.Release();
        }
    }

    // ------------------------------------------------------------------ operator commands
    /// <summary>Loads a plugin from a folder (a path, or a folder name under the plugin directory).</summary>
    public async Task<PluginResult> LoadAsync(string folderOrName)
    {
        await _gate.WaitAsync();
        try
        {
            var folder = ResolveFolder(folderOrName);
            if (_loaded.Values.FirstOrDefault(p => p.Folder == folder) is { } already)
                return new PluginResult(false, $"'{already.Id}' is loaded from {folder} already; use reload");
            Candidate c;
            try { c = Prepare(folder); }
            catch (PluginLoadException ex) { return Fail(folder, null, ex.Message); }
            if (_loaded.ContainsKey(c.Descriptor.Id))
            {
                Release(c.Loader, c.Plugin);
                return new PluginResult(false, $"a plugin with id '{c.Descriptor.Id}' is loaded already (from {_loaded[c.Descriptor.Id].Folder})");
            }
            try { Activate(c, null); }
            catch (PluginLoadException ex)
            {
                Release(c.Loader, c.Plugin);
                return Fail(folder, c.Descriptor, ex.Message);
            }
            var retried = RetryFailed();
            return new PluginResult(true, $"loaded {c.Descriptor.Id} {c.Descriptor.Version}" + (retried.Count > 0 ? "; also loaded " + string.Join(", ", retried) : ""));
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Unloads a plugin and, first, the plugins that depend on it (soft dependants are loaded again).</summary>
    public async Task<PluginResult> UnloadAsync(string id)
    {
        await _gate.WaitAsync();
        try
        {
            if (!_loaded.TryGetValue(id, out var target)) return new PluginResult(false, $"no plugin '{id}' is loaded");
            var dependants = Dependants(id);
            var released = new List<WeakReference>();
            var reload = new List<(string Folder, byte[]? State)>();
            foreach (var d in Enumerable.Reverse(dependants))
            {
                var state = await Deactivate(d, save: true);
                reload.Add((d.Folder, state));
                released.Add(Release(d));
            }
            await Deactivate(target, save: false);
            released.Add(Release(target));
            _notLoaded[target.Folder] = new PluginInfo(target.Id, target.Descriptor.Version, target.Xeps, "unloaded", target.Folder);
            var notes = new List<string>();
            foreach (var (folder, state) in Enumerable.Reverse(reload))
                notes.Add(LoadAgain(folder, state));
            return new PluginResult(true, $"unloaded {id}" + (notes.Count > 0 ? "; dependants: " + string.Join("; ", notes) : "")) { Released = released };
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Reloads a plugin from its folder: the new version is loaded and checked first (contract version,
    /// dependencies) so that a bad build leaves the previous version serving; then save state → undo registrations
    /// → stop its actors → configure the new version → restore → unload the old context. Dependants are reloaded too.
    /// </summary>
    public async Task<PluginResult> ReloadAsync(string id)
    {
        await _gate.WaitAsync();
        try
        {
            return await ReloadLocked(id);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<PluginResult> ReloadLocked(string id)
    {
        if (!_loaded.TryGetValue(id, out var old)) return new PluginResult(false, $"no plugin '{id}' is loaded");
        Candidate next;
        try { next = Prepare(old.Folder); }
        catch (PluginLoadException ex)
        {
            _log.LogError("reload of {Plugin} failed, version {Version} keeps serving: {Error}", id, old.Descriptor.Version, ex.Message);
            return new PluginResult(false, $"reload of {id} failed: {ex.Message}; version {old.Descriptor.Version} keeps serving");
        }
        var missing = MissingDependency(next.Descriptor, except: null);
        if (next.Descriptor.Id != id || missing is not null)
        {
            var why = next.Descriptor.Id != id ? $"the folder now holds plugin '{next.Descriptor.Id}'" : missing!;
            Release(next.Loader, next.Plugin);
            _log.LogError("reload of {Plugin} failed, version {Version} keeps serving: {Error}", id, old.Descriptor.Version, why);
            return new PluginResult(false, $"reload of {id} failed: {why}; version {old.Descriptor.Version} keeps serving");
        }

        var released = new List<WeakReference>();
        var dependants = Dependants(id);
        var reload = new List<(string Folder, byte[]? State)>();
        foreach (var d in Enumerable.Reverse(dependants))
        {
            reload.Add((d.Folder, await Deactivate(d, save: true)));
            released.Add(Release(d));
        }

        var state = await Deactivate(old, save: true);
        string message;
        var ok = true;
        try
        {
            Activate(next, state);
            released.Add(Release(old));
            message = $"reloaded {id}: {old.Descriptor.Version} -> {next.Descriptor.Version}";
        }
        catch (PluginLoadException ex)
        {
            Release(next.Loader, next.Plugin);
            // the previous version takes over again (its assembly is still loaded)
            try { Activate(new Candidate(old.Folder, old.Loader!, old.Plugin!, old.Descriptor, old.Xeps), state, old.OptionsSnapshot); }
            catch (PluginLoadException again) { Fail(old.Folder, old.Descriptor, again.Message); }
            ok = false;
            message = $"reload of {id} failed: {ex.Message}; version {old.Descriptor.Version} keeps serving";
            _log.LogError("{Message}", message);
        }
        var notes = new List<string>();
        foreach (var (folder, s) in Enumerable.Reverse(reload)) notes.Add(LoadAgain(folder, s));
        if (notes.Count > 0) message += "; dependants: " + string.Join("; ", notes);
        if (ok) _log.LogInformation("{Message}", message);
        return new PluginResult(ok, message) { Released = released };
    }

    // ------------------------------------------------------------------ watcher
    private async Task OnFoldersChanged(IReadOnlyCollection<string> folders)
    {
        foreach (var folder in folders)
        {
            string? loadedId;
            await _gate.WaitAsync();
            try { loadedId = _loaded.Values.FirstOrDefault(p => p.Folder == folder)?.Id; }
            finally { _gate.Release(); }
            var exists = System.IO.Directory.Exists(folder) && FindEntryAssembly(folder) is not null;
            PluginResult result;
            if (loadedId is not null && exists) result = await ReloadAsync(loadedId);
            else if (loadedId is not null) result = await UnloadAsync(loadedId);
            else if (exists) result = await LoadAsync(folder);
            else continue;
            _log.Log(result.Ok ? LogLevel.Information : LogLevel.Error, "plugin folder {Folder} changed: {Result}", folder, result.Message);
        }
    }

    // ------------------------------------------------------------------ the steps
    private sealed record Candidate(string Folder, PluginLoader Loader, IXmppPlugin Plugin, PluginDescriptor Descriptor, IReadOnlyList<string> Xeps);

    /// <summary>Loads the assembly into a new collectible context, creates the plugin and checks its contract version.</summary>
    private Candidate Prepare(string folder)
    {
        var dll = FindEntryAssembly(folder) ?? throw new PluginLoadException($"no plugin assembly (*.deps.json + dll) in {folder}");
        PluginLoader loader;
        try
        {
            loader = PluginLoader.CreateFromAssemblyFile(dll,
                sharedTypes: [typeof(IXmppPlugin), typeof(Element), typeof(ILogger)],
                config =>
                {
                    config.PreferSharedTypes = true;
                    config.IsUnloadable = true;
                    config.LoadInMemory = true; // the files can be replaced while it runs
                });
        }
        catch (Exception ex)
        {
            throw new PluginLoadException($"cannot open {dll}: {ex.Message}");
        }
        try
        {
            var (plugin, descriptor, xeps) = Instantiate(loader, dll);
            if (descriptor.ContractVersion != PluginContract.Version)
                throw new PluginLoadException(
                    $"plugin '{descriptor.Id}' {descriptor.Version} was built against plugin contract version {descriptor.ContractVersion}, " +
                    $"but this server implements version {PluginContract.Version}; rebuild it against Actors.Xmpp.Plugins.Abstractions {PluginContract.Version}");
            return new Candidate(folder, loader, plugin, descriptor, xeps);
        }
        catch (PluginLoadException)
        {
            loader.Dispose();
            throw;
        }
        catch (Exception ex)
        {
            loader.Dispose();
            throw new PluginLoadException($"cannot load {Path.GetFileName(dll)}: {ex.GetType().Name}: {ex.Message}");
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (IXmppPlugin, PluginDescriptor, IReadOnlyList<string>) Instantiate(PluginLoader loader, string dll)
    {
        var assembly = loader.LoadDefaultAssembly();
        var types = assembly.GetExportedTypes().Where(t => typeof(IXmppPlugin).IsAssignableFrom(t) && !t.IsAbstract).ToList();
        if (types.Count != 1)
            throw new PluginLoadException(types.Count == 0
                ? $"{Path.GetFileName(dll)} has no public IXmppPlugin class (or references another copy of the plugin contract)"
                : $"{Path.GetFileName(dll)} has {types.Count} IXmppPlugin classes; one per assembly");
        var plugin = (IXmppPlugin)Activator.CreateInstance(types[0])!;
        // copied at the boundary: the host keeps no collection the plugin's compiler made (see BoundaryCopy)
        var descriptor = BoundaryCopy.Descriptor(plugin.Descriptor ?? throw new PluginLoadException($"{types[0].Name} has no descriptor"));
        if (string.IsNullOrWhiteSpace(descriptor.Id)) throw new PluginLoadException($"{types[0].Name} has an empty id");
        var xeps = types[0].GetCustomAttributes<XepAttribute>().OrderBy(x => x.Number).Select(x => x.ToString()).ToList();
        return (plugin, descriptor, xeps);
    }

    private string? MissingDependency(PluginDescriptor d, string? except)
    {
        foreach (var dep in d.DependsOn)
        {
            if (dep.Optional || dep.Id == except || _loaded.ContainsKey(dep.Id)) continue;
            var failed = _notLoaded.Values.FirstOrDefault(i => i.Id == dep.Id);
            return failed is null
                ? $"plugin '{d.Id}' depends on plugin '{dep.Id}', which is not installed"
                : $"plugin '{d.Id}' depends on plugin '{dep.Id}', which is {failed.State}";
        }
        return null;
    }

    /// <summary>Configures a prepared plugin: supervisor, context, Configure, RestoreState. Undone on failure.
    /// <paramref name="options"/>: where its options come from (default: the live configuration).</summary>
    private void Activate(Candidate c, byte[]? state, IConfiguration? options = null)
    {
        var d = c.Descriptor;
        if (MissingDependency(d, except: null) is { } missing) throw new PluginLoadException(missing);
        var name = $"{d.Id}-{Interlocked.Increment(ref _generation)}";
        var supervisor = _root is null
            ? _system.ActorOf(Props.Create(typeof(PluginSupervisorActor)), name)
            : _root.Ask<IActorRef>(new PluginSupervisorActor.Spawn(Props.Create(typeof(PluginSupervisorActor)), name, Reply: true),
                TimeSpan.FromSeconds(10)).GetAwaiter().GetResult();
        var ctx = new PluginContext(d.Id, _server, _services, options ?? _configuration, _loggers.CreateLogger("Plugins." + d.Id), supervisor, _system,
            d.OptionsSection);
        try
        {
            c.Plugin.Configure(ctx);
            if (state is not null) c.Plugin.RestoreState(state);
        }
        catch (Exception ex)
        {
            ctx.DisposeLedger();
            _system.Stop(supervisor);
            throw new PluginLoadException(ex is InvalidPluginOptionsException
                ? $"plugin '{d.Id}' {d.Version}: {ex.Message}"
                : $"plugin '{d.Id}' {d.Version} failed to configure: {ex.GetType().Name}: {ex.Message}");
        }
        _loaded[d.Id] = new Loaded
        {
            Id = d.Id, Folder = c.Folder, Descriptor = d, Xeps = c.Xeps, Loader = c.Loader, Plugin = c.Plugin, Context = ctx, Supervisor = supervisor,
            OptionsSnapshot = new ConfigurationBuilder().AddInMemoryCollection(ctx.OptionsSection.AsEnumerable()).Build(),
        };
        _order.Remove(d.Id);
        _order.Add(d.Id);
        _notLoaded.Remove(c.Folder);
        _log.LogInformation("plugin {Plugin} {Version} loaded ({Xeps}; {Count} registrations)", d.Id, d.Version,
            c.Xeps.Count == 0 ? "no XEPs" : string.Join(", ", c.Xeps), ctx.LedgerCount);
    }

    /// <summary>Saves state, undoes the registrations and stops the plugin's actors. The context stays loaded.</summary>
    private async Task<byte[]?> Deactivate(Loaded p, bool save)
    {
        byte[]? state = null;
        if (save)
        {
            try { state = p.Plugin?.SaveState(); }
            catch (Exception ex) { _log.LogError(ex, "plugin {Plugin} failed to save its state; it starts afresh", p.Id); }
        }
        p.Context?.DisposeLedger();
        if (p.Supervisor is not null)
        {
            try { await p.Supervisor.GracefulStop(TimeSpan.FromSeconds(5)); }
            catch (Exception ex) when (ex is TaskCanceledException or OperationCanceledException) { _log.LogWarning("the actors of plugin {Plugin} did not stop within 5 s", p.Id); }
        }
        p.Supervisor = null;
        p.Context = null;
        _loaded.Remove(p.Id);
        _order.Remove(p.Id);
        return state;
    }

    /// <summary>Drops every reference to the plugin and unloads its context; returns a weak reference to it.</summary>
    private WeakReference Release(Loaded p)
    {
        var weak = Release(p.Loader, p.Plugin);
        p.Loader = null;
        p.Plugin = null;
        return weak;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private WeakReference Release(PluginLoader? loader, IXmppPlugin? plugin)
    {
        var alc = plugin is null ? null : AssemblyLoadContext.GetLoadContext(plugin.GetType().Assembly);
        var weak = new WeakReference(alc);
        var id = plugin?.Descriptor.Id;
        loader?.Dispose();
        if (alc is not null) _ = VerifyUnloadedAsync(weak, id!);
        return weak;
    }

    private async Task VerifyUnloadedAsync(WeakReference weak, string id)
    {
        var started = Environment.TickCount64;
        for (var i = 0; i < 50 && weak.IsAlive; i++)
        {
            await Task.Delay(100);
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        if (weak.IsAlive) _log.LogWarning("the old load context of plugin {Plugin} is still alive after 5 s: something holds a reference into it", id);
        else _log.LogDebug("the old load context of plugin {Plugin} was collected after {Ms} ms", id, Environment.TickCount64 - started);
    }

    private string LoadAgain(string folder, byte[]? state)
    {
        try
        {
            var c = Prepare(folder);
            try
            {
                Activate(c, state);
                return $"{c.Descriptor.Id} reloaded";
            }
            catch (PluginLoadException ex)
            {
                Release(c.Loader, c.Plugin);
                Fail(folder, c.Descriptor, ex.Message);
                return ex.Message;
            }
        }
        catch (PluginLoadException ex)
        {
            Fail(folder, null, ex.Message);
            return ex.Message;
        }
    }

    /// <summary>Loads failed plugins whose dependencies may now be there.</summary>
    private List<string> RetryFailed()
    {
        var done = new List<string>();
        bool progress;
        do
        {
            progress = false;
            foreach (var info in _notLoaded.Values.Where(i => i.State == "failed" && i.Error?.Contains("depends on") == true).ToList())
            {
                try
                {
                    var c = Prepare(info.Folder);
                    if (MissingDependency(c.Descriptor, null) is not null)
                    {
                        Release(c.Loader, c.Plugin);
                        continue;
                    }
                    Activate(c, null);
                    done.Add(c.Descriptor.Id);
                    progress = true;
                }
                catch (PluginLoadException ex)
                {
                    Fail(info.Folder, null, ex.Message);
                }
            }
        } while (progress);
        return done;
    }

    private PluginResult Fail(string folder, PluginDescriptor? d, string error)
    {
        _log.LogError("plugin in {Folder} not loaded: {Error}", folder, error);
        var known = _notLoaded.GetValueOrDefault(folder);
        _notLoaded[folder] = new PluginInfo(d?.Id ?? known?.Id ?? Path.GetFileName(folder), d?.Version ?? known?.Version, known?.Xeps ?? [],
            "failed", folder, error);
        return new PluginResult(false, error);
    }

    private List<Loaded> Dependants(string id)
    {
        var set = new HashSet<string>(StringComparer.Ordinal) { id };
        var result = new List<Loaded>();
        foreach (var other in _order.ToList()) // load order: dependencies before dependants
        {
            var p = _loaded[other];
            if (set.Contains(p.Id)) continue;
            if (p.Descriptor.DependsOn.Any(dep => set.Contains(dep.Id)))
            {
                set.Add(p.Id);
                result.Add(p);
            }
        }
        return result;
    }

    private List<Candidate> DependencyOrder(List<Candidate> candidates)
    {
        var byId = new Dictionary<string, Candidate>(StringComparer.Ordinal);
        foreach (var c in candidates)
        {
            if (!byId.TryAdd(c.Descriptor.Id, c))
            {
                Fail(c.Folder, c.Descriptor, $"plugin id '{c.Descriptor.Id}' is also in {byId[c.Descriptor.Id].Folder}");
                Release(c.Loader, c.Plugin);
            }
        }
        var ordered = new List<Candidate>();
        var state = new Dictionary<string, int>(StringComparer.Ordinal); // 1 visiting, 2 done
        void Visit(Candidate c)
        {
            if (state.GetValueOrDefault(c.Descriptor.Id) == 2) return;
            if (state.GetValueOrDefault(c.Descriptor.Id) == 1) return; // a cycle: the later Activate reports the missing dependency
            state[c.Descriptor.Id] = 1;
            foreach (var dep in c.Descriptor.DependsOn)
                if (byId.TryGetValue(dep.Id, out var d)) Visit(d);
            state[c.Descriptor.Id] = 2;
            ordered.Add(c);
        }
        foreach (var c in byId.Values.OrderBy(c => c.Descriptor.Id, StringComparer.Ordinal)) Visit(c);
        return ordered;
    }

    private IEnumerable<string> PluginFolders() =>
        System.IO.Directory.Exists(Directory)
            ? System.IO.Directory.GetDirectories(Directory).Where(f => !Path.GetFileName(f).StartsWith('.')).OrderBy(f => f, StringComparer.Ordinal)
            : [];

    private string ResolveFolder(string folderOrName) =>
        Path.GetFullPath(System.IO.Directory.Exists(folderOrName) && (folderOrName.Contains('/') || folderOrName.Contains('\\'))
            ? folderOrName
            : Path.Combine(Directory, folderOrName));

    /// <summary>The plugin's main assembly: the dll next to the single *.deps.json of the folder.</summary>
    internal static string? FindEntryAssembly(string folder)
    {
        if (!System.IO.Directory.Exists(folder)) return null;
        var deps = System.IO.Directory.GetFiles(folder, "*.deps.json");
        if (deps.Length == 1)
        {
            var dll = deps[0][..^".deps.json".Length] + ".dll";
            if (File.Exists(dll)) return dll;
        }
        var dlls = System.IO.Directory.GetFiles(folder, "*.dll");
        return dlls.Length == 1 ? dlls[0] : null;
    }
}
