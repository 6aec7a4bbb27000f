using Actors.Xmpp.Persistence.Plugins;
using Actors.Xmpp.Plugins;
using Akka.Actor;
using Akka.Event;

namespace Actors.Xmpp.Server.PluginStores;

/// <summary>
/// Parent and supervisor of the <see cref="PluginStoreActor"/>s (/system/plugin-stores), and the directory of which
/// stores hold data. A command for a store the journal has never held (and that could not hold release-1 data) is
/// answered here as an empty store would answer it, without starting one: a login reads a block list, a mailbox or a
/// vCard only when it exists (issue 9: nothing a plugin stores is read at login unless there is something to read, and
/// a plugin store per account is not kept in memory). The directory is the set of store persistence ids listed from the
/// journal once at start (<see cref="StartDirectory"/>, sent by the server), plus every store a command was forwarded to
/// since it was asked; it only grows (a purged store's id stays: its next read starts the store, which finds it empty).
/// Until it is complete, and when the journal cannot be listed (the in-memory journal of unit tests), there is no
/// directory: every command starts its store, as it would without one.
/// <para>
/// Release-1 data (<see cref="ILegacyStoreSource"/>) lives in user actors, not in stores: the accounts that may hold
/// some are those whose user actor had written anything (journal or snapshot) when the directory first saw their
/// domain. They are written once, per domain, into a host map (<see cref="LegacyHoldersKind"/>, owner the domain,
/// one key per account) and read back at every later start; a store those accounts may hold data for starts on its
/// first command (and takes the data over, see <see cref="PluginStoreActor"/>).
/// </para>
/// <para>
/// Otherwise it creates the store of an address on the first command for it and forwards. A store that asks to
/// passivate is told to stop (behind the commands already in its mailbox); commands that arrive until it has stopped
/// are kept and handed to a fresh one. Host-owned: unloading or reloading a plugin stops none of its stores (their data
/// stays in the journal either way).
/// </para>
/// <para>
/// On a clustered node (<see cref="Partition"/>) one such actor is the entity of each shard of the "plugin-stores"
/// region (<see cref="Cluster.ShardedPluginStores"/>): it holds the stores of the owners that hash to its shard and the
/// directory of those stores only, so that there is one decider per store in the whole cluster and every write passes
/// where reads are decided. It lists the journal when it starts on a node (after the shard arrived there: writes made
/// while the shard lived on another node are in that listing) and never passivates; a hand-off stops its stores after
/// their writes, then itself.
/// </para>
/// </summary>
public sealed class PluginStoresActor : UntypedActor
{
    /// <summary>Answers with the persistence ids of the stores running now.</summary>
    public sealed record ListRunning
    {
        public static readonly ListRunning Instance = new();
    }

    /// <summary>Lists the journal and, once that is done, answers for the stores it has never held (sent once, by the
    /// server, after it set the legacy source). Answered with true once the directory is complete, false when there is
    /// none (the journal cannot be listed).</summary>
    public sealed record StartDirectory(Func<Task<Listing?>> List);

    /// <summary>What the journal held at start: the persistence ids of plugin stores, and the owners whose user actors
    /// have written anything (journal or snapshot). Null: the journal cannot be listed (no directory).</summary>
    public sealed record Listing(IReadOnlyCollection<string> StoreIds, IReadOnlyCollection<Jid> UserOwners);

    /// <summary>
    /// The shard of the "plugin-stores" region this actor is the entity of (a clustered node): <paramref name="ShardId"/>,
    /// the shard of an owner (<paramref name="ShardOf"/>, the same on every node), the journal listing
    /// (<paramref name="List"/>, started after the request) and the region (release-1 holders of a domain are read
    /// from the shard that holds that map).
    /// </summary>
    public sealed record Partition(string ShardId, Func<Jid, string> ShardOf, Func<Task<Listing?>> List, Func<IActorRef> Region);

    /// <summary>The shard moves to another node (the region's hand-off stop message): the stores stop after their
    /// writes, then this actor.</summary>
    public sealed record HandOff
    {
        public static readonly HandOff Instance = new();
    }

    /// <summary>The plugin id of the host's own stores (reserved: plugin ids do not start with '_').</summary>
    public const string HostPlugin = "_host";

    /// <summary>The host map of the accounts of a domain that may hold release-1 data (owner: the domain).</summary>
    public const string LegacyHoldersKind = "legacy-holders";

