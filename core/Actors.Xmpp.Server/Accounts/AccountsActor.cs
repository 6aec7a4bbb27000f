using Actors.Xmpp.Persistence;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Server.Lifecycle;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using Akka.Streams;
using Akka.Streams.Dsl;
using Actors.Xmpp.Persistence.Replay;

namespace Actors.Xmpp.Server.Accounts;

/// <summary>
/// The account directory of one domain, event-sourced (persistence id "accounts:&lt;domain&gt;"). It mirrors its state
/// into <see cref="AccountDirectory"/> only after an event is stored, so lookups on the login path stay synchronous and
/// never see an account the journal does not hold. Bulk creation is written with PersistAll in batches. Each stored
/// <see cref="AccountCreated"/> is also published on the (local) event stream.
/// <para>
/// In a cluster (<see cref="Role.Follower"/>) every node keeps one per domain that never writes: it recovers, then
/// follows the shared journal (every <c>followEvery</c>: the events after the last it applied, through the query side),
/// so that each node's directory sees the accounts any node created, changed or removed. A change goes to a
/// short-lived <see cref="Role.Writer"/> child: it recovers to the journal's newest state (so its sequence numbers are
/// the next ones), validates and persists the one command, mirrors it into this node's directory, answers and stops.
/// Two nodes writing the same domain at the same instant are ordered by the journal's unique (persistence id,
/// sequence number): one write fails with <see cref="AccountStoreException"/> and nothing is half-applied.
/// </para>
/// </summary>
public sealed class AccountsActor : ReceivePersistentActor, IWithTimers
{
    /// <summary>Creates the accounts that do not exist yet; replies <see cref="Created"/> or Status.Failure.</summary>
    public sealed record Create(IReadOnlyList<AccountEntry> Accounts);
    public sealed record Created(int Count);
    /// <summary>Replies true, false (no such account) or Status.Failure.</summary>
    public sealed record SetPassword(string User, IReadOnlyList<ScramKeyRecord> Scram);
    /// <summary>Replies true, false (no such account) or Status.Failure.</summary>
    public sealed record Remove(string User);
    /// <summary>Replies <see cref="Recovered"/> once the journal has been replayed.</summary>
    public sealed class WaitRecovered
    {
        public static readonly WaitRecovered Instance = new();
        private WaitRecovered() { }
    }
    public sealed record Recovered(int Accounts);

    public const int MaxBatch = 1000;

    /// <summary>Single node: the one reader and writer. Follower and Writer: a clustered node (see the summary).</summary>
    public enum Role { Single, Follower, Writer }

    private sealed record FollowTick
    {
        public static readonly FollowTick Instance = new();
    }
    private sealed record ReaderOpened(JournalReader Reader);
    private sealed record Followed(IReadOnlyList<JournalEvent> Events);
    private sealed record FollowFailed(Exception Cause);

    public ITimerScheduler Timers { get; set; } = null!;
    private readonly Role _role;
    private readonly TimeSpan _followEvery;
    private JournalReader? _reader;
    private IMaterializer? _materializer;
    private bool _following;
    private long _lastApplied;
    private int _writers;

    private readonly string _domain;
    private readonly AccountDirectory _directory;
    private readonly int _snapshotEvery;
    private readonly Dictionary<string, IReadOnlyList<ScramKeyRecord>> _accounts = new(StringComparer.Ordinal);
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private long _eventsSinceSnapshot;
    private IActorRef _replyTo = ActorRefs.Nobody;

    public static Props Props(string domain, AccountDirectory directory, int snapshotEvery)
        => Akka.Actor.Props.Create(() => new AccountsActor(domain, directory, snapshotEvery, Role.Single, TimeSpan.Zero));

    /// <summary>A clustered node's directory of <paramref name="domain"/>: follows the journal every <paramref name="followEvery"/>.</summary>
    public static Props FollowerProps(string domain, AccountDirectory directory, int snapshotEvery, TimeSpan followEvery)
        => Akka.Actor.Props.Create(() => new AccountsActor(domain, directory, snapshotEvery, Role.Follower, followEvery));

    public static string PersistenceIdFor(string domain) => "accounts:" + domain;

    public override string PersistenceId { get; }

    public AccountsActor(string domain, AccountDirectory directory, int snapshotEvery)
        : this(domain, directory, snapshotEvery, Role.Single, TimeSpan.Zero) { }

