using System.Collections.Concurrent;
using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;
using Microsoft.Extensions.Logging;

namespace Actors.Plugins.Mam;

/// <summary>XEP-0441 'default': every message, none, or only those with contacts whose bare JID is in the account's
/// roster.</summary>
internal enum ArchiveMode { Always, Never, Roster }

/// <summary>One account's archiving preferences (XEP-0441): the default and the always / never lists.</summary>
internal sealed record AccountPreferences(ArchiveMode Default, Jid[] Always, Jid[] Never)
{
    /// <summary>
    /// Whether a message to or from <paramref name="target"/> is archived (XEP-0441, JID matching: the 'to' of an outgoing
    /// message, the 'from' of an incoming one). A listed full JID matches the target as it is; a listed bare JID matches
    /// the target's bare JID. A JID in both lists is not archived (never is the safer reading of a contradiction).
    /// Otherwise the default decides; for 'roster', whether the target's bare JID is in <paramref name="roster"/> (the
    /// account's roster: XEP-0441, Default behaviour; an unknown roster holds no one).
    /// </summary>
    public bool Archives(Jid target, IReadOnlySet<Jid>? roster)
    {
        if (Matches(Never, target)) return false;
        if (Matches(Always, target)) return true;
        return Default switch
        {
            ArchiveMode.Always => true,
            ArchiveMode.Roster => roster is not null && roster.Contains(target.Bare),
            _ => false,
        };
    }

    private static bool Matches(Jid[] listed, Jid target)
    {
        foreach (var jid in listed)
            if (jid.Resource is null ? jid.Equals(target.Bare) : jid.Equals(target)) return true;
        return false;
    }

    public Element ToElement()
    {
        var prefs = new Element("prefs", MamNs.Mam).SetAttr("default", Default switch
        {
            ArchiveMode.Never => NeverName,
            ArchiveMode.Roster => RosterName,
            _ => AlwaysName,
        });
        prefs.Add(List(AlwaysName, Always));
        prefs.Add(List(NeverName, Never));
        return prefs;
    }

    private static Element List(string name, Jid[] jids)
    {
        var list = new Element(name, MamNs.Mam);
        foreach (var jid in jids) list.Add(new Element("jid", MamNs.Mam).AddText(jid.ToString()));
        return list;
    }

    public const string AlwaysName = "always";
    public const string NeverName = "never";
    public const string RosterName = "roster";

    /// <summary>Reads a &lt;prefs/&gt; element: null with the reason when it is not one this server applies.</summary>
    public static AccountPreferences? Parse(Element prefs, out string? condition, out string? error)
    {
        condition = "bad-request";
        ArchiveMode mode;
        switch (prefs.Attr("default"))
        {
            case AlwaysName: mode = ArchiveMode.Always; break;
            case NeverName: mode = ArchiveMode.Never; break;
            case RosterName: mode = ArchiveMode.Roster; break;
            case null:
                error = "<prefs/> needs a 'default' attribute (XEP-0441, Default behaviour)";
                return null;
            default:
                error = "'default' must be always, never or roster (XEP-0441, Default behaviour)";
                return null;
        }
        var always = new List<Jid>();
        var never = new List<Jid>();
        foreach (var child in prefs.Elements())
        {
            if (child.Namespace != MamNs.Mam || child.Name is not (AlwaysName or NeverName)) continue;
            foreach (var item in child.Elements("jid", MamNs.Mam))
            {
                if (!Jid.TryParse(item.Text.Trim(), out var jid) || jid is null)
                {
                    condition = "jid-malformed";
                    error = $"'{item.Text}' is not a JID";
                    return null;
                }
                var into = child.Name == AlwaysName ? always : never;
                if (!into.Contains(jid)) into.Add(jid);
            }
        }
        error = null;
        condition = null;
        return new AccountPreferences(mode, always.ToArray(), never.ToArray());
    }
}

/// <summary>
/// The accounts' preferences, kept in memory for the archiving hooks (a hook cannot wait for storage) and in a map per
/// domain (owner: the domain, key: the account's localpart), read once at load. Accounts that set nothing follow the
/// server's default (Xmpp:Mam:Default). For an account whose default is 'roster' the bare JIDs of its roster are kept in
/// memory too: read (<see cref="IRosters.ContactsAsync"/>) when the preference is set or loaded, and again on each
/// <see cref="ServerEventKind.RosterChanged"/> of that account.
/// </summary>
internal sealed class Preferences(IStoreMap store, IRosters rosters, ArchiveMode serverDefault, ILogger log, Action<Jid> changed)
{
    private readonly ConcurrentDictionary<Jid, AccountPreferences> _accounts = new();
    private readonly ConcurrentDictionary<Jid, RosterContacts> _rosters = new();
    private readonly AccountPreferences _default = new(serverDefault, [], []);

    /// <summary>The roster of an account archiving by roster, as last read; reads may finish out of order, the one
    /// started last wins.</summary>
    private sealed class RosterContacts
    {
        public long Started;
        public long Applied;
        public IReadOnlySet<Jid>? Contacts;
    }

    public AccountPreferences Of(Jid account) => _accounts.TryGetValue(account, out var p) ? p : _default;

    /// <summary>Whether a message of <paramref name="account"/> with <paramref name="target"/> is archived (the 'to' of
    /// an outgoing message, the 'from' of an incoming one).</summary>
    public bool Archives(Jid account, Jid target)
    {
        var prefs = Of(account);
        IReadOnlySet<Jid>? roster = null;
        if (prefs.Default == ArchiveMode.Roster && _rosters.TryGetValue(account, out var contacts)) roster = Volatile.Read(ref contacts.Contacts);
        return prefs.Archives(target, roster);
    }

