using System.Collections.Concurrent;
using System.Globalization;
using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Things;

/// <summary>
/// The XEP-0347 thing registry at discovery.&lt;domain&gt;: things register their meta tags (§3.2), owners claim them by
/// presenting exactly those tags (§3.4), search the public claimed ones (§3.9), update (§3.7, §3.8), remove (§3.5),
/// unregister (§3.10) and disown (§3.11). A thing is one record per bare JID (and, behind a concentrator, per nodeId,
/// sourceId and cacheType) in the plugin's storage (map "things", owner: the registry's JID), as
/// <c>&lt;thing jid owner? public?&gt;&lt;str/&gt;&lt;num/&gt;...&lt;/thing&gt;</c>. Changes go one at a time (a claim reads,
/// decides and writes without another change in between).
/// </summary>
internal sealed class ThingRegistry(IPluginContext ctx, ThingsOptions options, IStoreMap things, ISessions sessions, IRosters rosters, IAccounts accounts)
{
    private const string Thing = "thing";
    private readonly SemaphoreSlim _changes = new(1, 1);
    private readonly ConcurrentDictionary<string, (TaskCompletionSource<Element> Answer, Jid From)> _pending = new(StringComparer.Ordinal);
    private readonly string _idPrefix = "disco-" + Guid.NewGuid().ToString("N")[..8] + "-";
    private long _nextId;

    private TimeSpan ThingTimeout => TimeSpan.FromSeconds(options.ThingTimeoutSeconds);

    public static DiscoInfo Info(string name) => new([new DiscoIdentity("component", "generic", name)], [MetaTags.Ns], []);

    public async ValueTask HandleAsync(AddressedStanza s)
    {
        var stanza = s.Stanza;
        if (stanza.Name != "iq")
        {
            if (stanza.Name == "message" && s.Error("service-unavailable") is { } bounce) ctx.SendStanza(bounce);
            return;
        }
        if (stanza.Type is "result" or "error") // a thing's answer to <claimed/>, <removed/> or <disowned/>
        {
            if (stanza.Id is { } id && _pending.TryGetValue(id, out var asked) && asked.From.Equals(s.From) && _pending.TryRemove(id, out _))
                asked.Answer.TrySetResult(stanza); // RFC 6120 §8.2.3: matched by id and addresses
            return;
        }
        var payload = s.Payload;
        if (!s.To.IsDomain || payload is null || payload.Namespace != MetaTags.Ns)
        {
            Send(s.Error("service-unavailable"));
            return;
        }
        var get = stanza.Type == "get";
        switch (payload.Name)
        {
            case "search" when get: Send(await SearchAsync(s, payload)); return;
            case "register" when !get: await Changing(() => RegisterAsync(s, payload)); return;
            case "mine" when !get: await Changing(() => ClaimAsync(s, payload)); return;
            case "update" when !get: await Changing(() => UpdateAsync(s, payload)); return;
            case "remove" when !get: await Changing(() => RemoveAsync(s, payload)); return;
            case "unregister" when !get: await Changing(() => UnregisterAsync(s, payload)); return;
            case "disown" when !get: await Changing(() => DisownAsync(s, payload)); return;
            default: Send(s.Error(get ? "service-unavailable" : "bad-request")); return;
        }
    }

    private async Task Changing(Func<Task<Element?>> change)
    {
        await _changes.WaitAsync();
        Element? reply;
        try { reply = await change(); }
        finally { _changes.Release(); }
        Send(reply);
    }

    // ---------------------------------------------------------------- the thing's own requests

    /// <summary>§3.2, §3.3: (re)registers the sender's record with exactly these tags, unclaimed (or self-owned: public
    /// and claimed at once); a claimed thing's record is left as it is and the answer names its owner.</summary>
    private async Task<Element?> RegisterAsync(AddressedStanza s, Element register)
    {
        if (MetaTags.Read(register, options.MaxTags, allowEmpty: false) is not { } tags) return s.Error("bad-request", "invalid meta tags");
        var jid = s.From.Bare;
        var key = Key(jid, register);
        var existing = await FindAsync(s.To, key);
        if (existing?.Attr("owner") is { } owner)
            return s.Result(WithNode(new Element("claimed", MetaTags.Ns).SetAttr("jid", owner), existing));
        var record = Record(jid, register, tags);
        if (register.Attr("selfOwned") == "true") record.SetAttr("owner", jid.ToString()).SetAttr("public", "true");
        await things.SetAsync(s.To, key, StoredValue.Of(record));
        return s.Result();
    }

