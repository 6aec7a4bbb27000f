using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Plugins;

// The server's message archive (host-provided: ctx.Require<IMessageArchive>()): an indexed table in the server's
// database (SQLite or PostgreSQL, next to the journal), not journal events, so that a query reads one page by index
// and nothing is replayed at login. One table serves every archive kind ("mam": accounts' archives, later "muc": rooms'),
// each archive named by its owner's bare JID. Appends are written in batches off the caller's path; a query sees every
// append made before it.

/// <summary>One archived message: its archive id (XEP-0359 stanza-id, opaque and unpredictable), the time it was
/// archived, the remote party (<see cref="With"/>: the recipient of an outgoing message, the sender of an incoming one)
/// and the message as archived.</summary>
public sealed record ArchivedMessage(string Id, DateTimeOffset Stamp, Jid With, Element Message);

/// <summary>Which messages of one archive a query selects (every filter optional; all given ones apply).</summary>
public sealed record MessageArchiveFilter
{
    /// <summary>A bare JID matches the remote party's bare JID (any resource); a full JID matches it exactly.</summary>
    public Jid? With { get; init; }
    /// <summary>Archived at or after (inclusive).</summary>
    public DateTimeOffset? Start { get; init; }
    /// <summary>Archived at or before (inclusive).</summary>
    public DateTimeOffset? End { get; init; }
    /// <summary>Archived after the message with this id (exclusive).</summary>
    public string? AfterId { get; init; }
    /// <summary>Archived before the message with this id (exclusive).</summary>
    public string? BeforeId { get; init; }
    /// <summary>Only these ids.</summary>
    public IReadOnlyList<string>? Ids { get; init; }
    /// <summary>Only messages whose body contains this text (case-insensitive for ASCII letters).</summary>
    public string? Text { get; init; }
}

/// <summary>A page of the selection of <see cref="Filter"/>, in archive order (XEP-0059 result set management): at most
/// <see cref="Max"/> messages (0: count only) after <see cref="After"/> (an id; null: from the first), or, when
/// <see cref="Before"/> is set or <see cref="FromEnd"/> (XEP-0059 &lt;before/&gt;, the last page), the last
/// <see cref="Max"/> messages before <see cref="Before"/> (null: up to the last).</summary>
public sealed record MessageArchiveQuery(MessageArchiveFilter Filter, int Max, string? After = null, string? Before = null, bool FromEnd = false)
{
    /// <summary>Whether the page is taken from its end (paging backwards).</summary>
    public bool Backwards => FromEnd || Before is not null;
}

/// <summary>A page in archive order. <see cref="Complete"/>: no message of the selection lies beyond the page in the
/// query's direction (after its last message; before its first when paging backwards). <see cref="Count"/>: the size of
/// the whole selection (the filter's, whatever the page); <see cref="FirstIndex"/>: how many messages of the selection
/// come before the page's first. <see cref="UnknownId"/>: an id the query names that is not in the archive (then
/// nothing else is set: XEP-0313's item-not-found).</summary>
public sealed record MessageArchivePage(IReadOnlyList<ArchivedMessage> Items, bool Complete, int Count, int FirstIndex, string? UnknownId = null);

/// <summary>The first and last message of an archive (null members: the archive is empty).</summary>
public sealed record MessageArchiveBounds(ArchivedMessage? First, ArchivedMessage? Last);

/// <summary>Archives of messages, by kind and owner (host-provided).</summary>
public interface IMessageArchive
{
    /// <summary>Archives <paramref name="message"/> (copied as it is now) in the archive <paramref name="kind"/> of
    /// <paramref name="owner"/> (a bare JID) and returns its new id at once; the write follows in a batch, off the
    /// caller's path. <paramref name="with"/>: the remote party.</summary>
    string Append(string kind, Jid owner, Jid with, Element message);

    /// <summary>A page of one archive; sees every <see cref="Append"/> made before it.</summary>
    Task<MessageArchivePage> QueryAsync(string kind, Jid owner, MessageArchiveQuery query, CancellationToken cancellationToken = default);

    /// <summary>The first and last message of one archive.</summary>
    Task<MessageArchiveBounds> BoundsAsync(string kind, Jid owner, CancellationToken cancellationToken = default);

    /// <summary>Removes the messages of one archive archived before <paramref name="before"/> (null: all of them);
    /// completes with how many were removed. Ids are never reused.</summary>
    Task<int> RemoveAsync(string kind, Jid owner, DateTimeOffset? before = null, CancellationToken cancellationToken = default);

    /// <summary>Retention: removes the messages of every archive of <paramref name="kind"/> archived before
    /// <paramref name="before"/>; completes with how many were removed.</summary>
    Task<int> RemoveOlderThanAsync(string kind, DateTimeOffset before, CancellationToken cancellationToken = default);
}
