using Actors.Xmpp.Plugins;
using Actors.Xmpp.Server.Accounts;
using Actors.Xmpp.Server.Iq;
using Actors.Xmpp.Server.Stanzas;
using Actors.Xmpp.Stanzas;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Xml;
using Akka.Actor;
using Microsoft.Extensions.Logging;

namespace Actors.Xmpp.Server.Routing;

/// <summary>
/// Delivers stanzas whose 'from' and 'to' are already validated: to the server itself (IQ handlers), to plugins'
/// service JIDs, to bare and full JIDs of local accounts (after the inbound hooks, told to the account's
/// <see cref="AccountResourcesActor"/>, which applies RFC 6121 §8.5), and answers with the RFC's errors otherwise.
/// Thread-safe and lock-free: session actors call it on their own thread; it reads no session registry and no
/// account directory, and only Tells.
/// </summary>
public sealed class StanzaRouter
{
    private readonly HashSet<string> _domains;
    private readonly ISessionRegistry _sessions;
    private readonly IAccountStore _accounts;
    private readonly IqHandlers _iq;
    private readonly ILogger _log;
    private readonly IUserDirectory? _users;

    /// <param name="users">The accounts' user actors (roster, subscriptions). Without it, subscription stanzas are
    /// delivered as they are.</param>
    /// <param name="components">The XEP-0114 component domains (none when null).</param>
    public StanzaRouter(IEnumerable<string> domains, ISessionRegistry sessions, IAccountStore accounts, IqHandlers iq, ILogger<StanzaRouter> log,
        IUserDirectory? users = null, ComponentRoutes? components = null)
    {
        Components = components ?? new ComponentRoutes([]);
        _users = users;
        _domains = new HashSet<string>(domains, StringComparer.Ordinal);
        _sessions = sessions;
        _accounts = accounts;
        _iq = iq;
        _log = log;
        Addresses = new OwnedAddresses(this, _domains.ToArray(), log); // ---- owned addresses (plugin contract v2)
    }

    /// <summary>Service JIDs and account namespaces owned by plugins (asked before the server's own processing).</summary>
    public OwnedAddresses Addresses { get; }

    public bool IsLocalDomain(string domain) => _domains.Contains(domain);

    /// <summary>The XEP-0114 component domains and their links.</summary>
    public ComponentRoutes Components { get; }

    /// <summary>Server-to-server federation: the way to every other domain once it is attached.</summary>
    public S2sRoutes S2s { get; } = new();

    /// <summary>A domain stanzas may be addressed to on this server: served, a component's, or a plugin's service.</summary>
    public bool IsHostedDomain(string domain) => _domains.Contains(domain) || Components.IsComponent(domain) || Addresses.IsService(domain);

    /// <summary>This node's sessions for the operator (<c>online</c>, XEP-0133 lists, <c>info</c>): never read to
    /// decide a delivery (the accounts' resources entities do that, <see cref="AccountResourcesActor"/>).</summary>
    public ISessionRegistry Sessions => _sessions;

    /// <summary>The account directory (the resources entities look their account up once per incarnation).</summary>
    public IAccountStore Accounts => _accounts;

    /// <summary>Where the accounts' <see cref="UserActor"/>s are reached (null when the router runs without them).</summary>
    public IUserDirectory? Users => _users;
    /// <summary>Stanza hooks run by sessions (from the client, before delivery).</summary>
    public StanzaHooks Hooks { get; } = new();

    /// <summary>The server's own pending IQ requests (one actor per node; see <see cref="PendingServerIqs"/>).</summary>
    public PendingServerIqs PendingIqs { get; } = new();

    /// <summary>Sends an IQ get/set from the server (its 'from' must be a local domain) and completes with the
    /// result or error addressed back to the server; TimeoutException after <paramref name="timeout"/>.</summary>
    public async Task<Element> SendIqAsync(Element iq, TimeSpan timeout)
    {
        // from the server, or on behalf of an account (its bare JID: XEP-0357 notifications come from the user's JID;
        // the answer reaches the account's IQ handling, which hands results and errors to the wait below)
        if (!Jid.TryParse(iq.From, out var from) || from is null || !_domains.Contains(from.Domain) || from.Resource is not null)
            throw new ArgumentException("the IQ's 'from' must be a domain served here or the bare JID of one of its accounts");
        if (!Jid.TryParse(iq.To, out var to) || to is null) throw new ArgumentException("the IQ needs a valid 'to'");
        iq.Id ??= PendingIqs.NewId();
        var answer = PendingIqs.Expect(PendingKey(iq.Id, from, to), timeout); // queued before the request leaves
        Route(iq, from, to);
        return await answer.ConfigureAwait(false);
    }

    private static string PendingKey(string id, Jid server, Jid peer) => id + "\n" + server + "\n" + peer;

