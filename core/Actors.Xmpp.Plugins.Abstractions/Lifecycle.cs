namespace Actors.Xmpp.Plugins;

/// <summary>What happened to a session or an account (Prosody's resource-bind, resource-unbind, user-created,
/// user-deleted ... events).</summary>
public enum ServerEventKind
{
    /// <summary>A client bound a resource (RFC 6120 §7). <see cref="ServerEvent.Jid"/> is the full JID.</summary>
    SessionBound,
    /// <summary>A detached session was resumed on a new connection (XEP-0198). Full JID.</summary>
    SessionResumed,
    /// <summary>A bound session ended (its stream closed or broke). Full JID.</summary>
    SessionClosed,
    /// <summary>An account was created and stored. Bare JID.</summary>
    AccountCreated,
    /// <summary>An account's password was changed and stored. Bare JID.</summary>
    PasswordChanged,
    /// <summary>An account was removed (after the removal was stored). Bare JID. The host removes what plugins
    /// stored for the account itself: a plugin handles this only for state it keeps elsewhere.</summary>
    AccountRemoved,
    /// <summary>A bound session became available with a non-negative priority (RFC 6121 §4.2 initial presence, or a
    /// presence that raised a negative priority to zero or more): from now on it receives messages sent to the bare JID
    /// (§8.5.2.1.1), and what waited for the account may be delivered to it (XEP-0160). Full JID.</summary>
    ResourceAvailable,
    /// <summary>A session lost its connection and waits for a XEP-0198 resumption (stanzas to it are held, not written):
    /// followed by <see cref="SessionResumed"/> or <see cref="SessionClosed"/>. Full JID.</summary>
    SessionDetached,
    /// <summary>An account's roster changed: an item was added, updated or removed (after the change is journaled),
    /// raised on the node of the account's user actor and, in a cluster, on the other nodes too (a signal, at most
    /// once). Bare JID. <see cref="IRosters.ContactsAsync"/> reads the roster
    /// as it is now.</summary>
    RosterChanged,
    /// <summary>An account was removed, on this node or another: drop what is kept in memory for it (a cache keyed by
    /// the account would otherwise serve a later account of the same name). Raised on every node, after
    /// <see cref="AccountRemoved"/> on the node that removed it; in a cluster each node raises it when it reads the
    /// removal from the shared journal. Stored state goes on <see cref="AccountRemoved"/>, once. Bare JID.</summary>
    AccountGone,
}

/// <summary>A lifecycle event: its kind and the session's full JID or the account's bare JID.</summary>
public sealed record ServerEvent(ServerEventKind Kind, Jid Jid);

/// <summary>Runs for a lifecycle event. It is called on the thread of the actor that raised the event: return
/// quickly (start asynchronous work, do not block); an exception or a faulted task is logged.</summary>
public delegate ValueTask ServerEventHandler(ServerEvent e);
