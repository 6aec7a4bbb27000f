using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Stanzas;
using Actors.Xmpp.Xml;
using Microsoft.Extensions.Logging;

namespace Actors.Plugins.PubSub;

/// <summary>
/// The service at pubsub.&lt;domain&gt; (Prosody's mod_pubsub over util/pubsub): routes each IQ to its node's entity
/// (<see cref="NodeEntity"/>), answers what spans nodes (§5.2 node discovery, §5.6/§5.7 without a node, §8.3 default
/// configuration, §8.1 who may create and how many), asks the roster for the presence access model (§4.5), and keeps
/// the lists outside the nodes in plugin storage: the service's nodes (owner: the service JID) and each account's
/// subscriptions and affiliations (owner: the account, removed with it). XEP-0248 collections: the service walks the
/// node graph with keyed commands to the nodes (never a node to another, so nodes may live on any cluster member):
/// it checks a new parent (exists, is a collection, the requester owns it, no cycle), tells parents of their children,
/// delivers a node's events through its ancestors, and keeps the parent of each nested node (storage map
/// <c>parents</c>) so the root's disco#items lists the first-level nodes.
/// </summary>
internal sealed class PubSubService(
    IPluginContext ctx,
    PubSubOptions options,
    IEntityKind nodes,
    IStoreMap directory,
    IStoreMap subscriptions,
    IStoreMap affiliations,
    IStoreMap parents,
    IRosters rosters,
    IAccounts accounts,
    NotifyInterest interest)
{
    /// <summary>A node answers within milliseconds; an ask that reached a node stopped by an unload or a reload is lost
    /// with its mailbox and fails after this (the host then answers the IQ with internal-server-error).</summary>
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(4);
    private readonly HashSet<string> _admins = new(options.Admins, StringComparer.Ordinal);
    /// <summary>How deep the service walks a node graph (XEP-0248): a longer chain of collections is refused.</summary>
    public const int MaxCollectionDepth = 32;
    private readonly object _ascendLock = new();
    /// <summary>Per node, the walk up its collections still under way: the next one waits for it, so a collection's
    /// subscribers get one node's events in the order the node made them.</summary>
    private readonly Dictionary<string, Task> _ascending = new(StringComparer.Ordinal);

    public static DiscoInfo Info()
    {
        var features = new List<string> { Ns.DiscoItems, PubSubNs.PubSub, PubSubNs.Rsm };
        foreach (var f in PubSubFeatures.Implemented) features.Add(PubSubNs.Feature(f));
        features.Add(PubSubNs.Feature(PubSubFeatures.Collections)); // XEP-0248 §5.1: here, not on PEP
        return new DiscoInfo([new DiscoIdentity("pubsub", "service", "Publish-Subscribe")], features.ToArray(), []); // §5.1
    }

    public async ValueTask HandleAsync(AddressedStanza s)
    {
        var stanza = s.Stanza;
        if (stanza.Name != "iq")
        {
            if (stanza.Name == "message" && stanza.Type != "error" && s.To.IsDomain && stanza.Child("x", Ns.DataForms) is { } form
                && NodeConfig.FormType(form) == PubSubNs.SubscribeAuthorization && FormValue(form, "pubsub#node") is { Length: > 0 } decided)
            {
                await AskNodeAsync(s, s.To.Domain, decided, mayCreate: false, pep: false); // §8.6: an owner approves or denies
                return;
            }
            if (stanza.Name == "message" && s.Error("service-unavailable") is { } bounce) ctx.SendStanza(bounce);
            return; // presence to the service: nothing to do
        }
        if (stanza.Type is not ("get" or "set")) return;
        if (!s.To.IsDomain || s.Payload is null) { Send(s.Error("service-unavailable")); return; }
        await DispatchAsync(s, s.To.Domain, pep: false);
    }

    /// <summary>XEP-0163: an IQ in the pubsub namespaces to an account's bare JID, its personal eventing service.</summary>
    public async ValueTask HandlePepAsync(AddressedStanza s)
    {
        if (s.Stanza.Type is not ("get" or "set") || s.Payload is null) return;
        await DispatchAsync(s, s.To.Bare.ToString(), pep: true);
    }

    private async Task DispatchAsync(AddressedStanza s, string service, bool pep)
    {
        var stanza = s.Stanza;
        var payload = s.Payload!;
        var get = stanza.Type == "get";
        var requester = s.From.Bare;
        var owner = pep && requester.ToString() == service; // the account itself owns its PEP nodes
        if (payload.Is("query", Ns.DiscoInfo) && get && payload.Attr("node") is { } infoNode)
        {
            await AskNodeAsync(s, service, infoNode, mayCreate: false, pep);
            return;
        }
        if (payload.Is("query", Ns.DiscoItems) && get)
        {
            if (payload.Attr("node") is { } itemsNode) await AskNodeAsync(s, service, itemsNode, mayCreate: false, pep);
            else Send(s.Result(await NodeListAsync(s.To)));
            return;
        }
        if (payload.Name != "pubsub" || payload.Namespace is not (PubSubNs.PubSub or PubSubNs.Owner) || payload.FirstChild() is not { } first)
        {
            Send(s.Error(payload.Name == "pubsub" ? "bad-request" : "service-unavailable"));
            return;
        }
        var action = first.Name is "configure" or "publish-options" or "options" && payload.ElementCount > 1
            ? payload.Elements().First(e => e.Name is not ("configure" or "publish-options" or "options")) : first;
        var node = action.Attr("node");
        if (payload.Namespace == PubSubNs.PubSub)
        {
            switch (action.Name)
            {
                case "create" when !get && pep:
                    if (!owner) Send(Failure(stanza, "forbidden")); // XEP-0163: only the account creates its nodes
                    else if (node is not { Length: > 0 }) Send(Failure(stanza, "not-acceptable", PubSubErrors.NodeIdRequired)); // §8.1.2: no instant PEP nodes
                    else await AskNodeAsync(s, service, node, mayCreate: true, pep);
                    return;
                case "create" when !get:
                    await CreateAsync(s, requester, node);
                    return;
                case "default" when get && node is null: // §6.4: the default subscription options
                    Send(s.Result(new Element("pubsub", PubSubNs.PubSub).Add(new Element("default", PubSubNs.PubSub).Add(NodeEntity.OptionsForm(true)))));
                    return;
                case "subscriptions" when get && node is null: // §5.6
                    Send(s.Result(new Element("pubsub", PubSubNs.PubSub).Add(await OwnSubscriptionsAsync(requester, service))));
                    return;
                case "affiliations" when get && node is null: // §5.7
                    Send(s.Result(new Element("pubsub", PubSubNs.PubSub).Add(await OwnAffiliationsAsync(requester, service))));
                    return;
            }
        }
        else if (action.Name == "default" && get && node is null) // §8.3
        {
            Send(s.Result(new Element("pubsub", PubSubNs.Owner).Add(new Element("default", PubSubNs.Owner).Add((pep ? NodeConfig.PepDefaults : new NodeConfig()).Form()))));
            return;
        }
        if (!pep && !get && node is not { Length: > 0 } && payload.Namespace == PubSubNs.Owner && action.Name == "delete")
        {
            Send(Failure(stanza, "not-allowed", null, "the root collection is the service itself")); // XEP-0248 §7.3.3.1
            return;
        }
        if (node is not { Length: > 0 }) // every other request names its node (nodeid-required)
        {
            Send(Failure(stanza, "bad-request", PubSubErrors.NodeIdRequired));
            return;
        }
        if (!pep && !get && payload.Namespace == PubSubNs.Owner && action.Name == "configure"
            && await CollectionRefusalAsync(s, service, node, action.Child("x", Ns.DataForms)) is { } refused)
        {
            Send(refused);
            return;
        }
        await AskNodeAsync(s, service, node, mayCreate: owner, pep); // a PEP publish by the owner may auto-create
    }

    /// <summary>§8.1: who may create (§8.1.3.3), how many nodes an account may own, instant nodes (§8.1.2).</summary>
    private async Task CreateAsync(AddressedStanza s, Jid requester, string? node)
    {
        if (!MayCreate(requester)) { Send(Failure(s.Stanza, "forbidden")); return; }
        if (!IsAdmin(requester) && await OwnedCountAsync(requester, s.To.Domain) >= options.MaxNodesPerUser)
        {
            Send(Failure(s.Stanza, "not-allowed", PubSubErrors.MaxNodesExceeded, $"an account may own {options.MaxNodesPerUser} nodes"));
            return;
        }
        if (node is { Length: 0 }) { Send(Failure(s.Stanza, "bad-request", PubSubErrors.NodeIdRequired)); return; }
        node ??= Guid.NewGuid().ToString("N");
        if (await CollectionRefusalAsync(s, s.To.Domain, node, s.Payload?.Child("configure", PubSubNs.PubSub)?.Child("x", Ns.DataForms)) is { } refused)
        {
            Send(refused);
            return;
        }
        await AskNodeAsync(s, s.To.Domain, node, mayCreate: true, pep: false);
    }

    /// <summary>XEP-0248 §7.2.3: a submitted pubsub#collection that names a new parent must name an existing
    /// collection (item-not-found; a leaf: not-allowed with invalid-options) that the requester owns (forbidden) and that
    /// is not <paramref name="node"/> or below it (a cycle: not-allowed with invalid-options). Null when allowed.</summary>
    private async Task<Element?> CollectionRefusalAsync(AddressedStanza s, string service, string node, Element? form)
    {
        if (form is null || form.Attr("type") == "cancel" || NodeConfig.FieldValue(form, NodeConfig.Collection)?.Trim() is not { Length: > 0 } parent)
            return null;
        var self = await AboutAsync(service, node, null);
        if (self?.Attr("exists") == "1" && self.Attr("parent") == parent) return null; // unchanged
        var about = await AboutAsync(service, parent, s.From.Bare.ToString());
        if (about?.Attr("exists") != "1") return Failure(s.Stanza, "item-not-found", null, $"no collection '{parent}'");
        if (about.Attr("type") != NodeTypes.Collection) return Failure(s.Stanza, "not-allowed", PubSubErrors.InvalidOptions, $"'{parent}' is a leaf"); // §7.2.3.1
        if (about.Attr("owner") != "1" && !IsAdmin(s.From.Bare)) return Failure(s.Stanza, "forbidden"); // §7.2.3.2
        var current = parent;
        for (var depth = 1; ; depth++) // §7.2.3.5: up from the new parent, never meeting the node itself
        {
            if (current == node) return Failure(s.Stanza, "not-allowed", PubSubErrors.InvalidOptions, "that would make a cycle");
            if (depth > MaxCollectionDepth)
                return Failure(s.Stanza, "not-allowed", PubSubErrors.InvalidOptions, $"collections nest at most {MaxCollectionDepth} deep");
            if (about?.Attr("parent") is not { Length: > 0 } up) return null;
            current = up;
            about = await AboutAsync(service, current, null);
            if (about?.Attr("exists") != "1") return null;
        }
    }

    private Task<Element?> AboutAsync(string service, string node, string? requester) =>
        nodes.AskAsync(NodeRequests.Key(service, node), new Element(NodeRequests.About, PubSubNs.Internal).SetAttr("requester", requester), AskTimeout);

    /// <summary>XEP-0248 §8.3: a node's parent changed (made in, moved to or out of a collection, or deleted): the
    /// collections' children and the service's index follow.</summary>
    private async Task ReparentAsync(string service, string node, Element change)
    {
        try
        {
            if (change.Attr("old") is { Length: > 0 } old)
                await nodes.AskAsync(NodeRequests.Key(service, old), new Element(NodeRequests.Dissociate, PubSubNs.Internal).SetAttr("child", node), AskTimeout);
            var parent = change.Attr("new");
            if (parent is { Length: > 0 })
                await nodes.AskAsync(NodeRequests.Key(service, parent), new Element(NodeRequests.Associate, PubSubNs.Internal).SetAttr("child", node), AskTimeout);
            await parents.SetAsync(Jid.Parse(service), node, parent is { Length: > 0 } ? StoredValue.Of(parent) : null);
        }
        catch (Exception ex) when (ex is TimeoutException or StorageException)
        {
            ctx.Logger.LogWarning(ex, "the collections of {Node} at {Service} were not updated", node, service);
        }
    }

    /// <summary>XEP-0248 §8.2: a deleted collection's children stay, under the root.</summary>
    private async Task OrphanAsync(string service, string collection, Element deleted)
    {
        foreach (var child in deleted.Elements(NodeRequests.Child, PubSubNs.Internal))
        {
            if (child.Attr("node") is not { Length: > 0 } name) continue;
            try
            {
                await nodes.AskAsync(NodeRequests.Key(service, name), new Element(NodeRequests.Orphan, PubSubNs.Internal).SetAttr("parent", collection), AskTimeout);
                await parents.SetAsync(Jid.Parse(service), name, null);
            }
            catch (Exception ex) when (ex is TimeoutException or StorageException)
            {
                ctx.Logger.LogWarning(ex, "{Child} at {Service} was not moved to the root after {Collection} was deleted", name, service, collection);
            }
        }
    }

    /// <summary>XEP-0248 §5.3: delivers a node's events through its collections, up to the root, off the node's actor
    /// and after the IQ's answer; one node's walks go one after another.</summary>
    private void StartAscending(string service, string node, List<Element> ascents)
    {
        var key = NodeRequests.Key(service, node);
        lock (_ascendLock)
        {
            var previous = _ascending.GetValueOrDefault(key) ?? Task.CompletedTask;
            Task next = null!;
            next = previous.ContinueWith(async _ =>
            {
                foreach (var ascend in ascents) await AscendAsync(service, ascend);
                lock (_ascendLock)
                    if (_ascending.TryGetValue(key, out var current) && current == next) _ascending.Remove(key);
            }, TaskScheduler.Default).Unwrap();
            _ascending[key] = next;
        }
    }

    /// <summary>One event, to the collection named by the ascend and each collection above it in turn: depth 1 for
    /// the node's own parent, 2 for the grandparent... (XEP-0248 §6.1 pubsub#subscription_depth).</summary>
    private async Task AscendAsync(string service, Element ascend)
    {
        Element? @event = null;
        foreach (var e in ascend.Elements())
            if (e.Namespace != PubSubNs.Internal) @event = e;
        if (@event is null) return;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var collection = ascend.Attr("parent");
        try
        {
            for (var depth = 1; collection is { Length: > 0 } && depth <= MaxCollectionDepth && seen.Add(collection); depth++)
            {
                var command = new Element(NodeRequests.CollectionEvent, PubSubNs.Internal).SetAttr("depth", depth.ToString(System.Globalization.CultureInfo.InvariantCulture))
                    .SetAttr("kind", ascend.Attr("kind")).SetAttr("type", ascend.Attr("type")).Add(@event.Clone());
                var reply = await nodes.AskAsync(NodeRequests.Key(service, collection), command, AskTimeout);
                collection = reply?.Attr("parent");
            }
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
        {
            ctx.Logger.LogWarning(ex, "an event did not reach every collection above it at {Service} ({Collection})", service, collection);
        }
    }

    private static string? FormValue(Element form, string var)
    {
        foreach (var f in form.Elements("field", Ns.DataForms))
            if (f.Attr("var") == var) return f.ChildText("value", Ns.DataForms);
        return null;
    }

    private bool IsAdmin(Jid requester) => _admins.Contains(requester.ToString());

    private bool MayCreate(Jid requester) => options.NodeCreation switch
    {
        NodeCreation.Accounts => IsAdmin(requester) || (requester.Local is not null && ctx.Domains.Contains(requester.Domain)),
        NodeCreation.Admins => IsAdmin(requester),
        _ => false,
    };

    /// <summary>Sends the IQ to its node and carries out the outcome: what the service records, then the answer.</summary>
    private async Task AskNodeAsync(AddressedStanza s, string service, string node, bool mayCreate, bool pep)
    {
        var key = NodeRequests.Key(service, node);
        var admin = pep ? s.From.Bare.ToString() == service : IsAdmin(s.From.Bare);
        var reply = await nodes.AskAsync(key, NodeRequests.For(s.Stanza.Clone(), mayCreate, admin, null, pep), AskTimeout);
        if (reply is not null && reply.Is(NodeRequests.NeedPresence, PubSubNs.Internal)) // §4.5 presence access: the owners' rosters
        {
            var shares = reply.Attr("access") == AccessModels.Roster
                ? await OwnerHasInGroupAsync(reply.Attr("owners") ?? "", NodeRequests.GroupsOf(reply), s.From.Bare)
                : await OwnerSharesPresenceAsync(reply.Attr("owners") ?? "", s.From.Bare);
            reply = await nodes.AskAsync(key, NodeRequests.For(s.Stanza.Clone(), mayCreate, admin, shares, pep), AskTimeout);
        }
        if (reply is null || !reply.Is(NodeRequests.Outcome, PubSubNs.Internal))
        {
            Send(s.Error("internal-server-error"));
            return;
        }
        Element? answer = null;
        List<Element>? ascents = null;
        foreach (var e in reply.Elements())
        {
            if (e.Namespace != PubSubNs.Internal)
            {
                answer = e;
                continue;
            }
            switch (e.Name)
            {
                case NodeRequests.Index:
                    await IndexAsync(e, service, node);
                    break;
                case NodeRequests.NodeCreated:
                    await directory.SetAsync(Jid.Parse(service), node, StoredValue.Of(e.Attr("owner") ?? ""));
                    break;
                case NodeRequests.NodeDeleted:
                    await directory.SetAsync(Jid.Parse(service), node, null);
                    await OrphanAsync(service, node, e);
                    break;
                case NodeRequests.ParentChanged:
                    await ReparentAsync(service, node, e);
                    break;
                case NodeRequests.Ascend:
                    (ascents ??= new List<Element>()).Add(e);
                    break;
            }
        }
        if (answer is not null) Send(answer);
        else if (s.Stanza.Name == "iq") Send(s.Error("internal-server-error")); // an IQ is always answered; a message need not be
        if (ascents is not null) StartAscending(service, node, ascents); // after the answer, off the node's actor
        if (!pep) return;
        foreach (var e in reply.Elements(NodeRequests.Notify, PubSubNs.Internal))
            if (EventOf(e) is { } @event)
                await NotifyContactsAsync(Jid.Parse(service), node, e.Attr("type") ?? "headline", @event, e.Attr("access"), NodeRequests.GroupsOf(e));
    }

    private static Element? EventOf(Element notify)
    {
        foreach (var e in notify.Elements())
            if (e.Namespace != PubSubNs.Internal) return e;
        return null;
    }

    /// <summary>XEP-0163 §4.3: a PEP event to every session that asked for the node with +notify and may see it: the
    /// account's own, and its contacts with a presence subscription to it ('from' or 'both') when the node's access
    /// model is open or presence, and in one of the allowed roster groups too for the roster model. A whitelist or
    /// authorize node (XEP-0223 private data) notifies the account's own sessions only: its other readers are its
    /// affiliates and subscribers, told by the node itself.</summary>
    private async Task NotifyContactsAsync(Jid owner, string node, string type, Element @event, string? access, List<string> groups)
    {
        var contacts = access is null or AccessModels.Open or AccessModels.Presence or AccessModels.Roster;
        Dictionary<Jid, bool>? allowed = null;
        var interested = interest.Interested(node, out var unresolved);
        foreach (var session in interested)
            if (await MaySeeAsync(session.Bare))
                ctx.SendStanza(NodeEntity.Message(owner.ToString(), session.ToString(), type, @event.Clone()));
        if (unresolved is null) return;
        foreach (var session in unresolved) // caps still being fetched: sent once known, if they want the node
            if (await MaySeeAsync(session.Bare)
                && NodeEntity.Message(owner.ToString(), session.ToString(), type, @event.Clone()) is var message
                && interest.Hold(session, node, message))
                ctx.SendStanza(message); // its caps were learnt since Interested: they want the node

        async ValueTask<bool> MaySeeAsync(Jid bare)
        {
            if (bare.Equals(owner)) return true;
            if (!contacts) return false;
            allowed ??= new Dictionary<Jid, bool>();
            if (!allowed.TryGetValue(bare, out var ok))
                allowed[bare] = ok = await rosters.SubscriptionAsync(owner, bare) is "from" or "both"
                    && (access != AccessModels.Roster || await InGroupAsync(owner, groups, bare));
            return ok;
        }
    }

    /// <summary>XEP-0163: a contact's presence reached <paramref name="session"/>: the last item of each PEP node of
    /// <paramref name="contact"/> it asked for with +notify (nodes with send_last_published_item on_sub_and_presence).</summary>
    public async Task SendLastItemsAsync(Jid session, Jid contact, IReadOnlyCollection<string> wanted)
    {
        if (wanted.Count == 0 || !IsAccount(contact) || !interest.FirstTime(session, contact)) return;
        try
        {
            foreach (var entry in await directory.GetAllAsync(contact))
                if (wanted.Contains(entry.Key))
                    nodes.Tell(NodeRequests.Key(contact.ToString(), entry.Key),
                        new Element(NodeRequests.SendLast, PubSubNs.Internal).SetAttr("to", session.ToString()));
        }
        catch (StorageException ex)
        {
            ctx.Logger.LogWarning(ex, "the PEP nodes of {Contact} could not be read for {Session}", contact, session);
        }
    }

    /// <summary>§4.5 roster access: an owner (an account of this server) has the requester in one of the allowed groups.</summary>
    private async Task<bool> OwnerHasInGroupAsync(string owners, List<string> groups, Jid requester)
    {
        foreach (var owner in owners.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            if (Jid.TryParse(owner, out var jid) && jid is not null && IsAccount(jid) && await InGroupAsync(jid, groups, requester)) return true;
        return false;
    }

    private async Task<bool> InGroupAsync(Jid owner, List<string> groups, Jid contact)
    {
        if (groups.Count == 0) return false;
        foreach (var group in await rosters.GroupsAsync(owner, contact))
            if (groups.Contains(group)) return true;
        return false;
    }

    private async Task<bool> OwnerSharesPresenceAsync(string owners, Jid requester)
    {
        foreach (var owner in owners.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!Jid.TryParse(owner, out var jid) || jid is null || !IsAccount(jid)) continue;
            if (await rosters.SubscriptionAsync(jid, requester) is "from" or "both") return true; // the owner shares presence with the requester
        }
        return false;
    }

    private bool IsAccount(Jid bare) => bare.Local is not null && ctx.Domains.Contains(bare.Domain) && accounts.Exists(bare);

    /// <summary>Keeps an account's own list of subscriptions (key: subid) and affiliations (key: service/node).</summary>
    private async Task IndexAsync(Element change, string service, string node)
    {
        if (NodeRequests.BareOf(change.Attr("jid")) is not { } account || !IsAccount(account)) return; // remote JIDs keep no list
        if (change.Attr("kind") == NodeRequests.Subscription)
        {
            var removed = change.Attr("state") == SubscriptionStates.None;
            var entry = new Element("subscription", PubSubNs.Internal).SetAttr("service", service).SetAttr("node", node)
                .SetAttr("jid", change.Attr("jid")).SetAttr("subscription", change.Attr("state")).SetAttr("subid", change.Attr("subid"));
            await subscriptions.SetAsync(account, change.Attr("subid")!, removed ? null : StoredValue.Of(entry));
        }
        else
        {
            var affiliation = change.Attr("affiliation");
            await affiliations.SetAsync(account, NodeRequests.Key(service, node), affiliation is null or Affiliations.None ? null : StoredValue.Of(affiliation));
        }
    }

    private async Task<Element> OwnSubscriptionsAsync(Jid requester, string service)
    {
        var list = new Element("subscriptions", PubSubNs.PubSub);
        if (!IsAccount(requester)) return list;
        foreach (var entry in await subscriptions.GetAllAsync(requester))
        {
            if (entry.Value?.Xml is not { } s || s.Attr("service") != service) continue;
            list.Add(new Element("subscription", PubSubNs.PubSub).SetAttr("node", s.Attr("node")).SetAttr("jid", s.Attr("jid"))
                .SetAttr("subscription", s.Attr("subscription")).SetAttr("subid", s.Attr("subid")));
        }
        return list;
    }

    private async Task<Element> OwnAffiliationsAsync(Jid requester, string service)
    {
        var list = new Element("affiliations", PubSubNs.PubSub);
        if (!IsAccount(requester)) return list;
        var prefix = service + "/";
        foreach (var entry in await affiliations.GetAllAsync(requester))
            if (entry.Key.StartsWith(prefix, StringComparison.Ordinal) && entry.Value?.Text is { } a)
                list.Add(new Element("affiliation", PubSubNs.PubSub).SetAttr("node", entry.Key[prefix.Length..]).SetAttr("affiliation", a));
        return list;
    }

    private async Task<int> OwnedCountAsync(Jid requester, string service)
    {
        if (!IsAccount(requester)) return 0;
        var prefix = service + "/";
        var owned = 0;
        foreach (var entry in await affiliations.GetAllAsync(requester))
            if (entry.Key.StartsWith(prefix, StringComparison.Ordinal) && entry.Value?.Text == Affiliations.Owner) owned++;
        return owned;
    }

    /// <summary>§5.2: the service's nodes, as disco#items; XEP-0248 §5.2: those in no collection (the root's children).</summary>
    private async Task<Element> NodeListAsync(Jid service)
    {
        var query = new Element("query", Ns.DiscoItems);
        var all = await directory.GetAllAsync(service);
        var nested = new HashSet<string>(StringComparer.Ordinal); // XEP-0248 §5.2: the root lists its first-level nodes
        foreach (var entry in await parents.GetAllAsync(service))
            if (entry.Value?.Text is { Length: > 0 }) nested.Add(entry.Key);
        foreach (var entry in all.OrderBy(e => e.Key, StringComparer.Ordinal))
            if (!nested.Contains(entry.Key)) query.Add(new Element("item", Ns.DiscoItems).SetAttr("jid", service.ToString()).SetAttr("node", entry.Key));
        return query;
    }

    private void Send(Element? stanza)
    {
        if (stanza is not null) ctx.SendStanza(stanza);
    }

    /// <summary>An IQ error with an optional pubsub#errors condition.</summary>
    public static Element Failure(Element iq, string condition, string? pubsubCondition = null, string? text = null)
    {
        var reply = new Element("iq", Ns.Client).SetAttr("from", iq.To).SetAttr("to", iq.From).SetAttr("id", iq.Id).SetAttr("type", "error");
        var error = StanzaErrors.Error(condition, text);
        if (pubsubCondition is not null) error.Add(new Element(pubsubCondition, PubSubNs.Errors));
        return reply.Add(error);
    }
}
