using Actors.Xmpp.Persistence;
using Actors.Xmpp.Persistence.Plugins;
using Actors.Xmpp.Server.Runtime;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using Akka.Persistence.Journal;

namespace Actors.Xmpp.Server.PluginStores;

/// <summary>
/// One plugin store of one owner (see <see cref="StoreAddress"/>): a map or an archive, event-sourced through the
/// core envelope records of <see cref="StoreMapSet"/> and its siblings. Created on the first command for it (so
/// nothing is read before the plugin asks), passivated after <see cref="Settings.IdleTimeout"/> without commands.
/// Writes are batched: the first write goes to the journal at once; writes that arrive while it is in flight wait
/// and go out together as the next write (one PersistAllAsync), each answered once its events are stored. Reads are
/// answered from memory, after the writes that reached the store before them (a read never overtakes a write). A
/// snapshot is taken every <see cref="Settings.SnapshotEvery"/> events, or every (entries / 2) events in a larger store
/// (so that snapshots cost at most about two entries per event: 100,000 pubsub nodes in a service's directory were
/// otherwise written out whole every 100 creates), after which the events it covers are deleted (trimmed archive items
/// and replaced values leave the journal).
/// </summary>
public sealed class PluginStoreActor : UntypedPersistentActor
{
    /// <param name="SnapshotEvery">Events between snapshots.</param>
    /// <param name="IdleTimeout">How long a store stays in memory without commands.</param>
    /// <param name="MaxAccountStoreBytes">UTF-8 bytes (keys and values) a store owned by an account may hold; a map
    /// write past it is refused (<see cref="StoreReplies.OverQuota"/>), an append answered as if the archive were full.
    /// Service-owned stores (a MUC service's room list) are not capped. 0: no cap.</param>
    public sealed record Settings(int SnapshotEvery = 100, TimeSpan? IdleTimeout = null, long MaxAccountStoreBytes = 0)
    {
        public TimeSpan Idle => IdleTimeout ?? TimeSpan.FromMinutes(2);
    }

    /// <summary>Sent to the parent when idle: it answers with <see cref="Stop"/> (and buffers what arrives meanwhile).</summary>
    public sealed record Passivate(IActorRef Store);

    /// <summary>From the parent after <see cref="Passivate"/>: an ordinary message, so that the commands that reached
    /// this store before it are handled first; the store stops once no write is in flight.</summary>
    public sealed record Stop
    {
        public static readonly Stop Instance = new();
    }

    /// <summary>Sent to the parent when this store could not be recovered (the journal is away): for
    /// <see cref="RecoveryFailedFor"/> the parent answers commands for it with the failure at once instead of starting
    /// a store per command, each failing the same way.</summary>
    public sealed record RecoveryFailed(IActorRef Store, Exception Cause);

    /// <summary>How long the parent fails a store's commands at once after its recovery failed.</summary>
    public static readonly TimeSpan RecoveryFailedFor = TimeSpan.FromSeconds(1);

    private sealed record LegacyLoaded(LegacyData Data);

    private readonly StoreAddress _address;
    private readonly Settings _settings;
    private readonly ILegacyStoreSource? _legacy;
    private readonly string[] _tags;
    private readonly long _maxBytes;

    // state
    private readonly SortedDictionary<string, StoreEntryRecord> _map = new(StringComparer.Ordinal);
    private readonly List<StoreItemRecord> _archive = new();
    private long _lastId; // the last archive id applied
    private long _bytes; // UTF-8 bytes of the keys and values held (for the account quota)
    private bool _legacyImported;

    // writes
    private long _nextId; // the last archive id handed out (ahead of _lastId while appends are in flight)
    private bool _writing;
    private List<(object Command, IActorRef ReplyTo)>? _queued;
    private List<(IActorRef ReplyTo, object Reply)>? _inFlightReplies;
    private long _lastSnapshotSeq;
    private bool _stopWhenWritten;
    private bool _snapshotting; // a snapshot is being stored: its success deletes the events it covers, so the store stays until then

