using System.Globalization;
using System.Text;
using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Stanzas;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.PubSub;

/// <summary>
/// The node engine (Prosody's util/pubsub): one pubsub node as a keyed entity, key "&lt;service&gt;/&lt;node&gt;".
/// <see cref="Handle"/> decides on one client IQ (XEP-0060 §5-§8) and persists events; <see cref="NodeEvents.Apply"/>
/// changes the state. Notifications leave through the entity's fan-out (SendToEach) once the events are written. Replies are
/// &lt;outcome/&gt; elements (<see cref="NodeRequests"/>): the IQ's answer and what the service records outside the node.
/// </summary>
public sealed class NodeEntity(PubSubOptions limits) : EntityBehavior<NodeState>
{
    public override NodeState Initial(string key) => new();

    public override NodeState Apply(NodeState state, Element e) => NodeEvents.Apply(state, e);

    public override EntitySnapshot? Snapshot(NodeState state) => EntitySnapshot.Of(NodeEvents.SnapshotOf(state));

    public override NodeState Restore(string key, EntitySnapshot snapshot) => NodeEvents.Apply(new NodeState(), snapshot.Xml!);

    public override void Handle(IEntityContext entity, NodeState state, Element command)
    {
        var (service, node) = NodeRequests.Split(entity.Key);
        if (command.Is(NodeRequests.SendLast, PubSubNs.Internal)) // XEP-0163: a contact came online (send_last_published_item on_sub_and_presence)
        {
            if (state.Exists && state.Config.SendLast == SendLastPublished.OnSubAndPresence && state.Config.Notifications
                && state.LastItem is { } last && !state.Config.Expired(last, DateTimeOffset.UtcNow) && command.Attr("to") is { } to && NodeRequests.BareOf(to) is { } contact
                && MaySee(state, contact.ToString())) // the contact has the owner's presence: presence and open nodes
                SendTo(entity, LastPublished(state.Config, service, node, to, last));
            return;
        }
        if (command.Is(NodeRequests.Expire, PubSubNs.Internal)) // pubsub#item_expire: remove what has outlived it
        {
            ExpireItems(entity, state, DateTimeOffset.UtcNow);
            return;
        }
        if (command.Namespace == PubSubNs.Internal && Collections(entity, state, command, service, node)) return;
        if (!command.Is(NodeRequests.Request, PubSubNs.Internal) || command.FirstChild() is not { Name: "iq" or "message" } iq) return;
        if (state.Exists && state.Config.ExpireSeconds is not null) ExpireItems(entity, state, DateTimeOffset.UtcNow); // re-arms the timer too
        var request = new Request(entity, state, iq, service, node, limits,
            command.Attr("may-create") == "1", command.Attr("admin") == "1",
            command.Attr("presence") switch { "1" => true, "0" => false, _ => (bool?)null }, command.Attr("pep") == "1");
        request.Run();
    }

    /// <summary>XEP-0248: the service's keyed commands that walk the node graph (<see cref="NodeRequests.About"/>,
    /// associate, dissociate, orphan, collection-event); false for any other command. Each is answered, also when
    /// told (a reply to a told command is dropped).</summary>
    private static bool Collections(IEntityContext entity, NodeState state, Element command, string service, string node)
    {
        switch (command.Name)
        {
            case NodeRequests.About:
            {
                var about = new Element(NodeRequests.About, PubSubNs.Internal);
                if (state.Exists)
                {
                    about.SetAttr("exists", "1").SetAttr("type", state.Config.Kind).SetAttr("parent", state.Config.Parent);
                    if (command.Attr("requester") is { } requester && state.Affiliations.GetValueOrDefault(requester) == Affiliations.Owner)
                        about.SetAttr("owner", "1");
                }
                entity.Reply(about);
                return true;
            }
            case NodeRequests.Associate:
                if (state.Exists && state.Config.IsCollection && command.Attr("child") is { Length: > 0 } child && !state.Children.Contains(child))
                    entity.Persist(NodeEvents.Associate(child));
                entity.Reply(new Element(NodeRequests.Associate, PubSubNs.Internal));
                return true;
            case NodeRequests.Dissociate:
                if (state.Exists && command.Attr("child") is { } gone && state.Children.Contains(gone)) entity.Persist(NodeEvents.Dissociate(gone));
                entity.Reply(new Element(NodeRequests.Dissociate, PubSubNs.Internal));
                return true;
            case NodeRequests.Orphan: // XEP-0248 §8.2: the parent was deleted; this node stays, under the root
                if (state.Exists && state.Config.Parent.Length > 0 && state.Config.Parent == command.Attr("parent"))
                    entity.Persist(NodeEvents.Configure(state.Config with { Parent = "" }));
                entity.Reply(new Element(NodeRequests.Orphan, PubSubNs.Internal));
                return true;
            case NodeRequests.CollectionEvent: // XEP-0248 §5.3.1: an event of a node below, to this collection's subscribers
            {
                var reply = new Element(NodeRequests.CollectionEvent, PubSubNs.Internal);
                if (state.Exists && state.Config.IsCollection && command.FirstChild() is { } @event
                    && int.TryParse(command.Attr("depth"), NumberStyles.None, CultureInfo.InvariantCulture, out var depth))
                {
                    reply.SetAttr("parent", state.Config.Parent);
                    var kind = command.Attr("kind") ?? CollectionSubscriptions.Items;
                    List<string>? recipients = null;
                    foreach (var s in state.Subscriptions.Values) // the collection's subscribers: its access model admitted them (§10.1)
                        if (s.State == SubscriptionStates.Subscribed && s.Deliver && s.Wants(kind, depth))
                            (recipients ??= new List<string>()).Add(s.Jid);
                    if (recipients is not null)
                    {
                        var message = Message(service, null, command.Attr("type") ?? "headline", @event.Clone())
                            .Add(new Element("headers", PubSubNs.Shim).Add(new Element("header", PubSubNs.Shim).SetAttr("name", "Collection").AddText(node)));
                        entity.SendToEach(message, recipients);
                    }
                }
                entity.Reply(reply);
                return true;
            }
            default:
                return false;
        }
    }

    /// <summary>Retracts the expired items (silently: expiry is no retraction by a publisher) and arms the timer for the
    /// next one. A timer lost with an unload is armed again by the node's next request.</summary>
    private static void ExpireItems(IEntityContext entity, NodeState state, DateTimeOffset now)
    {
        if (!state.Exists || state.Config.ExpireSeconds is not { } seconds) return;
        DateTimeOffset? next = null;
        foreach (var item in state.Items)
        {
            if (state.Config.Expired(item, now)) entity.Persist(NodeEvents.Retract(item.Id));
            else if (next is null || item.At.AddSeconds(seconds) < next) next = item.At.AddSeconds(seconds);
        }
        if (next is { } at) entity.Schedule(NodeRequests.Expire, at - now + TimeSpan.FromMilliseconds(10), new Element(NodeRequests.Expire, PubSubNs.Internal));
    }

    private static bool MaySee(NodeState state, string bare)
    {
        var affiliation = state.Affiliations.GetValueOrDefault(bare, Affiliations.None);
        if (affiliation == Affiliations.Outcast) return false;
        if (affiliation is Affiliations.Owner or Affiliations.Publisher or Affiliations.Member) return true;
        // presence and open nodes; the roster model's groups are the service's to check (NotifyContactsAsync), not here
        return state.Config.Access is AccessModels.Open or AccessModels.Presence;
    }

