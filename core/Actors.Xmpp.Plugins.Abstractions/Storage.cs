using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Plugins;

// Persistent state of a plugin (ctx.Storage), kept by the host in the server's journal. An owner is an account's
// bare JID (alice@example.com) or a service JID (example.com, pubsub.example.com). Each (plugin, store kind, owner)
// is its own small entity: recovered when the plugin first touches it, never at login otherwise; writes made while
// one is being written go out together in the next write. Removing an account removes what every plugin stored for
// it. Values are short strings or XML elements; keep a value small (a vCard, a settings document), and use an
// archive for anything that grows.

/// <summary>A store could not be read or written (the journal failed or did not answer in time). An IQ handler may
/// let it through: the server answers the request with &lt;internal-server-error/&gt;.</summary>
public sealed class StorageException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A write refused because the account's store would hold more than the operator allows
/// (<c>Xmpp:Limits:MaxAccountStoreBytes</c>); nothing of it was written. An IQ handler may let it through: the server
/// answers the request with &lt;not-acceptable/&gt; (as XEP-0060 §7.1.3.4 answers a payload too big).</summary>
public sealed class StoreQuotaExceededException(string message) : Exception(message);

/// <summary>A stored value: a short text or an XML element (never both).</summary>
public sealed record StoredValue
{
    private StoredValue(string? text, Element? xml)
    {
        Text = text;
        Xml = xml;
    }

    /// <summary>The text, for a value stored with <see cref="Of(string)"/>.</summary>
    public string? Text { get; }
    /// <summary>The element, for a value stored with <see cref="Of(Element)"/> (a copy: changing it changes nothing stored).</summary>
    public Element? Xml { get; }

    public static StoredValue Of(string text) => new(text ?? throw new ArgumentNullException(nameof(text)), null);
    public static StoredValue Of(Element xml) => new(null, xml ?? throw new ArgumentNullException(nameof(xml)));
}

/// <summary>One key of a map and its value (null: the key is removed).</summary>
public sealed record StoredEntry(string Key, StoredValue? Value);

/// <summary>One item of an archive: ids increase by one per appended item, from 1.</summary>
public sealed record ArchiveItem(long Id, DateTimeOffset Stamp, StoredValue Value);

/// <summary>A page of an archive: <see cref="Items"/> in id order; <see cref="Complete"/> when no item follows the last one.</summary>
public sealed record ArchivePage(IReadOnlyList<ArchiveItem> Items, bool Complete);

/// <summary>The plugin's storage: maps and archives by kind (a name of the plugin's choosing: "vcard", "items").</summary>
public interface IPluginStorage
{
    /// <summary>A map of small values keyed by string, one per owner (a document is a map with one key).</summary>
    IStoreMap Map(string kind);

    /// <summary>An append-only archive of ordered items, one per owner (an offline queue, a message archive).</summary>
    IStoreArchive Archive(string kind);
}

/// <summary>String keys to small values, per owner. Every write completes once the journal has stored it.</summary>
public interface IStoreMap
{
    string Kind { get; }
    ValueTask<StoredValue?> GetAsync(Jid owner, string key);
    ValueTask<IReadOnlyList<StoredEntry>> GetAllAsync(Jid owner);
    /// <summary>Sets (or, with null, removes) one key.</summary>
    Task SetAsync(Jid owner, string key, StoredValue? value);
    /// <summary>Sets or removes several keys in one write.</summary>
    Task SetManyAsync(Jid owner, IReadOnlyList<StoredEntry> entries);
    /// <summary>Removes every key of the owner.</summary>
    Task ClearAsync(Jid owner);
}

/// <summary>An append-only list of items with increasing ids, per owner, trimmed from the front.</summary>
public interface IStoreArchive
{
    string Kind { get; }
    /// <summary>Appends an item; completes with its id once stored.</summary>
    Task<long> AppendAsync(Jid owner, StoredValue item);
    /// <summary>Appends an item unless the archive already holds <paramref name="maxItems"/> items (counted with the
    /// appends before it, in order: a quota that concurrent appends cannot overrun); completes with its id once
    /// stored, or with 0 when the archive was full and nothing was appended.</summary>
    Task<long> AppendAsync(Jid owner, StoredValue item, int maxItems);
    /// <summary>At most <paramref name="max"/> items with ids greater than <paramref name="afterId"/> (0: from the start).</summary>
    ValueTask<ArchivePage> ReadAsync(Jid owner, long afterId, int max);
    /// <summary>Removes every item with an id up to and including <paramref name="upToId"/>.</summary>
    Task TrimAsync(Jid owner, long upToId);
    ValueTask<int> CountAsync(Jid owner);
}
