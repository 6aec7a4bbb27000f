using Actors.Xmpp.Plugins;
using Actors.Xmpp.Server;
using Actors.Xmpp.Server.C2s;
using Actors.Xmpp.Server.Iq;
using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Xml;
using Akka.Actor;

namespace Actors.Xmpp.PluginHost;

/// <summary>The services the host provides to every plugin through the contract.</summary>
internal sealed class HostServices(ServerContext server, ActorSystem system) : IAccounts, ISessions, IRouter, IServerFeatures, IOwnedAddresses, ISessionDelivery
{
    /// <summary>The server these services are of (for the host's other services, e.g. <see cref="HostAuthentication"/>).</summary>
    internal ServerContext Server => server;
    /// <summary>The actor system (for the host's other services, e.g. the bytestream relay).</summary>
    internal ActorSystem System => system;

    // IAccounts
    public bool Exists(Jid account) => server.Accounts.Exists(account);
    public IReadOnlyList<Jid> List() => server.Accounts.List();
    public Task<bool> AddAsync(Jid account, string password) => server.Accounts.AddAsync(account, password);
    public Task<bool> RemoveAsync(Jid account) => server.AccountLifecycle.RemoveAsync(account); // sessions, contacts, journal
    public Task<bool> RemoveAsync(Jid account, Jid requester, Element finalStanza) =>
        server.AccountLifecycle.RemoveAsync(account, requester, finalStanza);
    public Task<bool> SetPasswordAsync(Jid account, string password, Jid? keep = null) =>
        server.AccountLifecycle.SetPasswordAsync(account, password, keep); // the other sessions are closed

    // ISessions: the session view (this node's sessions; on a clustered node every member's, with their flags)
    public int Count => server.SessionView.Count;
    IReadOnlyList<OnlineSession> ISessions.List() => server.SessionView.All().Select(Online).ToList();
    public IReadOnlyList<OnlineSession> Resources(Jid bare)
    {
        var resources = server.SessionView.Resources(bare);
        if (resources.Count == 0) return Array.Empty<OnlineSession>();
        var list = new OnlineSession[resources.Count];
        for (var i = 0; i < list.Length; i++) list[i] = Online(resources[i]);
        return list;
    }

    private static OnlineSession Online(Actors.Xmpp.Server.Cluster.ViewSession s) =>
        new(s.Jid, s.Available, s.Priority) { OnThisNode = s.OnThisNode };

    public bool Kick(Jid fullJid, string condition = "connection-timeout", string? text = null)
    {
        // a session on another member is told through its remote ref, as the resources entity routes to it
        var entry = server.SessionView.Find(fullJid);
        if (entry is null) return false;
        entry.Session.Tell(new C2sConnectionActor.CloseWithStreamError(condition, text));
        return true;
    }

    // session flags: kept by the view with the session they were set on (a new session bound at the same full JID starts
    // with none), replicated with its entry to the other members of a cluster
    public bool SetFlag(Jid fullJid, string flag, bool on) => server.SessionView.SetFlag(fullJid, flag, on);

    public bool HasFlag(Jid fullJid, string flag) => server.SessionView.HasFlag(fullJid, flag);

    public bool AnyResourceHasFlag(Jid bare, string flag) => server.SessionView.AnyHasFlag(bare, flag);

    /// <summary>The session bound at <paramref name="fullJid"/> closed: its flags go (unless a new one is bound there).</summary>
    public void SessionClosed(Jid fullJid) => server.SessionView.SessionClosed(fullJid);

    // ISessionDelivery
    /// <summary>How long a page may take to be written out before it counts as not written (a client that does not
    /// read is dropped once Limits:MaxOutboundBytes is queued, or by its idle timeout).</summary>
    public static readonly TimeSpan PageWriteTimeout = TimeSpan.FromMinutes(2);

    /// <summary>With XEP-0198 a page counts once the client acknowledged it, which may come after a resumption: the
    /// wait covers the resumption window too (a page given up while the session still holds it would be delivered twice).</summary>
    private TimeSpan PageAcknowledgeTimeout => PageWriteTimeout
        + TimeSpan.FromSeconds(Math.Max(0, Math.Max(server.Options.Sessions.StreamResumptionSeconds, server.Options.Sessions.ResumptionWindowSeconds)));

