namespace Actors.Xmpp.Persistence.Plugins;

// The journal records of plugin storage (persistence id "plugin-store:<plugin>/<kind>:<owner>"). Core envelope
// records: a plugin's own .NET types never reach the journal. Each record names the plugin and the store kind, so
// the journal can be read without the plugin. A value is either Text or Xml (the element's serialized form).

/// <summary>Keys of a plugin's map set (a value) or removed (both Text and Xml null), in one write.</summary>
[PersistentEvent("plugin-store.map-set.v1")]
public sealed record StoreMapSet(string Plugin, string Kind, StoreEntryRecord[] Entries) : IPersistentEvent;

/// <summary>Every key of a plugin's map removed.</summary>
[PersistentEvent("plugin-store.map-cleared.v1")]
public sealed record StoreMapCleared(string Plugin, string Kind) : IPersistentEvent;

/// <summary>Items appended to a plugin's archive (ids consecutive), in one write.</summary>
[PersistentEvent("plugin-store.archive-appended.v1")]
public sealed record StoreArchiveAppended(string Plugin, string Kind, StoreItemRecord[] Items) : IPersistentEvent;

/// <summary>The items of a plugin's archive up to and including <paramref name="UpToId"/> removed.</summary>
[PersistentEvent("plugin-store.archive-trimmed.v1")]
public sealed record StoreArchiveTrimmed(string Plugin, string Kind, long UpToId) : IPersistentEvent;

/// <summary>
/// The store took over what the server kept for it before it was a plugin (journals of release 1: a user's vCard,
/// private XML, block list, last activity); written once, also when there was nothing to take over.
/// </summary>
[PersistentEvent("plugin-store.legacy-imported.v1")]
public sealed record StoreLegacyImported(string Plugin, string Kind, string Source) : IPersistentEvent;

/// <summary>Everything the store held removed (its account was removed); the events before it are deleted.</summary>
[PersistentEvent("plugin-store.purged.v1")]
public sealed record StorePurged(string Plugin, string Kind) : IPersistentEvent;

/// <summary>One key and its value (Text or Xml; neither: removed).</summary>
public sealed record StoreEntryRecord(string Key, string? Text, string? Xml);

/// <summary>One archive item.</summary>
public sealed record StoreItemRecord(long Id, DateTimeOffset Stamp, string? Text, string? Xml);

/// <summary>A map's whole content (taken every N events).</summary>
[PersistentEvent("plugin-store.map-snapshot.v1")]
public sealed record StoreMapSnapshot(string Plugin, string Kind, StoreEntryRecord[] Entries, bool LegacyImported) : IPersistentEvent;

/// <summary>An archive's whole content and its last id (taken every N events).</summary>
[PersistentEvent("plugin-store.archive-snapshot.v1")]
public sealed record StoreArchiveSnapshot(string Plugin, string Kind, long LastId, StoreItemRecord[] Items, bool LegacyImported) : IPersistentEvent;

/// <summary>Samples of every plugin-store record (for golden-byte and round-trip tests).</summary>
public static class StoreRecordSamples
{
    private static readonly DateTimeOffset Stamp = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

    public static IReadOnlyList<IPersistentEvent> All { get; } =
    [
        new StoreMapSet("vcard", "vcard", [new StoreEntryRecord("", null, "<vCard xmlns='vcard-temp'><FN>Alice</FN></vCard>")]),
        new StoreMapCleared("private", "private"),
        new StoreArchiveAppended("offline", "messages", [new StoreItemRecord(1, Stamp, null, "<message xmlns='jabber:client'><body>hi</body></message>")]),
        new StoreArchiveTrimmed("offline", "messages", 1),
        new StoreLegacyImported("vcard", "vcard", "user.snapshot.v1"),
        new StorePurged("vcard", "vcard"),
        new StoreMapSnapshot("blocking", "blocklist", [new StoreEntryRecord("spam@example.org", "", null)], true),
        new StoreArchiveSnapshot("offline", "messages", 3, [new StoreItemRecord(3, Stamp, "x", null)], false),
    ];
}
