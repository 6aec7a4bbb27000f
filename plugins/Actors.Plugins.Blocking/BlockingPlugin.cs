using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;
using Microsoft.Extensions.Logging;

namespace Actors.Plugins.Blocking;

/// <summary>
/// XEP-0191 blocking command (Prosody's mod_blocklist). An account's block list is the map "blocklist" of the account
/// in this plugin's store (key: the blocked JID as written by the client, normalized; value: empty text).
///
/// Hooks are synchronous, so the lists of the accounts the hooks ask about are kept in memory (<see cref="BlockLists"/>):
/// a list is read at the first stanza that needs it (routed to or from an existing local account, or the account's
/// own block command), not at login, so that a login costs no read of this store. A hook that needs a list still being
/// read holds the stanza (it returns true, nothing else sees it) and routes it again, in arrival order, once the list
/// is in memory: the second pass decides. Whichever list a stanza waits for (its recipient's or its sender's), it waits
/// in its recipient's queue, and later stanzas to that account wait behind it (<see cref="AccountList"/>). No thread
/// ever waits for the store. Lists of accounts with no bound session are dropped after a minute unused.
///
/// Enforcement: inbound (§3.5) at InboundBare, InboundFull and Deliver (what the account blocked never reaches it:
/// messages and IQ get/set are answered service-unavailable, presence is dropped, so nothing from a blocked JID is
/// stored offline or taken as a subscription request); outbound (§3.6) at FromClient (the user's stanza to a blocked
/// JID: not-acceptable with &lt;blocked/&gt;) and, for what the server sends on the user's behalf (presence
/// broadcasts, probe answers), at the recipient's inbound hooks, which drop presence from a user to a JID the user
/// blocked (the PresenceBroadcast hook cannot do it: it sees one broadcast for all contacts). The refusals themselves
/// are errors, which no check stops.
/// </summary>
[Xep(191, "1.3")]
public sealed class BlockingPlugin : IXmppPlugin
{
    public const string Ns = "urn:xmpp:blocking";
    public const string ErrorsNs = "urn:xmpp:blocking:errors";
    public const string StoreKind = "blocklist";
    /// <summary>Runs before other plugins' hooks at the same points: a blocked stanza must not reach them either.</summary>
    private const int HookPriority = 1000;

    public PluginDescriptor Descriptor { get; } = new("blocking", "1.0.0");

    public void Configure(IPluginContext ctx)
    {
        var store = ctx.Storage.Map(StoreKind);
        var lists = new BlockLists(store, ctx.SendStanza, ctx.Logger, ctx.Domains, ctx.Require<IAccounts>(), ctx.Require<ISessions>());
        ctx.AddFeature(Ns, IqScope.Both);
        ctx.HandleIq("get", IqScope.Account, Ns, "blocklist", r => Get(lists, r));
        ctx.HandleIq("set", IqScope.Account, Ns, "block", r => Change(ctx, store, lists, r, block: true));
        ctx.HandleIq("set", IqScope.Account, Ns, "unblock", r => Change(ctx, store, lists, r, block: false));

        ctx.Hook(HookPoint.InboundBare, HookPriority, lists.Inbound);
        ctx.Hook(HookPoint.InboundFull, HookPriority, lists.Inbound);
        ctx.Hook(HookPoint.Deliver, HookPriority, lists.Deliver);
        ctx.Hook(HookPoint.FromClient, HookPriority, lists.FromClient);

        ctx.On(ServerEventKind.AccountGone, e => { lists.Forget(e.Jid); return ValueTask.CompletedTask; }); // every node
        ctx.OnSignal(ChangedSignal, account => _ = ChangedElsewhereAsync(ctx, lists, account));
        ctx.Every(TimeSpan.FromMinutes(1), _ => { lists.DropUnused(TimeSpan.FromMinutes(1)); return Task.CompletedTask; });
    }

    // ---- §3.2 retrieving the block list ---------------------------------------------------------------------------

    private static async ValueTask<Element> Get(BlockLists lists, IqRequest r)
    {
        if (!r.From.Bare.Equals(r.To.Bare)) return r.Error("forbidden", "a block list can only be used by its owner");
        var list = await lists.LoadAsync(r.To.Bare);
        // §3.2: this resource now gets the pushes of every change (§3.3, §3.4)
        lists.Interested(r.From);
        var result = new Element("blocklist", Ns);
        foreach (var jid in list.Sorted()) result.Add(new Element("item", Ns).SetAttr("jid", jid));
        return r.Result(result);
    }

    // ---- §3.3 blocking and §3.4 unblocking ----------------------------------------------------------------------

