using System.Globalization;
using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Stanzas;
using Actors.Xmpp.Xml;
using XNs = Actors.Xmpp.Ns;

namespace Actors.Plugins.Muc;

/// <summary>
/// A room (XEP-0045), one keyed entity per room JID: it decides on every stanza sent to the room or to an occupant,
/// persists what must outlive it (creation, configuration, affiliations, registered nicks, subject, history) and keeps
/// its occupants in the service's <see cref="OccupantRegistry"/>. Prosody's muc/muc.lib.lua, split into
/// <c>Room.*.cs</c> by use case: entering and leaving, messages, moderation, ownership.
/// </summary>
internal sealed partial class Room(MucOptions options, OccupantRegistry registry, Func<string, Jid, string> occupantIdOf, IMessageArchive? archive,
    Action<string, Element?>? listingChanged = null)
    : EntityBehavior<RoomState>
{
    public override RoomState Initial(string key) => new(options.HistorySize, options.Archive && archive is not null);

    public override RoomState Apply(RoomState state, Element e) => RoomEvents.Apply(state, e);

    public override EntitySnapshot? Snapshot(RoomState state) => RoomEvents.Snapshot(state);

    public override RoomState Restore(string key, EntitySnapshot snapshot) => RoomEvents.Restore(Initial(key), snapshot);

    /// <summary>A command: &lt;cmd xmlns='urn:actors:muc:0' create='1'&gt;stanza&lt;/cmd&gt; (create: the sender may
    /// create rooms, by the service's policy and limits).</summary>
    public static Element Command(Element stanza, bool mayCreate) =>
        new Element("cmd", MucNs.Internal).SetAttr("create", mayCreate ? "1" : null).Add(stanza);

    /// <summary>Discussion history is journaled in batches of this many messages...</summary>
    internal const int HistoryBatch = 32;
    /// <summary>...or this long after the first message of a batch, whichever comes first: a busy room writes its
    /// history once per batch, not once per message (the messages themselves are in the archive when it keeps one).</summary>
    internal static readonly TimeSpan HistoryWriteDelay = TimeSpan.FromSeconds(1);
    private const string HistoryTimer = "history";

    /// <summary>The command that journals a room's unwritten history (its timer's, and the plugin's before it unloads).</summary>
    public static Element WriteHistoryCommand() => new("write-history", MucNs.Internal);

    public override void Handle(IEntityContext room, RoomState state, Element command)
    {
        if (command.Name == "write-history")
        {
            var unwritten = registry.Of(room.Key);
            lock (unwritten) WriteHistory(room, unwritten);
            room.Reply(new Element("outcome", MucNs.Internal));
            return;
        }
        var stanza = command.FirstChild();
        if (stanza is null) return;
        var roomJid = Jid.Parse(room.Key);
        var to = Jid.Parse(stanza.To!);
        var from = Jid.Parse(stanza.From!);
        var occupants = registry.Of(room.Key);
        var r = new Turn(room, state, occupants, roomJid, stanza, from, to, command.Attr("create") == "1");
        lock (occupants) // the registry's save (a reload) reads the occupants from another thread
        {
            switch (stanza.Name)
            {
                case "presence": Presence(r); break;
                case "message": Message(r); break;
                case "iq": Iq(r); break;
            }
        }
        r.Finish();
        // the service's room list learns a change in this turn, before the answer that reports it can reach the owner
        // (whose next disco#items must see it): the journaled directory is written by the service after the reply
        if (r.ListingChanged) listingChanged?.Invoke(room.Key, r.Listing?.Clone());
        if (!r.State.Exists && occupants.Count == 0)
        {
            // no room here (a stanza to a name never used, or a room just destroyed): nothing to keep in memory
            registry.Forget(room.Key);
            room.Passivate();
        }
    }

    /// <summary>One command's context: the room, its state as the journal has it, its occupants and the stanza.</summary>
    private sealed class Turn(IEntityContext room, RoomState state, RoomOccupants occupants, Jid roomJid, Element stanza, Jid from, Jid to, bool mayCreate)
    {
        public readonly IEntityContext Room = room;
        public RoomState State = state;
        public readonly RoomOccupants Occupants = occupants;
        public readonly Jid RoomJid = roomJid;
        public readonly Element Stanza = stanza;
        public readonly Jid From = from;
        public readonly Jid To = to;
        public readonly bool MayCreate = mayCreate;
        /// <summary>The room's listing changed (created, configured, destroyed): the service updates its directory.</summary>
        public bool ListingChanged;
        /// <summary>After <see cref="Finish"/>: the room's listing when it changed and the room exists (null: gone).</summary>
        public Element? Listing;
        private Element? _reply;

        public void Send(Element s) => Room.Send(s);

        /// <summary>Persists an event and applies it to a copy of the decision's view (the entity applies it for real
        /// once written).</summary>
        public void Persist(Element e)
        {
            Room.Persist(e);
            if (e.Name == "destroyed") Occupants.UnwrittenHistory.Clear(); // the room's history goes with it
            State = Pending(State, e);
        }

        public void Error(string condition, string? text = null)
        {
            if (StanzaErrors.Reply(Stanza, condition, text) is not { } error) return;
            error.Child("error", XNs.Client)?.SetAttr("by", RoomJid.ToString()); // §7.2.1's examples: the room says it
            Send(error);
        }

        public void Result(Element? payload = null) => Send(StanzaErrors.IqResult(Stanza, payload));

        public void Reply(Element reply) => _reply = reply;

        public void Finish()
        {
            var outcome = _reply ?? new Element("outcome", MucNs.Internal);
            if (ListingChanged)
            {
                Listing = State.Exists
                    ? new Element("listing", MucNs.Internal).SetAttr("public", State.Config.Public ? "1" : "0")
                        .SetAttr("persistent", State.Config.Persistent ? "1" : "0").SetAttr("name", State.Config.Name)
                        .SetAttr("creator", Creator(State))
                    : null;
                outcome.Add(Listing ?? new Element("gone", MucNs.Internal));
            }
            Room.Reply(outcome);
        }

        private static string? Creator(RoomState s)
        {
            foreach (var (jid, a) in s.Affiliations)
                if (a == MucAffiliations.Owner) return jid;
            return null;
        }

        /// <summary>The state after an event, without touching the entity's own state object (Handle decides, Apply
        /// changes): events that replace the state object are applied to a fresh one; the others to a shallow copy.</summary>
        private static RoomState Pending(RoomState s, Element e)
        {
            if (e.Name is "created" or "destroyed") return RoomEvents.Apply(s, e);
            var copy = new RoomState(s.HistoryCapacity, s.ArchivingByDefault) { Exists = s.Exists, Locked = s.Locked, Config = s.Config, Subject = s.Subject, SubjectNick = s.SubjectNick };
            foreach (var (k, v) in s.Affiliations) copy.Affiliations[k] = v;
            foreach (var (k, v) in s.RegisteredNicks) copy.RegisteredNicks[k] = v;
            foreach (var h in s.History) copy.History.AddLast(h);
            return RoomEvents.Apply(copy, e);
        }
    }

    // ---- shared pieces ----

    private static string RoleFor(RoomState s, string affiliation) => affiliation switch
    {
        MucAffiliations.Owner or MucAffiliations.Admin => Roles.Moderator,
        MucAffiliations.Member => Roles.Participant,
        _ => s.Config.Moderated ? Roles.Visitor : Roles.Participant,
    };

    /// <summary>An occupant's presence as the room sends it to <paramref name="to"/>, a session of
    /// <paramref name="recipient"/> (§7.2.2): the presence of <paramref name="shown"/> (the occupant's primary session
    /// for the others, the recipient session's own for the occupant itself), then the muc#user item (with the real JID
    /// when the room is non-anonymous or the recipient a moderator, §7.2.3, §7.2.4), status codes and the XEP-0421
    /// occupant id.</summary>
    private static Element PresenceOf(Turn r, Occupant o, OccupantSession shown, Occupant recipient, Jid to, string? type = null, Action<Element>? extra = null, params string[] codes)
    {
        var self = ReferenceEquals(o, recipient);
        var p = new Element("presence", XNs.Client).SetAttr("from", r.RoomJid.WithResource(o.Nick).ToString())
            .SetAttr("to", to.ToString()).SetAttr("type", type);
        if (type is null)
            foreach (var node in shown.Presence.Nodes)
                if (node is Element child) p.Add(child.Clone());
        var x = new Element("x", MucNs.User);
        var item = new Element("item", MucNs.User).SetAttr("affiliation", r.State.AffiliationOf(o.Bare)).SetAttr("role", type == "unavailable" ? Roles.None : o.Role);
        if (r.State.Config.NonAnonymous || recipient.Role == Roles.Moderator || self) item.SetAttr("jid", (self ? to : shown.Jid).ToString());
        x.Add(item);
        extra?.Invoke(x);
        foreach (var code in codes) x.Add(new Element("status", MucNs.User).SetAttr("code", code));
        p.Add(x);
        p.Add(new Element("occupant-id", MucNs.OccupantId).SetAttr("id", o.OccupantId));
        return p;
    }

    /// <summary><paramref name="o"/>'s presence as the others see it, to every session of <paramref name="recipient"/>.</summary>
    private static void SendPresence(Turn r, Occupant o, Occupant recipient, string? type = null, Action<Element>? extra = null, params string[] codes) =>
        SendTo(r, recipient, PresenceOf(r, o, o.Primary, recipient, recipient.Sessions[0].Jid, type, extra, codes));

    /// <summary>The occupant's own presence (status 110 among <paramref name="selfCodes"/>) to one of its sessions.</summary>
    private static void SendSelfPresence(Turn r, Occupant o, OccupantSession session, string? type, Action<Element>? extra, string[] selfCodes, string? id = null) =>
        r.Send(PresenceOf(r, o, session, o, session.Jid, type, extra, selfCodes).SetAttr("id", id));

    /// <summary>A stanza to every session of an occupant (§7.2.8: in-room traffic goes to all of a user's resources).</summary>
    private static void SendTo(Turn r, Occupant recipient, Element stanza)
    {
        var sessions = recipient.Sessions;
        for (var i = 1; i < sessions.Count; i++) r.Send(stanza.Clone().SetAttr("to", sessions[i].Jid.ToString()));
        r.Send(stanza.SetAttr("to", sessions[0].Jid.ToString()));
    }

    /// <summary>Sends every occupant the presence of <paramref name="o"/> (§7.2.2, §7.7); each of the occupant's own
    /// sessions gets its copy with 110 and <paramref name="selfCodes"/> (the one that sent the stanza with its id).</summary>
    private static void BroadcastPresence(Turn r, Occupant o, string? type, Action<Element>? extra, string[] codes, string[] selfCodes, string? selfId = null)
    {
        foreach (var other in r.Occupants.All)
        {
            if (ReferenceEquals(other, o)) continue;
            if (type is null && !Broadcasts(r, o) && other.Role != Roles.Moderator) continue; // muc#roomconfig_presencebroadcast
            SendPresence(r, o, other, type, extra, codes);
        }
        foreach (var session in o.Sessions)
            SendSelfPresence(r, o, session, type, extra, selfCodes, session.Jid.Equals(r.From) ? selfId : null);
    }

    private static bool Broadcasts(Turn r, Occupant o) => Array.IndexOf(r.State.Config.BroadcastRoles, o.Role) >= 0;

    private static string[] With(string[] codes, params string[] more)
    {
        var all = new string[codes.Length + more.Length];
        codes.CopyTo(all, 0);
        more.CopyTo(all, codes.Length);
        return all;
    }

    private static Element Stamp(DateTimeOffset stamp, Jid by) =>
        new Element("delay", XNs.Delay).SetAttr("from", by.ToString())
            .SetAttr("stamp", stamp.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));

    /// <summary>Removes an occupant and, when a temporary room is left empty, destroys it (§10.1: a temporary room is
    /// destroyed when the last occupant exits); a persistent room left empty journals its unwritten history.</summary>
    private static void Remove(Turn r, Occupant o)
    {
        r.Occupants.Remove(o);
        if (r.Occupants.Count != 0 || !r.State.Exists) return;
        if (!r.State.Config.Persistent)
        {
            r.Persist(RoomEvents.Destroyed());
            r.ListingChanged = true;
        }
        else WriteHistory(r.Room, r.Occupants);
    }

    /// <summary>§7.2.14's history is kept as the room reflects messages: in memory at once (entering occupants get
    /// it), in the journal per batch (<see cref="HistoryBatch"/>, <see cref="HistoryWriteDelay"/>).</summary>
    private static void KeepHistory(Turn r, HistoryEntry entry)
    {
        var unwritten = r.Occupants.UnwrittenHistory;
        unwritten.Add(entry);
        if (unwritten.Count > r.State.HistoryCapacity) unwritten.RemoveAt(0); // older than what the room keeps anyway
        if (unwritten.Count >= HistoryBatch) WriteHistory(r.Room, r.Occupants);
        else if (unwritten.Count == 1) r.Room.Schedule(HistoryTimer, HistoryWriteDelay, WriteHistoryCommand());
    }

    private static void WriteHistory(IEntityContext room, RoomOccupants occupants)
    {
        var unwritten = occupants.UnwrittenHistory;
        if (unwritten.Count == 0) return;
        room.Persist(RoomEvents.HistoryBatch(unwritten));
        unwritten.Clear();
        occupants.HistoryWrittenAt = Environment.TickCount64;
    }

    /// <summary>The discussion history as entering occupants see it, newest first: the unwritten entries, then the
    /// journaled ones, at most the room's history capacity in all.</summary>
    private static IEnumerable<HistoryEntry> NewestFirst(Turn r)
    {
        var unwritten = r.Occupants.UnwrittenHistory;
        var left = r.State.HistoryCapacity;
        for (var i = unwritten.Count - 1; i >= 0 && left > 0; i--, left--) yield return unwritten[i];
        for (var node = r.State.History.Last; node is not null && left > 0; node = node.Previous, left--) yield return node.Value;
    }
}
