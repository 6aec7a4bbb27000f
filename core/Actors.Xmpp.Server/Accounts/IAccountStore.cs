using Actors.Xmpp.Server.Sasl;

namespace Actors.Xmpp.Server.Accounts;

/// <summary>
/// Accounts of the local domains. Stores SCRAM salted keys only, never a password. Implementations must be
/// thread-safe; lookups are on the login path and should be in memory.
/// </summary>
public interface IAccountStore
{
    /// <summary>Credentials of an account (a bare JID), or null.</summary>
    UserCredentials? Find(Jid account);
    /// <summary>
    /// <see cref="Find"/> for actors: completes synchronously when the answer is in memory, and otherwise later,
    /// without blocking the caller's thread (the connection actor pipes the result to itself during SASL).
    /// </summary>
    ValueTask<UserCredentials?> FindAsync(Jid account);
    bool Exists(Jid account);
    /// <summary>Adds an account; false if it exists already.</summary>
    Task<bool> AddAsync(Jid account, string password);
    /// <summary>Adds many accounts at once (one write); returns how many were new.</summary>
    Task<int> AddManyAsync(IReadOnlyList<(Jid Account, string Password)> accounts);
    Task<bool> RemoveAsync(Jid account);
    Task<bool> SetPasswordAsync(Jid account, string password);
    IReadOnlyList<Jid> List();
}
