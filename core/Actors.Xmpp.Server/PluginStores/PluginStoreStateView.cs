using Actors.Xmpp.Persistence.Plugins;
using Actors.Xmpp.Persistence.Replay;

namespace Actors.Xmpp.Server.PluginStores;

/// <summary>
/// "events rebuild plugin-store:&lt;plugin&gt;/map/&lt;kind&gt;:&lt;owner&gt;": a plugin map's keys and values, or
/// (".../archive/...") an archive's items, as of the last event replayed. Read without the plugin: the records are
/// the host's.
/// </summary>
public sealed class PluginStoreStateView : IJournalStateView
{
    private sealed class State
    {
        public readonly SortedDictionary<string, StoreEntryRecord> Map = new(StringComparer.Ordinal);
        public readonly List<StoreItemRecord> Archive = new();
        public long LastId;
        public string? Imported;
        public int Purges;
        public bool IsArchive;
    }

    public bool Handles(string persistenceId) => persistenceId.StartsWith(StoreAddress.Prefix, StringComparison.Ordinal);

    public object Empty(string persistenceId) => new State
    {
        IsArchive = StoreAddress.TryParse(persistenceId, out var a) && a!.Shape == StoreShape.Archive,
    };

    public object Apply(object state, object @event)
    {
        var s = (State)state;
        switch (@event)
        {
            case StoreMapSet set:
                foreach (var e in set.Entries)
                    if (e.Text is null && e.Xml is null) s.Map.Remove(e.Key);
                    else s.Map[e.Key] = e;
                break;
            case StoreMapCleared:
                s.Map.Clear();
                break;
            case StoreArchiveAppended a:
                s.Archive.AddRange(a.Items);
                if (a.Items.Length > 0) s.LastId = a.Items[^1].Id;
                break;
            case StoreArchiveTrimmed t:
                s.Archive.RemoveAll(i => i.Id <= t.UpToId);
                break;
            case StoreLegacyImported l:
                s.Imported = l.Source;
                break;
            case StorePurged:
                s.Map.Clear();
                s.Archive.Clear();
                s.Purges++;
                break;
            case StoreMapSnapshot m:
                s.Map.Clear();
                foreach (var e in m.Entries) s.Map[e.Key] = e;
                break;
            case StoreArchiveSnapshot a:
                s.Archive.Clear();
                s.Archive.AddRange(a.Items);
                s.LastId = a.LastId;
                break;
        }
        return s;
    }

    public void Print(object state, TextWriter output)
    {
        var s = (State)state;
        if (s.Imported is not null) output.WriteLine($"took over the data of release 1 ({s.Imported})");
        if (s.Purges > 0) output.WriteLine($"purged {s.Purges} time(s) (account removed)");
        if (s.IsArchive)
        {
            output.WriteLine($"{s.Archive.Count} item(s), last id {s.LastId}");
            foreach (var i in s.Archive) output.WriteLine($"  #{i.Id} {i.Stamp:u}  {Value(i.Text, i.Xml)}");
            return;
        }
        output.WriteLine($"{s.Map.Count} key(s)");
        foreach (var (key, e) in s.Map) output.WriteLine($"  \"{key}\" = {Value(e.Text, e.Xml)}");
    }

    private static string Value(string? text, string? xml) => xml ?? "\"" + text + "\"";
}