    public AccountsActor(string domain, AccountDirectory directory, int snapshotEvery, Role role, TimeSpan followEvery)
    {
        _role = role;
        _followEvery = followEvery;
        _domain = domain;
        _directory = directory;
        _snapshotEvery = Math.Max(1, snapshotEvery);
        PersistenceId = PersistenceIdFor(domain);

        Recover<SnapshotOffer>(offer =>
        {
            if (offer.Snapshot is not AccountsSnapshot snapshot) return;
            _accounts.Clear();
            foreach (var a in snapshot.Accounts) _accounts[a.User] = a.Scram;
        });
        Recover<AccountCreated>(e => { _accounts[e.User] = e.Scram; _eventsSinceSnapshot++; });
        Recover<AccountPasswordChanged>(e => { _accounts[e.User] = e.Scram; _eventsSinceSnapshot++; });
        Recover<AccountRemoved>(e => { _accounts.Remove(e.User); _eventsSinceSnapshot++; });
        Recover<RecoveryCompleted>(_ =>
        {
            if (_role == Role.Writer) return; // it mirrors only the change it writes
            _directory.Replace(_domain, _accounts);
            _log.Info("accounts of {0}: {1} recovered", _domain, _accounts.Count);
            if (_role != Role.Follower) return;
            _lastApplied = LastSequenceNr;
            Timers.StartPeriodicTimer(FollowTick.Instance, FollowTick.Instance, _followEvery);
            Follow();
        });

        Command<WaitRecovered>(_ => Sender.Tell(new Recovered(_accounts.Count)));
        if (role == Role.Follower)
        {
            // changes go to a writer child that recovers to the newest state first; this actor only follows
            Command<Create>(ToWriter);
            Command<SetPassword>(ToWriter);
            Command<Remove>(ToWriter);
            Command<ReaderOpened>(m =>
            {
                _following = false;
                _reader = m.Reader;
                _materializer = Context.System.Materializer();
                Follow();
            });
            Command<FollowTick>(_ => Follow());
            Command<Followed>(OnFollowed);
            Command<FollowFailed>(f =>
            {
                _following = false;
                _log.Warning(f.Cause, "accounts of {0}: reading the journal's newer events failed (retried)", _domain);
            });
            Command<Terminated>(_ =>
            {
                _writers--;
                Follow(); // what the writer stored, at once
            });
            return;
        }
        Command<Create>(OnCreate);
        Command<SetPassword>(cmd =>
        {
            if (!_accounts.ContainsKey(cmd.User)) { Sender.Tell(false); Done(); return; }
            _replyTo = Sender;
            Persist(new AccountPasswordChanged(_domain, cmd.User, cmd.Scram), e =>
            {
                Apply(e.User, e.Scram);
                _replyTo.Tell(true);
                ServerEvents.Of(Context.System).RaiseForAccount(ServerEventKind.PasswordChanged, e.User, _domain);
                MaybeSnapshot();
                Done();
            });
        });
        Command<Remove>(cmd =>
        {
            if (!_accounts.ContainsKey(cmd.User)) { Sender.Tell(false); Done(); return; }
            _replyTo = Sender;
            Persist(new AccountRemoved(_domain, cmd.User), e =>
            {
                _accounts.Remove(e.User);
                _directory.Remove(_domain, e.User);
                _eventsSinceSnapshot++;
                _replyTo.Tell(true);
                ServerEvents.Of(Context.System).RaiseForAccount(ServerEventKind.AccountRemoved, e.User, _domain);
                // one node: its caches drop it now (in a cluster each node's follower raises it on reading the event)
                if (_role == Role.Single) ServerEvents.Of(Context.System).RaiseForAccount(ServerEventKind.AccountGone, e.User, _domain);
                MaybeSnapshot();
                Done();
            });
        });
        Command<SaveSnapshotSuccess>(s =>
            DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1)));
        Command<SaveSnapshotFailure>(f => _log.Warning(f.Cause, "accounts of {0}: snapshot failed", _domain));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(f => _log.Warning(f.Cause, "accounts of {0}: deleting old snapshots failed", _domain));
    }

    private void OnCreate(Create cmd)
    {
        var events = new List<AccountCreated>(cmd.Accounts.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var a in cmd.Accounts)
            if (!_accounts.ContainsKey(a.User) && seen.Add(a.User))
                events.Add(new AccountCreated(_domain, a.User, a.Scram));
        if (events.Count == 0) { Sender.Tell(new Created(0)); Done(); return; }
        _replyTo = Sender;
        var stored = 0;
        // one PersistAll per command: the store sends at most MaxBatch accounts per command
        PersistAll(events, e =>
        {
            _accounts[e.User] = e.Scram;
            _directory.Set(_domain, e.User, e.Scram);
            _eventsSinceSnapshot++;
            Context.System.EventStream.Publish(e); // the users actor forgets a removed account of that name
            ServerEvents.Of(Context.System).RaiseForAccount(ServerEventKind.AccountCreated, e.User, _domain);
            if (++stored < events.Count) return;
            _replyTo.Tell(new Created(stored));
            MaybeSnapshot();
            Done();
        });
    }

    /// <summary>A writer stops once its one command is answered (a snapshot it started may not be kept: an optimisation only).</summary>
    private void Done()
    {
        if (_role == Role.Writer) Context.Stop(Self);
    }

    private void ToWriter(object command)
    {
        var writer = Context.ActorOf(Akka.Actor.Props.Create(() => new AccountsActor(_domain, _directory, _snapshotEvery, Role.Writer, TimeSpan.Zero)));
        Context.Watch(writer);
        _writers++;
        writer.Forward(command); // stashed by the writer until it has recovered
    }

    /// <summary>Reads the events other nodes (or this node's writers) stored after the last one applied here.</summary>
    private void Follow()
    {
        if (_following) return;
        _following = true;
        if (_reader is null)
        {
            // the query side opens once the write journal answers (never blocking this actor's thread)
            JournalReader.OpenAsync(Context.System).PipeTo(Self, success: r => new ReaderOpened(r), failure: ex => new FollowFailed(ex));
            return;
        }
        _reader.ByPersistenceId(PersistenceId, _lastApplied + 1).RunWith(Sink.Seq<JournalEvent>(), _materializer!)
            .PipeTo(Self, success: list => new Followed(list), failure: ex => new FollowFailed(ex));
    }

    private void OnFollowed(Followed m)
    {
        _following = false;
        foreach (var e in m.Events)
        {
            if (e.SequenceNr <= _lastApplied) continue;
            _lastApplied = e.SequenceNr;
            switch (e.Event)
            {
                case AccountCreated c:
                    var fresh = !_accounts.ContainsKey(c.User);
                    _accounts[c.User] = c.Scram;
                    _directory.Set(_domain, c.User, c.Scram);
                    if (fresh) Context.System.EventStream.Publish(c); // this node's users forget a removed account of that name
                    break;
                case AccountPasswordChanged p:
                    _accounts[p.User] = p.Scram;
                    _directory.Set(_domain, p.User, p.Scram);
                    break;
                case AccountRemoved r:
                    _accounts.Remove(r.User);
                    _directory.Remove(_domain, r.User);
                    // every node's caches drop it (the writer's node raised AccountRemoved before it stopped)
                    ServerEvents.Of(Context.System).RaiseForAccount(ServerEventKind.AccountGone, r.User, _domain);
                    break;
            }
        }
    }

    private void Apply(string user, IReadOnlyList<ScramKeyRecord> scram)
    {
        _accounts[user] = scram;
        _directory.Set(_domain, user, scram);
        _eventsSinceSnapshot++;
    }

    private void MaybeSnapshot()
    {
        if (_eventsSinceSnapshot < _snapshotEvery) return;
        _eventsSinceSnapshot = 0;
        SaveSnapshot(new AccountsSnapshot(_domain,
            _accounts.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => new AccountEntry(kv.Key, kv.Value)).ToList()));
    }

    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        // the journal may or may not hold the event: this actor stops (and is restarted by its supervisor, which
        // replays the journal); the caller learns that the change is not acknowledged
        _replyTo.Tell(new Status.Failure(new AccountStoreException($"the journal did not store the change: {cause.Message}", cause)));
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        _replyTo.Tell(new Status.Failure(new AccountStoreException($"the journal rejected the change: {cause.Message}", cause)));
        base.OnPersistRejected(cause, @event, sequenceNr);
    }
}

/// <summary>An account change that was not stored.</summary>
public sealed class AccountStoreException(string message, Exception? inner = null) : IOException(message, inner);