    /// <summary>The key written with the holders, so that a domain with none is known to have been listed.</summary>
    private const string ListedKey = "";

    private sealed record Listed(Listing? Listing);
    private sealed record HoldersKnown(string Domain, HashSet<Jid> Holders);

    private readonly PluginStoreActor.Settings _settings;
    private readonly Func<ILegacyStoreSource?> _legacy;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<IActorRef, (StoreAddress Address, List<(object Command, IActorRef Sender)> Waiting)> _stopping = new();
    private readonly Dictionary<string, IActorRef> _stoppingByName = new(StringComparer.Ordinal);
    private readonly Dictionary<IActorRef, StoreAddress> _running = new();
    private Dictionary<string, (DateTime Until, Exception Cause)>? _unrecoverable; // by child name: stores whose recovery just failed

    private HashSet<string>? _stored; // null: no directory (yet)
    private HashSet<string>? _forwarded; // while the directory is being made: the stores commands went to
    private HashSet<string>? _listed;
    private ILegacyStoreSource? _legacySource;
    private readonly Dictionary<string, HashSet<Jid>> _legacyHolders = new(StringComparer.Ordinal);
    private int _pendingDomains;
    private IActorRef? _directoryAsker;
    private readonly Partition? _partition;
    private bool _handingOff;

    public static Props Props(PluginStoreActor.Settings settings, Func<ILegacyStoreSource?> legacy) =>
        ActorProps.Of(() => new PluginStoresActor(settings, legacy, null));

    /// <summary>The entity of one shard of the "plugin-stores" region (a clustered node).</summary>
    public static Props PartitionProps(PluginStoreActor.Settings settings, Func<ILegacyStoreSource?> legacy, Partition partition) =>
        ActorProps.Of(() => new PluginStoresActor(settings, legacy, partition));

    public PluginStoresActor(PluginStoreActor.Settings settings, Func<ILegacyStoreSource?> legacy, Partition? partition)
    {
        _settings = settings;
        _legacy = legacy;
        _partition = partition;
    }

    protected override void PreStart()
    {
        // a shard's entity makes its directory as soon as the shard starts on this node
        if (_partition is not null) BeginDirectory(_partition.List, null);
    }

    private void BeginDirectory(Func<Task<Listing?>> list, IActorRef? asker)
    {
        _directoryAsker = asker;
        _forwarded = new HashSet<string>(StringComparer.Ordinal);
        foreach (var a in _running.Values) _forwarded.Add(a.PersistenceId);
        list().PipeTo(Self, success: l => new Listed(l), failure: ex => new Status.Failure(ex));
    }

    private bool Mine(Jid owner) => _partition is null || _partition.ShardOf(owner) == _partition.ShardId;

    private bool MineId(string persistenceId) =>
        _partition is null || StoreAddress.TryParse(persistenceId, out var address) && address is not null && Mine(address.Owner);

    public static StoreAddress LegacyHoldersAddress(string domain) =>
        new(HostPlugin, StoreShape.Map, LegacyHoldersKind, Jid.Create(null, domain));

    // ---- the directory: the journal is listed, then each served domain's release-1 holders are read or written -----