    /// <summary>Routes a stanza. Its 'from' attribute must equal <paramref name="from"/> and its 'to' <paramref name="to"/>.</summary>
    public void Route(Element stanza, Jid from, Jid to)
    {
        if (!_domains.Contains(to.Domain))
        {
            if (Components.IsComponent(to.Domain))
            {
                // XEP-0114: to the component's link; RFC 6120 §8.3.3.19 while it is not connected
                if (Components.Link(to.Domain) is { } link) link.Tell(new ComponentRoutes.Deliver(stanza));
                else Bounce(stanza, "service-unavailable", $"the component {to.Domain} is not connected");
                return;
            }
            if (Addresses.TryService(stanza, from, to)) return; // a plugin's service JID (plugin contract v2)
            // another server's domain: out through the s2s links (RFC 6120 §10.4), which bounce what they cannot deliver
            if (S2s.TrySend(stanza, from, to)) return;
            // federation is off: every remote domain is unreachable (RFC 6120 §8.3.3.14)
            Bounce(stanza, "remote-server-not-found", $"{to.Domain} is not served here and federation is not enabled");
            return;
        }
        if (to.Local is null)
        {
            ToServer(stanza, from, to);
            return;
        }
        // ---- inbound hook points (plugin contract v2) ----
        if (to.Resource is null)
        {
            if (Hooks.Run(HookPoint.InboundBare, stanza, to, from)) return;
            if (stanza.Name == "iq" && _users is not null && from.Local is not null && to.Equals(from.Bare))
            {
                // an IQ of an account's own resource to its bare JID (roster, private XML, vCard, PEP...): the account
                // exists (the session authenticated as it) and no resource is chosen, so it is handled here, on the
                // session's thread, in order with what the session tells its user actor directly
                if (!Addresses.TryAccount(stanza, from, to)) HandleIq(stanza, from, to, IqScope.Account);
                return;
            }
        }
        else
        {
            if (Hooks.Run(HookPoint.InboundFull, stanza, to, from)) return;
        }
        ToAccount(stanza, from, to);
    }

    /// <summary>Sends an error reply to the sender of <paramref name="stanza"/> (nothing for errors, which are never answered).</summary>
    public void Bounce(Element stanza, string condition, string? text = null)
    {
        var reply = StanzaErrors.Reply(stanza, condition, text);
        if (reply is null || reply.To is null || !Jid.TryParse(reply.To, out var back) || back is null) return;
        if (!Jid.TryParse(reply.From, out var replyFrom) || replyFrom is null) return;
        if (!_domains.Contains(back.Domain))
        {
            // an error for a plugin's service or a component, or (federation on) for another server's entity
            if (Addresses.IsService(back.Domain) || Components.IsComponent(back.Domain) || S2s.Enabled) Route(reply, replyFrom, back);
            return;
        }
        if (back.Local is null)
        {
            // an error to the server itself: only a waiting SendIqAsync wants it
            if (reply.Name == "iq" && reply.Id is { } id) PendingIqs.Answer(id, PendingKey(id, back, replyFrom), reply);
            return;
        }
        // an error to a client: deliver straight to the full JID, or drop it if that session is gone (§8.5.3.2.1: errors are not redirected)
        Route(reply, replyFrom, back);
    }

    private void ToServer(Element stanza, Jid from, Jid to)
    {
        if (to.Resource is not null)
        {
            Bounce(stanza, "service-unavailable");
            return;
        }
        switch (stanza.Name)
        {
            case "iq": HandleIq(stanza, from, to, IqScope.Server); break;
            case "message": Bounce(stanza, "service-unavailable", "the server does not accept messages"); break;
            default: break; // presence to the server: nothing to do (probes are answered by the roster issue)
        }
    }

    /// <summary>
    /// A stanza for a local account: told to the account's resources entity (<see cref="AccountResourcesActor"/>),
    /// which applies RFC 6121 §8.5 with the resources it holds; nothing shared is read here. Without a user
    /// directory (a router built for a tool) nothing can reach an account: answered as for no account (§8.5.1).
    /// </summary>
    private void ToAccount(Element stanza, Jid from, Jid to)
    {
        if (_users is not null)
        {
            _users.Tell(to, new AccountResourcesActor.RouteStanza(stanza, from, to, Diagnostics.XmppTracing.Current));
            return;
        }
        ToNoAccount(stanza, from, to);
    }

    /// <summary>RFC 6121 §8.5.1: what a stanza to a local account that does not exist gets (the resources entity and
    /// its parent's negative cache answer with this).</summary>
    internal void ToNoAccount(Element stanza, Jid from, Jid to)
    {
        switch (stanza.Name)
        {
            case "iq":
            case "message":
                Bounce(stanza, "service-unavailable");
                return;
            case "presence":
                // §8.5.1: silently ignored; §4.3.2 (1): a probe of an account that does not exist is answered with
                // unsubscribed from the bare JID
                if (stanza.Type == "probe") ProbeOfNoAccount(stanza, from, to.Bare);
                return;
        }
    }