    public override string PersistenceId { get; }

    public static Props Props(StoreAddress address, Settings settings, ILegacyStoreSource? legacy) =>
        ActorProps.Of(() => new PluginStoreActor(address, settings, legacy));

    public PluginStoreActor(StoreAddress address, Settings settings, ILegacyStoreSource? legacy)
    {
        _address = address;
        _settings = settings;
        _legacy = legacy;
        PersistenceId = address.PersistenceId;
        _maxBytes = address.Owner.Local is not null && settings.MaxAccountStoreBytes > 0 ? settings.MaxAccountStoreBytes : long.MaxValue;
        _tags = ["plugin-store", "plugin:" + address.Plugin, XmppEventTagger.DomainTag(address.Owner.Domain)];
    }

    protected override void PreStart()
    {
        base.PreStart();
        Context.SetReceiveTimeout(_settings.Idle);
    }

    protected override void PostStop()
    {
        Hosting.IdleHeapTrimmer.Released(Context.System);
        base.PostStop();
    }

    // ---- recovery --------------------------------------------------------------------------------------------

    protected override void OnRecover(object message)
    {
        switch (message)
        {
            case SnapshotOffer offer:
                ApplySnapshot(offer.Snapshot);
                _lastSnapshotSeq = offer.Metadata.SequenceNr;
                break;
            case Tagged t:
                Apply(t.Payload);
                break;
            case IPersistentEvent e:
                Apply(e);
                break;
            case RecoveryCompleted:
                _nextId = _lastId;
                // journals of release 1 kept some of this data in the user actor: taken over on first touch
                if (!_legacyImported && LastSequenceNr == 0 && _legacy is not null && _legacy.Covers(_address))
                {
                    var self = Self;
                    _legacy.LoadAsync(_address).PipeTo(self, success: data => new LegacyLoaded(data));
                    BecomeStacked(ImportingLegacy);
                }
                break;
        }
    }

    private void ImportingLegacy(object message)
    {
        switch (message)
        {
            case LegacyLoaded loaded:
                var data = loaded.Data;
                var events = new List<object> { Tag(new StoreLegacyImported(_address.Plugin, _address.Kind, _legacy!.Source)) };
                if (data.Entries.Length > 0) events.Add(Tag(new StoreMapSet(_address.Plugin, _address.Kind, data.Entries)));
                if (data.Items.Length > 0)
                {
                    // the first items of this archive: ids from 1, in order, with their original stamps
                    var items = new StoreItemRecord[data.Items.Length];
                    for (var i = 0; i < items.Length; i++) items[i] = data.Items[i] with { Id = i + 1 };
                    events.Add(Tag(new StoreArchiveAppended(_address.Plugin, _address.Kind, items)));
                }
                PersistAll(events, e => Apply(((Tagged)e).Payload));
                DeferAsync(0, _ =>
                {
                    _nextId = _lastId;
                    _legacy.Imported(_address, data); // stored here: the source may forget it
                    Context.UnbecomeStacked();
                    Stash.UnstashAll();
                });
                break;
            case Status.Failure f:
                // the user actor could not be read: nothing is written before the import. The commands that waited
                // fail now (not after their ask timeout), and the store stops through its parent (the next command
                // starts a fresh store that tries again)
                Log.Error(f.Cause, "{0}: taking over the data of release 1 failed", PersistenceId);
                var failure = new Status.Failure(new Actors.Xmpp.Plugins.StorageException(
                    $"{PersistenceId}: the data of release 1 could not be read", f.Cause));
                foreach (var waiting in Stash.ClearStash())
                    if (waiting.Message is not Stop) waiting.Sender.Tell(failure);
                Context.Parent.Tell(new Passivate(Self));
                Context.UnbecomeStacked();
                BecomeStacked(m =>
                {
                    if (m is Stop) Context.Stop(Self);
                    else if (m is not ReceiveTimeout) Sender.Tell(failure);
                });
                break;
            case ReceiveTimeout:
                break;
            default:
                Stash.Stash();
                break;
        }
    }

