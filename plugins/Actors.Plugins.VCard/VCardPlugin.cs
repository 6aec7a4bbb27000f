using System.Collections.Concurrent;
using System.Security.Cryptography;
using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.VCard;

/// <summary>
/// XEP-0054 vcard-temp: an account's vCard, set by its owner and read by anyone, stored in the map "vcard" of the
/// account under the key "". XEP-0153 (server side, §4.3): the SHA-1 of the vCard's PHOTO/BINVAL goes into the
/// account's outgoing available presence as &lt;x xmlns='vcard-temp:x:update'&gt;&lt;photo&gt;hash&lt;/photo&gt;&lt;/x&gt;
/// (an empty &lt;photo/&gt; when the vCard has no photo), unless the client put its own &lt;x/&gt; there.
/// </summary>
[Xep(54, "1.2")]
[Xep(153, "1.1", Status = "partial")] // the server's part (§4.3); the rest is up to clients
public sealed class VCardPlugin : IXmppPlugin
{
    public const string Ns = "vcard-temp";
    public const string UpdateNs = "vcard-temp:x:update";
    private const string Key = "";

    public PluginDescriptor Descriptor { get; } = new("vcard", "1.0.0");

    public void Configure(IPluginContext ctx)
    {
        var store = ctx.Storage.Map("vcard");
        var sessions = ctx.Require<ISessions>();
        // XEP-0153: the photo hash of each account with a bound session ("" for no photo), for the presence hook,
        // which is synchronous: loaded when a session binds, changed when the vCard is set, dropped with the last session
        var photoHashes = new ConcurrentDictionary<Jid, string>();

        ctx.AddFeature(Ns, IqScope.Both);
        ctx.HandleIq("get", IqScope.Account, Ns, "vCard", async r =>
        {
            var stored = await store.GetAsync(r.To.Bare, Key);
            // §3.1: no vCard yet is an empty one
            return r.Result(stored?.Xml ?? new Element("vCard", Ns));
        });
        ctx.HandleIq("set", IqScope.Account, Ns, "vCard", async r =>
        {
            if (!r.From.Bare.Equals(r.To.Bare)) return r.Error("forbidden", "only the owner can change a vCard");
            var card = r.Payload.Clone();
            await store.SetAsync(r.To.Bare, Key, StoredValue.Of(card));
            if (photoHashes.ContainsKey(r.To.Bare)) photoHashes[r.To.Bare] = PhotoHash(card);
            return r.Result();
        });

        ctx.On(ServerEventKind.SessionBound, async e =>
        {
            var bare = e.Jid.Bare;
            if (photoHashes.ContainsKey(bare)) return;
            var stored = await store.GetAsync(bare, Key);
            photoHashes.TryAdd(bare, stored?.Xml is { } card ? PhotoHash(card) : "");
        });
        ctx.On(ServerEventKind.SessionClosed, e =>
        {
            if (sessions.Resources(e.Jid.Bare).Count == 0) photoHashes.TryRemove(e.Jid.Bare, out _);
            return ValueTask.CompletedTask;
        });

        // §4.3: the account's available broadcast presence carries the hash of its photo
        ctx.Hook(HookPoint.FromClient, 0, e =>
        {
            var p = e.Stanza;
            if (p.Name != "presence" || p.Type is not null || p.To is not null) return false;
            if (p.Child("x", UpdateNs) is not null) return false; // the client's own (§4.1)
            if (!photoHashes.TryGetValue(e.Session.Bare, out var hash)) return false; // not loaded yet: no claim either way
            var photo = new Element("photo", UpdateNs);
            if (hash.Length > 0) photo.AddText(hash);
            p.Add(new Element("x", UpdateNs).Add(photo));
            return false;
        });
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
