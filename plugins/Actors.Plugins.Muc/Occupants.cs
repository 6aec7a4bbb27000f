using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Actors.Xmpp;
using Actors.Xmpp.Xml;
using XNs = Actors.Xmpp.Ns;

namespace Actors.Plugins.Muc;

/// <summary>One session (resource) of an occupant in a room: its real full JID and the presence it last sent to the
/// room (its own children: show, status, priority, caps...; without MUC payloads).</summary>
internal sealed class OccupantSession(Jid jid, Element presence)
{
    public readonly Jid Jid = jid;
    private Element _presence = presence;

    public Element Presence
    {
        get => _presence;
        set
        {
            _presence = value;
            Priority = PriorityOf(value);
        }
    }

    /// <summary>RFC 6121 §4.7.2.3: the presence's priority (0 when absent or malformed).</summary>
    public int Priority { get; private set; } = PriorityOf(presence);

    /// <summary>The ids of IQs this session sent to other occupants (§17.4 forwarding), so that the answers come back to
    /// it rather than to the occupant's primary session; bounded.</summary>
    public HashSet<string>? PendingIqs;

    private static int PriorityOf(Element presence) =>
        int.TryParse(presence.ChildText("priority", XNs.Client), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var p) ? p : 0;
}

/// <summary>
/// One occupant of a room (XEP-0045 §5): a nickname with a role, held by one or more sessions of one bare JID
/// (XEP-0045 §7.2.8: a user may enter under the nickname it already holds from another resource; the others see one
/// occupant). What the others see of it is its primary session: the one with the highest presence priority, the
/// earliest joined among equals (as Prosody chooses). Lives in memory only.
/// </summary>
internal sealed class Occupant
{
    public string Nick;
    public readonly Jid Bare;
    public string Role;
    public readonly string OccupantId;
    /// <summary>In the order they joined; never empty while the occupant is in the room.</summary>
    public readonly List<OccupantSession> Sessions = new(1);

    public Occupant(string nick, Jid jid, string role, string occupantId, Element presence)
    {
        Nick = nick;
        Bare = jid.Bare;
        Role = role;
        OccupantId = occupantId;
        Sessions.Add(new OccupantSession(jid, presence));
    }

    public OccupantSession Primary
    {
        get
        {
            var best = Sessions[0];
            for (var i = 1; i < Sessions.Count; i++)
                if (Sessions[i].Priority > best.Priority) best = Sessions[i];
            return best;
        }
    }

    /// <summary>The real JID the room shows for this occupant (§7.2.3, §7.2.4): its primary session's.</summary>
    public Jid Jid => Primary.Jid;

    /// <summary>The presence the others see: its primary session's.</summary>
    public Element Presence => Primary.Presence;

    public OccupantSession? SessionOf(Jid full)
    {
        foreach (var s in Sessions)
            if (s.Jid.Equals(full)) return s;
        return null;
    }
}

/// <summary>The occupants of one room, by nickname and by the real full JID of each of their sessions. Touched only by
/// the room's entity (one command at a time) and by the plugin's save/restore around a reload.</summary>
internal sealed class RoomOccupants
{
    public readonly Dictionary<string, Occupant> ByNick = new(StringComparer.Ordinal);
    /// <summary>Every session's full JID to its occupant.</summary>
    public readonly Dictionary<Jid, Occupant> ByJid = new();

    public void Add(Occupant o)
    {
        ByNick[o.Nick] = o;
        foreach (var s in o.Sessions) ByJid[s.Jid] = o;
    }

    public void Remove(Occupant o)
    {
        ByNick.Remove(o.Nick);
        foreach (var s in o.Sessions) ByJid.Remove(s.Jid);
    }

    public void AddSession(Occupant o, OccupantSession session)
    {
        o.Sessions.Add(session);
        ByJid[session.Jid] = o;
    }

    public void RemoveSession(Occupant o, OccupantSession session)
    {
        o.Sessions.Remove(session);
        ByJid.Remove(session.Jid);
    }

    public void Rename(Occupant o, string nick)
    {
        ByNick.Remove(o.Nick);
        o.Nick = nick;
        ByNick[nick] = o;
    }

    /// <summary>Discussion history reflected but not journaled yet, oldest first, at most the room's history capacity:
    /// the room writes it in batches (<see cref="Room.HistoryBatch"/> entries, or <see cref="Room.HistoryWriteDelay"/>
    /// after the first), not one journal write per message; entering occupants get it with the journaled history.</summary>
    public readonly List<HistoryEntry> UnwrittenHistory = new();

    /// <summary>When the room last handed a history batch to its journal (Environment.TickCount64): the write may still
    /// be under way, so the plugin's unload waits for the room (<see cref="Room.WriteHistoryCommand"/>).</summary>
    public long HistoryWrittenAt = long.MinValue / 2;