    /// <summary>Reads the domain's stored preferences, and the rosters of the accounts archiving by roster; completes
    /// when all are in memory (the hooks decide from memory alone).</summary>
    public async Task LoadAsync(Jid domain)
    {
        try
        {
            List<Task>? rosterReads = null;
            foreach (var entry in await store.GetAllAsync(domain))
            {
                if (entry.Value?.Xml is not { } xml || !Jid.TryParse(entry.Key + "@" + domain, out var account) || account is null) continue;
                if (AccountPreferences.Parse(xml, out _, out _) is { } prefs && _accounts.TryAdd(account, prefs) // one set meanwhile is newer
                    && prefs.Default == ArchiveMode.Roster)
                    (rosterReads ??= []).Add(RefreshRosterAsync(account));
            }
            if (rosterReads is not null) await Task.WhenAll(rosterReads);
        }
        catch (StorageException ex)
        {
            log.LogWarning(ex, "the archiving preferences of {Domain} could not be read: its accounts follow the server's default", domain);
        }
    }

    /// <summary>An account's roster changed: read it again if its default is 'roster'.</summary>
    public ValueTask RosterChanged(ServerEvent e)
    {
        var account = e.Jid.Bare;
        return Of(account).Default == ArchiveMode.Roster ? new ValueTask(RefreshRosterAsync(account)) : ValueTask.CompletedTask;
    }

    private async Task RefreshRosterAsync(Jid account)
    {
        try { await ReadRosterAsync(account); }
        catch (Exception ex) // an ask of the user actor that timed out, or no user actors (a tool)
        {
            log.LogWarning(ex, "the roster of {Account} could not be read: its archiving by roster uses the roster as last read", account);
        }
    }

    private async Task ReadRosterAsync(Jid account)
    {
        var roster = _rosters.GetOrAdd(account, _ => new RosterContacts());
        var started = Interlocked.Increment(ref roster.Started);
        var contacts = await rosters.ContactsAsync(account);
        var set = new HashSet<Jid>(contacts.Count);
        foreach (var contact in contacts) set.Add(contact.Bare);
        lock (roster)
        {
            if (started <= roster.Applied) return;
            roster.Applied = started;
            Volatile.Write(ref roster.Contacts, set);
        }
    }

    /// <summary>XEP-0441: the account's preferences (only the account itself asks).</summary>
    public ValueTask<Element> Get(IqRequest r)
    {
        if (!r.From.Bare.Equals(r.To.Bare)) return r.Fail("forbidden", "only the account itself reads its archiving preferences");
        return r.Ok(Of(r.To.Bare).ToElement());
    }

    /// <summary>XEP-0441: replaces the account's preferences and answers with those applied. For 'roster', the roster is
    /// read before the answer, so that the messages after it follow the new preference.</summary>
    public async ValueTask<Element> Set(IqRequest r)
    {
        if (!r.From.Bare.Equals(r.To.Bare)) return r.Error("forbidden", "only the account itself sets its archiving preferences");
        if (AccountPreferences.Parse(r.Payload, out var condition, out var error) is not { } prefs) return r.Error(condition!, error);
        var account = r.To.Bare;
        if (prefs.Default == ArchiveMode.Roster)
        {
            try { await ReadRosterAsync(account); }
            catch (Exception ex) // an ask of the user actor that timed out, or no user actors (a tool)
            {
                log.LogWarning(ex, "the roster of {Account} could not be read for default='roster'", account);
                return r.Error("internal-server-error", "the roster could not be read: the preferences are unchanged");
            }
        }
        await store.SetAsync(Jid.Parse(account.Domain), account.Local!, StoredValue.Of(prefs.ToElement()));
        _accounts[account] = prefs;
        if (prefs.Default != ArchiveMode.Roster) _rosters.TryRemove(account, out _);
        changed(account); // the other nodes of a cluster read them again (ReadAgainAsync)
        return r.Result(prefs.ToElement());
    }

    /// <summary>The account's preferences were set through another node (a cluster): read again from the store, with
    /// its roster when they archive by roster.</summary>
    public async Task ReadAgainAsync(Jid account)
    {
        try
        {
            var stored = await store.GetAsync(Jid.Parse(account.Domain), account.Local!);
            if (stored?.Xml is { } xml && AccountPreferences.Parse(xml, out _, out _) is { } prefs)
            {
                _accounts[account] = prefs;
                if (prefs.Default == ArchiveMode.Roster) await RefreshRosterAsync(account);
                else _rosters.TryRemove(account, out _);
            }
            else
            {
                _accounts.TryRemove(account, out _); // removed: the server's default
                _rosters.TryRemove(account, out _);
            }
        }
        catch (StorageException ex)
        {
            log.LogWarning(ex, "the archiving preferences of {Account}, set on another node, could not be read: the ones last read apply here", account);
        }
    }

    /// <summary>The account is gone (on any node): what this node keeps for it in memory goes.</summary>
    public void Forget(Jid account)
    {
        _accounts.TryRemove(account.Bare, out _);
        _rosters.TryRemove(account.Bare, out _);
    }

    /// <summary>The account was removed here: its stored preferences go.</summary>
    public async Task RemoveAsync(Jid account)
    {
        Forget(account);
        try { await store.SetAsync(Jid.Parse(account.Domain), account.Local!, null); }
        catch (StorageException ex) { log.LogWarning(ex, "the archiving preferences of the removed account {Account} could not be removed", account); }
    }
}