    private void ProbeOfNoAccount(Element probe, Jid from, Jid to)
    {
        var answer = new Element("presence", Ns.Client).SetAttr("from", to.ToString()).SetAttr("to", from.Bare.ToString()).SetAttr("type", "unsubscribed");
        if (probe.Id is { } id) answer.SetAttr("id", id);
        Route(answer, to, from.Bare);
    }

    /// <summary>
    /// RFC 6121 §8.5.2.2: a message for the bare JID <paramref name="to"/> of an existing account with no available
    /// resource of non-negative priority (decided by the account's resources entity). <paramref name="type"/> is the
    /// message's type ("normal" when absent).
    /// </summary>
    internal void Undeliverable(Element stanza, Jid from, Jid to, string type)
    {
        Diagnostics.XmppMetrics.Undeliverable.Add(1);
        if (Hooks.Run(HookPoint.Undeliverable, stanza, to, from)) return; // the offline plugin stores it (XEP-0160)
        // §8.5.2.2.1: no available resource and no offline storage (the plugin is not loaded): headlines are
        // silently ignored, normal and chat bounced
        if (type == "headline") return;
        Bounce(stanza, "service-unavailable", "the recipient is offline");
    }

    /// <summary>An IQ to an account's bare JID (the resources entity calls this once it knows the account exists).</summary>
    internal void HandleAccountIq(Element stanza, Jid from, Jid to) => HandleIq(stanza, from, to, IqScope.Account);

    private void HandleIq(Element stanza, Jid from, Jid to, IqScope scope)
    {
        var type = stanza.Type;
        if (type is "result" or "error")
        {
            // answers to the server's own requests (SendIqAsync); RFC 6120 §8.2.3: matched by id and addresses
            if (stanza.Id is { } id) PendingIqs.Answer(id, PendingKey(id, to, from), stanza);
            return;
        }
        var payload = stanza.FirstChild();
        if (payload is null || type is not ("get" or "set"))
        {
            Bounce(stanza, "bad-request");
            return;
        }
        var handler = _iq.Find(type, scope, payload.Namespace, payload.Name);
        if (handler is null)
        {
            Bounce(stanza, "service-unavailable"); // RFC 6120 §8.4: unknown namespace
            return;
        }
        if (_pendingIqs.IsFull(from))
        {
            Bounce(stanza, "resource-constraint",
                $"{MaxPendingIqsPerSender} requests of yours are still being answered; wait for their answers");
            return;
        }
        ValueTask<Element> pending;
        try
        {
            pending = handler(new IqRequest(stanza, from, to, payload));
        }
        catch (StoreQuotaExceededException ex)
        {
            Bounce(stanza, "not-acceptable", ex.Message);
            return;
        }
        catch (Exception ex)
        {
            _log.LogError(ex, "IQ handler for {Ns} failed", payload.Namespace);
            Bounce(stanza, "internal-server-error");
            return;
        }
        if (pending.IsCompletedSuccessfully)
        {
            Reply(pending.Result);
            return;
        }
        // an answer still to come (a user actor's, a plugin store's): one more request this sender has under way
        _pendingIqs.Enter(from);
        _ = AwaitReply(pending, stanza, payload.Namespace, from);
    }

    /// <summary>IQ requests one sender (a full JID) may have under way at once in handlers that answer later (the
    /// account's roster, plugin stores); one more is answered &lt;resource-constraint/&gt; (RFC 6120 §8.3.3.18, type
    /// wait) instead of queueing without bound in the account's actor. 0: no cap.</summary>
    public int MaxPendingIqsPerSender
    {
        get => _pendingIqs.Max;
        set => _pendingIqs.Max = value;
    }

    private readonly PendingIqCounts _pendingIqs = new();

    private async Task AwaitReply(ValueTask<Element> pending, Element stanza, string ns, Jid sender)
    {
        try
        {
            Reply(await pending.ConfigureAwait(false));
        }
        catch (StoreQuotaExceededException ex)
        {
            Bounce(stanza, "not-acceptable", ex.Message); // the account's store is full: the request was too much
        }
        catch (Exception ex)
        {
            _log.LogError(ex, "IQ handler for {Ns} failed", ns);
            Bounce(stanza, "internal-server-error");
        }
        finally
        {
            _pendingIqs.Exit(sender);
        }
    }

    private void Reply(Element reply)
    {
        if (ReferenceEquals(reply, IqHandlers.AnsweredElsewhere)) return;
        if (!Jid.TryParse(reply.To, out var to) || to is null || !Jid.TryParse(reply.From, out var from) || from is null) return;
        Route(reply, from, to);
    }
}
