using Actors.Xmpp;
using Actors.Xmpp.Plugins;

namespace Actors.Plugins.Offline;

/// <summary>
/// Which accounts may have stored messages: one map per served domain (kind <see cref="Kind"/>, owner the domain, key
/// the account's bare JID), so that a login with an empty mailbox touches no account store (issue 9: moving state into
/// plugins must add no recovery read at login). The map is one small store that stays in memory, and the marks this
/// plugin has set or seen are cached here: asking is a dictionary lookup or a message, never a journal read per login.
/// An account is marked when a message is stored for it (the mark and the append are sent together; a message stored
/// while a delivery unmarks the account marks it again) and unmarked when a delivery finds its mailbox empty (then
/// read once more, and marked again if a message came meanwhile). A stale mark (an account removed meanwhile) costs
/// one read at the next login. The server marks accounts whose release-1 journal still holds offline messages (core:
/// <c>LegacyUserData.MarkOfflineMail</c>) the same way. Mark and unmark are sent under one lock, so the store sees them
/// in the order of the cache.
/// </summary>
internal sealed class MailIndex(IStoreMap map)
{
    /// <summary>The map's kind (shared with the core's release-1 migration, which marks accounts the same way).</summary>
    public const string Kind = "mailboxes";

    private static readonly StoredValue Marked = StoredValue.Of("1");
    private readonly HashSet<Jid> _marked = [];
    private readonly object _gate = new();

    public async ValueTask<bool> MayHaveMailAsync(Jid account)
    {
        lock (_gate)
            if (_marked.Contains(account)) return true;
        if (await map.GetAsync(DomainOf(account), Key(account)) is null) return false;
        lock (_gate) _marked.Add(account);
        return true;
    }

    /// <summary>Marks the account (a write only when this instance has not marked or seen it marked; with
    /// <paramref name="force"/> always).</summary>
    public Task MarkAsync(Jid account, bool force = false)
    {
        lock (_gate)
            return _marked.Add(account) || force ? map.SetAsync(DomainOf(account), Key(account), Marked) : Task.CompletedTask;
    }

    public Task UnmarkAsync(Jid account)
    {
        lock (_gate)
        {
            _marked.Remove(account);
            return map.SetAsync(DomainOf(account), Key(account), null);
        }
    }

    private static Jid DomainOf(Jid account) => Jid.Create(null, account.Domain);

    private static string Key(Jid account) => account.Bare.ToString();
}