    /// <summary>§6.1.7: the last published item, with an XEP-0203 &lt;delay/&gt; saying when it was published.</summary>
    private static Element LastPublished(NodeConfig config, string service, string node, string to, PublishedItem item)
    {
        var notified = new Element("item", PubSubNs.Event).SetAttr("id", item.Id);
        if (config.Payloads && item.Payload is not null) notified.Add(item.Payload.Clone());
        return Message(service, to, config.MessageType, new Element("items", PubSubNs.Event).SetAttr("node", node).Add(notified))
            .Add(new Element("delay", Ns.Delay).SetAttr("from", service)
                .SetAttr("stamp", item.At.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture)));
    }

    /// <summary>A notification to one JID, through the node's fan-out lane: after the node's earlier fan-outs, so a
    /// subscriber gets the node's notifications in the order the node made them.</summary>
    private static void SendTo(IEntityContext entity, Element stanza) => entity.SendToEach(stanza, [stanza.To!]);

    /// <summary>An event notification (XEP-0060 §7.1.2) from the service (or the PEP account) to a subscriber (or, with
    /// no <paramref name="to"/>, to each of a fan-out's recipients).</summary>
    internal static Element Message(string from, string? to, string type, Element content) =>
        new Element("message", Ns.Client).SetAttr("from", from).SetAttr("to", to).SetAttr("type", type)
            .Add(new Element("event", PubSubNs.Event).Add(content));

    /// <summary>§6.3: the subscription options form (type 'form'): pubsub#deliver, and on a collection XEP-0248 §6.1
    /// pubsub#subscription_type and pubsub#subscription_depth (<paramref name="type"/> null: a leaf).</summary>
    internal static Element OptionsForm(bool deliver, string? type = null, string? depth = null)
    {
        var x = new Element("x", Ns.DataForms).SetAttr("type", "form");
        x.Add(FormField("FORM_TYPE", "hidden", null, PubSubNs.SubscribeOptions));
        x.Add(FormField("pubsub#deliver", "boolean", "Enable delivery?", deliver ? "1" : "0"));
        if (type is null) return x;
        var t = FormField(CollectionSubscriptions.TypeField, "list-single", "What to be notified of", type);
        foreach (var v in (string[])[CollectionSubscriptions.Items, CollectionSubscriptions.Nodes, CollectionSubscriptions.All])
            t.Add(new Element("option", Ns.DataForms).Add(new Element("value", Ns.DataForms).AddText(v)));
        x.Add(t);
        var d = FormField(CollectionSubscriptions.DepthField, "list-single", "How far down the collection's node graph", depth ?? "1");
        foreach (var v in (string[])["1", CollectionSubscriptions.All])
            d.Add(new Element("option", Ns.DataForms).Add(new Element("value", Ns.DataForms).AddText(v)));
        x.Add(d);
        return x;
    }

    private static Element FormField(string var, string type, string? label, string value) =>
        new Element("field", Ns.DataForms).SetAttr("var", var).SetAttr("type", type).SetAttr("label", label)
            .Add(new Element("value", Ns.DataForms).AddText(value));

    /// <summary>One IQ being decided; collects the outcome.</summary>
    private sealed class Request(IEntityContext entity, NodeState state, Element iq, string service, string node,
        PubSubOptions limits, bool mayCreate, bool admin, bool? presence, bool pep)
    {
        private readonly Element _outcome = new(NodeRequests.Outcome, PubSubNs.Internal);
        private readonly Jid _from = Jid.Parse(iq.From!);
        private readonly DateTimeOffset _now = DateTimeOffset.UtcNow;
        private string Requester => _from.Bare.ToString();
        /// <summary>The configuration of a node created by this very request (PEP auto-create), else the node's.</summary>
        private NodeConfig? _created;
        private NodeConfig Config => _created ?? state.Config;
        /// <summary>A new node's configuration: PEP nodes (XEP-0163) default to the presence access model.</summary>
        private NodeConfig Defaults => pep ? NodeConfig.PepDefaults : new NodeConfig();

        public void Run()
        {
            if (iq.Name == "message") { Authorization(); return; }
            var payload = iq.FirstChild();
            var get = iq.Type == "get";
            if (payload is null) { Fail("bad-request"); return; }
            if (payload.Is("query", Ns.DiscoInfo)) { DiscoInfo(); return; }
            if (payload.Is("query", Ns.DiscoItems)) { DiscoItems(); return; }
            var action = Action(payload);
            if (action is null) { Fail("bad-request"); return; }
            if (payload.Namespace == PubSubNs.PubSub)
            {
                switch (action.Name)
                {
                    case "create" when !get: Create(payload); return;
                    case "publish" when !get: Publish(action, payload); return;
                    case "retract" when !get: Retract(action); return;
                    case "subscribe" when !get: Subscribe(action, payload); return;
                    case "unsubscribe" when !get: Unsubscribe(action); return;
                    case "items" when get: Items(action, payload.Child("set", PubSubNs.Rsm)); return;
                    case "subscriptions" when get: OwnSubscriptions(); return;
                    case "affiliations" when get: OwnAffiliations(); return;
                    case "options": Options(action, get); return;
                    case "default" when get: // §6.4: the default subscription options
                        Ok(new Element("pubsub", PubSubNs.PubSub).Add(new Element("default", PubSubNs.PubSub).SetAttr("node", node)
                            .Add(Config.IsCollection ? OptionsForm(true, CollectionSubscriptions.Nodes, "1") : OptionsForm(true))));
                        return;
                }
            }
            else if (payload.Namespace == PubSubNs.Owner)
            {
                switch (action.Name)
                {
                    case "configure": Configure(action, get); return;
                    case "delete" when !get: Delete(action); return;
                    case "purge" when !get: Purge(); return;
                    case "subscriptions": ManageSubscriptions(action, get); return;
                    case "affiliations": ManageAffiliations(action, get); return;
                }
            }
            Fail("bad-request");
        }

        /// <summary>The action element: the one child of &lt;pubsub/&gt; that is not an options/configure companion.</summary>
        private static Element? Action(Element pubsub)
        {
            foreach (var child in pubsub.Elements())
                if (child.Namespace == pubsub.Namespace && child.Name is not ("configure" or "publish-options" or "options") || pubsub.ElementCount == 1)
                    return child;
            return pubsub.FirstChild();
        }

        // ---------------------------------------------------------------- who may do what (XEP-0060 §4.1)

        private string Affiliation => admin ? Affiliations.Owner : state.Affiliations.GetValueOrDefault(Requester, Affiliations.None);
        private bool IsOwner => Affiliation == Affiliations.Owner;

        private bool IsSubscribed(string bare)
        {
            foreach (var s in state.Subscriptions.Values)
                if (s.State == SubscriptionStates.Subscribed && NodeRequests.BareOf(s.Jid)?.ToString() == bare) return true;
            return false;
        }

        /// <summary>XEP-0060 §4.5 access to subscribe and retrieve items; false when answered (an error, or a question
        /// to the service about presence).</summary>
        private bool MayAccess(bool subscribing = false)
        {
            var affiliation = Affiliation;
            if (affiliation == Affiliations.Outcast) { Fail("forbidden"); return false; } // §6.1.3.8, §6.5.9.8
            if (affiliation is Affiliations.Owner or Affiliations.Publisher or Affiliations.Member) return true;
            switch (Config.Access)
            {
                case AccessModels.Open:
                    return true;
                case AccessModels.Presence or AccessModels.Roster:
                    if (presence is null) // a question to the service: the owners' rosters
                    {
                        var owners = new StringBuilder();
                        foreach (var (jid, a) in state.Affiliations)
                            if (a == Affiliations.Owner) owners.Append(owners.Length == 0 ? "" : " ").Append(jid);
                        var question = new Element(NodeRequests.NeedPresence, PubSubNs.Internal).SetAttr("owners", owners.ToString())
                            .SetAttr("access", Config.Access);
                        if (Config.Access == AccessModels.Roster) NodeRequests.AddGroups(question, Config.RosterGroups);
                        entity.Reply(question);
                        return false;
                    }
                    if (presence.Value) return true;
                    if (Config.Access == AccessModels.Roster) Fail("not-authorized", PubSubErrors.NotInRosterGroup); // §6.1.3.3, §6.5.9.7
                    else Fail("not-authorized", PubSubErrors.PresenceSubscriptionRequired); // §6.1.3.2, §6.5.9.2
                    return false;
                case AccessModels.Authorize when subscribing: // §6.1.2: approved by an owner (§8.6)
                    return true;
                case AccessModels.Authorize:
                    var pending = false;
                    foreach (var s in state.Subscriptions.Values)
                    {
                        if (NodeRequests.BareOf(s.Jid)?.ToString() != Requester) continue;
                        if (s.State == SubscriptionStates.Subscribed) return true;
                        pending |= s.State == SubscriptionStates.Pending;
                    }
                    Fail("not-authorized", pending ? PubSubErrors.PendingSubscription : PubSubErrors.NotSubscribed); // §6.5.9.3
                    return false;
                default: // whitelist
                    Fail("not-allowed", PubSubErrors.ClosedNode); // §6.1.3.4, §6.5.9.4
                    return false;
            }
        }

        private bool MayPublish()
        {
            var affiliation = Affiliation;
            if (affiliation is Affiliations.Owner or Affiliations.Publisher or Affiliations.PublishOnly) return true;
            if (affiliation == Affiliations.Outcast) return false;
            return Config.Publish switch
            {
                PublishModels.Open => true,
                PublishModels.Subscribers => IsSubscribed(Requester),
                _ => false,
            };
        }

        private bool Exists()
        {
            if (state.Exists) return true;
            Fail("item-not-found");
            return false;
        }

        // ---------------------------------------------------------------- §8.1 create

        private void Create(Element pubsub)
        {
            if (!mayCreate) { Fail("forbidden"); return; } // §8.1.3.3
            if (state.Exists) { Fail("conflict"); return; } // §8.1.3.4
            var config = Defaults;
            if (pubsub.Child("configure", PubSubNs.PubSub)?.Child("x", Ns.DataForms) is { } form) // §8.1.3 create-and-configure
            {
                var applied = config.TryApply(form, limits, out var reason);
                if (applied is null) { Fail("not-acceptable", null, null, reason); return; } // §8.1.3: a configuration the service refuses
                config = applied;
                if (!CollectionConfigAllowed(config, NodeConfig.FieldValue(form, NodeConfig.Children), [])) return;
            }
            entity.Persist(NodeEvents.Create(Requester, config));
            _outcome.Add(new Element(NodeRequests.NodeCreated, PubSubNs.Internal).SetAttr("owner", Requester));
            _outcome.Add(NodeRequests.AffiliationChanged(Requester, Affiliations.Owner));
            if (config.Parent.Length > 0) // XEP-0248 §7.1: made in a collection (the service checked it may be)
            {
                _outcome.Add(new Element(NodeRequests.ParentChanged, PubSubNs.Internal).SetAttr("old", "").SetAttr("new", config.Parent));
                Ascend(config.Parent, CollectionSubscriptions.Nodes, new Element("create", PubSubNs.Event).SetAttr("node", node), config.MessageType);
            }
            var instant = pubsub.Child("create", PubSubNs.PubSub)?.Attr("node") is null;
            Ok(instant ? new Element("pubsub", PubSubNs.PubSub).Add(new Element("create", PubSubNs.PubSub).SetAttr("node", node)) : null); // §8.1.2
        }

        // ---------------------------------------------------------------- XEP-0248 collections

        /// <summary>XEP-0248 §7.2.3: what a node's configuration may say about the node graph; false when answered.
        /// <paramref name="children"/>: the submitted pubsub#children (null: not in the form).</summary>
        private bool CollectionConfigAllowed(NodeConfig config, string? children, List<string> current)
        {
            if (pep && (config.IsCollection || config.Parent.Length > 0)) // PEP services have no collections
            {
                Fail("feature-not-implemented", PubSubErrors.Unsupported, PubSubFeatures.Collections);
                return false;
            }
            if (config.Parent == node) { Fail("not-allowed", PubSubErrors.InvalidOptions); return false; } // §7.2.3.5: a cycle
            if (children is null) return true;
            var submitted = children.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (!config.IsCollection && submitted.Length > 0) { Fail("not-allowed", PubSubErrors.InvalidOptions); return false; } // §7.2.3.1
            if (config.IsCollection && !(submitted.Length == current.Count && submitted.All(current.Contains)))
            {
                Fail("not-acceptable", null, null, "children are associated through their own pubsub#collection");
                return false;
            }
            return true;
        }

        /// <summary>An event for the subscribers of the collections above this node (the service walks them, off this actor).</summary>
        private void Ascend(string parent, string kind, Element @event, string type) =>
            _outcome.Add(new Element(NodeRequests.Ascend, PubSubNs.Internal).SetAttr("parent", parent).SetAttr("kind", kind)
                .SetAttr("type", type).Add(@event.Clone()));

        // ---------------------------------------------------------------- §8.2 configure, §8.4 delete, §8.5 purge

        private bool OwnerOnly()
        {
            if (!Exists()) return false;
            if (IsOwner) return true;
            Fail("forbidden");
            return false;
        }

        private void Configure(Element configure, bool get)
        {
            if (!OwnerOnly()) return;
            if (get) // §8.2.1
            {
                Ok(new Element("pubsub", PubSubNs.Owner).Add(new Element("configure", PubSubNs.Owner).SetAttr("node", node).Add(Config.Form(children: state.Children))));
                return;
            }
            if (configure.Child("x", Ns.DataForms) is not { } form) { Fail("bad-request"); return; }
            var applied = Config.TryApply(form, limits, out var reason);
            if (applied is null) { Fail("not-acceptable", null, null, reason); return; } // §8.2.5.3
            if (form.Attr("type") == "cancel") { Ok(); return; } // §8.2.4.2
            if (Config.IsCollection && !applied.IsCollection) { Fail("not-allowed", PubSubErrors.InvalidOptions); return; } // XEP-0248 §7.2.3.4
            if (!CollectionConfigAllowed(applied, NodeConfig.FieldValue(form, NodeConfig.Children), state.Children)) return;
            if (applied == Config) { Ok(); return; }
            if (applied.IsCollection && !Config.IsCollection && state.Items.Count > 0) entity.Persist(NodeEvents.Purge()); // XEP-0248 §7.2.4
            entity.Persist(NodeEvents.Configure(applied));
            if (applied.Parent != Config.Parent) // XEP-0248 §7.2: moved to another collection (the service checked it may be)
            {
                _outcome.Add(new Element(NodeRequests.ParentChanged, PubSubNs.Internal).SetAttr("old", Config.Parent).SetAttr("new", applied.Parent));
                if (Config.Parent.Length > 0) // §5.3.2
                    Ascend(Config.Parent, CollectionSubscriptions.Nodes, new Element("collection", PubSubNs.Event).SetAttr("node", Config.Parent)
                        .Add(new Element("dissociate", PubSubNs.Event).SetAttr("node", node)), applied.MessageType);
                if (applied.Parent.Length > 0)
                    Ascend(applied.Parent, CollectionSubscriptions.Nodes, new Element("collection", PubSubNs.Event).SetAttr("node", applied.Parent)
                        .Add(new Element("associate", PubSubNs.Event).SetAttr("node", node)), applied.MessageType);
            }
            if (applied.Config && applied.Notifications) // §8.2.5.1 (notify_config)
            {
                var configuration = new Element("configuration", PubSubNs.Event).SetAttr("node", node);
                if (applied.Payloads) configuration.Add(applied.Form("result", state.Children));
                Broadcast(configuration, applied.MessageType, null);
                if (applied.Parent.Length > 0) Ascend(applied.Parent, CollectionSubscriptions.Nodes, configuration, applied.MessageType); // XEP-0248 §6.1 "nodes"
            }
            Ok();
        }

        private void Delete(Element delete)
        {
            if (!OwnerOnly()) return;
            var redirect = delete.Child("redirect", PubSubNs.Owner)?.Attr("uri");
            if (Config.Delete && Config.Notifications) // §8.4.2
            {
                var deleted = new Element("delete", PubSubNs.Event).SetAttr("node", node);
                if (redirect is not null) deleted.Add(new Element("redirect", PubSubNs.Event).SetAttr("uri", redirect));
                Broadcast(deleted, Config.MessageType, null);
            }
            foreach (var s in state.Subscriptions.Values) _outcome.Add(NodeRequests.SubscriptionChanged(s, removed: true));
            foreach (var jid in state.Affiliations.Keys) _outcome.Add(NodeRequests.AffiliationChanged(jid, Affiliations.None));
            if (Config.Parent.Length > 0) // XEP-0248: leaves its collection, whose "nodes" subscribers are told
            {
                _outcome.Add(new Element(NodeRequests.ParentChanged, PubSubNs.Internal).SetAttr("old", Config.Parent).SetAttr("new", "").SetAttr("deleted", "1"));
                Ascend(Config.Parent, CollectionSubscriptions.Nodes, new Element("delete", PubSubNs.Event).SetAttr("node", node), Config.MessageType);
            }
            var nodeDeleted = new Element(NodeRequests.NodeDeleted, PubSubNs.Internal);
            foreach (var child in state.Children) nodeDeleted.Add(new Element(NodeRequests.Child, PubSubNs.Internal).SetAttr("node", child)); // XEP-0248 §8.2: orphaned
            _outcome.Add(nodeDeleted);
            entity.Persist(NodeEvents.Delete());
            Ok();
        }

        private void Purge()
        {
            if (!OwnerOnly()) return;
            if (Config.IsCollection) { Fail("feature-not-implemented", PubSubErrors.Unsupported, PubSubFeatures.PurgeNodes); return; } // XEP-0248 §4.1: no items
            if (!Config.Persist) { Fail("feature-not-implemented", PubSubErrors.Unsupported, PubSubFeatures.PersistentItems); return; } // §8.5.3.2
            entity.Persist(NodeEvents.Purge());
            if (Config.Notifications) // §8.5.2; XEP-0248 §6.1 "items" subscribers of the collections above
            {
                var purged = new Element("purge", PubSubNs.Event).SetAttr("node", node);
                Broadcast(purged, Config.MessageType, null);
                if (Config.Parent.Length > 0) Ascend(Config.Parent, CollectionSubscriptions.Items, purged, Config.MessageType);
            }
            Ok();
        }

        // ---------------------------------------------------------------- §7.1 publish, §7.2 retract

        private void Publish(Element publish, Element pubsub)
        {
            var options = pubsub.Child("publish-options", PubSubNs.PubSub)?.Child("x", Ns.DataForms);
            var autoCreated = false;
            if (!state.Exists && pep && mayCreate) // XEP-0163 §3: auto-create, with the publish-options as configuration (§7.1.5)
            {
                var config = Defaults;
                if (options is not null)
                {
                    var applied = config.TryApply(WithoutFormType(options), limits, out var reason);
                    if (applied is null) { Fail("conflict", PubSubErrors.PreconditionNotMet, null, reason); return; }
                    config = applied;
                }
                entity.Persist(NodeEvents.Create(Requester, config));
                _outcome.Add(new Element(NodeRequests.NodeCreated, PubSubNs.Internal).SetAttr("owner", Requester));
                _outcome.Add(NodeRequests.AffiliationChanged(Requester, Affiliations.Owner));
                _created = config;
                autoCreated = true;
            }
            else if (!Exists()) return; // §7.1.3.3
            if (Config.IsCollection) { Fail("feature-not-implemented", PubSubErrors.Unsupported, PubSubFeatures.Publish); return; } // §7.1.3.2, XEP-0248 §4.1
            if (!autoCreated && !MayPublish()) { Fail("forbidden"); return; } // §7.1.3.1
            var items = publish.Elements("item", PubSubNs.PubSub).ToList();
            if (items.Count > 1) { Fail("bad-request", PubSubErrors.InvalidPayload); return; } // §7.1.3.5: one item per request
            var item = items.Count == 1 ? items[0] : null;
            var payloadCount = item?.ElementCount ?? 0;
            if (item is null && (Config.Persist || Config.Payloads)) { Fail("bad-request", PubSubErrors.ItemRequired); return; } // §7.1.3.6
            if (payloadCount > 1) { Fail("bad-request", PubSubErrors.InvalidPayload); return; } // §7.1.3.5
            if (payloadCount == 0 && (Config.Persist || Config.Payloads)) { Fail("bad-request", PubSubErrors.PayloadRequired); return; } // §7.1.3.6
            if (payloadCount > 0 && !Config.Persist && !Config.Payloads) { Fail("bad-request", PubSubErrors.ItemForbidden); return; } // §7.1.3.6
            var payload = item?.FirstChild();
            if (payload is not null && Encoding.UTF8.GetByteCount(payload.ToString()) > Config.PayloadBytes(limits.MaxPayloadBytes))
            {
                Fail("not-acceptable", PubSubErrors.PayloadTooBig); // §7.1.3.4
                return;
            }
            if (!autoCreated && options is not null && !PreconditionsMet(options))
            {
                Fail("conflict", PubSubErrors.PreconditionNotMet); // §7.1.5
                return;
            }
            var id = item?.Attr("id") is { Length: > 0 } given ? given : Guid.NewGuid().ToString("N"); // §7.1.2: the service makes one
            var published = new PublishedItem(id, Requester, DateTimeOffset.UtcNow, payload?.Clone());
            if (Config.Persist) entity.Persist(NodeEvents.Publish(published, Config.ItemLimit(limits.MaxItemsPerNode)));
            if (Config.Persist && Config.ExpireSeconds is { } expire && state.Items.Count == 0) // the first to expire: arm the timer
                entity.Schedule(NodeRequests.Expire, TimeSpan.FromSeconds(expire), new Element(NodeRequests.Expire, PubSubNs.Internal));
            if (Config.Notifications) // §7.1.2.1 with payload, §7.1.2.2 without
            {
                var notified = new Element("item", PubSubNs.Event).SetAttr("id", id);
                if (Config.Payloads && payload is not null) notified.Add(payload.Clone());
                var itemsEvent = new Element("items", PubSubNs.Event).SetAttr("node", node).Add(notified);
                Broadcast(itemsEvent, Config.MessageType, null);
                // XEP-0248 §5.3.1: through the collections above, with this leaf's delivery options
                if (Config.Parent.Length > 0) Ascend(Config.Parent, CollectionSubscriptions.Items, itemsEvent, Config.MessageType);
            }
            Ok(new Element("pubsub", PubSubNs.PubSub).Add(new Element("publish", PubSubNs.PubSub).SetAttr("node", node)
                .Add(new Element("item", PubSubNs.PubSub).SetAttr("id", id)))); // §7.1.2
        }

        /// <summary>A publish-options form read as a node_config submission.</summary>
        private static Element WithoutFormType(Element form)
        {
            var x = new Element("x", Ns.DataForms).SetAttr("type", "submit");
            foreach (var field in form.Elements("field", Ns.DataForms))
                if (field.Attr("var") != "FORM_TYPE") x.Add(field.Clone());
            return x;
        }

        /// <summary>§7.1.5: every field of the publish-options form must equal the node's configuration.</summary>
        private bool PreconditionsMet(Element form)
        {
            if (NodeConfig.FormType(form) is { } type && type != PubSubNs.PublishOptions) return false;
            foreach (var field in form.Elements("field", Ns.DataForms))
            {
                var var = field.Attr("var");
                if (var is null or "FORM_TYPE") continue;
                var wanted = var == NodeConfig.RosterGroupsAllowed ? NodeConfig.MultiValue(field) : field.ChildText("value", Ns.DataForms) ?? "";
                var actual = Config.ValueOf(var);
                if (actual is null) return false;
                if (NodeConfig.TryBool(wanted, out var w) && NodeConfig.TryBool(actual, out var a) && (actual is "0" or "1")) { if (w != a) return false; }
                else if (wanted != actual) return false;
            }
            return true;
        }

        private void Retract(Element retract)
        {
            if (!Exists()) return; // §7.2.3.3
            var affiliation = Affiliation;
            if (affiliation is not (Affiliations.Owner or Affiliations.Publisher)) { Fail("forbidden"); return; } // §7.2.3.1
            if (retract.Child("item", PubSubNs.PubSub)?.Attr("id") is not { Length: > 0 } id) { Fail("bad-request", PubSubErrors.ItemRequired); return; } // §7.2.3.5
            if (!Config.Persist || Config.IsCollection) { Fail("feature-not-implemented", PubSubErrors.Unsupported, PubSubFeatures.PersistentItems); return; } // §7.2.3.6
            if (state.Item(id) is null) { Fail("item-not-found"); return; } // §7.2.3.7
            entity.Persist(NodeEvents.Retract(id));
            var notify = retract.Attr("notify") switch { "1" or "true" => true, "0" or "false" => false, _ => Config.Retract };
            if (notify && Config.Notifications) // §7.2.2.1; XEP-0248 §6.1 "items" subscribers of the collections above
            {
                var retracted = new Element("items", PubSubNs.Event).SetAttr("node", node).Add(new Element("retract", PubSubNs.Event).SetAttr("id", id));
                Broadcast(retracted, Config.MessageType, null);
                if (Config.Parent.Length > 0) Ascend(Config.Parent, CollectionSubscriptions.Items, retracted, Config.MessageType);
            }
            Ok();
        }

        // ---------------------------------------------------------------- §6.1 subscribe, §6.2 unsubscribe

        private void Subscribe(Element subscribe, Element pubsub)
        {
            var jidText = subscribe.Attr("jid");
            if (!Jid.TryParse(jidText, out var jid) || jid is null || jid.Bare.ToString() != Requester)
            {
                Fail("bad-request", PubSubErrors.InvalidJid); // §6.1.3.1
                return;
            }
            if (!Exists()) return; // §6.1.3.12
            var wanted = new SubscriptionOptions(true, null, null);
            var optionsForm = pubsub.Child("options", PubSubNs.PubSub)?.Child("x", Ns.DataForms);
            if (optionsForm is not null) // §6.3.7 subscribe and configure
            {
                if (TryOptions(optionsForm, wanted, Config.IsCollection) is not { } o) { Fail("bad-request", PubSubErrors.InvalidOptions); return; } // §6.3.6
                wanted = o;
            }
            if (!MayAccess(subscribing: true)) return;
            var subscribed = jid.ToString();
            foreach (var s in state.Subscriptions.Values)
            {
                if (s.Jid != subscribed) continue;
                // XEP-0248 §6.1.3: not a second subscription to a collection with another type or depth
                if (Config.IsCollection && ((wanted.Type is { } type && type != (s.Type ?? CollectionSubscriptions.Nodes))
                    || (wanted.Depth is { } depth && depth != (s.Depth ?? "1"))))
                {
                    Fail("conflict", null, null, null, "cancel");
                    return;
                }
                Ok(SubscriptionResult(s)); // one subscription per JID: the existing one
                return;
            }
            if (state.Subscriptions.Count >= limits.MaxSubscriptionsPerNode)
            {
                Fail("policy-violation", PubSubErrors.TooManySubscriptions, null, null, "wait"); // §6.1.3.9
                return;
            }
            var approval = Config.Access == AccessModels.Authorize && Affiliation is not (Affiliations.Owner or Affiliations.Publisher or Affiliations.Member);
            var subscription = new NodeSubscription(subscribed, Guid.NewGuid().ToString("N"), approval ? SubscriptionStates.Pending : SubscriptionStates.Subscribed,
                wanted.Deliver, wanted.Type, wanted.Depth);
            entity.Persist(NodeEvents.Subscribe(subscription));
            _outcome.Add(NodeRequests.SubscriptionChanged(subscription, removed: false));
            Ok(SubscriptionResult(subscription)); // §6.1.2
            if (approval) // §8.6: every owner gets the form to approve or deny
            {
                foreach (var (owner, a) in state.Affiliations)
                    if (a == Affiliations.Owner) SendTo(entity, AuthorizationRequest(owner, subscription));
                return;
            }
            if (Config.SendLast != SendLastPublished.Never && Config.Notifications && state.LastItem is { } last && !Config.Expired(last, _now)) // §6.1.7
                SendTo(entity, LastPublished(Config, service, node, subscribed, last));
        }

        /// <summary>§8.6: the subscription authorization form, in a message to an owner.</summary>
        private Element AuthorizationRequest(string owner, NodeSubscription s)
        {
            var form = new Element("x", Ns.DataForms).SetAttr("type", "form");
            form.Add(new Element("title", Ns.DataForms).AddText("PubSub subscriber request"));
            form.Add(new Element("instructions", Ns.DataForms).AddText("To approve this entity's subscription request, click the OK button. To deny the request, click the cancel button."));
            form.Add(FormField("FORM_TYPE", "hidden", null, PubSubNs.SubscribeAuthorization));
            form.Add(FormField("pubsub#subid", "hidden", null, s.SubId));
            form.Add(FormField("pubsub#node", "text-single", "Node ID", node));
            form.Add(FormField("pubsub#subscriber_jid", "jid-single", "Subscriber Address", s.Jid));
            form.Add(FormField("pubsub#allow", "boolean", "Allow this JID to subscribe to this pubsub node?", "false"));
            return new Element("message", Ns.Client).SetAttr("from", service).SetAttr("to", owner).Add(form);
        }

        /// <summary>§8.6: an owner's answer to the authorization form (a message to the service): the pending
        /// subscription becomes 'subscribed' or is removed, and the subscriber is told (§8.6 "notification of
        /// subscription state change").</summary>
        private void Authorization()
        {
            if (iq.Child("x", Ns.DataForms) is not { } form || NodeConfig.FormType(form) != PubSubNs.SubscribeAuthorization) { Fail("bad-request"); return; }
            if (form.Attr("type") == "cancel") { entity.Reply(_outcome); return; } // no decision: the subscription stays pending
            if (!Exists()) return;
            if (!IsOwner) { Fail("forbidden"); return; }
            string? Value(string var)
            {
                foreach (var f in form.Elements("field", Ns.DataForms))
                    if (f.Attr("var") == var) return f.ChildText("value", Ns.DataForms);
                return null;
            }
            var subid = Value("pubsub#subid");
            var jid = Value("pubsub#subscriber_jid");
            if (!NodeConfig.TryBool(Value("pubsub#allow") ?? "", out var allow)) { Fail("bad-request"); return; }
            NodeSubscription? pending = null;
            foreach (var s in state.Subscriptions.Values)
                if (s.State == SubscriptionStates.Pending && (subid is not null ? s.SubId == subid : s.Jid == jid)) pending = s;
            if (pending is null) { Fail("item-not-found"); return; } // decided already, or never asked
            var decided = pending with { State = allow ? SubscriptionStates.Subscribed : SubscriptionStates.None };
            entity.Persist(allow ? NodeEvents.Subscribe(decided) : NodeEvents.Unsubscribe(pending.SubId));
            _outcome.Add(NodeRequests.SubscriptionChanged(decided, removed: !allow));
            SendTo(entity, Message(pending.Jid, "normal", new Element("subscription", PubSubNs.Event).SetAttr("node", node)
                .SetAttr("jid", pending.Jid).SetAttr("subid", pending.SubId).SetAttr("subscription", decided.State)));
            entity.Reply(_outcome); // a message gets no answer
        }

        /// <summary>A subscription's options: pubsub#deliver; on a collection, XEP-0248 §6.1 type and depth (null: the defaults).</summary>
        private sealed record SubscriptionOptions(bool Deliver, string? Type, string? Depth);

        /// <summary>A submitted subscribe_options form applied to <paramref name="current"/>, or null when the form is not
        /// one this service accepts (another FORM_TYPE, a field it does not honour, a value it does not take; the
        /// XEP-0248 fields only on a collection).</summary>
        private static SubscriptionOptions? TryOptions(Element form, SubscriptionOptions current, bool collection)
        {
            if (form.Attr("type") is not ("submit" or null)) return null;
            if (NodeConfig.FormType(form) is { } type && type != PubSubNs.SubscribeOptions) return null;
            foreach (var f in form.Elements("field", Ns.DataForms))
            {
                var value = f.ChildText("value", Ns.DataForms) ?? "";
                switch (f.Attr("var"))
                {
                    case "FORM_TYPE":
                        continue;
                    case "pubsub#deliver" when NodeConfig.TryBool(value, out var d):
                        current = current with { Deliver = d };
                        continue;
                    case CollectionSubscriptions.TypeField when collection
                        && value is CollectionSubscriptions.Items or CollectionSubscriptions.Nodes or CollectionSubscriptions.All:
                        current = current with { Type = value };
                        continue;
                    case CollectionSubscriptions.DepthField when collection && (value == CollectionSubscriptions.All
                        || int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out _)):
                        current = current with { Depth = value == CollectionSubscriptions.All ? value : int.Parse(value, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture) };
                        continue;
                    default:
                        return null;
                }
            }
            return current;
        }

        /// <summary>§6.3: get (§6.3.2) or set (§6.3.5) the options of one subscription.</summary>
        private void Options(Element options, bool get)
        {
            if (!Jid.TryParse(options.Attr("jid"), out var jid) || jid is null) { Fail("bad-request", PubSubErrors.InvalidJid); return; }
            if (!Exists()) return; // §6.3.4.6
            if (jid.Bare.ToString() != Requester && !IsOwner) { Fail("forbidden"); return; } // §6.3.4.1
            var subid = options.Attr("subid");
            NodeSubscription? found = null;
            var count = 0;
            foreach (var s in state.Subscriptions.Values)
            {
                if (s.Jid != jid.ToString()) continue;
                count++;
                if (subid is null || s.SubId == subid) found = s;
            }
            if (count == 0) { Fail("unexpected-request", PubSubErrors.NotSubscribed, null, null, "cancel"); return; } // §6.3.4.2
            if (subid is null && count > 1) { Fail("bad-request", PubSubErrors.SubIdRequired); return; } // §6.3.4.3
            if (found is null) { Fail("not-acceptable", PubSubErrors.InvalidSubId); return; } // §6.3.4.4
            if (get)
            {
                var form = Config.IsCollection
                    ? OptionsForm(found.Deliver, found.Type ?? CollectionSubscriptions.Nodes, found.Depth ?? "1") : OptionsForm(found.Deliver);
                Ok(new Element("pubsub", PubSubNs.PubSub).Add(new Element("options", PubSubNs.PubSub).SetAttr("node", node)
                    .SetAttr("jid", found.Jid).SetAttr("subid", found.SubId).Add(form)));
                return;
            }
            if (options.Child("x", Ns.DataForms) is not { } submitted
                || TryOptions(submitted, new SubscriptionOptions(found.Deliver, found.Type, found.Depth), Config.IsCollection) is not { } o)
            {
                Fail("bad-request", PubSubErrors.InvalidOptions); // §6.3.6
                return;
            }
            var changed = found with { Deliver = o.Deliver, Type = o.Type, Depth = o.Depth };
            if (changed != found) entity.Persist(NodeEvents.Subscribe(changed));
            Ok();
        }

        private Element SubscriptionResult(NodeSubscription s) =>
            new Element("pubsub", PubSubNs.PubSub).Add(new Element("subscription", PubSubNs.PubSub).SetAttr("node", node)
                .SetAttr("jid", s.Jid).SetAttr("subid", s.SubId).SetAttr("subscription", s.State));

        private void Unsubscribe(Element unsubscribe)
        {
            if (!Jid.TryParse(unsubscribe.Attr("jid"), out var jid) || jid is null) { Fail("bad-request", PubSubErrors.InvalidJid); return; }
            if (!Exists()) return; // §6.2.3.4
            if (jid.Bare.ToString() != Requester && !IsOwner) { Fail("forbidden"); return; } // §6.2.3.3
            var subid = unsubscribe.Attr("subid");
            NodeSubscription? found = null;
            var count = 0;
            foreach (var s in state.Subscriptions.Values)
            {
                if (s.Jid != jid.ToString()) continue;
                count++;
                if (subid is null || s.SubId == subid) found = s;
            }
            if (count == 0) { Fail("unexpected-request", PubSubErrors.NotSubscribed, null, null, "cancel"); return; } // §6.2.3.2
            if (subid is null && count > 1) { Fail("bad-request", PubSubErrors.SubIdRequired); return; } // §6.2.3.1
            if (found is null) { Fail("not-acceptable", PubSubErrors.InvalidSubId); return; } // §6.2.3.5
            entity.Persist(NodeEvents.Unsubscribe(found.SubId));
            _outcome.Add(NodeRequests.SubscriptionChanged(found, removed: true));
            Ok(); // §6.2.2
        }

        // ---------------------------------------------------------------- §6.5 retrieve items

        private void Items(Element items, Element? page)
        {
            if (!Exists()) return; // §6.5.9.11
            if (!MayAccess()) return;
            if (Config.IsCollection) { Fail("feature-not-implemented"); return; } // XEP-0248 §6.2.3: no item retrieval through a collection
            var result = new Element("items", PubSubNs.PubSub).SetAttr("node", node);
            var asked = items.Elements("item", PubSubNs.PubSub).ToList();
            if (asked.Count > 0) // §6.5.8
            {
                foreach (var a in asked)
                    if (a.Attr("id") is { } id && state.Item(id) is { } found && !Config.Expired(found, _now)) result.Add(Retrieved(found));
                Ok(new Element("pubsub", PubSubNs.PubSub).Add(result));
                return;
            }
            int from = 0, to = state.Items.Count; // [from, to) oldest first
            if (items.Attr("max_items") is { } max) // §6.5.7: the most recent N
            {
                if (!int.TryParse(max, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1) { Fail("bad-request"); return; }
                from = Math.Max(0, to - n);
            }
            Element? set = null;
            if (page is not null) // §6.5.4 with XEP-0059 §2: a page of at most <max/>, after or before an item id
            {
                if (!Rsm(page, from, to, out from, out to)) return;
                set = new Element("set", PubSubNs.Rsm);
                if (to > from)
                {
                    set.Add(new Element("first", PubSubNs.Rsm).SetAttr("index", from.ToString(CultureInfo.InvariantCulture)).AddText(state.Items[from].Id));
                    set.Add(new Element("last", PubSubNs.Rsm).AddText(state.Items[to - 1].Id));
                }
                set.Add(new Element("count", PubSubNs.Rsm).AddText(state.Items.Count.ToString(CultureInfo.InvariantCulture)));
            }
            for (var i = from; i < to; i++)
                if (!Config.Expired(state.Items[i], _now)) result.Add(Retrieved(state.Items[i]));
            var pubsub = new Element("pubsub", PubSubNs.PubSub).Add(result);
            if (set is not null) pubsub.Add(set);
            Ok(pubsub);
        }

        /// <summary>XEP-0059: narrows [from, to) by &lt;after/&gt;, &lt;before/&gt; (empty: the last page) and &lt;max/&gt;;
        /// false when answered with an error (an unknown item id: item-not-found, §2.5; a bad max: bad-request).</summary>
        private bool Rsm(Element set, int from, int to, out int start, out int end)
        {
            start = from;
            end = to;
            var max = int.MaxValue;
            if (set.ChildText("max", PubSubNs.Rsm) is { } m && (!int.TryParse(m, NumberStyles.None, CultureInfo.InvariantCulture, out max)))
            {
                Fail("bad-request");
                return false;
            }
            if (set.ChildText("after", PubSubNs.Rsm) is { } after)
            {
                var i = IndexOf(after);
                if (i < 0) { Fail("item-not-found"); return false; }
                start = Math.Max(start, i + 1);
            }
            var before = set.Child("before", PubSubNs.Rsm);
            if (before is not null && before.Text is { Length: > 0 } id)
            {
                var i = IndexOf(id);
                if (i < 0) { Fail("item-not-found"); return false; }
                end = Math.Min(end, i);
            }
            if (end < start) end = start;
            if (end - start > max)
            {
                if (before is not null) start = end - max; // paging backwards: the page just before
                else end = start + max;
            }
            return true;
        }

        private int IndexOf(string id)
        {
            for (var i = 0; i < state.Items.Count; i++)
                if (state.Items[i].Id == id) return i;
            return -1;
        }

        private static Element Retrieved(PublishedItem item)
        {
            var e = new Element("item", PubSubNs.PubSub).SetAttr("id", item.Id);
            if (item.Payload is not null) e.Add(item.Payload.Clone());
            return e;
        }

        // ---------------------------------------------------------------- §5.6, §5.7 the requester's own, at this node

        private void OwnSubscriptions()
        {
            var list = new Element("subscriptions", PubSubNs.PubSub).SetAttr("node", node);
            foreach (var s in state.Subscriptions.Values)
                if (NodeRequests.BareOf(s.Jid)?.ToString() == Requester)
                    list.Add(new Element("subscription", PubSubNs.PubSub).SetAttr("node", node).SetAttr("jid", s.Jid).SetAttr("subscription", s.State).SetAttr("subid", s.SubId));
            Ok(new Element("pubsub", PubSubNs.PubSub).Add(list));
        }

        private void OwnAffiliations()
        {
            var list = new Element("affiliations", PubSubNs.PubSub).SetAttr("node", node);
            if (state.Affiliations.TryGetValue(Requester, out var a))
                list.Add(new Element("affiliation", PubSubNs.PubSub).SetAttr("node", node).SetAttr("affiliation", a));
            Ok(new Element("pubsub", PubSubNs.PubSub).Add(list));
        }

        // ---------------------------------------------------------------- §8.8 and §8.9: owners manage

        private void ManageSubscriptions(Element request, bool get)
        {
            if (!OwnerOnly()) return; // §8.8.1.2, §8.8.1.3
            if (get) // §8.8.1
            {
                var list = new Element("subscriptions", PubSubNs.Owner).SetAttr("node", node);
                foreach (var s in state.Subscriptions.Values)
                    list.Add(new Element("subscription", PubSubNs.Owner).SetAttr("jid", s.Jid).SetAttr("subscription", s.State).SetAttr("subid", s.SubId));
                Ok(new Element("pubsub", PubSubNs.Owner).Add(list));
                return;
            }
            var changes = new List<(string Jid, string State, string? SubId)>(); // §8.8.2: all or nothing
            foreach (var s in request.Elements("subscription", PubSubNs.Owner))
            {
                if (!Jid.TryParse(s.Attr("jid"), out var jid) || jid is null) { Fail("jid-malformed"); return; }
                if (s.Attr("subscription") is not (SubscriptionStates.Subscribed or SubscriptionStates.None) || s.Attr("subscription") is not { } st)
                {
                    Fail("bad-request");
                    return;
                }
                changes.Add((jid.ToString(), st, s.Attr("subid")));
            }
            foreach (var (jid, st, subid) in changes)
            {
                NodeSubscription? existing = null;
                foreach (var s in state.Subscriptions.Values)
                    if (s.Jid == jid && (subid is null || s.SubId == subid)) existing = s;
                if (st == SubscriptionStates.None)
                {
                    if (existing is null) continue;
                    entity.Persist(NodeEvents.Unsubscribe(existing.SubId));
                    _outcome.Add(NodeRequests.SubscriptionChanged(existing, removed: true));
                }
                else if (existing is null || existing.State != st)
                {
                    var changed = new NodeSubscription(jid, existing?.SubId ?? Guid.NewGuid().ToString("N"), st, existing?.Deliver ?? true);
                    entity.Persist(NodeEvents.Subscribe(changed));
                    _outcome.Add(NodeRequests.SubscriptionChanged(changed, removed: false));
                }
            }
            Ok();
        }

        private void ManageAffiliations(Element request, bool get)
        {
            if (!OwnerOnly()) return; // §8.9.1.2, §8.9.1.3
            if (get) // §8.9.1
            {
                var list = new Element("affiliations", PubSubNs.Owner).SetAttr("node", node);
                foreach (var (jid, a) in state.Affiliations)
                    list.Add(new Element("affiliation", PubSubNs.Owner).SetAttr("jid", jid).SetAttr("affiliation", a));
                Ok(new Element("pubsub", PubSubNs.Owner).Add(list));
                return;
            }
            var changes = new Dictionary<string, string>(StringComparer.Ordinal); // §8.9.2: all or nothing
            foreach (var a in request.Elements("affiliation", PubSubNs.Owner))
            {
                if (!Jid.TryParse(a.Attr("jid"), out var jid) || jid is null) { Fail("jid-malformed"); return; }
                if (!Affiliations.IsValid(a.Attr("affiliation"))) { Fail("bad-request"); return; }
                changes[jid.Bare.ToString()] = a.Attr("affiliation")!;
            }
            var owners = 0;
            foreach (var (jid, a) in state.Affiliations)
                if ((changes.TryGetValue(jid, out var next) ? next : a) == Affiliations.Owner) owners++;
            foreach (var (jid, a) in changes)
                if (a == Affiliations.Owner && !state.Affiliations.ContainsKey(jid)) owners++;
            if (owners == 0) { Fail("not-acceptable", null, null, "a node keeps at least one owner"); return; }
            foreach (var (jid, a) in changes)
            {
                if (state.Affiliations.GetValueOrDefault(jid, Affiliations.None) == a) continue;
                entity.Persist(NodeEvents.Affiliate(jid, a));
                _outcome.Add(NodeRequests.AffiliationChanged(jid, a));
                if (a != Affiliations.Outcast) continue;
                foreach (var s in state.Subscriptions.Values) // §4.1: an outcast has no subscription
                {
                    if (NodeRequests.BareOf(s.Jid)?.ToString() != jid) continue;
                    entity.Persist(NodeEvents.Unsubscribe(s.SubId));
                    _outcome.Add(NodeRequests.SubscriptionChanged(s, removed: true));
                }
            }
            Ok();
        }

        // ---------------------------------------------------------------- §5.3, §5.4, §5.5 discovery of a node

        private void DiscoInfo()
        {
            if (!Exists()) return;
            var query = new Element("query", Ns.DiscoInfo).SetAttr("node", node);
            query.Add(new Element("identity", Ns.DiscoInfo).SetAttr("category", "pubsub").SetAttr("type", Config.Kind)); // leaf or collection
            query.Add(new Element("feature", Ns.DiscoInfo).SetAttr("var", Ns.DiscoInfo));
            query.Add(new Element("feature", Ns.DiscoInfo).SetAttr("var", PubSubNs.PubSub));
            var form = new Element("x", Ns.DataForms).SetAttr("type", "result"); // §5.4 pubsub#meta-data
            form.Add(Value(new Element("field", Ns.DataForms).SetAttr("var", "FORM_TYPE").SetAttr("type", "hidden"), PubSubNs.MetaData));
            var owners = new Element("field", Ns.DataForms).SetAttr("var", "pubsub#owner");
            foreach (var (jid, a) in state.Affiliations)
                if (a == Affiliations.Owner) Value(owners, jid);
            form.Add(owners);
            foreach (var var in (string[])[NodeConfig.Title, NodeConfig.Description, NodeConfig.PayloadType, NodeConfig.AccessModel, NodeConfig.PublishModel, NodeConfig.MaxItems])
                form.Add(Value(new Element("field", Ns.DataForms).SetAttr("var", var), Config.ValueOf(var) ?? ""));
            query.Add(form);
            Ok(query);
        }

        private static Element Value(Element field, string value) => field.Add(new Element("value", Ns.DataForms).AddText(value));

        private void DiscoItems()
        {
            if (!Exists()) return;
            if (!MayAccess()) return;
            var query = new Element("query", Ns.DiscoItems).SetAttr("node", node);
            foreach (var child in state.Children) // XEP-0248 §5.2: a collection's children
                query.Add(new Element("item", Ns.DiscoItems).SetAttr("jid", service).SetAttr("node", child));
            foreach (var item in state.Items) // §5.5
                if (!Config.Expired(item, _now)) query.Add(new Element("item", Ns.DiscoItems).SetAttr("jid", service).SetAttr("name", item.Id));
            Ok(query);
        }

        // ---------------------------------------------------------------- replies and notifications

        /// <summary>Sends <paramref name="event"/> to every subscribed JID (the <paramref name="except"/> one skipped).</summary>
        private void Broadcast(Element @event, string type, string? except)
        {
            if (pep) // XEP-0163 §4: the service adds the contacts interested through +notify, as the access model lets it
            {
                var notify = new Element(NodeRequests.Notify, PubSubNs.Internal).SetAttr("type", type).SetAttr("access", Config.Access);
                if (Config.Access == AccessModels.Roster) NodeRequests.AddGroups(notify, Config.RosterGroups);
                _outcome.Add(notify.Add(@event.Clone()));
            }
            List<string>? recipients = null;
            foreach (var s in state.Subscriptions.Values)
                if (s.State == SubscriptionStates.Subscribed && s.Deliver && s.Jid != except)
                    (recipients ??= new List<string>(state.Subscriptions.Count)).Add(s.Jid);
            // one stanza for all: the host copies it per subscriber off this actor, paced (IEntityContext.SendToEach)
            if (recipients is not null) entity.SendToEach(NodeEntity.Message(service, null, type, @event), recipients);
        }

        private Element Message(string to, string type, Element content) => NodeEntity.Message(service, to, type, content);

        private void Ok(Element? payload = null)
        {
            _outcome.Add(StanzaErrors.IqResult(iq, payload));
            entity.Reply(_outcome);
        }

        /// <summary>An error reply with an optional pubsub#errors condition (XEP-0060 §7 and the sections it names).</summary>
        private void Fail(string condition, string? pubsubCondition = null, string? feature = null, string? text = null, string? type = null)
        {
            var reply = new Element(iq.Name, Ns.Client).SetAttr("from", iq.To).SetAttr("to", iq.From).SetAttr("id", iq.Id).SetAttr("type", "error");
            var error = StanzaErrors.Error(condition, text, type);
            if (pubsubCondition is not null) error.Add(new Element(pubsubCondition, PubSubNs.Errors).SetAttr("feature", feature));
            reply.Add(error);
            _outcome.Add(reply);
            entity.Reply(_outcome);
        }
    }
}
