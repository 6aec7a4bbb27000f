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