    /// <summary>Occupants (nicknames), not sessions: what muc#roomconfig_maxusers and muc#roominfo_occupants count.</summary>
    public int Count => ByNick.Count;

    public Dictionary<string, Occupant>.ValueCollection All => ByNick.Values;

    public void Clear()
    {
        ByNick.Clear();
        ByJid.Clear();
    }
}

/// <summary>
/// The occupants of every room of the service (Prosody keeps them in the room object, memory only; so do we, outside
/// the entity, whose state is what its journal says). A reload hands them to the new version as bytes
/// (<see cref="Save"/> / <see cref="Restore"/>), so a hot swap keeps the people in the rooms.
/// </summary>
internal sealed class OccupantRegistry
{
    private readonly ConcurrentDictionary<string, RoomOccupants> _rooms = new(StringComparer.Ordinal);

    public RoomOccupants Of(string room) => _rooms.GetOrAdd(room, static _ => new RoomOccupants());

    public int CountOf(string room) => _rooms.TryGetValue(room, out var r) ? r.Count : 0;

    public void Forget(string room) => _rooms.TryRemove(room, out _);

    /// <summary>Every room with its occupants (a snapshot of the directory; lock a room's occupants to read them).</summary>
    public KeyValuePair<string, RoomOccupants>[] Rooms() => _rooms.ToArray();

    public byte[] Save()
    {
        using var buffer = new MemoryStream();
        using (var w = new BinaryWriter(buffer, Encoding.UTF8))
        {
            w.Write(FormatVersion);
            foreach (var (room, occupants) in _rooms)
            {
                lock (occupants) // a room may be handling a stanza while the plugin is saved
                {
                    if (occupants.Count == 0) continue;
                    w.Write(true);
                    w.Write(room);
                    w.Write(occupants.Count);
                    foreach (var o in occupants.All)
                    {
                        w.Write(o.Nick);
                        w.Write(o.Role);
                        w.Write(o.OccupantId);
                        w.Write(o.Sessions.Count);
                        foreach (var s in o.Sessions)
                        {
                            w.Write(s.Jid.ToString());
                            Write(w, s.Presence);
                        }
                    }
                }
            }
            w.Write(false);
        }
        return buffer.ToArray();
    }

    /// <summary>Reads what <see cref="Save"/> wrote, in this format or the one before it (one session per occupant),
    /// so a hot swap from the previous version keeps its occupants too.</summary>
    public void Restore(byte[] state)
    {
        using var r = new BinaryReader(new MemoryStream(state), Encoding.UTF8);
        var version = r.ReadInt32();
        if (version is not (FormatVersion or SingleSessionFormat)) return;
        while (r.ReadBoolean())
        {
            var occupants = Of(r.ReadString());
            for (var n = r.ReadInt32(); n > 0; n--)
            {
                if (version == SingleSessionFormat)
                {
                    occupants.Add(new Occupant(r.ReadString(), Jid.Parse(r.ReadString()), r.ReadString(), r.ReadString(), Read(r)));
                    continue;
                }
                var nick = r.ReadString();
                var role = r.ReadString();
                var id = r.ReadString();
                var sessions = r.ReadInt32();
                var o = new Occupant(nick, Jid.Parse(r.ReadString()), role, id, Read(r));
                for (var s = 1; s < sessions; s++) o.Sessions.Add(new OccupantSession(Jid.Parse(r.ReadString()), Read(r)));
                occupants.Add(o);
            }
        }
    }

    private const int SingleSessionFormat = 1;
    private const int FormatVersion = 2;

    private static void Write(BinaryWriter w, Element e)
    {
        w.Write(e.Name);
        w.Write(e.Namespace);
        w.Write(e.Attributes.Count);
        foreach (var a in e.Attributes)
        {
            w.Write(a.Name);
            w.Write(a.Namespace ?? "");
            w.Write(a.Value);
        }
        w.Write(e.Nodes.Count);
        foreach (var node in e.Nodes)
        {
            if (node is Element child)
            {
                w.Write(true);
                Write(w, child);
            }
            else
            {
                w.Write(false);
                w.Write(node.ToString() ?? "");
            }
        }
    }

    private static Element Read(BinaryReader r)
    {
        var e = new Element(r.ReadString(), r.ReadString());
        for (var n = r.ReadInt32(); n > 0; n--)
        {
            var name = r.ReadString();
            var ns = r.ReadString();
            e.SetAttr(name, ns.Length == 0 ? null : ns, r.ReadString());
        }
        for (var n = r.ReadInt32(); n > 0; n--)
        {
            if (r.ReadBoolean()) e.Add(Read(r));
            else e.AddText(r.ReadString());
        }
        return e;
    }
}
