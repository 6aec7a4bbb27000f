using Akka.Configuration;
using Akka.Persistence.Sql;
using Microsoft.Data.Sqlite;

namespace Actors.Xmpp.Persistence;

/// <summary>
/// The persistence HOCON shared by the server, the offline CLI and the event-log tool: Akka.Persistence.Sql journal,
/// snapshot store and query journal on one database, CSV tags (the tag table is quadratic to query in 1.5.73),
/// our own serializer for every <see cref="IPersistentEvent"/> and the tagging write adapter.
/// </summary>
public static class XmppPersistenceConfig
{
    public const string JournalPlugin = "akka.persistence.journal.sql";
    public const string SnapshotPlugin = "akka.persistence.snapshot-store.sql";
    public const string QueryPlugin = "akka.persistence.query.journal.sql";

    /// <summary>Our settings only (prepend to the system's config); <see cref="Build"/> adds the plugin defaults.</summary>
    /// <param name="readOnly">For tools that only read (the event-log tool): SQLite opened read-only, no table
    /// created.</param>
    public static Config Own(XmppPersistenceOptions options, string dataDir, bool lenientReads = false, bool readOnly = false)
    {
        var connection = options.ResolveConnectionString(dataDir, readOnly);
        var autoInitialize = readOnly ? "off" : "on";
        var provider = options.ProviderName;
        var iface = $"\"{typeof(IPersistentEvent).FullName}, {typeof(IPersistentEvent).Assembly.GetName().Name}\"";
        var refresh = $"{(int)options.RefreshInterval.TotalMilliseconds}ms";
        var hocon = $$"""
            akka.actor {
              serializers.xmpp-events = "{{typeof(XmppEventSerializer).FullName}}, {{typeof(XmppEventSerializer).Assembly.GetName().Name}}"
              serialization-bindings { {{iface}} = xmpp-events }
              serialization-identifiers { "{{typeof(XmppEventSerializer).FullName}}, {{typeof(XmppEventSerializer).Assembly.GetName().Name}}" = {{XmppEventSerializer.SerializerId}} }
            }
            actors.persistence.lenient-reads = {{(lenientReads ? "on" : "off")}}
            akka.persistence {
              journal {
                plugin = "{{JournalPlugin}}"
                sql {
                  # the plugin's journal with cheaper recovery reads (Sql/XmppSqlJournal.cs)
                  class = "{{typeof(Sql.XmppSqlJournal).FullName}}, {{typeof(Sql.XmppSqlJournal).Assembly.GetName().Name}}"
                  connection-string = {{Quote(connection)}}
                  provider-name = {{Quote(provider)}}
                  auto-initialize = {{autoInitialize}}
                  warn-on-auto-init-fail = on
                  tag-write-mode = Csv
                  # a database that went away is tried again after 5 s, not Akka's 30 s (the snapshot store's 60 s):
                  # the server is back within seconds of its database (tests/harness/fault-postgres-restart.sh)
                  circuit-breaker.reset-timeout = 5s
                  event-adapters { xmpp-tagger = "{{typeof(XmppEventTagger).FullName}}, {{typeof(XmppEventTagger).Assembly.GetName().Name}}" }
                  event-adapter-bindings { {{iface}} = xmpp-tagger }
                }
              }
              snapshot-store {
                plugin = "{{SnapshotPlugin}}"
                sql {
                  class = "{{typeof(Sql.XmppSqlSnapshotStore).FullName}}, {{typeof(Sql.XmppSqlSnapshotStore).Assembly.GetName().Name}}"
                  circuit-breaker.reset-timeout = 5s
                  connection-string = {{Quote(connection)}}
                  provider-name = {{Quote(provider)}}
                  auto-initialize = {{autoInitialize}}
                }
              }
              query.journal.sql {
                connection-string = {{Quote(connection)}}
                provider-name = {{Quote(provider)}}
                write-plugin = "{{JournalPlugin}}"
                tag-read-mode = Csv
                refresh-interval = {{refresh}}
                journal-sequence-retrieval.query-delay = {{refresh}}
                # tag and all-events queries ask the plugin's sequence actor for the highest ordering before every
                # batch; it answers from memory, so this bounds only a starved dispatcher (the default 1 s failed
                # `events dump --tag` on a busy machine)
                journal-sequence-retrieval.ask-timeout = 30s
              }
            }
            """;
        return ConfigurationFactory.ParseString(hocon);
    }

    /// <summary>Our settings with Akka.Persistence.Sql's defaults as fallback (without them every persistent actor
    /// fails with "Plugin class name must be defined").</summary>
    public static Config Build(XmppPersistenceOptions options, string dataDir, bool lenientReads = false, bool readOnly = false)
        => Own(options, dataDir, lenientReads, readOnly).WithFallback(SqlPersistence.DefaultConfiguration);

    /// <summary>
    /// SQLite's durability setting, chosen rather than inherited: FULL. With the journal in WAL mode, FULL syncs the
    /// write-ahead log at every commit, so an event the journal acknowledged (and a client was told of) survives a
    /// power loss or an operating-system crash; NORMAL would be faster and could lose the last commits. It is a
    /// per-connection setting that connection strings cannot carry, and the journal plugin opens its own connections:
    /// <see cref="PrepareDatabase"/> checks that a new connection starts at this level (SQLite's compiled-in default)
    /// and refuses to start otherwise, rather than running with less durability than documented.
    /// </summary>
    public const int SqliteSynchronousFull = 2;

    /// <summary>
    /// Creates the SQLite file's folder and switches the file to WAL, so the event-log tool reads while the server
    /// writes. A no-op for PostgreSQL (the plugin creates the schema on first use).
    /// </summary>
    public static void PrepareDatabase(XmppPersistenceOptions options, string dataDir)
    {
        if (!options.IsSqlite) return;
        var cs = new SqliteConnectionStringBuilder(options.ResolveConnectionString(dataDir));
        var dir = Path.GetDirectoryName(Path.GetFullPath(cs.DataSource));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        using var connection = new SqliteConnection(cs.ToString());
        connection.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode=WAL;";
        cmd.ExecuteNonQuery();
        cmd.CommandText = "PRAGMA synchronous;";
        var synchronous = Convert.ToInt32(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        if (synchronous != SqliteSynchronousFull)
            throw new InvalidOperationException(
                $"this SQLite library opens connections with synchronous={synchronous}; the journal needs FULL ({SqliteSynchronousFull}) for acknowledged events to survive a crash");
        if (!OperatingSystem.IsWindows() && File.Exists(cs.DataSource))
            File.SetUnixFileMode(cs.DataSource, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    /// <summary>
    /// For tools that only read: checks that the SQLite file exists (a wrong data folder must not create an empty
    /// database that then reads as an empty journal). A no-op for PostgreSQL.
    /// </summary>
    /// <exception cref="InvalidOperationException">The file does not exist.</exception>
    public static void RequireExistingDatabase(XmppPersistenceOptions options, string dataDir)
    {
        if (!options.IsSqlite) return;
        var file = new SqliteConnectionStringBuilder(options.ResolveConnectionString(dataDir)).DataSource;
        if (!File.Exists(file))
            throw new InvalidOperationException($"no database at {Path.GetFullPath(file)}: check Xmpp:DataDir (or Xmpp:Persistence:ConnectionString)");
    }

    private static string Quote(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
}
