using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;
using Microsoft.Extensions.Logging;
using XNs = Actors.Xmpp.Ns;

namespace Actors.Plugins.Muc;

/// <summary>
/// XEP-0045 multi-user chat at conference.&lt;domain&gt; (Prosody's mod_muc + muc/room split): this class is the
/// service (disco of the service, the room directory, who may create rooms); every room is a keyed entity
/// (<see cref="Room"/>) whose configuration, affiliations, subject and history are its journal, and whose occupants
/// live in memory (<see cref="OccupantRegistry"/>, handed over on reload).
/// </summary>
[Xep(45, "1.35.1")]
[Xep(249, "1.2")]
[Xep(410, "1.1.0")]
[Xep(421, "0.1.0")]
[Xep(313, "1.1.3")] // the rooms' archives (XEP-0441 preferences are an account's: a room archives all or nothing)
public sealed class MucPlugin : IXmppPlugin
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The archive kind of rooms' archives in the server's message archive table (XEP-0313 §3.3.2).</summary>
    public const string ArchiveKind = "muc";

    private readonly OccupantRegistry _occupants = new();
    /// <summary>Per service JID: its rooms (room JID -> listing) and its occupant-id salt, loaded once.</summary>
    private readonly ConcurrentDictionary<string, Lazy<Task<ServiceDirectory>>> _services = new(StringComparer.Ordinal);

    public PluginDescriptor Descriptor { get; } = new("muc", "1.0.0", [PluginDependency.Soft("disco")]) { OptionsSection = "Xmpp:Muc" };

    /// <summary>Set when the occupants are handed to the next version (a reload): then unloading kicks nobody.</summary>
    private volatile bool _handedOver;

    public byte[]? SaveState()
    {
        _handedOver = true;
        return _occupants.Save();
    }

    public void RestoreState(byte[] state) => _occupants.Restore(state);

    public void Configure(IPluginContext ctx)
    {
        var options = ctx.Options<MucOptions>();
        var listings = ctx.Storage.Map("rooms");   // owner: the service JID; key: room JID; value: <listing/>
        var secrets = ctx.Storage.Map("service");  // owner: the service JID; occupant-id-salt
        var archive = ctx.Optional<IMessageArchive>(); // null without a database: then rooms keep no archive
        var archives = archive is null ? null : new RoomArchives(ctx, archive, ctx.Optional<ISessionDelivery>(), options);
        var rooms = ctx.AddEntityKind("room", new Room(options, _occupants, OccupantIdOf, archive, ListingChanged),
            new EntityKindOptions { PassivateAfter = TimeSpan.FromSeconds(options.IdleSeconds) });

        var info = new DiscoInfo([new DiscoIdentity("conference", "text", options.Name)], [MucNs.Muc, MucNs.StableId, MucNs.OccupantId, MucNs.SelfPing], []);
        ctx.OwnService(options.Subdomain, info, async s =>
        {
            var service = await Directory(s.To.Domain, listings, secrets);
            if (s.To.Local is null)
            {
                ServiceStanza(ctx, s, service);
                return;
            }
            var key = s.To.Bare.ToString();
            if (s.Stanza.Name == "message" && s.Stanza.Type == "groupchat" && s.To.Resource is null)
            {
                rooms.Tell(key, Room.Command(s.Stanza, false)); // the hot path: no answer needed
                return;
            }
            var mayCreate = s.Stanza.Name == "presence" && s.Stanza.Type is null && MayCreate(ctx, options, service, s.From);
            var outcome = await rooms.AskAsync(key, Room.Command(s.Stanza, mayCreate), AskTimeout);
            if (outcome is { Name: "archive" } && archives is not null && s.Payload is { } query)
            {
                await archives.Answer(s, query, outcome.Attr("jids") == "1"); // the room said who may read: the table is read here
                return;
            }
            if (outcome?.Child("listing", MucNs.Internal) is { } listing)
            {
                service.Rooms[key] = listing;
                await listings.SetAsync(service.Jid, key, StoredValue.Of(listing));
            }
            else if (outcome?.Child("gone", MucNs.Internal) is not null)
            {
                service.Rooms.TryRemove(key, out _);
                _occupants.Forget(key);
                await listings.SetAsync(service.Jid, key, null);
                if (archives is not null) await archives.Forget(s.To.Bare);
            }
        });

        // registered last, so undone first on unload, while the rest of the service still stands
        ctx.Track(new Undo(() =>
        {
            WriteUnwrittenHistory(ctx, rooms);
            if (!_handedOver) RemoveEveryone(ctx);
        }));

        // a room's listing changed: the service's in-memory list follows in the room's own turn (the store is
        // written by the handler above once the room answered)
        void ListingChanged(string room, Element? listing)
        {
            if (!_services.TryGetValue(Jid.Parse(room).Domain, out var d) || !d.Value.IsCompletedSuccessfully) return;
            if (listing is null) d.Value.Result.Rooms.TryRemove(room, out _);
            else d.Value.Result.Rooms[room] = listing;
        }

        string OccupantIdOf(string room, Jid real)
        {
            var domain = Jid.Parse(room).Domain;
            var salt = _services.TryGetValue(domain, out var d) && d.Value.IsCompletedSuccessfully ? d.Value.Result.Salt : [];
            var hash = HMACSHA256.HashData(salt, Encoding.UTF8.GetBytes(room + "\n" + real.Bare));
            return Convert.ToBase64String(hash, 0, 18); // XEP-0421 §4: stable per room and real bare JID, opaque
        }
    }

    /// <summary>Before the rooms stop (unload, reload, server stop): every room journals the history it has not written
    /// yet (<see cref="Room.HistoryBatch"/>), so a restart or the next version finds it. Runs on the plugin manager's
    /// unload path, not on an actor: it waits, boundedly, for the rooms' answers.</summary>
    private void WriteUnwrittenHistory(IPluginContext ctx, IEntityKind rooms)
    {
        var writes = new List<Task>();
        foreach (var (room, occupants) in _occupants.Rooms())
        {
            // history not journaled yet, or a batch handed to the journal just now (the room's timer): the room answers
            // once that write is done (an entity takes its next command after its persist), before the system stops
            bool pending;
            lock (occupants)
                pending = occupants.UnwrittenHistory.Count > 0 || Environment.TickCount64 - occupants.HistoryWrittenAt < (long)AskTimeout.TotalMilliseconds;
            if (pending) writes.Add(rooms.AskAsync(room, Room.WriteHistoryCommand(), AskTimeout));
        }
        if (writes.Count == 0) return;
        try
        {
            if (!Task.WhenAll(writes).Wait(AskTimeout)) ctx.Logger.LogWarning("muc: {Count} room(s) did not write their history before the service stopped", writes.Count);
        }
        catch (AggregateException ex)
        {
            ctx.Logger.LogWarning(ex.InnerException, "muc: a room could not write its history before the service stopped");
        }
    }

    /// <summary>XEP-0045 §11.2: the service shuts down (the plugin is unloaded or the server stops, not reloaded): every
    /// session of every occupant gets unavailable with 110 and 332.</summary>
    private void RemoveEveryone(IPluginContext ctx)
    {
        foreach (var (room, occupants) in _occupants.Rooms())
        {
            // made under the room's lock, sent after it: routing runs other plugins' hooks, which take locks of their own
            var leaving = new List<Element>();
            lock (occupants)
            {
                foreach (var o in occupants.All)
                {
                    foreach (var session in o.Sessions)
                    {
                        var x = new Element("x", MucNs.User)
                            .Add(new Element("item", MucNs.User).SetAttr("affiliation", MucAffiliations.None).SetAttr("role", Roles.None))
                            .Add(new Element("status", MucNs.User).SetAttr("code", StatusCodes.SelfPresence))
                            .Add(new Element("status", MucNs.User).SetAttr("code", StatusCodes.ServiceShutdown));
                        leaving.Add(new Element("presence", XNs.Client).SetAttr("from", room + "/" + o.Nick)
                            .SetAttr("to", session.Jid.ToString()).SetAttr("type", "unavailable").Add(x));
                    }
                }
                occupants.Clear();
            }
            _occupants.Forget(room);
            foreach (var presence in leaving) ctx.SendStanza(presence);
        }
    }

    private sealed class Undo(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }

    /// <summary>The service's rooms and salt: read from storage once per service JID.</summary>
    private Task<ServiceDirectory> Directory(string domain, IStoreMap listings, IStoreMap secrets)
    {
        var loading = _services.GetOrAdd(domain, d => new Lazy<Task<ServiceDirectory>>(() => Load(Jid.Parse(d), listings, secrets)));
        if (loading.Value.IsFaulted) _services.TryRemove(new KeyValuePair<string, Lazy<Task<ServiceDirectory>>>(domain, loading)); // the next stanza tries again
        return loading.Value;
    }

    private static async Task<ServiceDirectory> Load(Jid service, IStoreMap listings, IStoreMap secrets)
    {
        var salt = (await secrets.GetAsync(service, "occupant-id-salt"))?.Text;
        if (salt is null)
        {
            salt = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
            await secrets.SetAsync(service, "occupant-id-salt", StoredValue.Of(salt));
        }
        var directory = new ServiceDirectory(service, Convert.FromBase64String(salt));
        foreach (var entry in await listings.GetAllAsync(service))
            if (entry.Value?.Xml is { } listing) directory.Rooms[entry.Key] = listing;
        return directory;
    }

    /// <summary>Who may create rooms (Xmpp:Muc:Create) and how many each may own (MaxRoomsPerUser).</summary>
    private static bool MayCreate(IPluginContext ctx, MucOptions options, ServiceDirectory service, Jid user)
    {
        var bare = user.Bare.ToString();
        var admin = Array.IndexOf(options.Admins, bare) >= 0;
        var allowed = options.Create switch
        {
            MucOptions.CreateAnyone => true,
            MucOptions.CreateLocal => admin || ctx.Domains.Contains(user.Domain),
            _ => admin,
        };
        if (!allowed) return false;
        if (options.MaxRoomsPerUser == 0 || admin) return true;
        var owned = 0;
        foreach (var listing in service.Rooms.Values)
            if (listing.Attr("creator") == bare) owned++;
        return owned < options.MaxRoomsPerUser;
    }

    /// <summary>Stanzas to the service itself: disco#items lists the public rooms (§6.3); the rest is not served.</summary>
    private void ServiceStanza(IPluginContext ctx, AddressedStanza s, ServiceDirectory service)
    {
        if (s.Stanza.Name == "iq" && s.Stanza.Type == "get" && s.Payload is { } q && q.Is("query", XNs.DiscoItems) && q.Attr("node") is null)
        {
            var items = new Element("query", XNs.DiscoItems);
            foreach (var (room, listing) in service.Rooms.OrderBy(r => r.Key, StringComparer.Ordinal))
            {
                if (listing.Attr("public") != "1") continue;
                if (listing.Attr("persistent") != "1" && _occupants.CountOf(room) == 0) continue; // a temporary room left empty is gone
                var name = listing.Attr("name");
                items.Add(new Element("item", XNs.DiscoItems).SetAttr("jid", room).SetAttr("name", string.IsNullOrEmpty(name) ? Jid.Parse(room).Local : name));
            }
            ctx.SendStanza(s.Result(items));
            return;
        }
        if (s.Stanza.Name != "presence" && s.Error(Errors.ServiceUnavailable) is { } error) ctx.SendStanza(error); // RFC 6120 §8.3.3.19
    }

    private sealed class ServiceDirectory(Jid jid, byte[] salt)
    {
        public readonly Jid Jid = jid;
        public readonly byte[] Salt = salt;
        public readonly ConcurrentDictionary<string, Element> Rooms = new(StringComparer.Ordinal);
    }
}
