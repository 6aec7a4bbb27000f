using System.Collections.Concurrent;
using Actors.Xmpp.Server.Sasl;
using Akka.Actor;
using Akka.Pattern;

namespace Actors.Xmpp.Server.Accounts;

/// <summary>
/// The default <see cref="IAccountStore"/>: one <see cref="AccountsActor"/> per domain (event-sourced on the journal),
/// read through the in-memory <see cref="AccountDirectory"/>. A change returns once the journal has stored it.
/// </summary>
public sealed class JournalAccountStore : IAccountStore
{
    private readonly ActorSystem _system;
    private readonly int _iterations;
    private readonly int _snapshotEvery;
    private readonly TimeSpan _timeout;
    private readonly AccountDirectory _directory = new();
    private readonly ConcurrentDictionary<string, Lazy<(IActorRef Actor, Task Ready)>> _domains = new(StringComparer.Ordinal);

    private readonly TimeSpan? _followEvery;

    /// <param name="followEvery">A clustered node: each domain's directory follows the shared journal this often
    /// (<see cref="AccountsActor.Role.Follower"/>); null on a single node.</param>
    public JournalAccountStore(ActorSystem system, IEnumerable<string> domains, int scramIterations = 4096,
        int snapshotEvery = 1000, TimeSpan? timeout = null, TimeSpan? followEvery = null)
    {
        _followEvery = followEvery;
        _system = system;
        _iterations = scramIterations;
        _snapshotEvery = snapshotEvery;
        _timeout = timeout ?? TimeSpan.FromSeconds(60);
        foreach (var d in domains) _ = Domain(d);
    }

    public AccountDirectory Directory => _directory;

    /// <summary>Completes when every known domain's directory is recovered from the journal.</summary>
    public Task WaitReadyAsync() => Task.WhenAll(_domains.Values.Select(l => l.Value.Ready));