    private void ApplySnapshot(object snapshot)
    {
        switch (snapshot)
        {
            case StoreMapSnapshot m:
                _map.Clear();
                _bytes = 0;
                foreach (var e in m.Entries)
                {
                    _map[e.Key] = e;
                    if (Capped) _bytes += SizeOf(e);
                }
                _legacyImported = m.LegacyImported;
                break;
            case StoreArchiveSnapshot a:
                _archive.Clear();
                _archive.AddRange(a.Items);
                _bytes = 0;
                if (Capped) foreach (var item in a.Items) _bytes += SizeOf(item);
                _lastId = a.LastId;
                _legacyImported = a.LegacyImported;
                break;
        }
    }

    private void Apply(object e)
    {
        switch (e)
        {
            case StoreMapSet s:
                foreach (var entry in s.Entries)
                {
                    if (_map.Remove(entry.Key, out var old) && Capped) _bytes -= SizeOf(old);
                    if (entry.Text is null && entry.Xml is null) continue;
                    _map[entry.Key] = entry;
                    if (Capped) _bytes += SizeOf(entry);
                }
                break;
            case StoreMapCleared:
                _map.Clear();
                _bytes = 0;
                break;
            case StoreArchiveAppended a:
                foreach (var item in a.Items)
                {
                    _archive.Add(item);
                    if (Capped) _bytes += SizeOf(item);
                    _lastId = item.Id;
                }
                break;
            case StoreArchiveTrimmed t:
                var n = 0;
                for (; n < _archive.Count && _archive[n].Id <= t.UpToId; n++)
                    if (Capped) _bytes -= SizeOf(_archive[n]);
                _archive.RemoveRange(0, n);
                break;
            case StoreLegacyImported:
                _legacyImported = true;
                break;
            case StorePurged:
                _map.Clear();
                _archive.Clear();
                _bytes = 0;
                break;
        }
    }

    /// <summary>An account's store under <see cref="Settings.MaxAccountStoreBytes"/>: the only kind whose bytes are counted.</summary>
    private bool Capped => _maxBytes != long.MaxValue;

    private static long SizeOf(StoreEntryRecord e) => Utf8(e.Key) + Utf8(e.Text) + Utf8(e.Xml);

    private static long SizeOf(StoreItemRecord item) => Utf8(item.Text) + Utf8(item.Xml);

    private static long Utf8(string? s) => s is null ? 0 : System.Text.Encoding.UTF8.GetByteCount(s);

    // ---- commands --------------------------------------------------------------------------------------------

