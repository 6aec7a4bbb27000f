using System.Collections.Concurrent;
using System.Security.Cryptography;
using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;
using Microsoft.Extensions.Logging;

namespace Actors.Plugins.VCard;

/// <summary>
/// XEP-0054 vcard-temp: an account's vCard, set by its owner and read by anyone, stored in the map "vcard" of the
/// account under the key "". XEP-0153 (server side, §4.3): the SHA-1 of the vCard's PHOTO/BINVAL goes into the
/// account's outgoing available presence as &lt;x xmlns='vcard-temp:x:update'&gt;&lt;photo&gt;hash&lt;/photo&gt;&lt;/x&gt;
/// (an empty &lt;photo/&gt; when its vCard has no photo), unless the client put its own &lt;x/&gt; there.
/// </summary>
/// <remarks>
/// The presence hook is synchronous and must not read an account's store at each login, so the hashes live in one
/// map per domain ("photo-hash", owner the domain, key the account's local part), read into memory once when the
/// plugin starts and kept up to date as vCards are set. An account the plugin has no hash for (a vCard of release 1
/// not read since) gets no &lt;x/&gt; (no claim either way) until its vCard is next set or read.
/// </remarks>
[Xep(54, "1.2")]
[Xep(153, "1.1", Status = "partial")] // the server's part (§4.3); the rest is up to clients
[Xep(398, "1.0.0")]
public sealed class VCardPlugin : IXmppPlugin
{
    public const string Ns = "vcard-temp";
    public const string UpdateNs = "vcard-temp:x:update";
    private const string Key = "";

    public PluginDescriptor Descriptor { get; } = new("vcard", "1.0.0");

    public void Configure(IPluginContext ctx)
    {
        var cards = ctx.Storage.Map("vcard");
        var hashes = ctx.Storage.Map("photo-hash");
        var photoHashes = new ConcurrentDictionary<Jid, string>(); // bare JID -> hash, "" for a vCard without photo
        foreach (var domain in ctx.Domains) _ = LoadHashes(ctx, hashes, Jid.Parse(domain), photoHashes);

        async ValueTask Remember(Jid account, Element card)
        {
            var hash = PhotoHash(card);
            if (photoHashes.TryGetValue(account, out var known) && known == hash) return;
            await hashes.SetAsync(Jid.Parse(account.Domain), account.Local!, StoredValue.Of(hash));
            photoHashes[account] = hash;
            ctx.Signal(PhotoHashSignal, account); // the other nodes of a cluster stamp the new hash too
        }
        ctx.OnSignal(PhotoHashSignal, account => _ = ReadHashAgain(ctx, hashes, account, photoHashes));

        ctx.AddFeature(Ns, IqScope.Both);
        // XEP-0398: the vCard photo and the XEP-0084 avatar are kept one
        var avatars = new AvatarConversion(ctx,
            async (account, card) =>
            {
                await cards.SetAsync(account, Key, StoredValue.Of(card));
                await Remember(account, card);
            },
            async account => (await cards.GetAsync(account, Key))?.Xml);
        ctx.AddFeature(AvatarConversion.Feature, IqScope.Account);
        ctx.Hook(HookPoint.FromClient, 0, avatars.OnClientStanza);
        ctx.HandleIq("get", IqScope.Account, Ns, "vCard", async r =>
        {
            var stored = await cards.GetAsync(r.To.Bare, Key);
            if (stored?.Xml is not { } card) return r.Result(new Element("vCard", Ns)); // §3.1: none yet is an empty one
            if (!photoHashes.ContainsKey(r.To.Bare)) await Remember(r.To.Bare, card);
            return r.Result(card);
        });
        // XEP-0227 §4.6: the account's vCard as stored
        ctx.AddPortableData(new PortableAccountData("vCard", Ns,
            async (account, _) => await cards.GetAsync(account, Key) is { Xml: { } card } ? [card] : [],
            async (account, card, _) =>
            {
                await cards.SetAsync(account, Key, StoredValue.Of(card));
                await Remember(account, card);
            }));
        ctx.HandleIq("set", IqScope.Account, Ns, "vCard", async r =>
        {
            if (!r.From.Bare.Equals(r.To.Bare)) return r.Error("forbidden", "only the owner can change a vCard");
            var card = r.Payload.Clone();
            await cards.SetAsync(r.To.Bare, Key, StoredValue.Of(card));
            await Remember(r.To.Bare, card);
            _ = avatars.PublishAsync(r.To.Bare, card); // XEP-0398 §3: the photo also as the XEP-0084 avatar
            return r.Result();
        });
        // the domain's hash map is not the account's own store: the host does not purge it with the account
        ctx.On(ServerEventKind.AccountRemoved, async e =>
        {
            if (e.Jid.Local is { } local) await hashes.SetAsync(Jid.Parse(e.Jid.Domain), local, null);
        });
        ctx.On(ServerEventKind.AccountGone, e => { photoHashes.TryRemove(e.Jid.Bare, out _); return ValueTask.CompletedTask; }); // every node

        // XEP-0153 §4.3 and XEP-0398 §4: every available presence of the account (broadcast or directed, a MUC join
        // among them) carries the hash of its photo, unless the client put a <photo/> of its own there (an empty one
        // says "not ready yet"); an <x/> without <photo/> gets the server's
        ctx.Hook(HookPoint.FromClient, 0, e =>
        {
            var p = e.Stanza;
            if (p.Name != "presence" || p.Type is not null) return false;
            var x = p.Child("x", UpdateNs);
            if (x?.Child("photo", UpdateNs) is not null) return false; // the client's own (§4.1)
            if (!photoHashes.TryGetValue(e.Session.Bare, out var hash)) return false;
            var photo = new Element("photo", UpdateNs);
            if (hash.Length > 0) photo.AddText(hash);
            if (x is null) p.Add(new Element("x", UpdateNs).Add(photo));
            else x.Add(photo);
            return false;
        });
    }

