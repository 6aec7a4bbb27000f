using System.Security.Cryptography;
using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;
using Microsoft.Extensions.Logging;

namespace Actors.Plugins.VCard;

/// <summary>
/// XEP-0398 (User Avatar to vCard-Based Avatars Conversion): one avatar whichever way a client sets it. A vCard set with
/// a PHOTO is published to the account's PEP as XEP-0084 data and metadata (as the account, through the PEP service);
/// an XEP-0084 metadata publish from a client puts the published image (read back from the data node, which XEP-0084
/// §4.1 has the client publish first) into the vCard's PHOTO, and an empty metadata removes it. Each direction writes
/// the other side's storage only, so neither starts the other again.
/// </summary>
internal sealed class AvatarConversion(IPluginContext ctx, Func<Jid, Element, Task> storeCard, Func<Jid, Task<Element?>> readCard)
{
    public const string Feature = "urn:xmpp:pep-vcard-conversion:0";
    public const string DataNode = "urn:xmpp:avatar:data";
    public const string MetadataNode = "urn:xmpp:avatar:metadata";
    private const string PubSubNs = "http://jabber.org/protocol/pubsub";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>vCard → PEP: after a vCard with a photo was stored.</summary>
    public async Task PublishAsync(Jid account, Element card)
    {
        var photo = card.Child("PHOTO", VCardPlugin.Ns);
        var binval = photo?.ChildText("BINVAL", VCardPlugin.Ns);
        if (string.IsNullOrWhiteSpace(binval)) return;
        byte[] image;
        try { image = Convert.FromBase64String(binval); }
        catch (FormatException) { return; }
        var id = Convert.ToHexStringLower(SHA1.HashData(image));
        var type = photo!.ChildText("TYPE", VCardPlugin.Ns) is { Length: > 0 } t ? t.Trim() : "image/png";
        var data = new Element("data", DataNode).AddText(Convert.ToBase64String(image));
        var info = new Element("info", MetadataNode).SetAttr("id", id).SetAttr("type", type)
            .SetAttr("bytes", image.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        try
        {
            if (await Publish(account, DataNode, id, data) && await Publish(account, MetadataNode, id, new Element("metadata", MetadataNode).Add(info)))
                return;
        }
        catch (TimeoutException) { }
        ctx.Logger.LogInformation("the vCard photo of {Account} could not be published as its XEP-0084 avatar", account);
    }

    private async Task<bool> Publish(Jid account, string node, string id, Element payload)
    {
        var iq = new Element("iq", Ns.Client).SetAttr("type", "set").SetAttr("from", account.ToString()).SetAttr("to", account.ToString());
        iq.AddChild("pubsub", PubSubNs).AddChild("publish", PubSubNs).SetAttr("node", node)
            .AddChild("item", PubSubNs).SetAttr("id", id).Add(payload);
        return (await ctx.SendIqAsync(iq, Timeout)).Type == "result";
    }

    /// <summary>PEP → vCard: a client's publish to its own metadata node (the FromClient hook; never consumes it).</summary>
    public bool OnClientStanza(StanzaEvent e)
    {
        var iq = e.Stanza;
        if (iq.Name != "iq" || iq.Type != "set") return false;
        var account = e.Session.Bare;
        if (iq.To is { } to && (!Jid.TryParse(to, out var target) || target is null || !target.Equals(account))) return false;
        var publish = iq.Child("pubsub", PubSubNs)?.Child("publish", PubSubNs);
        if (publish?.Attr("node") != MetadataNode) return false;
        var metadata = publish.Child("item", PubSubNs)?.Child("metadata", MetadataNode);
        if (metadata is null) return false;
        Element? chosen = null;
        foreach (var info in metadata.Elements("info", MetadataNode))
        {
            if (info.Attr("url") is not null || info.Attr("id") is null) continue; // an image hosted elsewhere has no data item
            if (chosen is null || info.Attr("type") == "image/png") chosen = info; // XEP-0084 §4.2: PNG is the one every client reads
        }
        var empty = metadata.ElementCount == 0; // XEP-0084 §4.5: the avatar is disabled
        if (chosen is null && !empty) return false;
        _ = ConvertAsync(account, chosen?.Attr("id"), chosen?.Attr("type"));
        return false;
    }

    private static bool HashMatches(string base64, string id)
    {
        try { return string.Equals(Convert.ToHexStringLower(SHA1.HashData(Convert.FromBase64String(base64.Trim()))), id, StringComparison.OrdinalIgnoreCase); }
        catch (FormatException) { return false; }
    }

    private async Task ConvertAsync(Jid account, string? id, string? type)
    {
        try
        {
            var card = (await readCard(account))?.Clone() ?? new Element("vCard", VCardPlugin.Ns);
            card.RemoveAll("PHOTO", VCardPlugin.Ns);
            if (id is not null)
            {
                var get = new Element("iq", Ns.Client).SetAttr("type", "get").SetAttr("from", account.ToString()).SetAttr("to", account.ToString());
                get.AddChild("pubsub", PubSubNs).AddChild("items", PubSubNs).SetAttr("node", DataNode).AddChild("item", PubSubNs).SetAttr("id", id);
                var answer = await ctx.SendIqAsync(get, Timeout);
                var data = answer.Type == "result"
                    ? answer.Child("pubsub", PubSubNs)?.Child("items", PubSubNs)?.Child("item", PubSubNs)?.ChildText("data", DataNode)
                    : null;
                if (string.IsNullOrWhiteSpace(data) || !HashMatches(data, id))
                {
                    // §3.1: the data must be the image the metadata names (its SHA-1 is the id)
                    ctx.Logger.LogInformation("the avatar {Id} of {Account} has no matching data item: the vCard keeps its photo", id, account);
                    return;
                }
                var photo = card.AddChild("PHOTO", VCardPlugin.Ns);
                photo.AddChild("TYPE", VCardPlugin.Ns).AddText(type ?? "image/png");
                photo.AddChild("BINVAL", VCardPlugin.Ns).AddText(data.Trim());
            }
            await storeCard(account, card);
        }
        catch (Exception ex) when (ex is TimeoutException or StorageException)
        {
            ctx.Logger.LogWarning(ex, "the XEP-0084 avatar of {Account} could not be put into its vCard", account);
        }
    }
}
