using Actors.Xmpp.Persistence;
using Actors.Xmpp.Persistence.Plugins;
using Actors.Xmpp.Plugins;
using Akka.Actor;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Server.Users.Events;

namespace Actors.Xmpp.Server.PluginStores;

/// <summary>
/// The migration of journals written by release 1, where the user actor kept the XEP-0054 vCard, the XEP-0049 private
/// XML, the XEP-0191 block list and the XEP-0160 offline messages (events vcard.set.v1, private.stored.v1,
/// blocking.blocked.v1, blocking.unblocked.v1, offline.stored.v1, offline.delivered.v1 and the fields vCard, private,
/// blocked, offline and lastOfflineId of user.snapshot.v1). The user actor still reads those records (they stay for
/// replay) but no longer writes them; the first time a plugin touches the matching store of an account, the store asks
/// the account's user actor for them and writes them as its own first events, followed by a
/// plugin-store.legacy-imported.v1 marker (written even when there was nothing), so that this happens once per account
/// and store, lazily, with no pass over the whole journal at upgrade. Offline messages, which only the user actor's
/// journal would otherwise carry on forever, are then dropped there (<see cref="UserActor.DropLegacyOffline"/>).
/// This class is the one place that knows how the plugins that replaced core lay out their stores.
/// </summary>
public sealed class LegacyUserData(IUserDirectory users, IReadOnlyCollection<string> domains) : ILegacyStoreSource
{
    public const string PrivatePlugin = "private", PrivateKind = "private";
    public const string VCardPlugin = "vcard", VCardKind = "vcard";
    public const string BlockingPlugin = "blocking", BlockingKind = "blocklist";
    public const string OfflinePlugin = "offline", OfflineKind = "messages";

    public string Source => PersistentEventTypes.ManifestOf(typeof(UserSnapshot));

    public string HolderPrefix => UserActor.PersistenceIdPrefix;

    public IReadOnlyCollection<string> Domains => domains;

    public bool Covers(StoreAddress a) =>
        a.Owner.Local is not null
        && (a.Shape == StoreShape.Map
            && (a is { Plugin: PrivatePlugin, Kind: PrivateKind } or { Plugin: VCardPlugin, Kind: VCardKind } or { Plugin: BlockingPlugin, Kind: BlockingKind })
            || a is { Shape: StoreShape.Archive, Plugin: OfflinePlugin, Kind: OfflineKind });

    public async Task<LegacyData> LoadAsync(StoreAddress a)
    {
        var s = await users.Ask<UserSnapshot>(a.Owner, UserActor.GetState.Instance, PluginStores.Timeout).ConfigureAwait(false);
        return Data(a, s);
    }

    public void Imported(StoreAddress a, LegacyData data)
    {
        if (data.SourceUpTo > 0) users.Tell(a.Owner, new UserActor.DropLegacyOffline(data.SourceUpTo));
    }

    /// <summary>What the store at <paramref name="a"/> takes over from a user's state of release 1.</summary>
    public static LegacyData Data(StoreAddress a, UserSnapshot s) => (a.Plugin, a.Kind) switch
    {
        (PrivatePlugin, PrivateKind) => LegacyData.Of(s.Private.Select(p => new StoreEntryRecord(p.Key, null, p.Xml)).ToArray()),
        (VCardPlugin, VCardKind) => LegacyData.Of(s.VCard is null ? [] : [new StoreEntryRecord("", null, s.VCard)]),
        // the blocking plugin's map: the blocked JID as key, an empty text as value
        (BlockingPlugin, BlockingKind) => LegacyData.Of(s.Blocked.Select(j => new StoreEntryRecord(j, "", null)).ToArray()),
        // the offline plugin's archive: each message as its XML with the time it was stored; an entry that an older
        // serializer wrote as XML that does not parse is left behind (it would fail every read of the archive)
        (OfflinePlugin, OfflineKind) => new LegacyData([], s.Offline.Where(m => StanzaXml.TryParse(m.Stanza, out _, out _))
            .Select(m => new StoreItemRecord(m.Id, m.Stamp, null, m.Stanza)).ToArray(), s.Offline.Length == 0 ? 0 : s.Offline[^1].Id),
        _ => LegacyData.Of([]),
    };
}