    protected override void OnCommand(object message)
    {
        switch (message)
        {
            case StoreCommands.Get or StoreCommands.GetAll or StoreCommands.Read or StoreCommands.Count:
                // a read sees every write that reached this store before it: behind writes in flight, it waits
                if (_writing) (_queued ??= new()).Add((message, Sender));
                else Answer(message, Sender);
                break;
            case StoreCommands.Set or StoreCommands.Clear or StoreCommands.Append or StoreCommands.Trim:
                if (_writing) (_queued ??= new()).Add((message, Sender));
                else Write([(message, Sender)]);
                break;
            case StoreCommands.Purge:
                // in order with the writes: after those in flight and those waiting
                if (_writing) (_queued ??= new()).Add((message, Sender));
                else Purge(Sender);
                break;
            case ReceiveTimeout:
                if (!_writing && !_snapshotting) Context.Parent.Tell(new Passivate(Self));
                break;
            case Stop:
                if (_writing || _snapshotting) _stopWhenWritten = true;
                else Context.Stop(Self);
                break;
            case SaveSnapshotSuccess s:
                _lastSnapshotSeq = s.Metadata.SequenceNr;
                DeleteMessages(s.Metadata.SequenceNr);
                DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1));
                SnapshotDone();
                break;
            case SaveSnapshotFailure:
                SnapshotHousekeeping.Handled(message, Log, PersistenceId);
                SnapshotDone();
                break;
            default:
                if (!SnapshotHousekeeping.Handled(message, Log, PersistenceId)) Unhandled(message);
                break;
        }
    }

    private static bool IsRead(object command) =>
        command is StoreCommands.Get or StoreCommands.GetAll or StoreCommands.Read or StoreCommands.Count;

    private void Answer(object read, IActorRef replyTo)
    {
        switch (read)
        {
            case StoreCommands.Get g:
                replyTo.Tell(new StoreReplies.Value(_map.GetValueOrDefault(g.Key)));
                break;
            case StoreCommands.GetAll:
                replyTo.Tell(new StoreReplies.Entries(_map.Values.ToArray()));
                break;
            case StoreCommands.Read r:
                replyTo.Tell(ReadPage(r.AfterId, r.Max));
                break;
            case StoreCommands.Count:
                replyTo.Tell(new StoreReplies.Counted(_archive.Count));
                break;
        }
    }

    /// <summary>After a write: the commands that waited, in order (reads answered, writes up to the next read sent
    /// as the next write); then a requested stop.</summary>
    private void Drain()
    {
        while (_queued is { Count: > 0 } queued)
        {
            if (IsRead(queued[0].Command))
            {
                var (read, replyTo) = queued[0];
                queued.RemoveAt(0);
                Answer(read, replyTo);
                continue;
            }
            if (queued[0].Command is StoreCommands.Purge)
            {
                var purgeFor = queued[0].ReplyTo;
                queued.RemoveAt(0);
                Purge(purgeFor);
                if (_writing) return; // the rest after the purge
                continue;
            }
            var n = 0;
            while (n < queued.Count && !IsRead(queued[n].Command) && queued[n].Command is not StoreCommands.Purge) n++;
            var writes = queued.GetRange(0, n);
            queued.RemoveRange(0, n);
            Write(writes);
            if (_writing) return; // the rest after this write
        }
        _queued = null;
        if (_stopWhenWritten && !_snapshotting) Context.Stop(Self);
    }

    /// <summary>The snapshot under way is stored (or failed): a passivation that waited for it goes ahead.</summary>
    private void SnapshotDone()
    {
        _snapshotting = false;
        if (_stopWhenWritten && !_writing) Context.Stop(Self);
    }

    private StoreReplies.Page ReadPage(long afterId, int max)
    {
        // ids are consecutive from the first item kept: the start is found without a scan
        var start = 0;
        if (_archive.Count > 0) start = (int)Math.Clamp(afterId - _archive[0].Id + 1, 0, _archive.Count);
        var count = Math.Clamp(max, 0, _archive.Count - start);
        var items = _archive.GetRange(start, count).ToArray();
        return new StoreReplies.Page(items, start + count >= _archive.Count);
    }

    /// <summary>One journal write for every command given: their events in order, then each command's reply.</summary>
    private void Write(List<(object Command, IActorRef ReplyTo)> commands)
    {
        var events = new List<object>();
        var replies = new List<(IActorRef, object)>(commands.Count);
        var count = _archive.Count; // the archive's size after the commands so far (for bounded appends)
        var bytes = _bytes; // the bytes held after the commands so far (for the account quota)
        Dictionary<string, long>? setSizes = null; // keys set by the commands so far: their sizes after them
        var cleared = false;
        var trimmedTo = 0L;
        List<StoreEntryRecord>? sets = null;
        List<StoreItemRecord>? appends = null;
        void FlushRuns()
        {
            if (sets is not null) events.Add(Tag(new StoreMapSet(_address.Plugin, _address.Kind, sets.ToArray())));
            if (appends is not null) events.Add(Tag(new StoreArchiveAppended(_address.Plugin, _address.Kind, appends.ToArray())));
            sets = null;
            appends = null;
        }
        foreach (var (command, replyTo) in commands)
        {
            switch (command)
            {
                case StoreCommands.Set s:
                    var delta = 0L;
                    if (Capped) // what the write adds, against what it replaces
                    {
                        foreach (var entry in s.Entries)
                        {
                            var before = setSizes is not null && setSizes.TryGetValue(entry.Key, out var pending) ? pending
                                : !cleared && _map.TryGetValue(entry.Key, out var held) ? SizeOf(held) : 0;
                            delta += (entry.Text is null && entry.Xml is null ? 0 : SizeOf(entry)) - before;
                        }
                    }
                    if (delta > 0 && bytes + delta > _maxBytes)
                    {
                        replies.Add((replyTo, new StoreReplies.OverQuota(_maxBytes))); // nothing of it is written
                        break;
                    }
                    bytes += delta;
                    if (Capped)
                        foreach (var entry in s.Entries)
                            (setSizes ??= new(StringComparer.Ordinal))[entry.Key] = entry.Text is null && entry.Xml is null ? 0 : SizeOf(entry);
                    if (appends is not null) FlushRuns();
                    (sets ??= new()).AddRange(s.Entries);
                    replies.Add((replyTo, StoreReplies.Done.Instance));
                    break;
                case StoreCommands.Append a:
                    var size = Capped ? Utf8(a.Text) + Utf8(a.Xml) : 0;
                    if (count >= a.MaxItems || bytes + size > _maxBytes)
                    {
                        replies.Add((replyTo, new StoreReplies.Appended(0))); // full: nothing appended
                        break;
                    }
                    if (sets is not null) FlushRuns();
                    count++;
                    bytes += size;
                    var id = ++_nextId;
                    (appends ??= new()).Add(new StoreItemRecord(id, DateTimeOffset.UtcNow, a.Text, a.Xml));
                    replies.Add((replyTo, new StoreReplies.Appended(id)));
                    break;
                case StoreCommands.Clear:
                    FlushRuns();
                    bytes = 0;
                    cleared = true;
                    setSizes = null;
                    events.Add(Tag(new StoreMapCleared(_address.Plugin, _address.Kind)));
                    replies.Add((replyTo, StoreReplies.Done.Instance));
                    break;
                case StoreCommands.Trim t:
                    FlushRuns();
                    // ids are consecutive: what stays is what has an id above both the trim and the first kept one
                    count = (int)Math.Max(0, _nextId - Math.Max(t.UpToId, _nextId - count));
                    // the held items it removes (not those of an earlier trim of these commands; items appended by these
                    // commands are not counted back: the estimate stays on the safe side)
                    for (var i = 0; Capped && i < _archive.Count && _archive[i].Id <= t.UpToId; i++)
                        if (_archive[i].Id > trimmedTo) bytes -= SizeOf(_archive[i]);
                    trimmedTo = Math.Max(trimmedTo, t.UpToId);
                    events.Add(Tag(new StoreArchiveTrimmed(_address.Plugin, _address.Kind, t.UpToId)));
                    replies.Add((replyTo, StoreReplies.Done.Instance));
                    break;
            }
        }
        FlushRuns();
        if (events.Count == 0) // only refused appends: nothing to write
        {
            foreach (var (to, reply) in replies) to.Tell(reply);
            return; // (the caller drains what waits)
        }
        _writing = true;
        _inFlightReplies = replies;
        var remaining = events.Count;
        PersistAllAsync(events, e =>
        {
            Apply(((Tagged)e).Payload);
            if (--remaining > 0) return;
            foreach (var (to, reply) in replies) to.Tell(reply);
            _inFlightReplies = null;
            _writing = false;
            MaybeSnapshot();
            Drain();
        });
    }

    private Tagged Tag(IPersistentEvent e) => new(e, _tags);

    private void MaybeSnapshot()
    {
        var entries = _address.Shape == StoreShape.Map ? _map.Count : _archive.Count;
        if (_snapshotting || LastSequenceNr - _lastSnapshotSeq < Math.Max(_settings.SnapshotEvery, entries / 2)) return;
        object snapshot = _address.Shape == StoreShape.Map
            ? new StoreMapSnapshot(_address.Plugin, _address.Kind, _map.Values.ToArray(), _legacyImported)
            : new StoreArchiveSnapshot(_address.Plugin, _address.Kind, _lastId, _archive.ToArray(), _legacyImported);
        SaveSnapshot(snapshot);
        _snapshotting = true;
    }

    /// <summary>The owner's account is gone: a purge record, then its events and snapshots are deleted, and the store
    /// asks its parent to stop it (the parent holds what arrives meanwhile and gives it to a fresh store, so no command
    /// is lost to a store that stopped on its own). Commands that reach it before the stop see an empty store.</summary>
    private void Purge(IActorRef replyTo)
    {
        if (LastSequenceNr == 0)
        {
            replyTo.Tell(StoreReplies.Done.Instance);
            Context.Parent.Tell(new Passivate(Self));
            return;
        }
        _writing = true;
        PersistAsync(Tag(new StorePurged(_address.Plugin, _address.Kind)), e =>
        {
            Apply(e.Payload);
            DeleteMessages(LastSequenceNr);
            DeleteSnapshots(SnapshotSelectionCriteria.Latest);
            replyTo.Tell(StoreReplies.Done.Instance);
            _writing = false;
            Context.Parent.Tell(new Passivate(Self));
            Drain();
        });
    }

    protected override void OnRecoveryFailure(Exception reason, object? message = null)
    {
        base.OnRecoveryFailure(reason, message); // logs; the store stops after it
        Context.Parent.Tell(new RecoveryFailed(Self, reason));
    }

    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        Log.Error(cause, "journal write for {0} failed", PersistenceId);
        FailWaiting(cause);
        base.OnPersistFailure(cause, @event, sequenceNr); // stops; the next command recovers a fresh one
    }

    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        Log.Error(cause, "journal rejected an event of {0}", PersistenceId);
        FailWaiting(cause);
        base.OnPersistRejected(cause, @event, sequenceNr);
    }

    private void FailWaiting(Exception cause)
    {
        var failure = new Status.Failure(cause);
        if (_inFlightReplies is not null)
            foreach (var (to, _) in _inFlightReplies) to.Tell(failure);
        if (_queued is not null)
            foreach (var (_, to) in _queued) to.Tell(failure);
        _inFlightReplies = null;
        _queued = null;
    }
}

/// <summary>Where a store finds what it held before it was a plugin store (the user actor of release 1).</summary>
public interface ILegacyStoreSource
{
    /// <summary>The manifest of what is read (written in the import record).</summary>
    string Source { get; }
    /// <summary>The persistence-id prefix of the actors that held the data, followed by the owner's bare JID.</summary>
    string HolderPrefix { get; }
    /// <summary>The domains whose accounts may hold such data.</summary>
    IReadOnlyCollection<string> Domains { get; }
    bool Covers(StoreAddress address);
    Task<LegacyData> LoadAsync(StoreAddress address);
    /// <summary>Called once <paramref name="data"/> is stored in the store at <paramref name="address"/>: the source
    /// may drop its copy.</summary>
    void Imported(StoreAddress address, LegacyData data);
}

/// <summary>What a store takes over: map entries (a map) or archive items in order (an archive; their ids are
/// renumbered from 1), and how far into the source's own numbering they went (<paramref name="SourceUpTo"/>).</summary>
public sealed record LegacyData(StoreEntryRecord[] Entries, StoreItemRecord[] Items, long SourceUpTo = 0)
{
    public static LegacyData Of(StoreEntryRecord[] entries) => new(entries, []);
}
