using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Data;
using Akka.Actor;
using Akka.Persistence;
using Akka.Persistence.Sql;
using Akka.Persistence.Sql.Config;
using Akka.Persistence.Sql.Journal;

namespace Actors.Xmpp.Persistence.Sql;

/// <summary>
/// Akka.Persistence.Sql's journal with a cheaper recovery path. Every persistent actor's start asks the journal for
/// its highest sequence number and replays its events; the plugin answers each with a linq2db expression tree, a
/// transaction and (for the replay) several materialized Akka.Streams graphs, which made recovery most of the CPU of
/// a login (docs/benchmarks.md). Here both are one SQL statement on a pooled ADO.NET connection, reading the same
/// table and columns and building the same <see cref="Persistent"/> representations as the plugin. Writes, deletes,
/// tags and the query side are the plugin's own. It also answers <see cref="ListPersistenceIds"/>.
/// </summary>
public sealed class XmppSqlJournal : SqlWriteJournal
{
    private readonly SqlReads _reads;
    private readonly string _replaySql;
    private readonly string _highestSql;
    private readonly string _highestFromSql;
    private readonly string _idsSql;
    private readonly Akka.Serialization.Serialization _serialization;
    // writes not yet finished, by persistence id: a recovery waits for them before it reads the highest sequence
    // number (as the plugin does), or a restarted actor could reuse a sequence number
    private readonly ConcurrentDictionary<string, Task> _writesInProgress = new(StringComparer.Ordinal);

    public XmppSqlJournal(Akka.Configuration.Config journalConfig) : base(journalConfig)
    {
        var config = new JournalConfig(journalConfig.WithFallback(SqlPersistence.DefaultJournalConfiguration));
        if (config.DaoConfig.SqlCommonCompatibilityMode || config.TableConfig.UseEventManifestColumn)
            throw new NotSupportedException("XmppSqlJournal reads the default table mapping only");
        _reads = new SqlReads(config.ProviderName, config.ConnectionString);
        var t = config.TableConfig.EventJournalTable;
        var c = t.ColumnNames;
        var table = SqlReads.Table(config.TableConfig.SchemaName, t.Name);
        string Q(string s) => SqlReads.Quote(s);
        _replaySql =
            $"SELECT {Q(c.SequenceNumber)}, {Q(c.Message)}, {Q(c.Identifier)}, {Q(c.Manifest)}, {Q(c.WriterUuid)}, {Q(c.Created)} " +
            $"FROM {table} WHERE {Q(c.PersistenceId)} = @pid AND {Q(c.SequenceNumber)} >= @from AND {Q(c.SequenceNumber)} <= @to " +
            $"AND NOT {Q(c.Deleted)} ORDER BY {Q(c.SequenceNumber)} LIMIT @max";
        // the plugin's "native mode": deleted rows count (a deletion keeps the highest number in use)
        _highestSql = $"SELECT MAX({Q(c.SequenceNumber)}) FROM {table} WHERE {Q(c.PersistenceId)} = @pid";
        _highestFromSql = _highestSql + $" AND {Q(c.SequenceNumber)} > @from";
        _idsSql = $"SELECT DISTINCT {Q(c.PersistenceId)} FROM {table} WHERE {Q(c.PersistenceId)} LIKE @prefix AND NOT {Q(c.Deleted)}";
        _serialization = Context.System.Serialization;
    }

    /// <summary>Answers <see cref="ListPersistenceIds"/>: the ids with events not deleted.</summary>
    protected override bool ReceivePluginInternal(object message)
    {
        if (message is not ListPersistenceIds list) return base.ReceivePluginInternal(message);
        if (!list.IsPlain) Sender.Tell(new Status.Failure(new ArgumentException($"'{list.Prefix}' is not a plain prefix")));
        else _reads.Run(() => _reads.IdsAsync(_idsSql, list.Prefix)).PipeTo(Sender);
        return true;
    }

    public override Task ReplayMessagesAsync(IActorContext context, string persistenceId, long fromSequenceNr,
        long toSequenceNr, long max, Action<IPersistentRepresentation> recoveryCallback)
    {
        if (max <= 0) return Task.CompletedTask;
        return _reads.Run(() => Replay(persistenceId, fromSequenceNr, toSequenceNr, max, recoveryCallback));
    }

    private async Task Replay(string persistenceId, long fromSequenceNr, long toSequenceNr, long max,
        Action<IPersistentRepresentation> recoveryCallback)
    {
        await using var connection = await _reads.OpenAsync(CancellationToken.None).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = _replaySql;
        SqlReads.Add(command, "@pid", persistenceId);
        SqlReads.Add(command, "@from", fromSequenceNr);
        SqlReads.Add(command, "@to", toSequenceNr);
        SqlReads.Add(command, "@max", max);
        await using var reader = await command.ExecuteReaderAsync(CommandBehavior.SequentialAccess).ConfigureAwait(false);
        while (await reader.ReadAsync().ConfigureAwait(false))
        {
            var sequenceNr = reader.GetInt64(0);
            var message = (byte[])reader.GetValue(1);
            int? identifier = reader.IsDBNull(2) ? null : reader.GetInt32(2);
            var manifest = reader.IsDBNull(3) ? "" : reader.GetString(3);
            var writerUuid = reader.IsDBNull(4) ? null : reader.GetString(4);
            var created = reader.GetInt64(5);
            var payload = SqlReads.Deserialize(_serialization, message, identifier, manifest);
            recoveryCallback(new Persistent(payload, sequenceNr, persistenceId, manifest, false, ActorRefs.NoSender, writerUuid, created));
        }
    }

    public override Task<long> ReadHighestSequenceNrAsync(string persistenceId, long fromSequenceNr, CancellationToken cancellationToken)
    {
        _writesInProgress.TryGetValue(persistenceId, out var write); // looked up now, on the journal actor's thread
        return _reads.Run(() => Highest(persistenceId, fromSequenceNr, write, cancellationToken), cancellationToken);
    }

    private async Task<long> Highest(string persistenceId, long fromSequenceNr, Task? write, CancellationToken cancellationToken)
    {
        if (write is not null)
        {
            try { await write.ConfigureAwait(false); }
            catch { /* whether it succeeded does not matter here, only that it is finished (as in the plugin) */ }
        }
        await using var connection = await _reads.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = fromSequenceNr != 0 ? _highestFromSql : _highestSql;
        SqlReads.Add(command, "@pid", persistenceId);
        if (fromSequenceNr != 0) SqlReads.Add(command, "@from", fromSequenceNr);
        var result = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return result is null or DBNull ? 0 : Convert.ToInt64(result, System.Globalization.CultureInfo.InvariantCulture);
    }

    protected override Task<IImmutableList<Exception>> WriteMessagesAsync(IEnumerable<AtomicWrite> messages, CancellationToken cancellationToken)
    {
        var writes = messages as IReadOnlyList<AtomicWrite> ?? messages.ToList();
        var task = base.WriteMessagesAsync(writes, cancellationToken);
        if (writes.Count > 0 && !task.IsCompleted)
        {
            var persistenceId = writes[0].PersistenceId;
            _writesInProgress[persistenceId] = task;
            task.ContinueWith(static (t, state) =>
            {
                var (map, id) = ((ConcurrentDictionary<string, Task>, string))state!;
                map.TryRemove(new KeyValuePair<string, Task>(id, t));
            }, (_writesInProgress, persistenceId), TaskContinuationOptions.ExecuteSynchronously);
        }
        return task;
    }
}
