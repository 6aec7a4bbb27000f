using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Actors.Xmpp.Persistence.Sql;

/// <summary>
/// Plain ADO.NET connections for the recovery reads of <see cref="XmppSqlJournal"/> and
/// <see cref="XmppSqlSnapshotStore"/>: the same database, tables and rows as Akka.Persistence.Sql, read with one
/// prepared-text SQL statement each instead of a linq2db expression tree, a transaction and an Akka.Streams graph
/// per read (docs/benchmarks.md, "Recovery").
/// </summary>
internal sealed class SqlReads
{
    private readonly string _connectionString;
    private readonly bool _sqlite;

    public SqlReads(string providerName, string connectionString)
    {
        _connectionString = connectionString;
        _sqlite = providerName.StartsWith("SQLite", StringComparison.OrdinalIgnoreCase);
        if (!_sqlite && !providerName.StartsWith("PostgreSQL", StringComparison.OrdinalIgnoreCase))
            throw new NotSupportedException($"recovery reads support SQLite and PostgreSQL, not '{providerName}'");
    }

    /// <summary>
    /// Runs a read: SQLite runs a statement on the calling thread, so its reads are moved off the plugin actor's
    /// thread; PostgreSQL's are asynchronous already.
    /// </summary>
    public Task<T> Run<T>(Func<Task<T>> read, CancellationToken token = default) => _sqlite ? Task.Run(read, token) : read();

    public Task Run(Func<Task> read) => _sqlite ? Task.Run(read) : read();

    /// <summary>A stored payload as the plugin reads it: by serializer id, or by the manifest's type for old rows.</summary>
    public static object Deserialize(Akka.Serialization.Serialization serialization, byte[] bytes, int? serializerId, string manifest)
    {
        if (serializerId is { } id) return serialization.Deserialize(bytes, id, manifest);
        var type = Type.GetType(manifest, true)!;
        return serialization.FindSerializerForType(type).FromBinary(bytes, type);
    }

    public async Task<DbConnection> OpenAsync(CancellationToken token)
    {
        DbConnection connection = _sqlite ? new SqliteConnection(_connectionString) : new NpgsqlConnection(_connectionString);
        try
        {
            await connection.OpenAsync(token).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>A quoted identifier, optionally schema-qualified (both databases accept double quotes).</summary>
    /// <summary>The distinct persistence ids a <see cref="ListPersistenceIds"/> asks for: <paramref name="sql"/> takes
    /// the LIKE pattern as @prefix.</summary>
    public async Task<string[]> IdsAsync(string sql, string prefix)
    {
        await using var connection = await OpenAsync(CancellationToken.None).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        Add(command, "@prefix", prefix + "%");
        var ids = new List<string>();
        await using var reader = await command.ExecuteReaderAsync().ConfigureAwait(false);
        while (await reader.ReadAsync().ConfigureAwait(false)) ids.Add(reader.GetString(0));
        return ids.ToArray();
    }

    public static string Table(string? schema, string name) =>
        string.IsNullOrEmpty(schema) ? Quote(name) : Quote(schema) + "." + Quote(name);

    public static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"") + "\"";

    public static void Add(DbCommand command, string name, object value)
    {
        var p = command.CreateParameter();
        p.ParameterName = name;
        p.Value = value;
        command.Parameters.Add(p);
    }
}

/// <summary>
/// Asks <see cref="XmppSqlJournal"/> (the persistence ids with events not deleted) or <see cref="XmppSqlSnapshotStore"/>
/// (those with a snapshot) for the ids starting with <paramref name="Prefix"/> (letters, digits, ':' and '-' only: no
/// LIKE wildcards); answered with a <c>string[]</c> or a Status.Failure. Neither Akka.Persistence nor its query side
/// offers the second; the first replaces the query side's CurrentPersistenceIds, whose read journal, once created,
/// polls the journal every refresh interval for as long as the process runs (docs/benchmarks.md, "Idle CPU").
/// </summary>
public sealed record ListPersistenceIds(string Prefix)
{
    public bool IsPlain
    {
        get
        {
            foreach (var ch in Prefix)
                if (!(char.IsAsciiLetterOrDigit(ch) || ch is ':' or '-')) return false;
            return true;
        }
    }
}
