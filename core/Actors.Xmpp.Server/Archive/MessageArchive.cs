using System.Buffers.Text;
using System.Security.Cryptography;
using System.Threading.Channels;
using Actors.Xmpp.Persistence.Archive;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Xml;
using Microsoft.Extensions.Logging;

namespace Actors.Xmpp.Server.Archive;

/// <summary>
/// The host's <see cref="IMessageArchive"/> over <see cref="MessageArchiveTable"/>. <see cref="Append"/> serializes the
/// message, queues the row and returns its id: one writer drains the queue and inserts what accumulated while the previous
/// batch was written, in one transaction, so archiving costs the delivering actor a serialization and a queue write, never
/// a database round trip. Reads and removals first wait for the rows queued before them (a client that sent a message and
/// then queries its archive finds it); a read waits at most 5 s (a batch that fails is retried for minutes while the
/// database is away), a removal as long as the rows before it take.
/// </summary>
public sealed class MessageArchive : IMessageArchive, IAsyncDisposable
{
    /// <summary>Rows per insert transaction at most.</summary>
    public const int MaxBatch = 512;
    /// <summary>A batch that fails is tried again after 0.5 s, then after twice as long each time up to 10 s, for
    /// <see cref="RetryFor"/>: a database restarted or briefly away loses nothing of the archive (the rows wait in
    /// memory meanwhile).</summary>
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromMilliseconds(500), MaxRetryDelay = TimeSpan.FromSeconds(10);

    /// <summary>How long a batch is tried before it is given up (and logged as lost).</summary>
    public static readonly TimeSpan RetryFor = TimeSpan.FromMinutes(10);

    private readonly MessageArchiveTable _table;
    private readonly ILogger? _log;
    private readonly Channel<object> _queue = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writer;
    private long _queued;

    public MessageArchive(MessageArchiveTable table, ILogger? log = null)
    {
        _table = table;
        _log = log;
        _writer = Task.Run(WriteLoop);
    }

    public MessageArchiveTable Table => _table;

    /// <summary>Rows queued and not yet written.</summary>
    public long Pending => Interlocked.Read(ref _queued);

    public string Append(string kind, Jid owner, Jid with, Element message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var id = NewId();
        var body = message.ChildText("body", message.Namespace);
        var row = new ArchiveInsert(kind, owner.Bare.ToString(), id, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
            with.Bare.ToString(), with.ToString(), body, StanzaXml.ToXml(message));
        Interlocked.Increment(ref _queued);
        if (!_queue.Writer.TryWrite(row))
        {
            Interlocked.Decrement(ref _queued);
            throw new StorageException("the message archive is closed");
        }
        return id;
    }

    /// <summary>96 random bits, base64url: unpredictable and unique within an archive (XEP-0313 §3, XEP-0359 §4).</summary>
    private static string NewId()
    {
        Span<byte> bytes = stackalloc byte[12];
        RandomNumberGenerator.Fill(bytes);
        return Base64Url.EncodeToString(bytes);
    }

    /// <summary>Completes once every row queued before it is written (or given up).</summary>
    public Task FlushAsync()
    {
        if (Pending == 0) return Task.CompletedTask;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return _queue.Writer.TryWrite(done) ? done.Task : Task.CompletedTask;
    }

