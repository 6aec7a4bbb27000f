using System.Collections.Concurrent;
using System.Collections.Immutable;
using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Stanzas;
using Actors.Xmpp.Xml;
using Microsoft.Extensions.Logging;

namespace Actors.Plugins.Blocking;

/// <summary>
/// The block lists in memory, per account (bare JID), and the hooks that enforce them. See <see cref="BlockingPlugin"/>
/// for when a list is read and what happens to a stanza that arrives while it is being read.
/// </summary>
internal sealed class BlockLists(IStoreMap store, Action<Element> send, ILogger log, IReadOnlyList<string> domains, IAccounts accounts, ISessions sessions)
{
    private readonly HashSet<string> _domains = new(domains, StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Jid, AccountList> _accounts = new();

    /// <summary>The account's list, read from the store if it is not in memory yet (the task completes once it is).</summary>
    public async ValueTask<AccountList> LoadAsync(Jid account)
    {
        var list = Of(account);
        await list.Loaded.Task.ConfigureAwait(false);
        return list;
    }

    private AccountList Of(Jid account)
    {
        if (_accounts.TryGetValue(account, out var list)) return list.Touch();
        var fresh = NewList();
        list = _accounts.GetOrAdd(account, fresh);
        if (ReferenceEquals(list, fresh)) _ = ReadAsync(account, fresh);
        return list.Touch();
    }

    private async Task ReadAsync(Jid account, AccountList list)
    {
        IReadOnlyList<StoredEntry> entries;
        try
        {
            entries = await store.GetAllAsync(account).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            log.LogError(ex, "blocking: cannot read the block list of {Account}", account);
            _accounts.TryRemove(new KeyValuePair<Jid, AccountList>(account, list)); // the next stanza tries again
            list.Fail(ex);
            return;
        }
        var jids = ImmutableHashSet.CreateBuilder<string>(StringComparer.Ordinal);
        foreach (var e in entries) jids.Add(e.Key);
        // the waiting stanzas are routed again (in arrival order) before any later stanza passes the hooks
        list.Publish(jids.ToImmutable());
    }

    private AccountList NewList() => new(send, RefuseUnreadable);

    /// <summary>A stanza whose recipient's or sender's list cannot be read: a message or IQ request gets the error.</summary>
    private void RefuseUnreadable(Element stanza)
    {
        if (stanza.Name == "message" || stanza.Name == "iq" && stanza.Type is "get" or "set")
            Send(StanzaErrors.Reply(stanza, "internal-server-error", "a block list cannot be read"));
    }

    private void Send(Element? stanza)
    {
        if (stanza is not null) send(stanza);
    }

    // ---- hooks ----------------------------------------------------------------------------------------------------

    /// <summary>
    /// InboundBare / InboundFull: §3.5 (the addressed account blocked the sender) and §3.6 for what is sent on a local
    /// user's behalf (the sending account blocked the recipient). Holds the stanza while either list is being read.
    /// </summary>
    public bool Inbound(StanzaEvent e)
    {
        var from = e.From;
        // errors pass: never answered, they carry back what the user sent (the refusals of §3.5 and §3.6 among them)
        if (from is null || e.Stanza.Type == "error") return false;
        var to = e.Session;
        if (from.Bare.Equals(to.Bare)) return false; // an account's own stanzas (pushes, its other resources)

        // a list is read only for an account that exists (a stanza to any name must not make the store write for it)
        if (!_accounts.TryGetValue(to.Bare, out var recipient))
        {
            if (!accounts.Exists(to.Bare)) return false; // the router answers as for no account
            recipient = Of(to.Bare);
        }
        // the sender's list when it is a local account (a remote sender, over s2s, the server or a service has no list
        // here: none is read)
        AccountList? sender = null;
        if (from.Local is not null && !_accounts.TryGetValue(from.Bare, out sender))
            sender = IsLocal(from) && accounts.Exists(from.Bare) ? Of(from.Bare) : null;
        sender?.Touch();
        if (!recipient.Admit(e.Stanza, sender)) return true; // waits: routed again, in order, once the lists are read
        if (Blocks(recipient.Blocked!, from))
        {
            RefuseInbound(e.Stanza);
            return true;
        }
        if (sender?.Blocked is { } blockedBySender && Blocks(blockedBySender, to) && !(e.Stanza.Name == "presence" && e.Stanza.Type == "unavailable"))
        {
            // §3.6: presence (broadcasts, probe answers) is dropped; a message or IQ request gets the error
            if (e.Stanza.Name != "presence") Send(NotAcceptable(e.Stanza));
            return true;
        }
        return false;
    }

    private bool IsLocal(Jid jid) => _domains.Contains(jid.Domain);

    /// <summary>Deliver: the last check before a stanza is written (offline messages stored before the block, §3.5),
    /// with the list in memory only: every routed stanza was decided by the inbound hooks already, which read the list;
    /// an offline page (not routed) delivered before any stanza made the list be read passes.</summary>
    public bool Deliver(StanzaEvent e)
    {
        if (e.Stanza.Type == "error") return false;
        if (!_accounts.TryGetValue(e.Session.Bare, out var list) || list.Blocked is not { Count: > 0 } blocked) return false;
        if (!Jid.TryParse(e.Stanza.From, out var from) || from is null || from.Bare.Equals(e.Session.Bare)) return false;
        if (!Blocks(blocked, from)) return false;
        RefuseInbound(e.Stanza);
        return true;
    }

    /// <summary>FromClient, §3.6: the user cannot send to a JID it blocked (checked again at the recipient's inbound
    /// hooks, which also cover the moments before the list is read).</summary>
    public bool FromClient(StanzaEvent e)
    {
        var stanza = e.Stanza;
        if (stanza.To is null || stanza.Type == "error") return false;
        if (!_accounts.TryGetValue(e.Session.Bare, out var list) || list.Blocked is not { Count: > 0 } blocked) return false;
        if (!Jid.TryParse(stanza.To, out var to) || to is null || to.Bare.Equals(e.Session.Bare) || !Blocks(blocked, to)) return false;
        if (stanza.Name == "presence" && stanza.Type == "unavailable") return true; // nothing to tell a blocked contact
        Send(NotAcceptable(stanza));
        return true;
    }

    /// <summary>§3.2: the resource requested the block list, and gets the pushes of every change (a flag the host keeps
    /// with the session: it survives a reload of this plugin).</summary>
    public void Interested(Jid resource) => sessions.SetFlag(resource, BlockingPlugin.Ns, on: true);

    /// <summary>The account's resources on this node that requested the block list (§3.3, §3.4 push to them; in a
    /// cluster each node pushes to its own, after the change's signal).</summary>
    public List<Jid> InterestedResources(Jid account)
    {
        var interested = new List<Jid>();
        foreach (var s in sessions.Resources(account))
            if (s.OnThisNode && sessions.HasFlag(s.Jid, BlockingPlugin.Ns)) interested.Add(s.Jid);
        return interested;
    }

    /// <summary>The account's available resources on this node (§3.3 sends each one's unavailable presence to a newly
    /// blocked contact; in a cluster each node for its own, after the change's signal).</summary>
    public List<Jid> AvailableResources(Jid account)
    {
        var available = new List<Jid>();
        foreach (var s in sessions.Resources(account))
            if (s.OnThisNode && s.Available) available.Add(s.Jid);
        return available;
    }

    // ---- lifecycle ------------------------------------------------------------------------------------------------

    public void Forget(Jid account) => _accounts.TryRemove(account, out _);

    /// <summary>The account's list changed elsewhere (another node): if this node holds it, a fresh one is read in its
    /// place (stanzas that need it meanwhile are held, as at a first read) and the list as it was is returned; null when
    /// this node holds none or had not read it yet (no resource here can have seen it).</summary>
    public ImmutableHashSet<string>? ReadAgain(Jid account)
    {
        if (!_accounts.TryGetValue(account, out var old)) return null;
        var fresh = NewList();
        if (!_accounts.TryUpdate(account, fresh, old)) return null; // replaced or dropped meanwhile: read at next use
        _ = ReadAsync(account, fresh);
        return old.Blocked;
    }

    /// <summary>Drops the lists of accounts with no bound session that no stanza needed for <paramref name="idle"/>.</summary>
    public void DropUnused(TimeSpan idle)
    {
        var before = Environment.TickCount64 - (long)idle.TotalMilliseconds;
        foreach (var (account, list) in _accounts)
            if (!HasSessionHere(account) && list.Unused(before)) _accounts.TryRemove(new KeyValuePair<Jid, AccountList>(account, list));
    }

    private bool HasSessionHere(Jid account)
    {
        foreach (var s in sessions.Resources(account))
            if (s.OnThisNode) return true;
        return false;
    }

    // ---- what blocked means -----------------------------------------------------------------------------------------

    /// <summary>XEP-0191 §3.3: an item blocks a JID when it is the full JID, its bare JID or its domain.</summary>
    public static bool Blocks(ImmutableHashSet<string> blocked, Jid jid) =>
        blocked.Count > 0 && (blocked.Contains(jid.ToString()) || !jid.IsBare && blocked.Contains(jid.Bare.ToString()) || blocked.Contains(jid.Domain));

    /// <summary>§3.5: as if the user did not exist: messages and IQ requests get service-unavailable, the rest is dropped.</summary>
    private void RefuseInbound(Element stanza)
    {
        if (stanza.Name == "message" || stanza.Name == "iq" && stanza.Type is "get" or "set")
            Send(StanzaErrors.Reply(stanza, "service-unavailable"));
    }

    /// <summary>§3.6: not-acceptable with the blocking errors' &lt;blocked/&gt;.</summary>
    private static Element? NotAcceptable(Element stanza)
    {
        var error = StanzaErrors.Reply(stanza, "not-acceptable", "the recipient is blocked");
        error?.Child("error", Ns.Client)?.Add(new Element("blocked", BlockingPlugin.ErrorsNs));
        return error;
    }
}
