using System.Collections.Immutable;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Blocking;

/// <summary>
/// One account's block list in memory, and the stanzas to the account that wait for a list: the account's own (it
/// decides §3.5) or their sender's, a local account (it decides §3.6).
///
/// Order (RFC 6120 §10.1): every stanza to the account that waits, whichever list it waits for, waits in this one
/// queue, and a stanza to the account passes only while nothing waits in it (or on the thread routing the waiting
/// ones again, whose hooks see the lists). So a later stanza never overtakes an earlier one. (With a queue per list a
/// stanza routed again after the recipient's list was read could be held again for its sender's list while the next
/// stanza passed both: CI saw a flood's first message delivered after its second.)
///
/// No thread waits: a waiting stanza is routed again by the thread that reads the last list it needs
/// (<see cref="Publish"/>, and the recipients a sender's list was <see cref="WakeWhenRead">awaited by</see>).
/// </summary>
/// <param name="route">Routes a stanza again (its hooks run on the calling thread).</param>
/// <param name="unreadable">Refuses a stanza whose lists cannot be read.</param>
internal sealed class AccountList(Action<Element> route, Action<Element> unreadable)
{
    private readonly record struct Waiting(Element Stanza, AccountList? Sender);

    private readonly Lock _lock = new();
    private volatile ImmutableHashSet<string>? _decided; // the list once read (then as changed)
    private volatile bool _failed;                       // it could not be read (the account has a fresh one by now)
    private volatile bool _open;                         // read, nothing waits, nobody routes the waiting: no lock needed
    private Queue<Waiting>? _waiting;                    // under the lock, as all below
    private int _drainingThread;                         // the managed thread routing the waiting again, 0 when none
    private List<AccountList>? _awaitedBy;               // recipients with stanzas from this account waiting for this list
    private long _lastUsed = Environment.TickCount64;

    /// <summary>Completes once the list is read (fails if it cannot be).</summary>
    public readonly TaskCompletionSource Loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The list, null until it is read.</summary>
    public ImmutableHashSet<string>? Blocked => _decided;

    private bool IsRead => _decided is not null;

    public AccountList Touch()
    {
        _lastUsed = Environment.TickCount64;
        return this;
    }

    /// <summary>
    /// A stanza to this account, from <paramref name="sender"/> (a local account with a list, or null): true when the
    /// hooks may decide it now (this list and the sender's are read and nothing to this account waits before it);
    /// false when it waits (it is routed again, in order, once they are), or was refused because a list cannot be read.
    /// </summary>
    public bool Admit(Element stanza, AccountList? sender)
    {
        _lastUsed = Environment.TickCount64;
        if (_open && (sender is null || sender.IsRead)) return true;
        var current = Environment.CurrentManagedThreadId;
        bool awaitSender = false, refused = false;
        lock (_lock)
        {
            if (_failed)
            {
                refused = true;
            }
            else
            {
                var senderRead = sender is null || sender.IsRead;
                if (IsRead && senderRead && (_drainingThread == current || _drainingThread == 0 && _waiting is not { Count: > 0 }))
                    return true;
                var waiting = new Waiting(stanza, sender);
                if (_drainingThread == current) WaitFirst(waiting); // routed again by this thread: it stays first
                else (_waiting ??= new Queue<Waiting>()).Enqueue(waiting);
                _open = false;
                awaitSender = !senderRead;
            }
        }
        if (refused)
        {
            unreadable(stanza); // (a list read again takes the next stanza)
            return false;
        }
        // the sender's list wakes this one when read; read (or failed) meanwhile: the waiting go on from a pool thread
        if (awaitSender && !sender!.WakeWhenRead(this)) ThreadPool.UnsafeQueueUserWorkItem(static list => list.Drain(), this, preferLocal: false);
        return false;
    }

    private void WaitFirst(Waiting waiting)
    {
        var rest = _waiting;
        _waiting = new Queue<Waiting>();
        _waiting.Enqueue(waiting);
        if (rest is not null)
            while (rest.TryDequeue(out var w)) _waiting.Enqueue(w);
    }