    /// <summary>§3.7: a claimed thing's tags change (an empty string value removes one); not found: item-not-found; not
    /// claimed: &lt;disowned/&gt; and nothing changes. With a 'jid' (§3.8) the owner updates its thing.</summary>
    private async Task<Element?> UpdateAsync(AddressedStanza s, Element update)
    {
        if (MetaTags.Read(update, options.MaxTags, allowEmpty: true) is not { } tags) return s.Error("bad-request", "invalid meta tags");
        var byOwner = update.Attr("jid") is not null;
        if (!TryThing(update, s.From, out var jid)) return s.Error("jid-malformed");
        var key = Key(jid, update);
        var record = await FindAsync(s.To, key);
        if (record is null || byOwner && record.Attr("owner") != s.From.Bare.ToString()) return s.Error("item-not-found");
        if (record.Attr("owner") is null) return s.Result(new Element("disowned", MetaTags.Ns));
        var merged = new Dictionary<string, Element>(StringComparer.Ordinal);
        foreach (var t in record.Elements()) if (MetaTags.IsTag(t)) merged[t.Attr("name")!] = t;
        foreach (var t in tags)
        {
            if (t.Name == MetaTags.Str && t.Attr("value") is { Length: 0 }) merged.Remove(t.Attr("name")!);
            else merged[t.Attr("name")!] = t;
        }
        if (merged.Count > options.MaxTags) return s.Error("not-acceptable", $"a thing may have {options.MaxTags} tags");
        var updated = Copy(record);
        foreach (var t in merged.Values) updated.Add(t.Clone());
        await things.SetAsync(s.To, key, StoredValue.Of(updated));
        return s.Result();
    }

    /// <summary>§3.10: the thing leaves the registry; always an empty result.</summary>
    private async Task<Element?> UnregisterAsync(AddressedStanza s, Element unregister)
    {
        var key = Key(s.From.Bare, unregister);
        if (await FindAsync(s.To, key) is not null) await things.SetAsync(s.To, key, null);
        return s.Result();
    }

    // ---------------------------------------------------------------- the owner's requests

    /// <summary>§3.4: the one unclaimed thing with exactly these tags becomes the sender's (public unless
    /// public='false'), and is told so; the sender's own claimed thing with these tags answers the same; anything else
    /// item-not-found, saying no more.</summary>
    private async Task<Element?> ClaimAsync(AddressedStanza s, Element mine)
    {
        if (MetaTags.Read(mine, options.MaxTags, allowEmpty: false) is not { Count: > 0 } tags) return s.Error("bad-request", "invalid meta tags");
        var owner = s.From.Bare.ToString();
        var isPublic = mine.Attr("public") != "false";
        (string Key, Element Record)? match = null;
        foreach (var entry in await things.GetAllAsync(s.To))
        {
            if (entry.Value?.Xml is not { } record || !MetaTags.SameSet(Tags(record), tags)) continue;
            var claimedBy = record.Attr("owner");
            if (claimedBy is not null && claimedBy != owner) continue;
            if (match is not null) return s.Error("item-not-found"); // two things with the same tags: neither is claimed by them
            match = (entry.Key, record);
        }
        if (match is not { } found) return s.Error("item-not-found");
        var thing = Jid.Parse(found.Record.Attr("jid")!);
        if (found.Record.Attr("owner") is null)
        {
            var claimed = Copy(found.Record).SetAttr("owner", owner).SetAttr("public", isPublic ? "true" : "false");
            foreach (var t in Tags(found.Record)) claimed.Add(t.Clone());
            await things.SetAsync(s.To, found.Key, StoredValue.Of(claimed));
            var told = WithNode(new Element("claimed", MetaTags.Ns).SetAttr("jid", owner).SetAttr("public", isPublic ? null : "false"), found.Record);
            foreach (var resource in sessions.Resources(thing)) _ = AskThingAsync(s.To, resource.Jid, told.Clone());
            Befriend(s.From.Bare, thing);
            if (!thing.Equals(s.From.Bare) && IsAccount(thing)) await TwinNodes.GrantAsync(ctx, thing, s.From.Bare, ThingTimeout);
        }
        return s.Result(WithNode(new Element("claimed", MetaTags.Ns).SetAttr("jid", thing.ToString()), found.Record));
    }