    public int PageBytes => Math.Max(1024, server.Options.Limits.MaxOutboundBytes / 4);

    public Task<bool> WriteAsync(Jid session, IReadOnlyList<Element> stanzas) => Deliver(session, stanzas).Delivered;

    private long _lastPageId;
    private IActorRef? _pageReceipts;

    public PageDelivery Deliver(Jid session, IReadOnlyList<Element> stanzas)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (session.Resource is null) throw new ArgumentException("a session is a full JID", nameof(session));
        if (server.Router.Users is not { } users)
        {
            var none = Task.FromResult(false);
            return new PageDelivery(none, none);
        }
        var page = new Element[stanzas.Count]; // copied: the caller's list may change, the message must not
        for (var i = 0; i < page.Length; i++) page[i] = stanzas[i];
        var written = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var delivered = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        // through the account's resources entity (the one that decides every delivery to the account), which hands the
        // page to that resource's session or answers that there is none; the receipts actor is the asker of both answers
        var receipts = Volatile.Read(ref _pageReceipts) ?? InitPageReceipts(users);
        receipts.Tell(new PageReceiptsActor.Send(session, new SessionMessages.DeliverPage(page, Interlocked.Increment(ref _lastPageId)),
            written, delivered, PageWriteTimeout, PageAcknowledgeTimeout));
        return new PageDelivery(written.Task, delivered.Task);
    }

    private IActorRef InitPageReceipts(Actors.Xmpp.Server.Users.IUserDirectory users)
    {
        lock (this)
        {
            return _pageReceipts ??= system.ActorOf(Props.Create(() => new PageReceiptsActor(users)));
        }
    }

    // IRouter
    public void Send(Element stanza) => Send(stanza, null);

    /// <param name="ownedBefore">Service domains the sender owned and may have released since (a plugin that is
    /// unloading: its entities finish the commands under way, and their notifications still leave from its service
    /// address while the next version takes it over).</param>
    public void Send(Element stanza, Func<string, bool>? ownedBefore)
    {
        if (!Jid.TryParse(stanza.From, out var from) || from is null) throw new ArgumentException("the stanza needs a valid 'from'");
        if (!Jid.TryParse(stanza.To, out var to) || to is null) throw new ArgumentException("the stanza needs a valid 'to'");
        // a 'from' at another server is allowed only with federation on and to an address hosted here: a stanza that
        // came over server-to-server and that a hook held (the blocking plugin while it reads a list) and routes again
        if (!server.Serves(from.Domain) && !server.Router.Addresses.IsService(from.Domain) && !(ownedBefore?.Invoke(from.Domain) ?? false)
            && !(server.Router.S2s.Enabled && !server.Router.IsHostedDomain(from.Domain) && server.Router.IsHostedDomain(to.Domain)))
            throw new ArgumentException("a stanza sent by a plugin needs a 'from' in a local domain or a service a plugin owns");
        server.Router.Route(stanza, from, to);
    }

    public Task<Element> SendIqAsync(Element iq, TimeSpan timeout)
    {
        iq.From ??= server.Domains[0];
        return server.Router.SendIqAsync(iq, timeout);
    }

    // IOwnedAddresses
    public IReadOnlyList<DiscoItem> Services(string domain) => server.Router.Addresses.Services(domain);
    /// <summary>The user directory (for <see cref="RosterService"/>).</summary>
    public Actors.Xmpp.Server.Users.IUserDirectory? Users() => server.Router.Users;

    /// <summary>The server's message archive (<see cref="IMessageArchive"/>), when it has a database.</summary>
    public Actors.Xmpp.Server.Archive.MessageArchive? MessageArchive => server.MessageArchive;

    // IServerFeatures
    public IReadOnlyList<string> Features(IqScope scope) => server.Iq.Features(scope).ToList();
    public IReadOnlyList<DiscoIdentity> Identities(IqScope scope) =>
        server.Iq.Identities(scope).Select(i => new DiscoIdentity(i.Category, i.Type, i.Name)).ToList();
}
