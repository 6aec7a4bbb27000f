using Actors.Xmpp.Persistence.Replay;

namespace Actors.Xmpp.Persistence.Plugins;

// The journal payloads of plugins' keyed entities (persistence id "entity:<plugin>/<kind>/<key>"). Core envelope
// records: a plugin's .NET types never reach the journal, only its XML (as text) or bytes.

/// <summary>One event of a keyed entity: the element the plugin persisted, as XML text.</summary>
[PersistentEvent("plugin-entity.event.v1")]
public sealed record EntityEventRecord(string Xml) : IPersistentEvent;

/// <summary>A keyed entity's state as its plugin snapshotted it: an element (XML text) or bytes.</summary>
[PersistentEvent("plugin-entity.snapshot.v1")]
public sealed record EntitySnapshotRecord(string? Xml, byte[]? Bytes) : IPersistentEvent;

/// <summary>The persistence ids of keyed entities.</summary>
public static class EntityPersistenceIds
{
    public const string Prefix = "entity:";

    /// <summary>entity:&lt;plugin&gt;/&lt;kind&gt;/&lt;key&gt; (the key as given: it may hold any character but is last).</summary>
    public static string Of(string plugin, string kind, string key) => Prefix + plugin + "/" + kind + "/" + key;
}

/// <summary>
/// "events rebuild entity:&lt;plugin&gt;/&lt;kind&gt;/&lt;key&gt;": the host cannot fold a plugin's events without the
/// plugin, so it shows the latest snapshot (when the journal holds one) and every event since, in order.
/// </summary>
public sealed class EntityStateView : IJournalStateView
{
    private sealed class State
    {
        public string? Snapshot;
        public readonly List<string> Events = new();
        public int Total;
    }

    public bool Handles(string persistenceId) => persistenceId.StartsWith(EntityPersistenceIds.Prefix, StringComparison.Ordinal);

    public object Empty(string persistenceId) => new State();

    public object Apply(object state, object @event)
    {
        var s = (State)state;
        switch (@event)
        {
            case EntityEventRecord e:
                s.Events.Add(e.Xml);
                s.Total++;
                break;
            case EntitySnapshotRecord snap:
                s.Snapshot = snap.Xml ?? $"{snap.Bytes?.Length ?? 0} bytes";
                s.Events.Clear();
                break;
        }
        return s;
    }

    public void Print(object state, TextWriter output)
    {
        var s = (State)state;
        output.WriteLine($"keyed entity: {s.Total} events");
        if (s.Snapshot is not null) output.WriteLine($"  snapshot: {s.Snapshot}");
        output.WriteLine($"  {s.Events.Count} events{(s.Snapshot is null ? "" : " since the snapshot")}:");
        foreach (var e in s.Events) output.WriteLine("    " + e);
    }
}
