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
        var fresh = new AccountList();
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
            foreach (var held in list.Fail())
                if (held.Name == "message" || held.Name == "iq" && held.Type is "get" or "set")
                    Send(StanzaErrors.Reply(held, "internal-server-error", "the recipient's block list cannot be read"));
            list.Loaded.TrySetException(ex);
            return;
        }
        var jids = ImmutableHashSet.CreateBuilder<string>(StringComparer.Ordinal);
        foreach (var e in entries) jids.Add(e.Key);
        // the held stanzas are routed again (in arrival order) before any later stanza passes the hooks
        list.Publish(jids.ToImmutable(), send);
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
        recipient.Touch();
        if (!recipient.TryGet(out var blockedByRecipient, e.Stanza)) return true; // held, routed again once read
        if (Blocks(blockedByRecipient, from))
        {
            RefuseInbound(e.Stanza);
            return true;
        }
        if (from.Local is null) return false; // the server or a service: it has no block list
        // from a local account (a remote sender, over s2s, has no list here: none is read)
        if (!_accounts.TryGetValue(from.Bare, out var sender))
        {
            if (!IsLocal(from) || !accounts.Exists(from.Bare)) return false;
            sender = Of(from.Bare);
        }
        if (!sender.TryGet(out var blockedBySender, e.Stanza)) return true;
        if (Blocks(blockedBySender, to) && !(e.Stanza.Name == "presence" && e.Stanza.Type == "unavailable"))
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
        var fresh = new AccountList();
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

/// <summary>One account's block list in memory, and the stanzas held while it is read.</summary>
internal sealed class AccountList
{
    private readonly Lock _lock = new();
    private ImmutableHashSet<string>? _decided;      // set under the lock once read (before the held stanzas go again)
    private volatile ImmutableHashSet<string>? _published; // read without the lock once the held stanzas went again
    private List<Element>? _held;
    // under the lock: the managed thread routing the held stanzas again (outside the lock), 0 when none is. The hooks
    // of those stanzas run on that thread and see the list; any other thread's stanza is still held behind them. (An
    // instance field, not a [ThreadStatic]: with one in this collectible assembly a test run crashed inside the runtime
    // while the GC collected an unloaded plugin context.)
    private int _drainingThread;
    private long _lastUsed = Environment.TickCount64;

    /// <summary>Completes once the list is read (fails if it cannot be).</summary>
    public readonly TaskCompletionSource Loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ImmutableHashSet<string>? Blocked => _published;

    public AccountList Touch()
    {
        _lastUsed = Environment.TickCount64;
        return this;
    }

    /// <summary>The list, or false after holding <paramref name="stanza"/> until it is read.</summary>
    public bool TryGet(out ImmutableHashSet<string> blocked, Element stanza)
    {
        if (_published is { } p)
        {
            blocked = p;
            return true;
        }
        lock (_lock)
        {
            if (_decided is { } d && (_drainingThread == 0 || _drainingThread == Environment.CurrentManagedThreadId))
            {
                blocked = d;
                return true;
            }
            (_held ??= []).Add(stanza);
            blocked = [];
            return false;
        }
    }

    /// <summary>The list was read: the held stanzas are routed again (their hooks, on this thread, see the list), and
    /// those held meanwhile after them, then it is published. The routing runs outside the lock: a hook it runs takes
    /// other accounts' locks (the recipient's list), and holding this one then deadlocks against the thread that
    /// publishes the recipient's list while routing a stanza to this account.</summary>
    public void Publish(ImmutableHashSet<string> jids, Action<Element> route)
    {
        lock (_lock)
        {
            _decided = jids;
            _drainingThread = Environment.CurrentManagedThreadId;
        }
        try
        {
            while (true)
            {
                List<Element>? held;
                lock (_lock)
                {
                    held = _held;
                    _held = null;
                    if (held is null)
                    {
                        _drainingThread = 0;
                        _published = _decided;
                        break;
                    }
                }
                foreach (var stanza in held) route(stanza);
            }
        }
        finally
        {
            lock (_lock)
            {
                if (_drainingThread != 0) // routing threw: nothing more is held from now on
                {
                    _drainingThread = 0;
                    _published = _decided;
                }
            }
        }
        Loaded.TrySetResult();
    }

    /// <summary>The list could not be read: the held stanzas, to be refused.</summary>
    public List<Element> Fail()
    {
        lock (_lock)
        {
            var held = _held ?? [];
            _held = null;
            return held;
        }
    }

    public bool Contains(string jid) => _published?.Contains(jid) == true;

    public string[] Sorted()
    {
        var list = (_published ?? []).ToArray();
        Array.Sort(list, StringComparer.Ordinal);
        return list;
    }

    /// <summary>A block (§3.3) or unblock (§3.4; no JIDs: all) stored: the list in memory follows.</summary>
    public void Apply(bool block, List<string> jids)
    {
        lock (_lock)
        {
            var current = _decided ?? [];
            var next = block ? current.Union(jids) : jids.Count == 0 ? current.Clear() : current.Except(jids);
            _decided = next;
            if (_drainingThread == 0) _published = next; // (else published once the held stanzas went)
        }
    }

    public bool Unused(long before)
    {
        lock (_lock) return _held is null && _published is not null && _lastUsed < before;
    }
}
