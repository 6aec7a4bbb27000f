using System.Collections.Concurrent;
using Actors.Xmpp.Server.Sasl;

namespace Actors.Xmpp.Server.Accounts;

/// <summary>The in-memory, thread-safe mirror of the account actors' state, keyed by bare JID.</summary>
public sealed class AccountDirectory
{
    private readonly ConcurrentDictionary<string, UserCredentials> _byJid = new(StringComparer.Ordinal);

    public static string Key(string user, string domain) => user + "@" + domain;

    public UserCredentials? Find(string bareJid) => _byJid.GetValueOrDefault(bareJid);
    public bool Contains(string bareJid) => _byJid.ContainsKey(bareJid);
    public int Count => _byJid.Count;
    public IEnumerable<string> Keys => _byJid.Keys;

    internal void Set(string domain, string user, IReadOnlyList<ScramKeyRecord> scram)
        => _byJid[Key(user, domain)] = new UserCredentials(user, scram.Select(s => s.ToCredential()).ToList());

    internal void Remove(string domain, string user) => _byJid.TryRemove(Key(user, domain), out _);

    /// <summary>After recovery: the domain's entries become exactly <paramref name="accounts"/>.</summary>
    internal void Replace(string domain, IReadOnlyDictionary<string, IReadOnlyList<ScramKeyRecord>> accounts)
    {
        var suffix = "@" + domain;
        foreach (var key in _byJid.Keys)
            if (key.EndsWith(suffix, StringComparison.Ordinal) && !accounts.ContainsKey(key[..^suffix.Length]))
                _byJid.TryRemove(key, out _);
        foreach (var (user, scram) in accounts) Set(domain, user, scram);
    }
}
