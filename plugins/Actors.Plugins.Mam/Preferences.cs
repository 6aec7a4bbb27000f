using System.Collections.Concurrent;
using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;
using Microsoft.Extensions.Logging;

namespace Actors.Plugins.Mam;

/// <summary>XEP-0441 'default'.</summary>
internal enum ArchiveMode { Always, Never }

/// <summary>One account's archiving preferences (XEP-0441): the default and the always / never lists.</summary>
internal sealed record AccountPreferences(ArchiveMode Default, Jid[] Always, Jid[] Never)
{
    /// <summary>
    /// Whether a message to or from <paramref name="target"/> is archived (XEP-0441, JID matching: the 'to' of an outgoing
    /// message, the 'from' of an incoming one). A listed full JID matches the target as it is; a listed bare JID matches
    /// the target's bare JID. A JID in both lists is not archived (never is the safer reading of a contradiction).
    /// </summary>
    public bool Archives(Jid target)
    {
        if (Matches(Never, target)) return false;
        if (Matches(Always, target)) return true;
        return Default == ArchiveMode.Always;
    }

    private static bool Matches(Jid[] listed, Jid target)
    {
        foreach (var jid in listed)
            if (jid.Resource is null ? jid.Equals(target.Bare) : jid.Equals(target)) return true;
        return false;
    }

    public Element ToElement()
    {
        var prefs = new Element("prefs", MamNs.Mam).SetAttr("default", Default == ArchiveMode.Never ? NeverName : AlwaysName);
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
            case RosterName:
                condition = "feature-not-implemented";
                error = "default='roster' is not supported here: use 'always' or 'never' with the always and never lists";
                return null;
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
/// server's default (Xmpp:Mam:Default).
/// </summary>
internal sealed class Preferences(IStoreMap store, ArchiveMode serverDefault, ILogger log)
{
    private readonly ConcurrentDictionary<Jid, AccountPreferences> _accounts = new();
    private readonly AccountPreferences _default = new(serverDefault, [], []);

    public AccountPreferences Of(Jid account) => _accounts.TryGetValue(account, out var p) ? p : _default;

    public async Task LoadAsync(Jid domain)
    {
        try
        {
            foreach (var entry in await store.GetAllAsync(domain))
            {
                if (entry.Value?.Xml is not { } xml || !Jid.TryParse(entry.Key + "@" + domain, out var account) || account is null) continue;
                if (AccountPreferences.Parse(xml, out _, out _) is { } prefs) _accounts.TryAdd(account, prefs); // one set meanwhile is newer
            }
        }
        catch (StorageException ex)
        {
            log.LogWarning(ex, "the archiving preferences of {Domain} could not be read: its accounts follow the server's default", domain);
        }
    }

    /// <summary>XEP-0441: the account's preferences (only the account itself asks).</summary>
    public ValueTask<Element> Get(IqRequest r)
    {
        if (!r.From.Bare.Equals(r.To.Bare)) return r.Fail("forbidden", "only the account itself reads its archiving preferences");
        return r.Ok(Of(r.To.Bare).ToElement());
    }

    /// <summary>XEP-0441: replaces the account's preferences and answers with those applied.</summary>
    public async ValueTask<Element> Set(IqRequest r)
    {
        if (!r.From.Bare.Equals(r.To.Bare)) return r.Error("forbidden", "only the account itself sets its archiving preferences");
        if (AccountPreferences.Parse(r.Payload, out var condition, out var error) is not { } prefs) return r.Error(condition!, error);
        var account = r.To.Bare;
        await store.SetAsync(Jid.Parse(account.Domain), account.Local!, StoredValue.Of(prefs.ToElement()));
        _accounts[account] = prefs;
        return r.Result(prefs.ToElement());
    }

    public async Task ForgetAsync(Jid account)
    {
        _accounts.TryRemove(account.Bare, out _);
        try { await store.SetAsync(Jid.Parse(account.Domain), account.Local!, null); }
        catch (StorageException ex) { log.LogWarning(ex, "the archiving preferences of the removed account {Account} could not be removed", account); }
    }
}