    private void OnListed(Listing? listing)
    {
        if (listing is null)
        {
            _forwarded = null; // no directory
            _directoryAsker?.Tell(false);
            return;
        }
        _listed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var id in listing.StoreIds)
            if (MineId(id)) _listed.Add(id);
        _legacySource = _legacy();
        if (_legacySource is { } legacy)
        {
            if (_partition is null) ListLegacyHolders(legacy, listing.UserOwners);
            else ListLegacyHoldersOfPartition(legacy, listing);
        }
        if (_pendingDomains == 0) DirectoryComplete();
    }

    private void DirectoryComplete()
    {
        _listed!.UnionWith(_forwarded!);
        _stored = _listed;
        _listed = null;
        _forwarded = null;
        _log.Info("plugin-store directory: {0} store(s) in the journal", _stored.Count);
        _directoryAsker?.Tell(true);
    }

    private void DirectoryFailed(Exception cause)
    {
        _log.Error(cause, "the plugin-store directory could not be made: every store starts on its first command");
        _listed = null;
        _forwarded = null;
        _pendingDomains = -1;
        _directoryAsker?.Tell(false);
    }

    private void ListLegacyHolders(ILegacyStoreSource legacy, IReadOnlyCollection<Jid> userOwners)
    {
        foreach (var domain in legacy.Domains)
        {
            var address = LegacyHoldersAddress(domain);
            var store = Child(address, Uri.EscapeDataString(address.PersistenceId));
            _forwarded!.Add(address.PersistenceId);
            _pendingDomains++;
            if (_listed!.Contains(address.PersistenceId))
            {
                store.Ask<StoreReplies.Entries>(StoreCommands.GetAll.Instance, PluginStores.Timeout).PipeTo(Self,
                    success: e => new HoldersKnown(domain, Holders(e.Items)), failure: ex => new Status.Failure(ex));
                continue;
            }
            // the first start that serves this domain: its accounts with a user journal may hold release-1 data
            var holders = new HashSet<Jid>();
            var records = new List<StoreEntryRecord> { new(ListedKey, DateTimeOffset.UtcNow.ToString("O"), null) };
            foreach (var owner in userOwners)
                if (owner.Domain == domain && holders.Add(owner.Bare)) records.Add(new StoreEntryRecord(owner.Bare.ToString(), "", null));
            store.Ask<StoreReplies.Done>(new StoreCommands.Set(records.ToArray()), PluginStores.Timeout).PipeTo(Self,
                success: _ => new HoldersKnown(domain, holders), failure: ex => new Status.Failure(ex));
            if (holders.Count > 0) _log.Info("{0} account(s) of {1} may hold data of release 1: it moves to plugin stores on first use", holders.Count, domain);
        }
    }

    /// <summary>A shard's entity: a domain's holders map (kept by the shard its domain hashes to) is read through the
    /// region when the journal holds it; else (nobody wrote it yet) every account of that domain in this shard with a
    /// user journal may hold release-1 data (more than the map would name: such a store starts on its first read).</summary>
    private void ListLegacyHoldersOfPartition(ILegacyStoreSource legacy, Listing listing)
    {
        var ids = new HashSet<string>(listing.StoreIds, StringComparer.Ordinal);
        foreach (var domain in legacy.Domains)
        {
            var address = LegacyHoldersAddress(domain);
            if (ids.Contains(address.PersistenceId))
            {
                _pendingDomains++;
                _partition!.Region().Ask<StoreReplies.Entries>(new StoreEnvelope(address, StoreCommands.GetAll.Instance), PluginStores.Timeout)
                    .PipeTo(Self, success: e => new HoldersKnown(domain, Holders(e.Items)), failure: ex => new Status.Failure(ex));
                continue;
            }
            var holders = new HashSet<Jid>();
            foreach (var owner in listing.UserOwners)
                if (owner.Domain == domain && Mine(owner.Bare)) holders.Add(owner.Bare);
            _legacyHolders[domain] = holders;
        }
    }

    private static HashSet<Jid> Holders(StoreEntryRecord[] entries)
    {
        var holders = new HashSet<Jid>();
        foreach (var e in entries)
            if (e.Key != ListedKey && Jid.TryParse(e.Key, out var jid) && jid is not null) holders.Add(jid);
        return holders;
    }

    // ---- running -------------------------------------------------------------------------------------------------

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case StoreEnvelope e when _handingOff:
                _partition!.Region().Forward(e); // behind the hand-off: to the shard's next home
                break;
            case StoreEnvelope e:
                var name = Uri.EscapeDataString(e.Address.PersistenceId);
                if (_unrecoverable is not null && _unrecoverable.TryGetValue(name, out var failed))
                {
                    if (DateTime.UtcNow < failed.Until)
                    {
                        // its journal is away: the answer now, not a store started to fail again (and its asker's timeout)
                        Sender.Tell(new Status.Failure(new StorageException(
                            $"{e.Address.PersistenceId} could not be read from the journal: {failed.Cause.Message}", failed.Cause)));
                        return;
                    }
                    _unrecoverable.Remove(name);
                }
                if (_stoppingByName.TryGetValue(name, out var stopping))
                {
                    _stopping[stopping].Waiting.Add((e.Command, Sender));
                    return;
                }
                if (_stored is not null && !_stored.Contains(e.Address.PersistenceId))
                {
                    if (!Writes(e.Command) && !MayHoldLegacy(e.Address))
                    {
                        Sender.Tell(AsEmpty(e.Command)); // a store the journal has never held: nothing to start
                        return;
                    }
                    _stored.Add(e.Address.PersistenceId);
                }
                _forwarded?.Add(e.Address.PersistenceId);
                Child(e.Address, name).Forward(e.Command);
                break;
            case PluginStoreActor.RecoveryFailed f:
                _unrecoverable ??= new(StringComparer.Ordinal);
                if (_unrecoverable.Count >= 1024) // (entries go when next asked for; those never asked for again, here)
                    foreach (var (stale, window) in _unrecoverable)
                        if (window.Until <= DateTime.UtcNow) _unrecoverable.Remove(stale);
                _unrecoverable[f.Store.Path.Name] = (DateTime.UtcNow + PluginStoreActor.RecoveryFailedFor, f.Cause);
                break;
            case PluginStoreActor.Passivate p:
                if (!_running.Remove(p.Store, out var address)) return;
                _stopping[p.Store] = (address, new());
                _stoppingByName[p.Store.Path.Name] = p.Store;
                p.Store.Tell(PluginStoreActor.Stop.Instance); // after the commands already in its mailbox
                break;
            case Terminated t:
                _running.Remove(t.ActorRef);
                if (_stopping.Remove(t.ActorRef, out var entry))
                {
                    _stoppingByName.Remove(t.ActorRef.Path.Name);
                    if (_handingOff)
                        foreach (var (command, sender) in entry.Waiting) _partition!.Region().Tell(new StoreEnvelope(entry.Address, command), sender);
                    else if (entry.Waiting.Count > 0)
                    {
                        var fresh = Child(entry.Address, t.ActorRef.Path.Name);
                        foreach (var (command, sender) in entry.Waiting) fresh.Tell(command, sender);
                    }
                }
                if (_handingOff && _running.Count == 0 && _stopping.Count == 0) Context.Stop(Self);
                break;
            case HandOff when _partition is not null:
                _handingOff = true;
                foreach (var (store, storeAddress) in _running)
                {
                    _stopping[store] = (storeAddress, new());
                    _stoppingByName[store.Path.Name] = store;
                    store.Tell(PluginStoreActor.Stop.Instance); // after the commands already in its mailbox
                }
                _running.Clear();
                if (_stopping.Count == 0) Context.Stop(Self);
                break;
            case ListRunning:
                Sender.Tell(_running.Values.Select(a => a.PersistenceId).ToArray());
                break;
            case StartDirectory start:
                if (_forwarded is not null || _stored is not null) return; // once
                BeginDirectory(start.List, Sender);
                break;
            case Listed l when _forwarded is not null:
                OnListed(l.Listing);
                break;
            case HoldersKnown known when _forwarded is not null && _pendingDomains > 0:
                _legacyHolders[known.Domain] = known.Holders;
                if (--_pendingDomains == 0) DirectoryComplete();
                break;
            case Status.Failure f when _forwarded is not null:
                DirectoryFailed(f.Cause);
                break;
            case Listed or HoldersKnown or Status.Failure:
                break; // an answer for a directory given up
            default:
                Unhandled(message);
                break;
        }
    }

    /// <summary>A command that stores something (an append, or a set with a value): it makes the store exist.</summary>
    private static bool Writes(object command)
    {
        switch (command)
        {
            case StoreCommands.Append:
                return true;
            case StoreCommands.Set set:
                foreach (var entry in set.Entries)
                    if (entry.Text is not null || entry.Xml is not null) return true;
                return false;
            default:
                return false;
        }
    }

    /// <summary>What an empty store answers (reads, and writes that change nothing in an empty store).</summary>
    private static object AsEmpty(object command) => command switch
    {
        StoreCommands.Get => new StoreReplies.Value(null),
        StoreCommands.GetAll => new StoreReplies.Entries([]),
        StoreCommands.Read => new StoreReplies.Page([], true),
        StoreCommands.Count => new StoreReplies.Counted(0),
        _ => StoreReplies.Done.Instance, // a set of removals, clear, trim, purge
    };

    private bool MayHoldLegacy(StoreAddress address) =>
        _legacySource is { } legacy && legacy.Covers(address)
        && _legacyHolders.TryGetValue(address.Owner.Domain, out var holders) && holders.Contains(address.Owner.Bare);

    private IActorRef Child(StoreAddress address, string name)
    {
        var child = Context.Child(name);
        if (!child.IsNobody()) return child;
        child = Context.ActorOf(PluginStoreActor.Props(address, _settings, _legacy()), name);
        Context.Watch(child);
        _running[child] = address;
        return child;
    }

    // a failing store is restarted (recovered from the journal); one whose journal write failed has stopped itself
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(10, TimeSpan.FromMinutes(1), _ => Directive.Restart);
}
