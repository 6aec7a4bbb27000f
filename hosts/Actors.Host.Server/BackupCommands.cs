using System.CommandLine;
using System.Globalization;
using Actors.Xmpp.Persistence;
using Actors.Xmpp.Server;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;

namespace Actors.Host.Server;

/// <summary>
/// `actors-server backup FILE` and `restore FILE`: the journal and snapshots of the embedded SQLite database.
/// A backup is SQLite's online backup (a consistent copy taken while the server runs and writes); a restore needs the
/// server stopped, checks the file (integrity, the journal's tables) and keeps the database it replaces beside it.
/// PostgreSQL is backed up with its own tools (pg_dump/pg_restore): the commands say how instead.
/// The rest of the data folder (uploaded files, server.secret, a generated certificate) is plain files: copy them.
/// </summary>
internal static class BackupCommands
{
    private static readonly string[] JournalTables = ["journal", "snapshot"];

    public static IEnumerable<Command> Create()
    {
        var file = new Argument<string>("FILE") { Description = "The backup file (SQLite)" };
        var force = new Option<bool>("--force") { Description = "Overwrite FILE if it exists" };
        var backup = new Command("backup", "Copy the journal database (SQLite online backup: the server may run).") { file, force };
        backup.SetAction((p, ct) => BackupAsync(p, p.GetValue(file)!, p.GetValue(force)));

        var from = new Argument<string>("FILE") { Description = "A file written by `actors-server backup`" };
        var restore = new Command("restore", "Replace the journal database with a backup (the server must be stopped).") { from };
        restore.SetAction((p, ct) => RestoreAsync(p, p.GetValue(from)!));
        return [backup, restore];
    }

    private static (XmppServerOptions Options, XmppPersistenceOptions Persistence) Configuration(ParseResult parse)
    {
        var configuration = ServerRunner.CreateBuilder(ConfigOverrides.For(parse)).Configuration;
        var options = new XmppServerOptions();
        configuration.GetSection(XmppServerOptions.Section).Bind(options);
        var persistence = new XmppPersistenceOptions();
        configuration.GetSection(XmppPersistenceOptions.Section).Bind(persistence);
        return (options, persistence);
    }

    private static async Task<int> Error(string message)
    {
        await Console.Error.WriteLineAsync("error: " + message);
        return 1;
    }

    private static Task<int> PostgresAdvice(string verb) => Error(verb == "backup"
        ? "the journal is in PostgreSQL: back it up with PostgreSQL's tools, e.g. pg_dump --format=custom --file=actors.dump \"$DATABASE_URL\" (docs/operations.md)"
        : "the journal is in PostgreSQL: restore it with PostgreSQL's tools, e.g. pg_restore --clean --if-exists --dbname=\"$DATABASE_URL\" actors.dump, with the server stopped (docs/operations.md)");

    private static async Task<int> BackupAsync(ParseResult parse, string target, bool force)
    {
        var (options, persistence) = Configuration(parse);
        if (persistence.IsPostgres) return await PostgresAdvice("backup");
        var source = new SqliteConnectionStringBuilder(persistence.ResolveConnectionString(options.DataDir)) { Mode = SqliteOpenMode.ReadOnly, Pooling = false };
        if (!File.Exists(source.DataSource)) return await Error($"no database at {source.DataSource} (is Xmpp:DataDir right?)");
        target = Path.GetFullPath(target);
        if (File.Exists(target) && !force) return await Error($"{target} exists (--force to overwrite)");
        if (Path.GetFullPath(source.DataSource) == target) return await Error("the backup file is the database itself");
        try
        {
            if (File.Exists(target)) File.Delete(target);
            await using (var from = new SqliteConnection(source.ConnectionString))
            await using (var to = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = target, Pooling = false }.ConnectionString))
            {
                await from.OpenAsync();
                await to.OpenAsync();
                from.BackupDatabase(to); // a consistent copy, page by page, while the server writes (WAL)
            }
            if (await CheckAsync(target) is { } problem) return await Error($"the backup in {target} does not check: {problem}");
        }
        catch (Exception ex) when (ex is SqliteException or IOException or UnauthorizedAccessException)
        {
            return await Error($"backup failed: {ex.Message}");
        }
        Console.WriteLine($"backed up {source.DataSource} to {target} ({new FileInfo(target).Length.ToString("N0", CultureInfo.InvariantCulture)} bytes)");
        Console.WriteLine($"(copy the rest of {Path.GetFullPath(options.DataDir)} too: the plugins' files in plugins/, server.secret, certificates)");
        return 0;
    }

    private static async Task<int> RestoreAsync(ParseResult parse, string file)
    {
        var (options, persistence) = Configuration(parse);
        if (persistence.IsPostgres) return await PostgresAdvice("restore");
        file = Path.GetFullPath(file);
        if (!File.Exists(file)) return await Error($"no file {file}");
        if (await CheckAsync(file) is { } problem) return await Error($"{file} is not a backup of this server: {problem}");
        try
        {
            if (await UserCommands.ThroughRunningServer(options.DataDir, new System.Text.Json.Nodes.JsonObject { ["cmd"] = "online" }) is not null)
                return await Error("the server is running on this data folder: stop it first");
        }
        catch (IOException)
        {
            // no answer from the socket: nothing runs
        }
        var target = new SqliteConnectionStringBuilder(persistence.ResolveConnectionString(options.DataDir)).DataSource;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(target))!);
        string? kept = null;
        try
        {
            if (File.Exists(target))
            {
                // the database it replaces stays beside it (with its WAL, which may hold its latest writes)
                kept = $"{target}.before-restore-{DateTime.UtcNow:yyyyMMdd'T'HHmmss'Z'}";
                foreach (var suffix in new[] { "", "-wal", "-shm" })
                    if (File.Exists(target + suffix)) File.Move(target + suffix, kept + suffix);
            }
            await using (var from = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = file, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ConnectionString))
            await using (var to = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = target, Pooling = false }.ConnectionString))
            {
                await from.OpenAsync();
                await to.OpenAsync();
                from.BackupDatabase(to);
            }
        }
        catch (Exception ex) when (ex is SqliteException or IOException or UnauthorizedAccessException)
        {
            return await Error($"restore failed: {ex.Message}" + (kept is null ? "" : $"; the previous database is in {kept}"));
        }
        Console.WriteLine($"restored {file} into {target}" + (kept is null ? "" : $"; the previous database is kept as {kept}"));
        return 0;
    }

    /// <summary>Null when <paramref name="file"/> is a sound SQLite database with the journal's tables; else what is wrong.</summary>
    private static async Task<string?> CheckAsync(string file)
    {
        try
        {
            await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = file, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ConnectionString);
            await connection.OpenAsync();
            await using var integrity = connection.CreateCommand();
            integrity.CommandText = "PRAGMA integrity_check";
            var result = (string?)await integrity.ExecuteScalarAsync();
            if (result != "ok") return "integrity check: " + result;
            foreach (var table in JournalTables)
            {
                await using var exists = connection.CreateCommand();
                exists.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $name";
                exists.Parameters.AddWithValue("$name", table);
                if ((long)(await exists.ExecuteScalarAsync())! == 0) return $"no '{table}' table";
            }
            return null;
        }
        catch (SqliteException ex)
        {
            return ex.Message;
        }
    }
}