    /// <summary>§3.5: the owner removes its thing from the registry; the thing, if online, is told (&lt;removed/&gt;).</summary>
    private async Task<Element?> RemoveAsync(AddressedStanza s, Element remove)
    {
        if (!TryThing(remove, null, out var jid)) return s.Error("item-not-found");
        var key = Key(jid, remove);
        var record = await FindAsync(s.To, key);
        if (record?.Attr("owner") != s.From.Bare.ToString()) return s.Error("item-not-found");
        await things.SetAsync(s.To, key, null);
        if (IsAccount(jid.Bare) && !jid.Bare.Equals(s.From.Bare)) await TwinNodes.RevokeAsync(ctx, jid.Bare, s.From.Bare, ThingTimeout);
        var told = WithNode(new Element("removed", MetaTags.Ns), record!);
        foreach (var resource in sessions.Resources(jid.Bare)) _ = AskThingAsync(s.To, resource.Jid, told.Clone());
        return s.Result();
    }

    /// <summary>§3.11: the owner gives its thing up. The thing must be online and acknowledge &lt;disowned/&gt; first
    /// (else not-allowed: it could not be claimed again); then it is unclaimed, its tags are gone and a random KEY
    /// replaces them.</summary>
    private async Task<Element?> DisownAsync(AddressedStanza s, Element disown)
    {
        if (!TryThing(disown, null, out var jid)) return s.Error("item-not-found");
        var key = Key(jid, disown);
        var record = await FindAsync(s.To, key);
        if (record is null || record.Attr("owner") != s.From.Bare.ToString()) return s.Error("item-not-found");
        List<Jid> online = jid.Resource is not null ? [jid] : sessions.Resources(jid).Select(r => r.Jid).ToList(); // a concentrator names its resource
        var acknowledged = false;
        foreach (var resource in online)
            if ((await AskThingAsync(s.To, resource, WithNode(new Element("disowned", MetaTags.Ns), record))).Type == "result") { acknowledged = true; break; }
        if (!acknowledged) return s.Error("not-allowed");
        var unclaimed = Copy(record);
        unclaimed.SetAttr("owner", null).SetAttr("public", null);
        unclaimed.Add(new Element(MetaTags.Str, MetaTags.Ns).SetAttr("name", MetaTags.Key).SetAttr("value", MetaTags.RandomKey()));
        await things.SetAsync(s.To, key, StoredValue.Of(unclaimed));
        Unfriend(s.From.Bare, jid.Bare);
        if (IsAccount(jid.Bare) && !jid.Bare.Equals(s.From.Bare)) await TwinNodes.RevokeAsync(ctx, jid.Bare, s.From.Bare, ThingTimeout);
        return s.Result();
    }

    // ---------------------------------------------------------------- rosters

    /// <summary>The owner and its thing subscribe to each other's presence (the friendship §3.4 lets them make, made by
    /// the registry): each pre-approves the other (RFC 6121 §3.4), then each subscribes, so both rosters end with
    /// 'both' and the owner sees the thing's presence. Only between accounts of this server.</summary>
    private void Befriend(Jid owner, Jid thing)
    {
        if (owner.Equals(thing) || !IsAccount(owner) || !IsAccount(thing)) return;
        rosters.SendSubscription(thing, owner, "subscribed");
        rosters.SendSubscription(owner, thing, "subscribed");
        rosters.SendSubscription(owner, thing, "subscribe");
        rosters.SendSubscription(thing, owner, "subscribe");
    }

    /// <summary>Disowned: the friendship ends both ways (each side cancels its subscription and the other's).</summary>
    private void Unfriend(Jid owner, Jid thing)
    {
        if (owner.Equals(thing) || !IsAccount(owner) || !IsAccount(thing)) return;
        rosters.SendSubscription(owner, thing, "unsubscribe");
        rosters.SendSubscription(owner, thing, "unsubscribed");
    }

    private bool IsAccount(Jid bare) => ctx.Domains.Contains(bare.Domain) && accounts.Exists(bare);

    // ---------------------------------------------------------------- search

