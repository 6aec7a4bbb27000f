using Actors.Xmpp.Persistence;
using Actors.Xmpp.Persistence.Plugins;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Server.Users.Events;

namespace Actors.Xmpp.Server.PluginStores;

/// <summary>
/// The migration of journals written by release 1, where the user actor kept the XEP-0054 vCard, the XEP-0049 private
/// XML and the XEP-0191 block list (events vcard.set.v1, private.stored.v1, blocking.blocked.v1, blocking.unblocked.v1
/// and the fields vCard, private and blocked of user.snapshot.v1). The user actor
/// still reads those records (they stay for replay) but no longer writes them; the first time a plugin touches the matching
/// store of an account, the store asks the account's user actor for them and writes them as its own first events,
/// followed by a plugin-store.legacy-imported.v1 marker (written even when there was nothing), so that this happens
/// once per account and store, lazily, with no pass over the whole journal at upgrade.
/// This class is the one place that knows how the plugins that replaced core lay out their stores.
/// </summary>
public sealed class LegacyUserData(IUserDirectory users) : ILegacyStoreSource
{
    public const string PrivatePlugin = "private", PrivateKind = "private";
    public const string VCardPlugin = "vcard", VCardKind = "vcard";
    public const string BlockingPlugin = "blocking", BlockingKind = "blocklist";

    public string Source => PersistentEventTypes.ManifestOf(typeof(UserSnapshot));

    public bool Covers(StoreAddress a) =>
        a.Shape == StoreShape.Map && a.Owner.Local is not null
        && (a is { Plugin: PrivatePlugin, Kind: PrivateKind } or { Plugin: VCardPlugin, Kind: VCardKind } or { Plugin: BlockingPlugin, Kind: BlockingKind });

    public async Task<StoreEntryRecord[]> LoadAsync(StoreAddress a)
    {
        var s = await users.Ask<UserSnapshot>(a.Owner, UserActor.GetState.Instance, PluginStores.Timeout).ConfigureAwait(false);
        return Entries(a, s);
    }

    /// <summary>What the store at <paramref name="a"/> takes over from a user's state of release 1.</summary>
    public static StoreEntryRecord[] Entries(StoreAddress a, UserSnapshot s) => (a.Plugin, a.Kind) switch
    {
        (PrivatePlugin, PrivateKind) => s.Private.Select(p => new StoreEntryRecord(p.Key, null, p.Xml)).ToArray(),
        (VCardPlugin, VCardKind) => s.VCard is null ? [] : [new StoreEntryRecord("", null, s.VCard)],
        // the blocking plugin's map: the blocked JID as key, an empty text as value
        (BlockingPlugin, BlockingKind) => s.Blocked.Select(j => new StoreEntryRecord(j, "", null)).ToArray(),
        _ => [],
    };
}
