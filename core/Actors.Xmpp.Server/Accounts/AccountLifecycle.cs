using Actors.Xmpp.Server.Stanzas;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Xml;
using Akka.Actor;

namespace Actors.Xmpp.Server.Accounts;

/// <summary>
/// The one place where an account's removal and password change take effect beyond the directory, whoever asks
/// (XEP-0077 in band, XEP-0133 through the admin plugin, <c>actors-server user</c> through the admin socket or on a
/// stopped server's data folder).
/// <list type="bullet">
/// <item>Removal: the directory forgets the account (no login, nothing routed to it any more), then its user actor
/// cancels the subscriptions and tells the contacts (RFC 6121 §2.5.2 for each roster item, unavailable presence to
/// those that saw presence), closes the account's sessions with &lt;not-authorized/&gt; (XEP-0077 §3.2), deletes the
/// journal and snapshots of <c>user:&lt;jid&gt;</c> and stops (<see cref="UserActor.RemoveAccount"/>). The call
/// returns once the journal is deleted, the local contacts' actors have handled what they were sent and what plugins
/// stored for the account is purged (<see cref="UsePluginData"/>: the plugin stores, which also purge on the
/// account-removed event for removals that do not come through here), so that an account re-created right after
/// the call starts empty.</item>
/// <item>Password change: the directory stores the new keys, then every other session of the account is closed
/// with &lt;reset/&gt; (RFC 6120 §4.9.3.17: what secured the stream was revoked; Prosody closes them the same way).</item>
/// </list>
/// Creation needs nothing more: the directory publishes <see cref="AccountCreated"/> and the users actor forgets a
/// removed account of that name.
/// </summary>
public sealed class AccountLifecycle
{
    private readonly IAccountStore _accounts;
    private readonly IUserDirectory? _users;
    private readonly TimeSpan _timeout;
    private Func<Jid, Task>? _purgePluginData;

    /// <param name="users">The user actors; null where none run (then removal and password change touch the directory only).</param>
    public AccountLifecycle(IAccountStore accounts, IUserDirectory? users, TimeSpan? timeout = null)
    {
        _accounts = accounts;
        _users = users;
        _timeout = timeout ?? TimeSpan.FromSeconds(30);
    }

    public IAccountStore Accounts => _accounts;

    /// <summary>How the data plugins stored for an account is purged (set once the actor system runs).</summary>
    public void UsePluginData(Func<Jid, Task> purge) => _purgePluginData = purge;

    /// <summary>
    /// Removes the account and everything core keeps of it (see the class summary); false if there is no such account.
    /// <paramref name="finalStanza"/> reaches the session of <paramref name="requester"/> before its stream error.
    /// </summary>
    public async Task<bool> RemoveAsync(Jid account, Jid? requester = null, Element? finalStanza = null)
    {
        var bare = account.Bare;
        if (!await _accounts.RemoveAsync(bare).ConfigureAwait(false)) return false;
        if (_users is null)
        {
            if (_purgePluginData is { } purgeOnly) await purgeOnly(bare).ConfigureAwait(false);
            return true;
        }
        var deleted = await _users.Ask<UserActor.AccountDeleted>(bare, new UserActor.RemoveAccount(requester, finalStanza), _timeout)
            .ConfigureAwait(false);
        // the contacts' actors handle the unsubscribe / unsubscribed they were sent before this (same path, in
        // order): waiting for them means a server stopping next (the offline CLI) has stored their side too
        var contacts = new Task[deleted.LocalContacts.Count];
        for (var i = 0; i < contacts.Length; i++)
            contacts[i] = _users.Ask<object>(deleted.LocalContacts[i], UserActor.GetState.Instance, _timeout);
        await Task.WhenAll(contacts).ConfigureAwait(false);
        if (_purgePluginData is { } purge) await purge(bare).ConfigureAwait(false);
        return true;
    }

    /// <summary>Sets the password; the account's sessions are closed, except the one of <paramref name="keep"/>
    /// (the session that changed it). False if there is no such account.</summary>
    public async Task<bool> SetPasswordAsync(Jid account, string password, Jid? keep = null)
    {
        if (!await _accounts.SetPasswordAsync(account.Bare, password).ConfigureAwait(false)) return false;
        _users?.Tell(account.Bare, new UserActor.CloseSessions(StreamErrors.Reset, "the password was changed", keep), ActorRefs.NoSender);
        return true;
    }
}