    /// <summary>An account's photo hash changed on this node: the other nodes of a cluster read it again.</summary>
    private const string PhotoHashSignal = "photo-hash-changed";

    private static async Task ReadHashAgain(IPluginContext ctx, IStoreMap hashes, Jid account, ConcurrentDictionary<Jid, string> into)
    {
        try
        {
            if ((await hashes.GetAsync(Jid.Parse(account.Domain), account.Local!))?.Text is { } hash) into[account] = hash;
            else into.TryRemove(account, out _);
        }
        catch (StorageException ex)
        {
            ctx.Logger.LogWarning(ex, "the photo hash of {Account}, changed on another node, could not be read: presence here keeps the last one", account);
        }
    }

    private static async Task LoadHashes(IPluginContext ctx, IStoreMap hashes, Jid domain, ConcurrentDictionary<Jid, string> into)
    {
        try
        {
            foreach (var entry in await hashes.GetAllAsync(domain))
                if (entry.Value?.Text is { } hash && Jid.TryParse(entry.Key + "@" + domain, out var account) && account is not null)
                    into.TryAdd(account, hash); // a hash set meanwhile is newer
        }
        catch (StorageException ex)
        {
            ctx.Logger.LogWarning(ex, "the photo hashes of {Domain} could not be read: presence goes without them", domain);
        }
    }

    /// <summary>The lowercase hex SHA-1 of the decoded PHOTO/BINVAL (XEP-0153 §2), or "" without a (valid) photo.</summary>
    public static string PhotoHash(Element vcard)
    {
        var binval = vcard.Child("PHOTO", Ns)?.ChildText("BINVAL", Ns);
        if (string.IsNullOrWhiteSpace(binval)) return "";
        byte[] image;
        try { image = Convert.FromBase64String(binval); }
        catch (FormatException) { return ""; }
        return Convert.ToHexStringLower(SHA1.HashData(image));
    }
}