    private async Task WriteLoop()
    {
        var batch = new List<ArchiveInsert>(MaxBatch);
        var flushes = new List<TaskCompletionSource>();
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (batch.Count < MaxBatch && reader.TryRead(out var item))
            {
                if (item is ArchiveInsert row) batch.Add(row);
                else if (item is TaskCompletionSource flush)
                {
                    flushes.Add(flush);
                    break; // answer it as soon as what came before it is written
                }
            }
            if (batch.Count > 0) await WriteAsync(batch).ConfigureAwait(false);
            Interlocked.Add(ref _queued, -batch.Count);
            batch.Clear();
            foreach (var f in flushes) f.TrySetResult();
            flushes.Clear();
        }
    }

    private async Task WriteAsync(List<ArchiveInsert> batch)
    {
        var started = DateTime.UtcNow;
        var delay = FirstRetryDelay;
        var warned = DateTime.MinValue;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await _table.InsertAsync(batch).ConfigureAwait(false);
                if (attempt > 1) _log?.LogInformation("{Count} archived messages written after {Attempts} attempts", batch.Count, attempt);
                return;
            }
            catch (Exception ex) when (DateTime.UtcNow - started < RetryFor)
            {
                if (DateTime.UtcNow - warned >= TimeSpan.FromMinutes(1)) // once a minute while the database is away
                {
                    warned = DateTime.UtcNow;
                    _log?.LogWarning(ex, "writing {Count} archived messages failed (attempt {Attempt}); retrying for up to {Minutes} minutes",
                        batch.Count, attempt, RetryFor.TotalMinutes);
                }
                await Task.Delay(delay).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxRetryDelay.Ticks));
            }
            catch (Exception ex)
            {
                _log?.LogError(ex, "{Count} archived messages could not be written within {Minutes} minutes and are lost", batch.Count, RetryFor.TotalMinutes);
                return;
            }
        }
    }

    /// <summary>How long a read waits for the rows queued before it. Writes are retried for minutes while the database
    /// is away; a read does not wait that long: it goes on (and fails on its own if the database is still away).</summary>
    private static readonly TimeSpan ReadFlushWait = TimeSpan.FromSeconds(5);

    private async Task FlushBeforeReadAsync()
    {
        try { await FlushAsync().WaitAsync(ReadFlushWait).ConfigureAwait(false); }
        catch (TimeoutException) { }
    }

    public async Task<MessageArchivePage> QueryAsync(string kind, Jid owner, MessageArchiveQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Max < 0) throw new ArgumentOutOfRangeException(nameof(query), "Max must not be negative");
        await FlushBeforeReadAsync().ConfigureAwait(false);
        var f = query.Filter;
        var archive = owner.Bare.ToString();
        var named = new List<string>();
        AddNamed(named, f.AfterId);
        AddNamed(named, f.BeforeId);
        AddNamed(named, query.After);
        AddNamed(named, query.Before);
        var ids = f.Ids is null ? null : Runtime.PluginBoundary.ToArray(f.Ids);
        if (ids is not null) foreach (var id in ids) AddNamed(named, id);
        var seqs = await Run(() => _table.SeqOfAsync(kind, archive, named, cancellationToken)).ConfigureAwait(false);
        foreach (var id in named)
            if (!seqs.ContainsKey(id)) return new MessageArchivePage([], false, 0, 0, id);

        var selection = new ArchiveSelection(kind, archive)
        {
            WithBare = f.With is { Resource: null } bare ? bare.ToString() : null,
            WithFull = f.With is { Resource: not null } full ? full.ToString() : null,
            Start = f.Start?.ToUnixTimeMilliseconds(),
            End = f.End?.ToUnixTimeMilliseconds(),
            AfterSeq = f.AfterId is null ? null : seqs[f.AfterId],
            BeforeSeq = f.BeforeId is null ? null : seqs[f.BeforeId],
            Ids = ids,
            Text = f.Text,
        };
        var count = await Run(() => _table.CountAsync(selection, cancellationToken)).ConfigureAwait(false);
        if (query.Max == 0) return new MessageArchivePage([], count == 0, count, 0);

        var page = selection with
        {
            AfterSeq = Later(selection.AfterSeq, query.After is null ? null : seqs[query.After]),
            BeforeSeq = Earlier(selection.BeforeSeq, query.Before is null ? null : seqs[query.Before]),
        };
        var rows = await Run(() => _table.SelectAsync(page, query.Backwards, query.Max + 1, cancellationToken)).ConfigureAwait(false);
        var more = rows.Count > query.Max;
        if (more) rows.RemoveAt(rows.Count - 1);
        if (query.Backwards) rows.Reverse();
        // the page's index in the selection: known without a second count when the page touches one of its ends
        int firstIndex;
        if (rows.Count == 0 || !query.Backwards && query.After is null || query.Backwards && !more && query.After is null)
            firstIndex = 0; // the page starts where the selection starts
        else if (!query.Backwards && !more || query.Backwards && query.Before is null)
            firstIndex = count - rows.Count; // the page ends where the selection ends
        else firstIndex = await Run(() => _table.CountAsync(selection with { BeforeSeq = Earlier(selection.BeforeSeq, rows[0].Seq) }, cancellationToken))
            .ConfigureAwait(false);
        var items = new ArchivedMessage[rows.Count];
        for (var i = 0; i < items.Length; i++) items[i] = ToMessage(rows[i]);
        return new MessageArchivePage(items, !more, count, firstIndex);
    }

    public async Task<MessageArchiveBounds> BoundsAsync(string kind, Jid owner, CancellationToken cancellationToken = default)
    {
        await FlushBeforeReadAsync().ConfigureAwait(false);
        var all = new ArchiveSelection(kind, owner.Bare.ToString());
        var first = await Run(() => _table.SelectAsync(all, false, 1, cancellationToken)).ConfigureAwait(false);
        if (first.Count == 0) return new MessageArchiveBounds(null, null);
        var last = await Run(() => _table.SelectAsync(all, true, 1, cancellationToken)).ConfigureAwait(false);
        return new MessageArchiveBounds(ToMessage(first[0]), ToMessage(last[0]));
    }

    public async Task<int> RemoveAsync(string kind, Jid owner, DateTimeOffset? before = null, CancellationToken cancellationToken = default)
    {
        await FlushAsync().ConfigureAwait(false);
        return await Run(() => _table.DeleteAsync(kind, owner.Bare.ToString(), before?.ToUnixTimeMilliseconds(), cancellationToken)).ConfigureAwait(false);
    }

    public async Task<int> RemoveOlderThanAsync(string kind, DateTimeOffset before, CancellationToken cancellationToken = default)
    {
        await FlushAsync().ConfigureAwait(false);
        return await Run(() => _table.DeleteAsync(kind, null, before.ToUnixTimeMilliseconds(), cancellationToken)).ConfigureAwait(false);
    }

    /// <summary>The account was removed: every archive it owns, of any kind, goes with it.</summary>
    public async Task<int> RemoveOwnerAsync(Jid owner)
    {
        await FlushAsync().ConfigureAwait(false);
        return await Run(() => _table.DeleteOwnerAsync(owner.Bare.ToString(), CancellationToken.None)).ConfigureAwait(false);
    }

    private static void AddNamed(List<string> named, string? id)
    {
        if (id is not null && !named.Contains(id)) named.Add(id);
    }

    private static long? Later(long? a, long? b) => a is null ? b : b is null ? a : Math.Max(a.Value, b.Value);
    private static long? Earlier(long? a, long? b) => a is null ? b : b is null ? a : Math.Min(a.Value, b.Value);

    private static ArchivedMessage ToMessage(ArchiveRow row) =>
        new(row.Id, DateTimeOffset.FromUnixTimeMilliseconds(row.Stamp), Jid.Parse(row.With), StanzaXml.Parse(row.Xml));

    /// <summary>Database failures reach plugins as <see cref="StorageException"/> (an IQ handler lets it through:
    /// internal-server-error).</summary>
    private static async Task<T> Run<T>(Func<Task<T>> read)
    {
        try { return await read().ConfigureAwait(false); }
        catch (Exception ex) when (ex is System.Data.Common.DbException or InvalidOperationException or TimeoutException)
        {
            throw new StorageException("the message archive could not be read: " + ex.Message, ex);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
    }
}
