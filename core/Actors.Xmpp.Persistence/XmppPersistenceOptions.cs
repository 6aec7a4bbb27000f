namespace Actors.Xmpp.Persistence;

/// <summary>"Xmpp:Persistence": where the journal and snapshot store live.</summary>
public sealed class XmppPersistenceOptions
{
    public const string Section = "Xmpp:Persistence";

    /// <summary>"Sqlite" (default: the file &lt;DataDir&gt;/actors.db) or "PostgreSQL" (needs <see cref="ConnectionString"/>).</summary>
    public string Provider { get; set; } = "Sqlite";

    /// <summary>For PostgreSQL: an Npgsql connection string. For SQLite: optional, overrides the file in the data folder.</summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>Persistent actors that hold many records (the account directory) save a snapshot after this many events.</summary>
    public int SnapshotEvery { get; set; } = 1000;

    /// <summary>How often live queries (events --follow) poll the journal.</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    public bool IsPostgres => Provider.Equals("PostgreSQL", StringComparison.OrdinalIgnoreCase)
                              || Provider.Equals("Postgres", StringComparison.OrdinalIgnoreCase);

    public bool IsSqlite => Provider.Equals("Sqlite", StringComparison.OrdinalIgnoreCase);

    /// <summary>The linq2db provider name used by Akka.Persistence.Sql.</summary>
    public string ProviderName => IsPostgres ? LinqToDB.ProviderName.PostgreSQL15
        : IsSqlite ? LinqToDB.ProviderName.SQLiteMS
        : throw new InvalidOperationException($"Xmpp:Persistence:Provider '{Provider}' is not supported: use Sqlite or PostgreSQL");

    /// <summary>The connection string to use, given the server's data folder. <paramref name="readOnly"/>: for SQLite,
    /// the file opened read-only (Mode=ReadOnly: nothing can be written, and a missing file is an error rather than a
    /// new empty database).</summary>
    public string ResolveConnectionString(string dataDir, bool readOnly)
    {
        var connection = ResolveConnectionString(dataDir);
        if (!readOnly || !IsSqlite) return connection;
        return new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(connection) { Mode = Microsoft.Data.Sqlite.SqliteOpenMode.ReadOnly }.ToString();
    }

    /// <summary>The connection string to use, given the server's data folder.</summary>
    public string ResolveConnectionString(string dataDir)
    {
        if (IsPostgres)
        {
            if (string.IsNullOrWhiteSpace(ConnectionString))
                throw new InvalidOperationException("Xmpp:Persistence:Provider is PostgreSQL but Xmpp:Persistence:ConnectionString is empty");
            try { _ = new Npgsql.NpgsqlConnectionStringBuilder(ConnectionString); }
            catch (ArgumentException ex) { throw new InvalidOperationException($"Xmpp:Persistence:ConnectionString is not valid: {ex.Message}", ex); }
            return ConnectionString;
        }
        _ = ProviderName; // validates the provider
        if (!string.IsNullOrWhiteSpace(ConnectionString)) return ConnectionString;
        return $"Data Source={SqliteFile(dataDir)};Default Timeout=30";
    }

    public static string SqliteFile(string dataDir) => Path.GetFullPath(Path.Combine(dataDir, "actors.db"));

    /// <summary>A short description for logs and the CLI (no password).</summary>
    public string Describe(string dataDir)
    {
        if (!IsPostgres) return "SQLite " + (string.IsNullOrWhiteSpace(ConnectionString) ? SqliteFile(dataDir) : ConnectionString);
        var b = new Npgsql.NpgsqlConnectionStringBuilder(ConnectionString) { Password = null };
        return $"PostgreSQL {b.Host}:{b.Port}/{b.Database}";
    }
}