    /// <summary>§3.9: public claimed things matching every operator, from 'offset', at most 'maxCount' (capped by the
    /// registry); 'more' when others follow. KEY is never searched and never shown.</summary>
    private async Task<Element?> SearchAsync(AddressedStanza s, Element search)
    {
        if (Search.Operators(search) is not { Count: > 0 } operators) return s.Error("bad-request", "unknown or malformed search operator");
        var offset = 0;
        if (search.Attr("offset") is { } o && (!int.TryParse(o, NumberStyles.None, CultureInfo.InvariantCulture, out offset) || offset < 0)) return s.Error("bad-request");
        var max = options.MaxSearchResults;
        if (search.Attr("maxCount") is { } m)
        {
            if (!int.TryParse(m, NumberStyles.None, CultureInfo.InvariantCulture, out var asked) || asked < 1) return s.Error("bad-request");
            max = Math.Min(max, asked);
        }
        var found = new Element("found", MetaTags.Ns);
        var skipped = 0;
        var count = 0;
        var more = false;
        foreach (var entry in (await things.GetAllAsync(s.To)).OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            if (entry.Value?.Xml is not { } record || record.Attr("owner") is null || record.Attr("public") != "true") continue;
            if (!operators.TrueForAll(op => op(record))) continue;
            if (skipped++ < offset) continue;
            if (count == max) { more = true; break; }
            count++;
            var thing = WithNode(new Element(Thing, MetaTags.Ns).SetAttr("owner", record.Attr("owner")).SetAttr("jid", record.Attr("jid")), record);
            foreach (var t in Tags(record)) if (t.Attr("name") != MetaTags.Key) thing.Add(t.Clone());
            found.Add(thing);
        }
        found.SetAttr("more", more ? "true" : "false");
        return s.Result(found);
    }

    // ---------------------------------------------------------------- records

    private async Task<Element?> FindAsync(Jid registry, string key) => (await things.GetAsync(registry, key))?.Xml;

    /// <summary>The record's key: the thing's bare JID and, behind a concentrator, the node triple (§3.3).</summary>
    private static string Key(Jid thing, Element request) =>
        Key(thing, request.Attr("nodeId"), request.Attr("sourceId"), request.Attr("cacheType"));

    /// <summary>The record's key of a thing (bare JID) or of a node behind it.</summary>
    internal static string Key(Jid thing, string? nodeId, string? sourceId, string? cacheType) =>
        thing.Bare + "\n" + nodeId + "\n" + sourceId + "\n" + cacheType;

    private static Element Record(Jid thing, Element request, List<Element> tags)
    {
        var record = WithNode(new Element(Thing, MetaTags.Ns).SetAttr("jid", thing.Bare.ToString()), request);
        foreach (var t in tags) record.Add(t);
        return record;
    }

    /// <summary>The record's attributes without its tags.</summary>
    private static Element Copy(Element record)
    {
        var copy = new Element(Thing, MetaTags.Ns);
        foreach (var a in record.Attributes) copy.SetAttr(a.Name, a.Value);
        return copy;
    }

    private static List<Element> Tags(Element record)
    {
        var tags = new List<Element>();
        foreach (var t in record.Elements()) if (MetaTags.IsTag(t)) tags.Add(t);
        return tags;
    }

    private static Element WithNode(Element e, Element from) =>
        e.SetAttr("nodeId", from.Attr("nodeId")).SetAttr("sourceId", from.Attr("sourceId")).SetAttr("cacheType", from.Attr("cacheType"));

    /// <summary>The thing a request names: its 'jid' (bare, or full for a concentrator, §3.5), else <paramref name="sender"/>'s.</summary>
    private static bool TryThing(Element request, Jid? sender, out Jid thing)
    {
        thing = sender?.Bare!;
        if (request.Attr("jid") is not { } text) return sender is not null;
        if (!Jid.TryParse(text, out var jid) || jid is null || jid.Local is null) return false;
        thing = jid;
        return true;
    }

    /// <summary>An IQ set from the registry to one of the thing's resources; completes with its answer, or an error
    /// when none comes in time.</summary>
    private async Task<Element> AskThingAsync(Jid registry, Jid resource, Element payload)
    {
        var id = _idPrefix + Interlocked.Increment(ref _nextId).ToString(CultureInfo.InvariantCulture);
        var answer = new TaskCompletionSource<Element>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = (answer, resource);
        var iq = new Element("iq", Xmpp.Ns.Client).SetAttr("type", "set").SetAttr("id", id)
            .SetAttr("from", registry.ToString()).SetAttr("to", resource.ToString()).Add(payload);
        try
        {
            ctx.SendStanza(iq);
            return await answer.Task.WaitAsync(TimeSpan.FromSeconds(options.ThingTimeoutSeconds));
        }
        catch (TimeoutException)
        {
            return Xmpp.Stanzas.StanzaErrors.Reply(iq, "remote-server-timeout")!;
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    private void Send(Element? stanza)
    {
        if (stanza is not null) ctx.SendStanza(stanza);
    }
}
