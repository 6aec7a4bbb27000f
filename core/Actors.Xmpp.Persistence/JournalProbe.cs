using Microsoft.Data.Sqlite;
using Npgsql;

namespace Actors.Xmpp.Persistence;

/// <summary>
/// Whether the journal's database takes writes now (the readiness check): for SQLite, a write lock taken and given
/// back (BEGIN IMMEDIATE; ROLLBACK: waits as a writer would, writes nothing); for PostgreSQL, a connection to a server
/// that is not a read-only standby. Bounded by <paramref name="timeout"/>.
/// </summary>
public static class JournalProbe
{
    public sealed record Result(bool Writable, string Detail);

    public static async Task<Result> CheckWritableAsync(XmppPersistenceOptions options, string dataDir, TimeSpan timeout, CancellationToken ct = default)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bounded.CancelAfter(timeout);
        try
        {
            if (options.IsPostgres)
            {
                var builder = new NpgsqlConnectionStringBuilder(options.ResolveConnectionString(dataDir))
                {
                    Timeout = Math.Max(1, (int)timeout.TotalSeconds),
                    Pooling = false,
                };
                await using var connection = new NpgsqlConnection(builder.ConnectionString);
                await connection.OpenAsync(bounded.Token).ConfigureAwait(false);
                await using var command = new NpgsqlCommand("SELECT pg_is_in_recovery()", connection);
                var standby = (bool)(await command.ExecuteScalarAsync(bounded.Token).ConfigureAwait(false))!;
                return standby ? new Result(false, "the PostgreSQL server is a read-only standby")
                    : new Result(true, $"PostgreSQL {builder.Host}/{builder.Database} takes writes");
            }
            var sqlite = new SqliteConnectionStringBuilder(options.ResolveConnectionString(dataDir))
            {
                Mode = SqliteOpenMode.ReadWrite, // never creates a database
                DefaultTimeout = Math.Max(1, (int)timeout.TotalSeconds),
                Pooling = false,
            };
            await using (var connection = new SqliteConnection(sqlite.ConnectionString))
            {
                await connection.OpenAsync(bounded.Token).ConfigureAwait(false);
                await using var command = connection.CreateCommand();
                command.CommandText = "BEGIN IMMEDIATE; ROLLBACK;";
                await command.ExecuteNonQueryAsync(bounded.Token).ConfigureAwait(false);
            }
            return new Result(true, $"SQLite {sqlite.DataSource} takes writes");
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new Result(false, $"the journal's database did not answer within {timeout.TotalSeconds:0} s");
        }
        catch (Exception ex) when (ex is NpgsqlException or SqliteException or InvalidOperationException or ArgumentException or IOException)
        {
            return new Result(false, "the journal's database does not take writes: " + ex.Message);
        }
    }
}
