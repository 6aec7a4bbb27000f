using Actors.Xmpp.Testing;

namespace Actors.Plugins.Tests;

/// <summary>Issue 16: `actors-server backup` (SQLite online backup while the server runs) and `restore` (server
/// stopped; the replaced database kept beside it).</summary>
public sealed class BackupSpec : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync([]);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Backup_while_running_then_restore_when_stopped_brings_back_the_accounts_of_the_backup()
    {
        await _server.AddUserAsync("before-backup");
        var file = Path.Combine(_server.Root, "backup.db");

        var backup = await Operator.CliAsync(_server, "backup", file);
        Assert.True(backup.ExitCode == 0, backup.Stderr);
        Assert.True(new FileInfo(file).Length > 0);
        var again = await Operator.CliAsync(_server, "backup", file);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("exists", again.Stderr);

        await _server.AddUserAsync("after-backup");
        var running = await Operator.CliAsync(_server, "restore", file);
        Assert.Equal(1, running.ExitCode);
        Assert.Contains("stop it first", running.Stderr);

        await _server.StopAsync();
        var notBackup = Path.Combine(_server.Root, "not-a-backup.db");
        await File.WriteAllTextAsync(notBackup, "hello");
        var refused = await Operator.CliAsync(_server, "restore", notBackup);
        Assert.Equal(1, refused.ExitCode);

        var restore = await Operator.CliAsync(_server, "restore", file);
        Assert.True(restore.ExitCode == 0, restore.Stderr);
        Assert.Contains("kept as", restore.Stdout);
        var users = await Operator.CliAsync(_server, "user", "list");
        Assert.Equal(0, users.ExitCode);
        Assert.Contains("before-backup@localhost", users.Stdout);
        Assert.DoesNotContain("after-backup@localhost", users.Stdout);
        Assert.Single(Directory.GetFiles(Path.Combine(_server.Root, "data"), "actors.db.before-restore-*").Where(f => f.EndsWith("Z", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Backup_of_a_data_folder_without_a_database_is_an_error_and_creates_nothing()
    {
        var empty = Path.Combine(_server.Root, "empty-data");
        Directory.CreateDirectory(empty);
        var r = await Operator.CliAsync(_server, "backup", Path.Combine(_server.Root, "x.db"), "--set", "Xmpp:DataDir=" + empty);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("no database", r.Stderr);
        Assert.False(File.Exists(Path.Combine(empty, "actors.db")));
    }
}
