using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;
using Actors.Xmpp.Server.Sasl;

namespace Actors.Xmpp.Server.Accounts;

/// <summary>
/// Accounts in one JSON file in the data folder (SCRAM salted keys only), held in memory and rewritten atomically
/// (temporary file + rename) on each change. The persistence issue replaces it with an event-sourced store behind
/// the same interface.
/// </summary>
public sealed class FileAccountStore : IAccountStore
{
    private readonly string _path;
    private readonly int _iterations;
    private readonly ConcurrentDictionary<string, UserCredentials> _users = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _writeLock = new(1, 1);

    public FileAccountStore(string dataDir, int scramIterations = 4096)
    {
        _path = Path.Combine(dataDir, "accounts.json");
        _iterations = scramIterations;
        Directory.CreateDirectory(dataDir);
        Load();
    }

    public string FilePath => _path;

    private void Load()
    {
        if (!File.Exists(_path)) return;
        var file = JsonSerializer.Deserialize(File.ReadAllBytes(_path), AccountFileContext.Default.AccountFile)
                   ?? throw new InvalidDataException($"{_path} is empty or not an account file");
        foreach (var (jid, rec) in file.Accounts)
        {
            var creds = new UserCredentials(Jid.Parse(jid).Local!, rec.Scram.Select(s => new ScramCredential(s.Hash,
                Convert.FromBase64String(s.Salt), s.Iterations, Convert.FromBase64String(s.StoredKey),
                Convert.FromBase64String(s.ServerKey))).ToList());
            _users[jid] = creds;
        }
    }

    public UserCredentials? Find(Jid account) => _users.GetValueOrDefault(account.Bare.ToString());
    public ValueTask<UserCredentials?> FindAsync(Jid account) => ValueTask.FromResult(Find(account));
    public bool Exists(Jid account) => _users.ContainsKey(account.Bare.ToString());

    public async Task<bool> AddAsync(Jid account, string password) => await AddManyAsync([(account, password)]) == 1;

    public async Task<int> AddManyAsync(IReadOnlyList<(Jid Account, string Password)> accounts)
    {
        // derive keys outside the lock, on all cores (PBKDF2 is the expensive part)
        var derived = new UserCredentials[accounts.Count];
        await Task.Run(() => Parallel.For(0, accounts.Count, i =>
            derived[i] = ScramKeys.Create(accounts[i].Account.Local!, accounts[i].Password, _iterations))); // never on the caller's (an actor's) thread
        await _writeLock.WaitAsync();
        try
        {
            var added = 0;
            for (var i = 0; i < derived.Length; i++)
                if (_users.TryAdd(accounts[i].Account.Bare.ToString(), derived[i])) added++;
            if (added > 0) Save();
            return added;
        }
        finally { _writeLock.Release(); }
    }

    public async Task<bool> RemoveAsync(Jid account)
    {
        await _writeLock.WaitAsync();
        try
        {
            if (!_users.TryRemove(account.Bare.ToString(), out _)) return false;
            Save();
            return true;
        }
        finally { _writeLock.Release(); }
    }

    public async Task<bool> SetPasswordAsync(Jid account, string password)
    {
        var key = account.Bare.ToString();
        var creds = await Task.Run(() => ScramKeys.Create(account.Local!, password, _iterations));
        await _writeLock.WaitAsync();
        try
        {
            if (!_users.ContainsKey(key)) return false;
            _users[key] = creds;
            Save();
            return true;
        }
        finally { _writeLock.Release(); }
    }

    public IReadOnlyList<Jid> List() => _users.Keys.Order(StringComparer.Ordinal).Select(Jid.Parse).ToList();

    private void Save()
    {
        var file = new AccountFile
        {
            Accounts = _users.ToDictionary(kv => kv.Key, kv => new AccountRecord
            {
                Scram = kv.Value.Scram.Select(s => new ScramRecord
                {
                    Hash = s.Hash, Salt = Convert.ToBase64String(s.Salt), Iterations = s.Iterations,
                    StoredKey = Convert.ToBase64String(s.StoredKey), ServerKey = Convert.ToBase64String(s.ServerKey),
                }).ToList(),
            }),
        };
        var tmp = _path + ".tmp";
        using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            JsonSerializer.Serialize(stream, file, AccountFileContext.Default.AccountFile);
            stream.Flush(flushToDisk: true);
        }
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(tmp, _path, overwrite: true);
    }

    internal sealed class AccountFile
    {
        public int Version { get; set; } = 1;
        public Dictionary<string, AccountRecord> Accounts { get; set; } = new();
    }

    internal sealed class AccountRecord
    {
        public List<ScramRecord> Scram { get; set; } = new();
    }

    internal sealed class ScramRecord
    {
        public string Hash { get; set; } = "";
        public string Salt { get; set; } = "";
        public int Iterations { get; set; }
        public string StoredKey { get; set; } = "";
        public string ServerKey { get; set; } = "";
    }
}

[JsonSerializable(typeof(FileAccountStore.AccountFile))]
[JsonSourceGenerationOptions(WriteIndented = false, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
internal sealed partial class AccountFileContext : JsonSerializerContext;