    /// <summary>Registers <paramref name="recipient"/> to be drained once this list is read or fails; false when it
    /// already is (or did).</summary>
    private bool WakeWhenRead(AccountList recipient)
    {
        lock (_lock)
        {
            if (IsRead || _failed) return false;
            _awaitedBy ??= [];
            if (!_awaitedBy.Contains(recipient)) _awaitedBy.Add(recipient);
            return true;
        }
    }

    /// <summary>The list was read: the stanzas waiting for it are routed again, in order, on this thread, and so are
    /// the ones waiting for it at the recipients of this account's stanzas.</summary>
    public void Publish(ImmutableHashSet<string> jids)
    {
        List<AccountList>? awaitedBy;
        lock (_lock)
        {
            _decided = jids;
            awaitedBy = _awaitedBy;
            _awaitedBy = null;
        }
        Drain();
        if (awaitedBy is not null)
            foreach (var recipient in awaitedBy) recipient.Drain();
        Loaded.TrySetResult();
    }

    /// <summary>The list could not be read: the stanzas waiting here are refused, and those from this account waiting
    /// at their recipients are refused as those recipients route again.</summary>
    public void Fail(Exception error)
    {
        Queue<Waiting>? waiting;
        List<AccountList>? awaitedBy;
        lock (_lock)
        {
            _failed = true;
            waiting = _waiting;
            _waiting = null;
            awaitedBy = _awaitedBy;
            _awaitedBy = null;
        }
        if (waiting is not null)
            foreach (var w in waiting) unreadable(w.Stanza);
        if (awaitedBy is not null)
            foreach (var recipient in awaitedBy) recipient.Drain();
        Loaded.TrySetException(error);
    }

    /// <summary>Routes the waiting stanzas again in order, until one still waits for its sender's list (that list's
    /// read drains again). One thread at a time; a call while another drains leaves it to that one.</summary>
    private void Drain()
    {
        var current = Environment.CurrentManagedThreadId;
        lock (_lock)
        {
            if (!IsRead || _failed || _drainingThread != 0) return;
            _drainingThread = current;
        }
        var finished = false;
        try
        {
            while (true)
            {
                Waiting next;
                lock (_lock)
                {
                    if (_waiting is not { Count: > 0 })
                    {
                        _drainingThread = 0;
                        _open = true;
                        finished = true;
                        return;
                    }
                    next = _waiting.Peek();
                    if (next.Sender is { IsRead: false, _failed: false })
                    {
                        // it waits for its sender's list, whose read drains this one again (it was registered with it
                        // when it started waiting; that list set itself read before it calls Drain, so it finds this
                        // thread gone)
                        _drainingThread = 0;
                        finished = true;
                        return;
                    }
                    _waiting.Dequeue();
                }
                if (next.Sender is { IsRead: false }) unreadable(next.Stanza);
                else route(next.Stanza);
            }
        }
        finally
        {
            if (!finished)
            {
                // routing threw: what still waits goes on from a pool thread (the stanza that threw is gone)
                lock (_lock) _drainingThread = 0;
                ThreadPool.UnsafeQueueUserWorkItem(static list => list.Drain(), this, preferLocal: false);
            }
        }
    }

    public bool Contains(string jid) => _decided?.Contains(jid) == true;

    public string[] Sorted()
    {
        var list = (_decided ?? []).ToArray();
        Array.Sort(list, StringComparer.Ordinal);
        return list;
    }

    /// <summary>A block (§3.3) or unblock (§3.4; no JIDs: all) stored: the list in memory follows.</summary>
    public void Apply(bool block, List<string> jids)
    {
        lock (_lock)
        {
            var current = _decided ?? [];
            _decided = block ? current.Union(jids) : jids.Count == 0 ? current.Clear() : current.Except(jids);
        }
    }

    public bool Unused(long before)
    {
        lock (_lock)
            return IsRead && _waiting is not { Count: > 0 } && _awaitedBy is null && _drainingThread == 0 && _lastUsed < before;
    }
}
