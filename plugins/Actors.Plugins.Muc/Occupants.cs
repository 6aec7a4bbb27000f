using System.Collections.Concurrent;
using System.Text;
using Actors.Xmpp;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Muc;

/// <summary>One occupant of a room (XEP-0045 §5): a real full JID in the room under a nickname, with a role and the
/// presence it last sent to the room. Lives in memory only.</summary>
internal sealed class Occupant(string nick, Jid jid, string role, string occupantId, Element presence)
{
    public string Nick = nick;
    public readonly Jid Jid = jid;
    public string Role = role;
    public readonly string OccupantId = occupantId;
    /// <summary>The occupant's own presence children (show, status, priority, caps...), without MUC payloads.</summary>
    public Element Presence = presence;
}

/// <summary>The occupants of one room, by nickname and by real full JID. Touched only by the room's entity (one
/// command at a time) and by the plugin's save/restore around a reload.</summary>
internal sealed class RoomOccupants
{
    public readonly Dictionary<string, Occupant> ByNick = new(StringComparer.Ordinal);
    public readonly Dictionary<Jid, Occupant> ByJid = new();

    public void Add(Occupant o)
    {
        ByNick[o.Nick] = o;
        ByJid[o.Jid] = o;
    }

    public void Remove(Occupant o)
    {
        ByNick.Remove(o.Nick);
        ByJid.Remove(o.Jid);
    }

    public void Rename(Occupant o, string nick)
    {
        ByNick.Remove(o.Nick);
        o.Nick = nick;
        ByNick[nick] = o;
    }

    public int Count => ByJid.Count;
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
                    foreach (var o in occupants.ByJid.Values)
                    {
                        w.Write(o.Nick);
                        w.Write(o.Jid.ToString());
                        w.Write(o.Role);
                        w.Write(o.OccupantId);
                        Write(w, o.Presence);
                    }
                }
            }
            w.Write(false);
        }
        return buffer.ToArray();
    }

    public void Restore(byte[] state)
    {
        using var r = new BinaryReader(new MemoryStream(state), Encoding.UTF8);
        if (r.ReadInt32() != FormatVersion) return;
        while (r.ReadBoolean())
        {
            var occupants = Of(r.ReadString());
            for (var n = r.ReadInt32(); n > 0; n--)
                occupants.Add(new Occupant(r.ReadString(), Jid.Parse(r.ReadString()), r.ReadString(), r.ReadString(), Read(r)));
        }
    }

    private const int FormatVersion = 1;

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
