using Akka.Actor;
using Akka.Persistence;
using Akka.Persistence.Sql;
using Akka.Persistence.Sql.Config;
using Akka.Persistence.Sql.Snapshot;

namespace Actors.Xmpp.Persistence.Sql;

/// <summary>
/// Akka.Persistence.Sql's snapshot store with a cheaper load: every persistent actor's recovery starts with a
/// snapshot query, which the plugin runs as a linq2db expression tree inside a transaction; here it is one SQL
/// statement on a pooled ADO.NET connection, with the plugin's selection (the highest sequence number at or below
/// the criteria's maximum sequence number and timestamp) and the same <see cref="SelectedSnapshot"/>. Saves and
/// deletes are the plugin's own. It also answers <see cref="ListPersistenceIds"/> (which actors have a snapshot), which
/// no Akka.Persistence query offers: the plugin-store directory needs it to find release-1 accounts whose journal was
/// trimmed behind a snapshot.
/// </summary>
public sealed class XmppSqlSnapshotStore : SqlSnapshotStore
{
    private readonly SqlReads _reads;
    private readonly string _loadSql;
    private readonly string _idsSql;
    private readonly Akka.Serialization.Serialization _serialization;

    public XmppSqlSnapshotStore(Akka.Configuration.Config snapshotConfig) : base(snapshotConfig)
    {
        var config = new SnapshotConfig(snapshotConfig.WithFallback(SqlPersistence.DefaultSnapshotConfiguration));
        var t = config.TableConfig.SnapshotTable;
        var c = t.ColumnNames;
        string Q(string s) => SqlReads.Quote(s);
        _reads = new SqlReads(config.ProviderName, config.ConnectionString);
        _loadSql =
            $"SELECT {Q(c.SequenceNumber)}, {Q(c.Created)}, {Q(c.Snapshot)}, {Q(c.Manifest)}, {Q(c.SerializerId)} " +
            $"FROM {SqlReads.Table(config.TableConfig.SchemaName, t.Name)} WHERE {Q(c.PersistenceId)} = @pid " +
            $"AND {Q(c.SequenceNumber)} <= @seq AND {Q(c.Created)} <= @ts ORDER BY {Q(c.SequenceNumber)} DESC LIMIT 1";
        _idsSql = $"SELECT DISTINCT {Q(c.PersistenceId)} FROM {SqlReads.Table(config.TableConfig.SchemaName, t.Name)} " +
                  $"WHERE {Q(c.PersistenceId)} LIKE @prefix";
        _serialization = Context.System.Serialization;
    }

    protected override bool ReceivePluginInternal(object message)
    {
        if (message is not ListPersistenceIds list) return base.ReceivePluginInternal(message);
        if (!list.IsPlain) Sender.Tell(new Akka.Actor.Status.Failure(new ArgumentException($"'{list.Prefix}' is not a plain prefix")));
        else _reads.Run(() => _reads.IdsAsync(_idsSql, list.Prefix)).PipeTo(Sender);
        return true;
    }

    protected override Task<SelectedSnapshot?> LoadAsync(string persistenceId, SnapshotSelectionCriteria criteria,
        CancellationToken cancellationToken) =>
        _reads.Run(() => Load(persistenceId, criteria, cancellationToken), cancellationToken);

    private async Task<SelectedSnapshot?> Load(string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken)
    {
        await using var connection = await _reads.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = _loadSql;
        SqlReads.Add(command, "@pid", persistenceId);
        SqlReads.Add(command, "@seq", criteria.MaxSequenceNr);
        SqlReads.Add(command, "@ts", criteria.MaxTimeStamp.Ticks);
        await using var reader = await command.ExecuteReaderAsync(System.Data.CommandBehavior.SingleRow, cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false)) return null;
        var sequenceNr = reader.GetInt64(0);
        var created = reader.GetInt64(1);
        var bytes = (byte[])reader.GetValue(2);
        var manifest = reader.IsDBNull(3) ? "" : reader.GetString(3);
        var snapshot = SqlReads.Deserialize(_serialization, bytes, reader.IsDBNull(4) ? null : reader.GetInt32(4), manifest);
        return new SelectedSnapshot(new SnapshotMetadata(persistenceId, sequenceNr, new DateTime(created)), snapshot);
    }
}
