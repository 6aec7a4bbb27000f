using Actors.Xmpp.Persistence;
using Actors.Xmpp.Persistence.Plugins;
using Actors.Xmpp.Persistence.Sql;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Server.Lifecycle;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Xml;
using Akka.Actor;
using Akka.Event;

namespace Actors.Xmpp.Server.PluginStores;

/// <summary>
/// The host side of plugin storage, one per actor system (an Akka extension): the parent of every store actor,
/// the <see cref="IPluginStorage"/> each plugin context hands out, and the purge of an account's stores when the
/// account is removed (registered on <see cref="ServerEventKind.AccountRemoved"/>).
/// </summary>
public sealed class PluginStores : IExtension
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private readonly ExtendedActorSystem _system;
    private readonly ILoggingAdapter _log;
    private readonly Lazy<IActorRef> _parent;
    private ILegacyStoreSource? _legacy;
    private PluginStoreActor.Settings _settings = new();

    public PluginStores(ExtendedActorSystem system)
    {
        _system = system;
        _log = Logging.GetLogger(system, typeof(PluginStores));
        _parent = new Lazy<IActorRef>(() => system.SystemActorOf(PluginStoresActor.Props(_settings, () => _legacy), "plugin-stores"));
        // a clustered node: plugins may start (and read their stores) before the server starts the region; they wait
        // for it rather than start a store of their own here, which would be a second writer of that store
        if (system.Provider is Akka.Cluster.ClusterActorRefProvider)
            _regionReady = new TaskCompletionSource<IActorRef>(TaskCreationOptions.RunContinuationsAsynchronously);
        ServerEvents.Of(system).On(ServerEventKind.AccountRemoved, e => new ValueTask(PurgeOwnerAsync(e.Jid)), int.MinValue);
    }

    public static PluginStores Of(ActorSystem system) => system.WithExtension<PluginStores, PluginStoresProvider>();

    /// <summary>Settings for the stores (before the first store starts).</summary>
    public PluginStores Configure(PluginStoreActor.Settings settings)
    {
        _settings = settings;
        return this;
    }

    /// <summary>Where stores find the data release 1 kept in user actors (set by the server at start).</summary>
    public PluginStores UseLegacySource(ILegacyStoreSource source)
    {
        _legacy = source;
        return this;
    }

    public IActorRef Parent => _parent.Value;

    private IActorRef? _region;
    private readonly TaskCompletionSource<IActorRef>? _regionReady;

    /// <summary>A clustered node: commands go to the shard region (<see cref="Cluster.ShardedPluginStores"/>), whose
    /// entities make their own directories; <see cref="StartDirectoryAsync"/> is not used.</summary>
    public PluginStores UseRegion(IActorRef region)
    {
        _region = region;
        _regionReady?.TrySetResult(region);
        return this;
    }

    /// <summary>The entity of one shard of the "plugin-stores" region.</summary>
    internal Props PartitionProps(PluginStoresActor.Partition partition) => PluginStoresActor.PartitionProps(_settings, () => _legacy, partition);

    private readonly object _listingLock = new();
    private Task<PluginStoresActor.Listing?>? _runningListing, _queuedListing;

    /// <summary>
    /// The journal listing for a shard that has just started on this node: one that begins after this call (so it
    /// holds every store written while the shard lived elsewhere). Shards that start together share one listing: a
    /// call while a listing runs waits for the next one, which all such calls share.
    /// </summary>
    internal Task<PluginStoresActor.Listing?> ListForPartitionAsync()
    {
        lock (_listingLock)
        {
            if (_queuedListing is { } queued) return queued;
            if (_runningListing is null || _runningListing.IsCompleted) return _runningListing = ListAsync();
            return _queuedListing = ListAfterAsync(_runningListing);
        }
    }

    private async Task<PluginStoresActor.Listing?> ListAfterAsync(Task previous)
    {
        try { await previous.ConfigureAwait(false); }
        catch (Exception) { /* its callers saw its failure; this one lists anew */ }
        lock (_listingLock)
        {
            _runningListing = _queuedListing;
            _queuedListing = null;
        }
        return await ListAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Lists the journal once (plugin stores, and user actors that may hold release-1 data for the legacy source set
    /// before): from then on, a command for a store the journal has never held is answered without starting it
    /// (<see cref="PluginStoresActor"/>). Without it every command starts its store. Completes with true once the
    /// directory is complete (false: the journal cannot be listed, and there is none).
    /// </summary>
    public Task<bool> StartDirectoryAsync(CancellationToken cancellationToken = default) =>
        Parent.Ask<bool>(new PluginStoresActor.StartDirectory(ListAsync), TimeSpan.FromMinutes(5), cancellationToken);

    private async Task<PluginStoresActor.Listing?> ListAsync()
    {
        var storeIds = new List<string>();
        var owners = new List<Jid>();
        var holderPrefix = _legacy?.HolderPrefix;
        if (await JournalIdsAsync(StoreAddress.Prefix).ConfigureAwait(false) is not { } stores) return null;
        storeIds.AddRange(stores);
        if (holderPrefix is not null)
            foreach (var id in await JournalIdsAsync(holderPrefix).ConfigureAwait(false) ?? []) AddOwner(owners, id, holderPrefix);
        // an actor whose events were all deleted behind a snapshot is in the snapshot table only
        foreach (var id in await SnapshotIdsAsync(StoreAddress.Prefix).ConfigureAwait(false)) storeIds.Add(id);
        if (holderPrefix is not null)
            foreach (var id in await SnapshotIdsAsync(holderPrefix).ConfigureAwait(false)) AddOwner(owners, id, holderPrefix);
        return new PluginStoresActor.Listing(storeIds, owners);
    }

    private Task<string[]> SnapshotIdsAsync(string prefix) =>
        Akka.Persistence.Persistence.Instance.Apply(_system).SnapshotStoreFor(null)
            .Ask<string[]>(new ListPersistenceIds(prefix), TimeSpan.FromSeconds(60));

    private static void AddOwner(List<Jid> owners, string persistenceId, string prefix)
    {
        if (persistenceId.StartsWith(prefix, StringComparison.Ordinal) && Jid.TryParse(persistenceId[prefix.Length..], out var owner) && owner is not null)
            owners.Add(owner.Bare);
    }

    /// <summary>The storage of one plugin.</summary>
    public IPluginStorage For(string pluginId)
    {
        if (pluginId.StartsWith('_')) throw new ArgumentException($"'{pluginId}': plugin ids starting with '_' are the host's");
        if (!StoreAddress.IsValidName(pluginId)) throw new ArgumentException($"'{pluginId}' cannot name a plugin store");
        return new PluginStorage(this, pluginId);
    }

    internal async Task<T> AskAsync<T>(StoreAddress address, object command)
    {
        object reply;
        try
        {
            var target = _region ?? (_regionReady is { } ready ? await ready.Task.WaitAsync(Timeout).ConfigureAwait(false) : _parent.Value);
            reply = await target.Ask(new StoreEnvelope(address, command), Timeout).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AskTimeoutException or TimeoutException)
        {
            throw new StorageException($"{address.PersistenceId} did not answer within {Timeout.TotalSeconds} s", ex);
        }
        catch (Exception ex) when (ex is not StorageException)
        {
            // a store that answers Status.Failure (its journal write failed) faults the ask with the failure's cause
            // (Akka's ask never completes with a Status.Failure): callers catch StorageException, so that a failed
            // write is bounced, never dropped unseen
            throw new StorageException($"{address.PersistenceId}: the journal failed: {ex.Message}", ex);
        }
        return reply switch
        {
            T t => t,
            StoreReplies.OverQuota q => throw new StoreQuotaExceededException(
                $"the account's '{address.Kind}' data would exceed {q.MaxBytes} bytes, the most this server keeps per account and store"),
            _ => throw new StorageException($"{address.PersistenceId}: unexpected reply {reply?.GetType().Name}"),
        };
    }

    /// <summary>
    /// Removes every plugin store of <paramref name="owner"/> (an account's bare JID), whether or not its plugin is
    /// loaded: the stores are found by persistence id in the journal (one query: account removal is rare) and
    /// among the running ones.
    /// </summary>
    public Task<int> PurgeOwnerAsync(Jid owner)
    {
        // one purge per owner at a time: the account-removed event and the removal itself (AccountLifecycle) ask for
        // the same one, and the second waits for the first instead of writing every purge twice
        var bare = owner.Bare;
        while (true)
        {
            if (_purges.TryGetValue(bare, out var running)) return running;
            var mine = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!_purges.TryAdd(bare, mine.Task)) continue;
            _ = RunPurge(bare, mine);
            return mine.Task;
        }
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<Jid, Task<int>> _purges = new();

    private async Task RunPurge(Jid owner, TaskCompletionSource<int> done)
    {
        try { done.TrySetResult(await PurgeNowAsync(owner).ConfigureAwait(false)); }
        catch (Exception ex) { done.TrySetException(ex); }
        finally { _purges.TryRemove(owner, out _); }
    }

    private async Task<int> PurgeNowAsync(Jid owner)
    {
        var suffix = ":" + owner.Bare;
        var ids = new HashSet<string>(StringComparer.Ordinal);
        if (_region is null) // (a clustered node: a store that holds anything is in the journal)
        {
            var running = await Parent.Ask<string[]>(PluginStoresActor.ListRunning.Instance, Timeout).ConfigureAwait(false);
            foreach (var id in running)
                if (id.EndsWith(suffix, StringComparison.Ordinal)) ids.Add(id);
        }
        foreach (var id in await JournalIdsAsync(StoreAddress.Prefix).ConfigureAwait(false) ?? [])
            if (id.EndsWith(suffix, StringComparison.Ordinal)) ids.Add(id);
        var purges = new List<Task>();
        foreach (var id in ids)
            if (StoreAddress.TryParse(id, out var address) && address is not null && address.Owner.Equals(owner.Bare))
                purges.Add(AskAsync<StoreReplies.Done>(address, StoreCommands.Purge.Instance));
        await Task.WhenAll(purges).ConfigureAwait(false);
        var purged = purges.Count;
        if (purged > 0) _log.Info("removed {0} plugin store(s) of {1}", purged, owner.Bare);
        return purged;
    }

    /// <summary>The persistence ids in the journal that start with <paramref name="prefix"/> (events not deleted);
    /// null when the journal cannot list them (the in-memory one of unit tests). Asked of the journal itself
    /// (<see cref="ListPersistenceIds"/>), not through the query side: its read journal, once opened, polls the journal
    /// every refresh interval for the rest of the process's life.</summary>
    private async Task<string[]?> JournalIdsAsync(string prefix)
    {
        var persistence = Akka.Persistence.Persistence.Instance.Apply(_system);
        var config = _system.Settings.Config;
        var plugin = config.GetString("akka.persistence.journal.plugin", "");
        if (plugin != XmppPersistenceConfig.JournalPlugin
            || !config.GetString(plugin + ".class", "").StartsWith(typeof(Actors.Xmpp.Persistence.Sql.XmppSqlJournal).FullName + ",", StringComparison.Ordinal))
            return null;
        return await persistence.JournalFor(null).Ask<string[]>(new ListPersistenceIds(prefix), TimeSpan.FromSeconds(60)).ConfigureAwait(false);
    }

    // ---- values across the boundary: text as is, elements as their XML (parsed again with the framer) ----

    internal static StoreEntryRecord ToRecord(string key, StoredValue? value) =>
        value is null ? new StoreEntryRecord(key, null, null)
        : value.Xml is { } xml ? new StoreEntryRecord(key, null, StanzaXml.ToXml(xml))
        : new StoreEntryRecord(key, value.Text ?? "", null);

    internal static StoredValue? FromRecord(string? text, string? xml) =>
        xml is not null ? StoredValue.Of(StanzaXml.Parse(xml)) : text is not null ? StoredValue.Of(text) : null;

    internal static Jid CheckOwner(Jid owner) =>
        owner.Resource is null ? owner : throw new ArgumentException($"a store owner is a bare or service JID, not {owner}", nameof(owner));

    private sealed class PluginStorage(PluginStores stores, string plugin) : IPluginStorage
    {
        public IStoreMap Map(string kind) => new StoreMap(stores, plugin, CheckKind(kind));
        public IStoreArchive Archive(string kind) => new StoreArchive(stores, plugin, CheckKind(kind));

        private static string CheckKind(string kind) =>
            StoreAddress.IsValidName(kind) ? kind : throw new ArgumentException($"'{kind}' cannot name a store (letters, digits, '-', '_', '.')");
    }

    private sealed class StoreMap(PluginStores stores, string plugin, string kind) : IStoreMap
    {
        public string Kind => kind;

        private StoreAddress At(Jid owner) => new(plugin, StoreShape.Map, kind, CheckOwner(owner));

        public async ValueTask<StoredValue?> GetAsync(Jid owner, string key)
        {
            var reply = await stores.AskAsync<StoreReplies.Value>(At(owner), new StoreCommands.Get(key)).ConfigureAwait(false);
            return reply.Entry is { } e ? FromRecord(e.Text, e.Xml) : null;
        }

        public async ValueTask<IReadOnlyList<StoredEntry>> GetAllAsync(Jid owner)
        {
            var reply = await stores.AskAsync<StoreReplies.Entries>(At(owner), StoreCommands.GetAll.Instance).ConfigureAwait(false);
            var entries = new StoredEntry[reply.Items.Length];
            for (var i = 0; i < entries.Length; i++) entries[i] = new StoredEntry(reply.Items[i].Key, FromRecord(reply.Items[i].Text, reply.Items[i].Xml));
            return entries;
        }

        public Task SetAsync(Jid owner, string key, StoredValue? value) =>
            stores.AskAsync<StoreReplies.Done>(At(owner), new StoreCommands.Set([ToRecord(key, value)]));

        public Task SetManyAsync(Jid owner, IReadOnlyList<StoredEntry> entries)
        {
            var copied = Runtime.PluginBoundary.ToArray(entries);
            var records = new StoreEntryRecord[copied.Length];
            for (var i = 0; i < records.Length; i++) records[i] = ToRecord(copied[i].Key, copied[i].Value);
            return stores.AskAsync<StoreReplies.Done>(At(owner), new StoreCommands.Set(records));
        }

        public Task ClearAsync(Jid owner) => stores.AskAsync<StoreReplies.Done>(At(owner), StoreCommands.Clear.Instance);
    }

    private sealed class StoreArchive(PluginStores stores, string plugin, string kind) : IStoreArchive
    {
        public string Kind => kind;

        private StoreAddress At(Jid owner) => new(plugin, StoreShape.Archive, kind, CheckOwner(owner));

        public Task<long> AppendAsync(Jid owner, StoredValue item) => AppendAsync(owner, item, int.MaxValue);

        public async Task<long> AppendAsync(Jid owner, StoredValue item, int maxItems)
        {
            if (maxItems < 0) throw new ArgumentOutOfRangeException(nameof(maxItems));
            var r = ToRecord("", item ?? throw new ArgumentNullException(nameof(item)));
            var reply = await stores.AskAsync<StoreReplies.Appended>(At(owner), new StoreCommands.Append(r.Text, r.Xml, maxItems)).ConfigureAwait(false);
            return reply.Id;
        }

        public async ValueTask<ArchivePage> ReadAsync(Jid owner, long afterId, int max)
        {
            if (max < 0) throw new ArgumentOutOfRangeException(nameof(max));
            var page = await stores.AskAsync<StoreReplies.Page>(At(owner), new StoreCommands.Read(afterId, max)).ConfigureAwait(false);
            var items = new ArchiveItem[page.Items.Length];
            for (var i = 0; i < items.Length; i++)
            {
                var it = page.Items[i];
                items[i] = new ArchiveItem(it.Id, it.Stamp, FromRecord(it.Text, it.Xml)!);
            }
            return new ArchivePage(items, page.Complete);
        }

        public Task TrimAsync(Jid owner, long upToId) => stores.AskAsync<StoreReplies.Done>(At(owner), new StoreCommands.Trim(upToId));

        public async ValueTask<int> CountAsync(Jid owner) =>
            (await stores.AskAsync<StoreReplies.Counted>(At(owner), StoreCommands.Count.Instance).ConfigureAwait(false)).Count;
    }
}

public sealed class PluginStoresProvider : ExtensionIdProvider<PluginStores>
{
    public override PluginStores CreateExtension(ExtendedActorSystem system) => new(system);
}
