using Actors.Xmpp.Persistence;
using Npgsql;

namespace Actors.Xmpp.Persistence.Tests;

/// <summary>
/// A fresh journal for one test: a SQLite file in a temporary data folder, or a new schema in the PostgreSQL server
/// named by ACTORS_TEST_POSTGRES (tests/postgres.sh). PostgreSQL cases fail, never skip, when that variable is set and
/// the server is unreachable, or when CI=true and it is not set. Locally without it only SQLite runs.
/// </summary>
public sealed class TestDatabase : IDisposable
{
    public const string Sqlite = "sqlite";
    public const string Postgres = "postgres";

    public static string? PostgresUrl => Environment.GetEnvironmentVariable("ACTORS_TEST_POSTGRES") is { Length: > 0 } s ? s : null;
    private static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Theory data: every database the tests must run against here.</summary>
    public static TheoryData<string> Kinds
    {
        get
        {
            var data = new TheoryData<string> { Sqlite };
            if (PostgresUrl is not null || InCi) data.Add(Postgres);
            return data;
        }
    }

    public string Kind { get; }
    public string DataDir { get; }
    public XmppPersistenceOptions Options { get; }
    private readonly string? _schema;

    private TestDatabase(string kind, string dataDir, XmppPersistenceOptions options, string? schema)
    {
        Kind = kind;
        DataDir = dataDir;
        Options = options;
        _schema = schema;
    }

    public static TestDatabase Create(string kind, int snapshotEvery = 1000)
    {
        var dir = Path.Combine(Path.GetTempPath(), "actors-persist-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        if (kind == Sqlite)
            return new TestDatabase(kind, dir, new XmppPersistenceOptions { SnapshotEvery = snapshotEvery, RefreshInterval = TimeSpan.FromMilliseconds(100) }, null);

        var url = PostgresUrl ?? throw new InvalidOperationException(
            "CI=true but ACTORS_TEST_POSTGRES is not set: the PostgreSQL tests must run in CI (test.sh starts tests/postgres.sh)");
        var schema = "t_" + Guid.NewGuid().ToString("N")[..16];
        try
        {
            using var connection = new NpgsqlConnection(url);
            connection.Open();
            using var cmd = new NpgsqlCommand($"CREATE SCHEMA {schema}", connection);
            cmd.ExecuteNonQuery();
        }
        catch (Exception ex) when (ex is NpgsqlException or System.Net.Sockets.SocketException or TimeoutException)
        {
            throw new InvalidOperationException($"ACTORS_TEST_POSTGRES is set but the server is unreachable: {ex.Message}", ex);
        }
        var cs = new NpgsqlConnectionStringBuilder(url) { SearchPath = schema }.ToString();
        return new TestDatabase(kind, dir, new XmppPersistenceOptions
        {
            Provider = "PostgreSQL", ConnectionString = cs, SnapshotEvery = snapshotEvery, RefreshInterval = TimeSpan.FromMilliseconds(100),
        }, schema);
    }

    /// <summary>Configuration overrides for the server / CLI child process.</summary>
    public IEnumerable<string> CliArgs()
    {
        yield return "--Xmpp:DataDir=" + DataDir;
        yield return "--Xmpp:Auth:ScramIterations=64";
        if (Kind == Postgres)
        {
            yield return "--Xmpp:Persistence:Provider=PostgreSQL";
            yield return "--Xmpp:Persistence:ConnectionString=" + Options.ConnectionString;
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(DataDir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        if (_schema is null || PostgresUrl is null) return;
        try
        {
            NpgsqlConnection.ClearAllPools();
            using var connection = new NpgsqlConnection(PostgresUrl);
            connection.Open();
            using var cmd = new NpgsqlCommand($"DROP SCHEMA {_schema} CASCADE", connection);
            cmd.ExecuteNonQuery();
        }
        catch (NpgsqlException) { }
    }
}