    private (IActorRef Actor, Task Ready) Domain(string domain) => _domains.GetOrAdd(domain, d => new Lazy<(IActorRef, Task)>(() =>
    {
        // restarted with back-off when it stops after a journal failure (it then replays the journal)
        var directory = _followEvery is { } every
            ? AccountsActor.FollowerProps(d, _directory, _snapshotEvery, every)
            : AccountsActor.Props(d, _directory, _snapshotEvery);
        var props = BackoffSupervisor.Props(Backoff.OnStop(directory,
            "directory", TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10), 0.2, -1));
        var name = "accounts-" + Uri.EscapeDataString(d).Replace("%", "_");
        var actor = _system.ActorOf(props, name);
        var ready = actor.Ask<AccountsActor.Recovered>(AccountsActor.WaitRecovered.Instance, _timeout);
        return (actor, ready);
    })).Value;

    /// <summary>Never blocks: a synchronous read before the domain's directory is recovered is an error (the server
    /// accepts clients only after <see cref="WaitReadyAsync"/>; actors use <see cref="FindAsync"/>).</summary>
    private void EnsureReady(string domain)
    {
        var ready = Domain(domain).Ready;
        if (ready.IsCompletedSuccessfully) return;
        if (ready.IsFaulted || ready.IsCanceled)
            throw new AccountStoreException($"the account directory of {domain} could not be recovered", ready.Exception);
        throw new AccountStoreException($"the account directory of {domain} is still being recovered");
    }

    public UserCredentials? Find(Jid account)
    {
        EnsureReady(account.Domain);
        return _directory.Find(account.Bare.ToString());
    }

    public ValueTask<UserCredentials?> FindAsync(Jid account)
    {
        var ready = Domain(account.Domain).Ready;
        return ready.IsCompletedSuccessfully
            ? ValueTask.FromResult(_directory.Find(account.Bare.ToString()))
            : FindAfter(ready, account);
    }

    private async ValueTask<UserCredentials?> FindAfter(Task ready, Jid account)
    {
        try
        {
            await ready.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not AccountStoreException)
        {
            throw new AccountStoreException($"the account directory of {account.Domain} could not be recovered", ex);
        }
        return _directory.Find(account.Bare.ToString());
    }

    public bool Exists(Jid account)
    {
        EnsureReady(account.Domain);
        return _directory.Contains(account.Bare.ToString());
    }

    public async Task<bool> AddAsync(Jid account, string password) => await AddManyAsync([(account, password)]) == 1;

    public async Task<int> AddManyAsync(IReadOnlyList<(Jid Account, string Password)> accounts)
    {
        var added = 0;
        foreach (var group in accounts.GroupBy(a => a.Account.Domain, StringComparer.Ordinal))
        {
            await Ready(group.Key);
            // PBKDF2 is the expensive part: derive keys on all cores, for new accounts only
            var fresh = group.Where(a => !_directory.Contains(a.Account.Bare.ToString()))
                .DistinctBy(a => a.Account.Local, StringComparer.Ordinal).ToList();
            var entries = new AccountEntry[fresh.Count];
            // on the thread pool, never on the caller's thread: a caller may be an actor (in-band registration)
            await Task.Run(() => Parallel.For(0, fresh.Count, i => entries[i] = new AccountEntry(fresh[i].Account.Local!,
                ScramKeyRecord.From(ScramKeys.Create(fresh[i].Account.Local!, fresh[i].Password, _iterations)))));
            var actor = Domain(group.Key).Actor;
            foreach (var batch in entries.Chunk(AccountsActor.MaxBatch))
                added += (await Ask<AccountsActor.Created>(actor, new AccountsActor.Create(batch))).Count;
        }
        return added;
    }

    /// <summary>Stores accounts whose SCRAM keys exist already (migration from accounts.json); returns how many were new.</summary>
    public async Task<int> ImportAsync(IEnumerable<(Jid Account, UserCredentials Credentials)> accounts)
    {
        var added = 0;
        foreach (var group in accounts.GroupBy(a => a.Account.Domain, StringComparer.Ordinal))
        {
            await Ready(group.Key);
            var entries = group.Select(a => new AccountEntry(a.Account.Local!, ScramKeyRecord.From(a.Credentials))).ToList();
            foreach (var batch in entries.Chunk(AccountsActor.MaxBatch))
                added += (await Ask<AccountsActor.Created>(Domain(group.Key).Actor, new AccountsActor.Create(batch))).Count;
        }
        return added;
    }

    /// <summary>
    /// Moves the accounts of a pre-journal data folder (accounts.json) into the journal once, then renames the file
    /// to accounts.json.migrated.
    /// </summary>
    public async Task<int> MigrateAccountFileAsync(string dataDir)
    {
        var path = Path.Combine(dataDir, "accounts.json");
        if (!File.Exists(path)) return 0;
        var file = new FileAccountStore(dataDir, _iterations);
        var added = await ImportAsync(file.List().Select(j => (j, file.Find(j)!)));
        File.Move(path, path + ".migrated", overwrite: true);
        return added;
    }

    public async Task<bool> RemoveAsync(Jid account)
    {
        await Ready(account.Domain);
        return await Ask<bool>(Domain(account.Domain).Actor, new AccountsActor.Remove(account.Local!));
    }

    public async Task<bool> SetPasswordAsync(Jid account, string password)
    {
        await Ready(account.Domain);
        if (!_directory.Contains(account.Bare.ToString())) return false;
        var keys = await Task.Run(() => ScramKeyRecord.From(ScramKeys.Create(account.Local!, password, _iterations))); // off the caller's thread
        return await Ask<bool>(Domain(account.Domain).Actor, new AccountsActor.SetPassword(account.Local!, keys));
    }

    public IReadOnlyList<Jid> List()
    {
        foreach (var d in _domains.Keys) EnsureReady(d);
        return _directory.Keys.Order(StringComparer.Ordinal).Select(Jid.Parse).ToList();
    }

    private Task Ready(string domain) => Domain(domain).Ready;

    private async Task<T> Ask<T>(IActorRef actor, object message)
    {
        try
        {
            return await actor.Ask<T>(message, _timeout);
        }
        catch (AskTimeoutException ex)
        {
            throw new AccountStoreException("the account directory did not answer (journal unavailable?)", ex);
        }
    }
}
