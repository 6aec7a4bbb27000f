using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Muc;

/// <summary>A message kept for the discussion history (XEP-0045 §7.2.14): as broadcast, from room/nick.</summary>
internal sealed record HistoryEntry(DateTimeOffset Stamp, string Nick, string RealJid, Element Message);

/// <summary>
/// What a room keeps across restarts (its journal): whether it exists and is locked (§10.1.1), its configuration,
/// affiliations and registered nicknames, subject and discussion history. Changed only by <see cref="RoomEvents.Apply"/>.
/// </summary>
internal sealed class RoomState(int historyCapacity, bool archiving)
{
    public bool Exists;
    public bool Locked;
    public RoomConfig Config = RoomConfig.Defaults(historyCapacity, archiving);
    /// <summary>Whether a new room archives (Xmpp:Muc:Archive): a configuration without the field keeps it.</summary>
    public readonly bool ArchivingByDefault = archiving;
    public readonly Dictionary<string, string> Affiliations = new(StringComparer.Ordinal); // bare JID -> affiliation (not none)
    public readonly Dictionary<string, string> RegisteredNicks = new(StringComparer.Ordinal); // bare JID -> nick (§7.10)
    public string? Subject;
    public string? SubjectNick;
    public readonly LinkedList<HistoryEntry> History = new();
    public readonly int HistoryCapacity = historyCapacity;

    public string AffiliationOf(Jid real) => Affiliations.TryGetValue(real.Bare.ToString(), out var a) ? a : MucAffiliations.None;

    public string? RegisteredOwnerOf(string nick)
    {
        foreach (var (jid, n) in RegisteredNicks)
            if (n == nick) return jid;
        return null;
    }

    public int OwnerCount()
    {
        var n = 0;
        foreach (var a in Affiliations.Values)
            if (a == MucAffiliations.Owner) n++;
        return n;
    }
}

/// <summary>The room's journal events (XML in <see cref="MucNs.Internal"/>) and the snapshot made of them.</summary>
internal static class RoomEvents
{
    public static Element Created(string creator, bool locked) =>
        new Element("created", MucNs.Internal).SetAttr("creator", creator).SetAttr("locked", locked ? "1" : "0");

    public static Element Configured(RoomConfig config) => new Element("configured", MucNs.Internal).Add(config.ToForm("submit"));

    public static Element Affiliation(string jid, string affiliation) =>
        new Element("affiliation", MucNs.Internal).SetAttr("jid", jid).SetAttr("affiliation", affiliation);

    public static Element Registered(string jid, string? nick) =>
        new Element("registered", MucNs.Internal).SetAttr("jid", jid).SetAttr("nick", nick);

    public static Element Subject(string? nick, string text) =>
        new Element("subject", MucNs.Internal).SetAttr("nick", nick).AddText(text);

    public static Element History(HistoryEntry entry) =>
        new Element("history", MucNs.Internal).SetAttr("stamp", entry.Stamp.ToString("o", System.Globalization.CultureInfo.InvariantCulture))
            .SetAttr("nick", entry.Nick).SetAttr("jid", entry.RealJid).Add(entry.Message);

    /// <summary>Several history entries in one event (one journal write for a batch of messages), oldest first.</summary>
    public static Element HistoryBatch(List<HistoryEntry> entries)
    {
        var batch = new Element("history-batch", MucNs.Internal);
        foreach (var entry in entries) batch.Add(History(entry));
        return batch;
    }

    public static Element Destroyed() => new("destroyed", MucNs.Internal);

    public static RoomState Apply(RoomState state, Element e)
    {
        switch (e.Name)
        {
            case "created":
                var fresh = new RoomState(state.HistoryCapacity, state.ArchivingByDefault) { Exists = true, Locked = e.Attr("locked") == "1" };
                fresh.Affiliations[e.Attr("creator")!] = MucAffiliations.Owner;
                return fresh;
            case "configured":
                var (config, _) = state.Config.Submit(e.FirstChild()!, 0);
                if (config is not null) state.Config = config;
                state.Locked = false;
                return state;
            case "affiliation":
                var jid = e.Attr("jid")!;
                if (e.Attr("affiliation") is { } a && a != MucAffiliations.None) state.Affiliations[jid] = a;
                else state.Affiliations.Remove(jid);
                return state;
            case "registered":
                if (e.Attr("nick") is { Length: > 0 } nick) state.RegisteredNicks[e.Attr("jid")!] = nick;
                else state.RegisteredNicks.Remove(e.Attr("jid")!);
                return state;
            case "subject":
                state.Subject = e.Text;
                state.SubjectNick = e.Attr("nick");
                return state;
            case "history":
                AddHistory(state, e);
                return state;
            case "history-batch":
                foreach (var entry in e.Elements()) AddHistory(state, entry);
                return state;
            case "destroyed":
                return new RoomState(state.HistoryCapacity, state.ArchivingByDefault);
            default:
                return state;
        }
    }

    private static void AddHistory(RoomState state, Element e)
    {
        state.History.AddLast(new HistoryEntry(DateTimeOffset.Parse(e.Attr("stamp")!, System.Globalization.CultureInfo.InvariantCulture),
            e.Attr("nick")!, e.Attr("jid") ?? "", e.FirstChild()!));
        while (state.History.Count > state.HistoryCapacity) state.History.RemoveFirst();
    }

    /// <summary>The state as the events that rebuild it.</summary>
    public static EntitySnapshot Snapshot(RoomState state)
    {
        var room = new Element("room", MucNs.Internal);
        if (state.Exists)
        {
            room.Add(new Element("created", MucNs.Internal).SetAttr("creator", "").SetAttr("locked", state.Locked ? "1" : "0"));
            if (!state.Locked) room.Add(Configured(state.Config));
            else room.Add(new Element("config", MucNs.Internal).Add(state.Config.ToForm("submit")));
            foreach (var (jid, a) in state.Affiliations) room.Add(Affiliation(jid, a));
            foreach (var (jid, nick) in state.RegisteredNicks) room.Add(Registered(jid, nick));
            if (state.Subject is not null) room.Add(Subject(state.SubjectNick, state.Subject));
            foreach (var h in state.History) room.Add(History(h));
        }
        return EntitySnapshot.Of(room);
    }

    public static RoomState Restore(RoomState initial, EntitySnapshot snapshot)
    {
        var state = initial;
        foreach (var e in snapshot.Xml!.Elements())
        {
            if (e.Name == "config") // a locked room's configuration (applying 'configured' would unlock it)
            {
                var (config, _) = state.Config.Submit(e.FirstChild()!, 0);
                if (config is not null) state.Config = config;
                continue;
            }
            state = Apply(state, e);
            if (e.Name == "created") state.Affiliations.Clear(); // the owners follow as affiliation records
        }
        return state;
    }
}
