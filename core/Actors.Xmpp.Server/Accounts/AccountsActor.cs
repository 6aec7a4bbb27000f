using Actors.Xmpp.Persistence;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Server.Lifecycle;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;

namespace Actors.Xmpp.Server.Accounts;

/// <summary>
/// The account directory of one domain, event-sourced (persistence id "accounts:&lt;domain&gt;"). It mirrors its state
/// into <see cref="AccountDirectory"/> only after an event is stored, so lookups on the login path stay synchronous and
/// never see an account the journal does not hold. Bulk creation is written with PersistAll in batches. Each stored
/// <see cref="AccountCreated"/> is also published on the (local) event stream.
/// </summary>
public sealed class AccountsActor : ReceivePersistentActor
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

    private readonly string _domain;
    private readonly AccountDirectory _directory;
    private readonly int _snapshotEvery;
    private readonly Dictionary<string, IReadOnlyList<ScramKeyRecord>> _accounts = new(StringComparer.Ordinal);
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private long _eventsSinceSnapshot;
    private IActorRef _replyTo = ActorRefs.Nobody;

    public static Props Props(string domain, AccountDirectory directory, int snapshotEvery)
        => Akka.Actor.Props.Create(() => new AccountsActor(domain, directory, snapshotEvery));

    public static string PersistenceIdFor(string domain) => "accounts:" + domain;

    public override string PersistenceId { get; }

    public AccountsActor(string domain, AccountDirectory directory, int snapshotEvery)
    {
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
            _directory.Replace(_domain, _accounts);
            _log.Info("accounts of {0}: {1} recovered", _domain, _accounts.Count);
        });

        Command<WaitRecovered>(_ => Sender.Tell(new Recovered(_accounts.Count)));
        Command<Create>(OnCreate);
        Command<SetPassword>(cmd =>
        {
            if (!_accounts.ContainsKey(cmd.User)) { Sender.Tell(false); return; }
            _replyTo = Sender;
            Persist(new AccountPasswordChanged(_domain, cmd.User, cmd.Scram), e =>
            {
                Apply(e.User, e.Scram);
                _replyTo.Tell(true);
                ServerEvents.Of(Context.System).RaiseForAccount(ServerEventKind.PasswordChanged, e.User, _domain);
                MaybeSnapshot();
            });
        });
        Command<Remove>(cmd =>
        {
            if (!_accounts.ContainsKey(cmd.User)) { Sender.Tell(false); return; }
            _replyTo = Sender;
            Persist(new AccountRemoved(_domain, cmd.User), e =>
            {
                _accounts.Remove(e.User);
                _directory.Remove(_domain, e.User);
                _eventsSinceSnapshot++;
                _replyTo.Tell(true);
                ServerEvents.Of(Context.System).RaiseForAccount(ServerEventKind.AccountRemoved, e.User, _domain);
                MaybeSnapshot();
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
        if (events.Count == 0) { Sender.Tell(new Created(0)); return; }
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
        });
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
