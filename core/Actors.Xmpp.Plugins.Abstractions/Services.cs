using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Plugins;

// Services the host provides to every plugin (ctx.Require<T>()).

/// <summary>The server's accounts.</summary>
public interface IAccounts
{
    bool Exists(Jid account);
    IReadOnlyList<Jid> List();
    /// <summary>Creates the account; false if it exists already.</summary>
    Task<bool> AddAsync(Jid account, string password);
    /// <summary>Removes the account: its sessions are closed, its contacts told, what every plugin stored for it
    /// deleted. False if there is no such account.</summary>
    Task<bool> RemoveAsync(Jid account);
    /// <summary>Removes the account as <see cref="RemoveAsync(Jid)"/>, the account itself asking from the session
    /// <paramref name="requester"/>: <paramref name="finalStanza"/> (its IQ result) reaches that session before the
    /// stream error that closes it (XEP-0077 §3.2). An IQ handler that calls this completes with
    /// <see cref="IqRequest.AnsweredElsewhere"/>.</summary>
    Task<bool> RemoveAsync(Jid account, Jid requester, Element finalStanza);
    /// <summary>Sets the account's password; every session of the account is closed except that of
    /// <paramref name="keep"/> (the one that changed it). False if there is no such account.</summary>
    Task<bool> SetPasswordAsync(Jid account, string password, Jid? keep = null);
}

/// <summary>One bound resource.</summary>
public sealed record OnlineSession(Jid Jid, bool Available, int Priority)
{
    /// <summary>Whether the session lives on this node (its client is connected here). Always true on a single node;
    /// in a cluster <see cref="ISessions"/> also lists the sessions of the other members (false here). What a plugin
    /// does for the sessions of each node (pinging them, pushing to them after a signal) it does for those on its own
    /// node only; what it sends to a resource through the router reaches it on any node.</summary>
    public bool OnThisNode { get; init; } = true;
}

/// <summary>
/// The clients currently connected. In a cluster every node sees the bound sessions of every member (a replica kept
/// by the host, updated as sessions bind, change presence, set flags and end: a change made on one node is seen on the
/// others one message later), each marked <see cref="OnlineSession.OnThisNode"/>; a member that becomes unreachable
/// or leaves takes its sessions out of the view, as out of routing.
/// </summary>
public interface ISessions
{
    /// <summary>The bound sessions on every member.</summary>
    int Count { get; }
    /// <summary>The bound sessions on every member.</summary>
    IReadOnlyList<OnlineSession> List();
    /// <summary>The account's bound resources on every member (this node's first).</summary>
    IReadOnlyList<OnlineSession> Resources(Jid bare);
    /// <summary>Closes the session's stream with a stream error (default &lt;connection-timeout/&gt;), on whichever
    /// member it lives.</summary>
    bool Kick(Jid fullJid, string condition = "connection-timeout", string? text = null);
    /// <summary>
    /// Sets or clears a flag on a bound session: what a session asked of a plugin for as long as it lives (it requested
    /// the block list, it enabled carbons). The host keeps it with the session, so it survives a reload of the plugin
    /// and a stream resumption, and ends with the session. <paramref name="flag"/>: a name of the plugin's own (its
    /// XML namespace). False when no session is bound at <paramref name="fullJid"/> on this node (a flag is set where
    /// the session lives: the node that handles its own requests); in a cluster the flag travels with the session's
    /// entry to the other members.
    /// </summary>
    bool SetFlag(Jid fullJid, string flag, bool on);
    /// <summary>Whether the session bound at <paramref name="fullJid"/>, on any member, has <paramref name="flag"/> set.</summary>
    bool HasFlag(Jid fullJid, string flag);
    /// <summary>Whether any bound resource of the account <paramref name="bare"/>, on any member, has
    /// <paramref name="flag"/> set: the question a hook asks of every stanza (the host answers without allocating).</summary>
    bool AnyResourceHasFlag(Jid bare, string flag)
    {
        foreach (var resource in Resources(bare))
            if (HasFlag(resource.Jid, flag)) return true;
        return false;
    }
}

/// <summary>
/// Paced delivery to one bound session, with a write receipt (host-provided: ctx.Require&lt;ISessionDelivery&gt;()): what
/// a plugin that hands a client stored stanzas needs (the offline mailbox, later XEP-0198 resends and MAM pages), so
/// that it removes from storage only what reached the connection and never queues more than the connection's outbound
/// limit allows.
/// </summary>
public interface ISessionDelivery
{
    /// <summary>How many bytes of stanzas (their XML, UTF-8) a caller should have unwritten to one session at once: a
    /// page of about this size, then the next once the first is written. A fraction of Limits:MaxOutboundBytes, past
    /// which the server drops a client that does not read.</summary>
    int PageBytes { get; }