    private static async ValueTask<Element> Change(IPluginContext ctx, IStoreMap store, BlockLists lists, IqRequest r, bool block)
    {
        if (!r.From.Bare.Equals(r.To.Bare)) return r.Error("forbidden", "a block list can only be used by its owner");
        var jids = new List<string>();
        foreach (var item in r.Payload.Elements("item", Ns))
        {
            if (!Jid.TryParse(item.Attr("jid"), out var j) || j is null)
                return r.Error("jid-malformed", "an item's 'jid' is not a valid JID");
            var normalized = j.ToString();
            if (!jids.Contains(normalized)) jids.Add(normalized);
        }
        if (block && jids.Count == 0) return r.Error("bad-request", "a block needs at least one item (XEP-0191 §3.3)");

        var account = r.To.Bare;
        var list = await lists.LoadAsync(account); // read before the write, so that the list in memory sees it once
        if (!block && jids.Count == 0)
            await store.ClearAsync(account); // §3.4: an empty unblock unblocks every JID
        else
        {
            var entries = new StoredEntry[jids.Count];
            for (var i = 0; i < entries.Length; i++) entries[i] = new StoredEntry(jids[i], block ? StoredValue.Of("") : null);
            await store.SetManyAsync(account, entries); // a StorageException is answered with <internal-server-error/>
        }

        // §3.3: each newly blocked contact sees every available resource of the user go offline (sent before the
        // list changes: the inbound check lets unavailable presence through anyway)
        if (block) GoOfflineFor(ctx, lists, account, jids.Where(jid => !list.Contains(jid)));
        list.Apply(block, jids);
        // the account's resources on the other nodes of a cluster: their node reads the list again and tells them
        ctx.Signal(ChangedSignal, account);

        Push(ctx, lists, account, r.Payload);
        return r.Result();
    }

    /// <summary>§3.3: every available resource of <paramref name="account"/> (on this node) goes offline for each
    /// newly blocked contact that is a user.</summary>
    private static void GoOfflineFor(IPluginContext ctx, BlockLists lists, Jid account, IEnumerable<string> newlyBlocked)
    {
        foreach (var jid in newlyBlocked)
            if (Jid.TryParse(jid, out var contact) && contact is not null && contact.Local is not null)
                foreach (var resource in lists.AvailableResources(account))
                    ctx.SendStanza(new Element("presence", Xmpp.Ns.Client).SetAttr("type", "unavailable")
                        .SetAttr("from", resource.ToString()).SetAttr("to", jid));
    }

    /// <summary>§3.3 / §3.4: the change (a &lt;block/&gt; or &lt;unblock/&gt;) is pushed to every resource (on this
    /// node) that requested the block list (§3.2).</summary>
    private static void Push(IPluginContext ctx, BlockLists lists, Jid account, Element change)
    {
        foreach (var resource in lists.InterestedResources(account))
        {
            var push = new Element("iq", Xmpp.Ns.Client).SetAttr("type", "set").SetAttr("id", "push" + Guid.NewGuid().ToString("N")[..12])
                .SetAttr("from", account.ToString()).SetAttr("to", resource.ToString());
            push.Add(change.Clone());
            ctx.SendStanza(push);
        }
    }

    // ---- a cluster: the list changed through another node ----------------------------------------------------------

    /// <summary>The signal this plugin on the node where a list changed gives the others (about: the account).</summary>
    private const string ChangedSignal = "list-changed";

    /// <summary>The list of <paramref name="account"/> changed through another node: the list this node holds is read
    /// again (it decides the hooks here), and the account's resources on this node are told what changed as the other
    /// node told its own (§3.3 unavailable presence to the newly blocked, the block and unblock pushes). A list this node
    /// does not hold is read at its next use.</summary>
    private static async Task ChangedElsewhereAsync(IPluginContext ctx, BlockLists lists, Jid account)
    {
        try
        {
            if (lists.ReadAgain(account) is not { } before) return;
            var after = (await lists.LoadAsync(account)).Blocked ?? [];
            var blocked = after.Except(before).OrderBy(j => j, StringComparer.Ordinal).ToList();
            var unblocked = before.Except(after).OrderBy(j => j, StringComparer.Ordinal).ToList();
            if (blocked.Count > 0)
            {
                GoOfflineFor(ctx, lists, account, blocked);
                Push(ctx, lists, account, Items("block", blocked));
            }
            if (unblocked.Count > 0) Push(ctx, lists, account, Items("unblock", unblocked));
        }
        catch (Exception ex) // the list could not be read again: the hooks here hold and then refuse, as at a first read
        {
            ctx.Logger.LogWarning(ex, "blocking: the list of {Account}, changed on another node, could not be read again", account);
        }
    }

    private static Element Items(string name, List<string> jids)
    {
        var change = new Element(name, Ns);
        foreach (var jid in jids) change.Add(new Element("item", Ns).SetAttr("jid", jid));
        return change;
    }
}
