using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Stanzas;
using Actors.Xmpp.Xml;
using Microsoft.Extensions.Logging;

namespace Actors.Plugins.Bookmarks;

/// <summary>
/// XEP-0402 §5.3 (compatibility): one list of bookmarks whichever way a client keeps it. The native PEP node
/// urn:xmpp:bookmarks:1 is the newer source once it exists; XEP-0049 private storage and the XEP-0048 PEP node
/// storage:bookmarks are kept as its legacy views. A client's request about bookmarks on its own account is taken at
/// the FromClient hook and carried out as the account (IPluginContext.SendIqAsync to its own bare JID, which the
/// pubsub and private plugins answer; those requests do not pass this hook, so neither direction starts the other
/// again); the client gets its answer once both sides are written:
/// <list type="bullet">
/// <item>a private set of storage:bookmarks: each changed room published to the native node, rooms no longer listed
/// retracted (§5.3.2), then the storage itself stored in private storage (which keeps the &lt;url/&gt;s XEP-0402 dropped)
/// and the legacy PEP node, if the account has one, republished;</item>
/// <item>a private get: built from the native items (with the stored &lt;url/&gt;s) once the node exists; before, the
/// private storage's own, whose rooms are then moved to the native node;</item>
/// <item>a native publish (checked against XEP-0402 §2, with the XEP's node configuration as publish-options when the
/// client gave none), retract, purge or delete: carried out, then the legacy views written from the items (§5.3.1);</item>
/// <item>a native items get on a node that does not exist yet: the private storage's rooms moved first;</item>
/// <item>a publish to the legacy PEP node (XEP-0048 §3.1): carried out, then cast into native items and private storage;
/// an items get of it: built from the native items.</item>
/// </list>
/// One account's conversions run one at a time (on this node).
/// </summary>
internal sealed class BookmarkSync(IPluginContext ctx)
{
    public const string PubSub = "http://jabber.org/protocol/pubsub";
    public const string PubSubOwner = "http://jabber.org/protocol/pubsub#owner";
    public const string PubSubErrors = "http://jabber.org/protocol/pubsub#errors";
    public const string Private = "jabber:iq:private";
    private const string PublishOptionsForm = "http://jabber.org/protocol/pubsub#publish-options";
    private const string NodeConfigForm = "http://jabber.org/protocol/pubsub#node_config";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly SemaphoreSlim[] _stripes = Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1)).ToArray();

    /// <summary>The FromClient hook: true (taken) for a bookmark request on the sender's own account.</summary>
    public bool OnClientStanza(StanzaEvent e)
    {
        var iq = e.Stanza;
        if (iq.Name != "iq" || iq.Type is not ("get" or "set") || iq.Id is null || iq.ElementCount != 1 || iq.FirstChild() is not { } payload)
            return false; // the session answers malformed IQs itself (RFC 6120 §8.2.3)
        var account = e.Session.Bare;
        if (iq.To is { } to && (!Jid.TryParse(to, out var target) || target is null || !target.Equals(account))) return false;
        var get = iq.Type == "get";
        Func<Request, Task>? work = null;
        if (payload.Is("query", Private) && payload.Child("storage", BookmarkCodec.Legacy) is not null)
            work = get ? (payload.ElementCount == 1 ? PrivateGetAsync : null) : PrivateSetAsync;
        else if (payload.Is("pubsub", PubSub) && Action(payload) is { } action)
        {
            var node = action.Attr("node");
            work = (action.Name, node, get) switch
            {
                ("publish", BookmarkCodec.Native, false) => NativeChangeAsync,
                ("retract", BookmarkCodec.Native, false) => NativeChangeAsync,
                ("items", BookmarkCodec.Native, true) => NativeItemsAsync,
                ("publish", BookmarkCodec.Legacy, false) when action.Child("item", PubSub)?.Child("storage", BookmarkCodec.Legacy) is not null => LegacyPepPublishAsync,
                ("items", BookmarkCodec.Legacy, true) => LegacyPepItemsAsync,
                _ => null,
            };
        }
        else if (payload.Is("pubsub", PubSubOwner) && !get && payload.FirstChild() is { Name: "purge" or "delete" } owner
                 && owner.Attr("node") == BookmarkCodec.Native)
            work = NativeChangeAsync;
        if (work is null) return false;
        _ = RunAsync(new Request(iq.Clone(), e.Session, account), work);
        return true;
    }

    /// <summary>The action of a pubsub request (publish-options ride along with a publish).</summary>
    private static Element? Action(Element pubsub) => pubsub.Elements().FirstOrDefault(c => c.Name != "publish-options");

    /// <summary>A client's IQ taken at the hook: its stanza (cloned), its session and its account.</summary>
    private sealed record Request(Element Iq, Jid Session, Jid Account)
    {
        public Element Payload => Iq.FirstChild()!;
    }

    private async Task RunAsync(Request r, Func<Request, Task> work)
    {
        var stripe = _stripes[(r.Account.GetHashCode() & int.MaxValue) % _stripes.Length];
        await stripe.WaitAsync();
        try { await work(r); }
        catch (Exception ex) // a fire-and-forget conversion: whatever failed, the client gets an answer
        {
            ctx.Logger.LogWarning(ex, "the bookmarks of {Account} could not be converted", r.Account);
            Fail(r, "internal-server-error", "the bookmarks could not be converted, try again");
        }
        finally { stripe.Release(); }
    }

    // ---------------------------------------------------------------- the client's requests

    /// <summary>XEP-0049 set with storage:bookmarks: native items first (§5.3.2), then the private set itself.</summary>
    private async Task PrivateSetAsync(Request r)
    {
        var children = r.Payload.Elements().ToList();
        foreach (var c in children)
            if (c.Namespace is Ns.Client or Ns.Server or Private || c.Namespace.Length == 0)
            {
                Fail(r, "not-acceptable", "this namespace cannot be used for private storage"); // XEP-0049 §3
                return;
            }
        if (children.Count(c => c.Is("storage", BookmarkCodec.Legacy)) != 1)
        {
            Fail(r, "bad-request", "one storage:bookmarks element at most");
            return;
        }
        var storage = r.Payload.Child("storage", BookmarkCodec.Legacy)!;
        var current = await NativeItemsAsync(r.Account);
        if (BookmarkCodec.FromStorage(storage, Index(current), out var invalid) is not { } rooms)
        {
            Fail(r, "bad-request", invalid);
            return;
        }
        if (await ApplyAsync(r.Account, rooms, current) is { } failed)
        {
            Relay(r, failed);
            return;
        }
        var stored = await AsAccount(r.Account, "set", r.Payload.Clone()); // the private plugin's own checks and store
        if (stored.Type == "result") await RepublishLegacyPepAsync(r.Account, storage);
        Relay(r, stored);
    }

    /// <summary>XEP-0049 get of storage:bookmarks: from the native node when it exists (the newer source).</summary>
    private async Task PrivateGetAsync(Request r)
    {
        var current = await NativeItemsAsync(r.Account);
        var kept = await PrivateStorageAsync(r.Account);
        if (current is null)
        {
            if (kept is not null) await MigrateAsync(r.Account, kept); // the first read since the plugin came
            Answer(r, new Element("query", Private).Add(kept?.Clone() ?? new Element("storage", BookmarkCodec.Legacy)));
            return;
        }
        Answer(r, new Element("query", Private).Add(BookmarkCodec.ToStorage(current, kept)));
    }

    /// <summary>XEP-0402 publish, retract, purge or delete: carried out, then the legacy views written (§5.3.1).</summary>
    private async Task NativeChangeAsync(Request r)
    {
        var request = r.Payload.Clone();
        if (request.Is("pubsub", PubSub) && request.Child("publish", PubSub) is { } publish)
        {
            var items = publish.Elements("item", PubSub).ToList();
            if (items.Count == 0)
            {
                Fail(r, "bad-request", "a bookmark is published as an item (XEP-0060 §7.1.3.5)", "item-required");
                return;
            }
            foreach (var item in items)
                if (BookmarkCodec.Invalid(item) is { } reason)
                {
                    Fail(r, "bad-request", reason, item.ElementCount == 0 ? "payload-required" : "invalid-payload"); // XEP-0060 §7.1.3.6
                    return;
                }
            await MigrateIfNewAsync(r.Account); // a first native publish: the legacy rooms join it
            // XEP-0402 §3.3: the node is private (whitelist); a client that sent no publish-options gets the XEP's
            if (request.Child("publish-options", PubSub) is null)
            {
                var published = await PublishConfiguredAsync(r.Account, request.Add(PublishOptions(NodeSettings)));
                if (published.Type == "result") await WriteLegacyAsync(r.Account);
                Relay(r, published);
                return;
            }
        }
        var answer = await AsAccount(r.Account, "set", request);
        if (answer.Type == "result") await WriteLegacyAsync(r.Account);
        Relay(r, answer);
    }

    /// <summary>XEP-0402 §3.2 items get: on a node that does not exist yet, the legacy rooms are moved there first.</summary>
    private async Task NativeItemsAsync(Request r)
    {
        var answer = await AsAccount(r.Account, "get", r.Payload.Clone());
        if (Condition(answer) == "item-not-found" && await PrivateStorageAsync(r.Account) is { } kept && await MigrateAsync(r.Account, kept))
            answer = await AsAccount(r.Account, "get", r.Payload.Clone());
        Relay(r, answer);
    }

    /// <summary>XEP-0048 §3.1 publish to the legacy PEP node: kept there (its +notify readers), and cast into native items
    /// and private storage (XEP-0402 §5.3.2).</summary>
    private async Task LegacyPepPublishAsync(Request r)
    {
        var storage = r.Payload.Child("publish", PubSub)!.Child("item", PubSub)!.Child("storage", BookmarkCodec.Legacy)!;
        var current = await NativeItemsAsync(r.Account);
        if (BookmarkCodec.FromStorage(storage, Index(current), out var invalid) is not { } rooms)
        {
            Fail(r, "bad-request", invalid, "invalid-payload");
            return;
        }
        var answer = await AsAccount(r.Account, "set", r.Payload.Clone());
        if (answer.Type == "result")
        {
            if (await ApplyAsync(r.Account, rooms, current) is { } failed)
            {
                Relay(r, failed);
                return;
            }
            await StorePrivateAsync(r.Account, BookmarkCodec.ToStorage(rooms, storage)); // the whole new list, its <url/>s too
        }
        Relay(r, answer);
    }

    /// <summary>XEP-0048 §3.3 items get of the legacy PEP node: the native items cast into one 'current' item, once
    /// the native node exists.</summary>
    private async Task LegacyPepItemsAsync(Request r)
    {
        if (await NativeItemsAsync(r.Account) is not { } current)
        {
            Relay(r, await AsAccount(r.Account, "get", r.Payload.Clone()));
            return;
        }
        var storage = BookmarkCodec.ToStorage(current, await PrivateStorageAsync(r.Account));
        Answer(r, new Element("pubsub", PubSub).Add(new Element("items", PubSub).SetAttr("node", BookmarkCodec.Legacy)
            .Add(new Element("item", PubSub).SetAttr("id", "current").Add(storage))));
    }

    // ---------------------------------------------------------------- the two sides

    /// <summary>The XEP-0402 §3.3 node configuration, as publish-options and as the form a configure sets.</summary>
    private static readonly (string Var, string Value)[] NodeSettings =
    [
        ("pubsub#persist_items", "true"), ("pubsub#max_items", "max"), ("pubsub#send_last_published_item", "never"), ("pubsub#access_model", "whitelist"),
    ];

    private static Element PublishOptions((string Var, string Value)[] settings)
    {
        var form = new Element("x", Ns.DataForms).SetAttr("type", "submit");
        form.AddChild("field").SetAttr("var", "FORM_TYPE").SetAttr("type", "hidden").AddChild("value").AddText(PublishOptionsForm);
        foreach (var (var, value) in settings) form.AddChild("field").SetAttr("var", var).AddChild("value").AddText(value);
        return new Element("publish-options", PubSub).Add(form);
    }

    /// <summary>The account's native items (room, conference) in the node's order; null when the node does not exist.</summary>
    private async Task<List<(string Room, Element Conference)>?> NativeItemsAsync(Jid account)
    {
        var answer = await AsAccount(account, "get", new Element("pubsub", PubSub).Add(new Element("items", PubSub).SetAttr("node", BookmarkCodec.Native)));
        if (answer.Type != "result")
        {
            if (Condition(answer) == "item-not-found") return null;
            throw new InvalidOperationException($"the bookmarks node could not be read: {Condition(answer)}");
        }
        var list = new List<(string, Element)>();
        var items = answer.Child("pubsub", PubSub)?.Child("items", PubSub);
        foreach (var item in items?.Elements("item", PubSub) ?? [])
            if (item.Attr("id") is { } id && item.Child("conference", BookmarkCodec.Native) is { } conference)
                list.Add((id, conference));
        return list;
    }

    private static Dictionary<string, Element> Index(List<(string Room, Element Conference)>? items)
    {
        var index = new Dictionary<string, Element>(StringComparer.Ordinal);
        foreach (var (room, conference) in items ?? []) index[room] = conference;
        return index;
    }

    /// <summary>XEP-0402 §5.3.2: publishes the rooms that are new or changed and retracts those no longer listed
    /// (unchanged ones are left alone: no notification for them). Null, or the failed answer.</summary>
    private async Task<Element?> ApplyAsync(Jid account, List<(string Room, Element Conference)> rooms, List<(string Room, Element Conference)>? current)
    {
        var before = Index(current);
        foreach (var (room, conference) in rooms)
        {
            if (before.Remove(room, out var old) && BookmarkCodec.Same(old, conference)) continue;
            var publish = new Element("pubsub", PubSub).Add(new Element("publish", PubSub).SetAttr("node", BookmarkCodec.Native)
                .Add(new Element("item", PubSub).SetAttr("id", room).Add(conference))).Add(PublishOptions(NodeSettings));
            var answer = await PublishConfiguredAsync(account, publish);
            if (answer.Type != "result") return answer;
        }
        foreach (var room in before.Keys)
        {
            var retract = new Element("pubsub", PubSub).Add(new Element("retract", PubSub).SetAttr("node", BookmarkCodec.Native).SetAttr("notify", "true")
                .Add(new Element("item", PubSub).SetAttr("id", room)));
            var answer = await AsAccount(account, "set", retract);
            if (answer.Type != "result" && Condition(answer) != "item-not-found") return answer;
        }
        return null;
    }

    /// <summary>A publish with the XEP's publish-options; a node configured otherwise (XEP-0060 §7.1.5
    /// precondition-not-met, e.g. made by a client that sent none before this plugin came) is configured as XEP-0402
    /// §3.3 says, as Prosody's mod_bookmarks does, and the publish sent again.</summary>
    private async Task<Element> PublishConfiguredAsync(Jid account, Element publish)
    {
        var answer = await AsAccount(account, "set", publish.Clone());
        if (answer.Type == "result" || PubSubConditionOf(answer) != "precondition-not-met") return answer;
        var form = new Element("x", Ns.DataForms).SetAttr("type", "submit");
        form.AddChild("field").SetAttr("var", "FORM_TYPE").SetAttr("type", "hidden").AddChild("value").AddText(NodeConfigForm);
        foreach (var (var, value) in NodeSettings) form.AddChild("field").SetAttr("var", var).AddChild("value").AddText(value);
        var configure = await AsAccount(account, "set", new Element("pubsub", PubSubOwner)
            .Add(new Element("configure", PubSubOwner).SetAttr("node", BookmarkCodec.Native).Add(form)));
        if (configure.Type != "result") return answer;
        ctx.Logger.LogInformation("the bookmarks node of {Account} was configured as XEP-0402 says (whitelist, all items kept)", account);
        return await AsAccount(account, "set", publish.Clone());
    }

    /// <summary>Before the native node exists: the rooms of the account's legacy private storage go there.</summary>
    private async Task MigrateIfNewAsync(Jid account)
    {
        var probe = await AsAccount(account, "get", new Element("pubsub", PubSub).Add(new Element("items", PubSub).SetAttr("node", BookmarkCodec.Native).SetAttr("max_items", "1")));
        if (Condition(probe) == "item-not-found" && await PrivateStorageAsync(account) is { } kept) await MigrateAsync(account, kept);
    }

    /// <summary>The rooms of a legacy storage published as native items; whether any was.</summary>
    private async Task<bool> MigrateAsync(Jid account, Element storage)
    {
        var rooms = BookmarkCodec.FromStorage(storage, new Dictionary<string, Element>(), out var invalid);
        if (rooms is null)
        {
            ctx.Logger.LogInformation("the private bookmarks of {Account} stay where they are: {Reason}", account, invalid);
            return false;
        }
        if (rooms.Count == 0) return false;
        if (await ApplyAsync(account, rooms, null) is { } failed)
        {
            ctx.Logger.LogWarning("the private bookmarks of {Account} could not be moved to PEP: {Condition}", account, Condition(failed));
            return false;
        }
        return true;
    }

    /// <summary>XEP-0402 §5.3.1: private storage and (if the account has it) the legacy PEP node from the native items.</summary>
    private async Task WriteLegacyAsync(Jid account)
    {
        var storage = BookmarkCodec.ToStorage(await NativeItemsAsync(account) ?? [], await PrivateStorageAsync(account));
        await StorePrivateAsync(account, storage);
        await RepublishLegacyPepAsync(account, storage);
    }

    /// <summary>The storage:bookmarks the account keeps in private storage, or null if none (or an empty one never set).</summary>
    private async Task<Element?> PrivateStorageAsync(Jid account)
    {
        var answer = await AsAccount(account, "get", new Element("query", Private).Add(new Element("storage", BookmarkCodec.Legacy)));
        if (answer.Type != "result") throw new InvalidOperationException($"private storage could not be read: {Condition(answer)}");
        var storage = answer.Child("query", Private)?.Child("storage", BookmarkCodec.Legacy);
        return storage is { ElementCount: > 0 } ? storage : null;
    }

    private async Task StorePrivateAsync(Jid account, Element storage)
    {
        var answer = await AsAccount(account, "set", new Element("query", Private).Add(storage));
        if (answer.Type != "result") throw new InvalidOperationException($"private storage could not be written: {Condition(answer)}");
    }

    /// <summary>XEP-0048 §3 (the PEP variant): the account's legacy node gets the list as its 'current' item, which
    /// notifies its +notify readers; an account without that node is left without it.</summary>
    private async Task RepublishLegacyPepAsync(Jid account, Element storage)
    {
        var read = await AsAccount(account, "get", new Element("pubsub", PubSub).Add(new Element("items", PubSub).SetAttr("node", BookmarkCodec.Legacy).SetAttr("max_items", "1")));
        if (read.Type != "result") return;
        var publish = new Element("pubsub", PubSub).Add(new Element("publish", PubSub).SetAttr("node", BookmarkCodec.Legacy)
            .Add(new Element("item", PubSub).SetAttr("id", "current").Add(storage.Clone())));
        var answer = await AsAccount(account, "set", publish);
        if (answer.Type != "result")
            ctx.Logger.LogInformation("the legacy PEP bookmarks of {Account} were not updated: {Condition}", account, Condition(answer));
    }

    // ---------------------------------------------------------------- stanzas

    /// <summary>An IQ from the account to itself (the pubsub and private plugins answer it as they would its client).</summary>
    private Task<Element> AsAccount(Jid account, string type, Element payload) =>
        ctx.SendIqAsync(new Element("iq", Ns.Client).SetAttr("type", type).SetAttr("from", account.ToString()).SetAttr("to", account.ToString()).Add(payload), Timeout);

    private static string? Condition(Element answer) =>
        answer.Child("error", Ns.Client)?.Elements().FirstOrDefault(e => e.Namespace == Ns.StanzaErrors)?.Name;

    private static string? PubSubConditionOf(Element answer) =>
        answer.Child("error", Ns.Client)?.Elements().FirstOrDefault(e => e.Namespace == PubSubErrors)?.Name;

    /// <summary>The answer to the client's request: <paramref name="answer"/>'s type and content, the request's id.</summary>
    private void Relay(Request r, Element answer)
    {
        var reply = new Element("iq", Ns.Client).SetAttr("type", answer.Type).SetAttr("id", r.Iq.Id)
            .SetAttr("from", r.Account.ToString()).SetAttr("to", r.Session.ToString());
        foreach (var child in answer.Elements()) reply.Add(child.Clone());
        ctx.SendStanza(reply);
    }

    private void Answer(Request r, Element payload) =>
        ctx.SendStanza(new Element("iq", Ns.Client).SetAttr("type", "result").SetAttr("id", r.Iq.Id)
            .SetAttr("from", r.Account.ToString()).SetAttr("to", r.Session.ToString()).Add(payload));

    /// <summary>An error answer (the request's payload echoed, RFC 6120 §8.3.1), with a pubsub#errors condition if given.</summary>
    private void Fail(Request r, string condition, string? text, string? pubsubCondition = null)
    {
        var request = r.Iq.Clone().SetAttr("from", r.Session.ToString()).SetAttr("to", r.Account.ToString());
        var reply = StanzaErrors.Reply(request, condition, text)!;
        if (pubsubCondition is not null) reply.Child("error", Ns.Client)!.Add(new Element(pubsubCondition, PubSubErrors));
        ctx.SendStanza(reply);
    }
}