    /// <summary>Writes <paramref name="stanzas"/> in order to the client of the bound resource <paramref name="session"/>
    /// (a full JID), each through the Deliver hooks as any stanza routed to it. Completes with true once the transport
    /// has written all of them out to the connection, or, when the client enabled XEP-0198 stream management, once the
    /// client acknowledged them (possibly on a resumed stream); with false when no such session is bound, it has no connection
    /// (detached), or the connection was lost or did not drain in time first: then any part of the page may or may not
    /// have reached the client (deliver it again later: at-least-once; with XEP-0198 also when the session ended before
    /// the client acknowledged the page).</summary>
    Task<bool> WriteAsync(Jid session, IReadOnlyList<Element> stanzas);

    /// <summary>Writes <paramref name="stanzas"/> as <see cref="WriteAsync"/> does, and reports the two moments apart
    /// (<see cref="PageDelivery"/>): pace the next page on <see cref="PageDelivery.Written"/>, remove from storage on
    /// <see cref="PageDelivery.Delivered"/>. With XEP-0198 a client acknowledges when the server asks (one &lt;r/&gt;
    /// at a time), so a caller that waited for each page's acknowledgement before writing the next would stall on a
    /// client that acknowledges late or only at the end; this lets a few pages be unacknowledged at once.</summary>
    PageDelivery Deliver(Jid session, IReadOnlyList<Element> stanzas)
    {
        var delivered = WriteAsync(session, stanzas);
        return new PageDelivery(delivered, delivered);
    }
}

/// <summary>What became of a page handed to <see cref="ISessionDelivery.Deliver"/>.</summary>
/// <param name="Written">True once the transport wrote the page out to the client's connection; false when no such
/// session is bound, it has no connection, or the connection was lost or did not drain in time first.</param>
/// <param name="Delivered">True once the page counts as delivered: written out, or, when the client enabled XEP-0198
/// stream management, acknowledged by the client (possibly on a resumed stream); false when it never will (the
/// session ended first, or the wait for the acknowledgement ran out): deliver it again later (at least once).</param>
public sealed record PageDelivery(Task<bool> Written, Task<bool> Delivered);

/// <summary>Routes stanzas as the server.</summary>
public interface IRouter
{
    void Send(Element stanza);
    /// <summary>Sends an IQ get/set and completes with its result or error (TimeoutException after
    /// <paramref name="timeout"/>). 'from' is the server's domain when absent, or a local account's bare JID (a request
    /// made on the account's behalf; its answer is caught for the caller).</summary>
    Task<Element> SendIqAsync(Element iq, TimeSpan timeout);
}

/// <summary>An XEP-0030 identity.</summary>
public sealed record DiscoIdentity(string Category, string Type, string? Name = null);

/// <summary>An XEP-0030 item.</summary>
public sealed record DiscoItem(string Jid, string? Node = null, string? Name = null);

/// <summary>The features and identities every plugin registered with AddFeature/AddIdentity (host-provided).</summary>
public interface IServerFeatures
{
    IReadOnlyList<string> Features(IqScope scope);
    IReadOnlyList<DiscoIdentity> Identities(IqScope scope);
}

// Services plugins provide to each other. They live here because a service type must be shared by both load contexts.

/// <summary>XEP-0030 service discovery (provided by the "disco" plugin): other plugins add items, nodes and
/// XEP-0128 extended-info forms.</summary>
public interface IDisco
{
    /// <summary>The full disco#info of the server or an account (no node): identities, features, forms.</summary>
    DiscoInfo Info(IqScope scope);
    IDisposable AddExtendedInfo(IqScope scope, Func<Element> form);
    /// <summary>Items listed for a disco#items query at <paramref name="node"/> (null: no node) for this scope.</summary>
    IDisposable AddItems(IqScope scope, string? node, Func<IqRequest, IEnumerable<DiscoItem>> items);
    /// <summary>disco#info for a node (XEP-0030 §3.2).</summary>
    IDisposable AddNode(IqScope scope, string node, Func<IqRequest, DiscoInfo?> info);
}

/// <summary>An entity's disco#info: identities, features and XEP-0128 forms.</summary>
public sealed record DiscoInfo(IReadOnlyList<DiscoIdentity> Identities, IReadOnlyList<string> Features, IReadOnlyList<Element> Forms);

/// <summary>An XEP-0050 ad-hoc command.</summary>
/// <param name="Node">Its node, e.g. http://jabber.org/protocol/admin#add-user.</param>
/// <param name="Allowed">Who may see and run it.</param>
/// <param name="Execute">Runs one step: the request's &lt;command/&gt; payload in, the reply's &lt;command/&gt; out
/// (use <see cref="AdHoc"/> helpers).</param>
public sealed record AdHocCommand(string Node, string Name, Func<Jid, bool> Allowed, Func<IqRequest, ValueTask<Element>> Execute);

/// <summary>XEP-0050 ad-hoc commands (provided by the "adhoc" plugin): other plugins add commands.</summary>
public interface IAdHocCommands
{
    IDisposable Add(AdHocCommand command);

    /// <summary>Commands that come and go (the admin plugin publishes every plugin's <see cref="AdminCommand"/> this
    /// way): <paramref name="commands"/> is asked on every listing and lookup.</summary>
    IDisposable AddSource(Func<IEnumerable<AdHocCommand>> commands);
}
