using Microsoft.Extensions.Logging;

namespace Actors.Xmpp.PluginHost;

/// <summary>
/// Watches the plugin directory and reports which top-level plugin folders changed, once the folder has been
/// quiet for the delay (McMaster 2.0 reloads on every file write with no debounce, so its watcher is not used).
/// Deploy by swapping a whole folder: build into ".ping.new", then rename it over "ping".
/// </summary>
internal sealed class PluginWatcher : IDisposable
{
    private readonly string _directory;
    private readonly TimeSpan _delay;
    private readonly Func<IReadOnlyCollection<string>, Task> _changed;
    private readonly ILogger _log;
    private readonly FileSystemWatcher _watcher;
    private readonly HashSet<string> _pending = new(StringComparer.Ordinal);
    private readonly Timer _timer;
    private int _running;

    public PluginWatcher(string directory, TimeSpan delay, Func<IReadOnlyCollection<string>, Task> changed, ILogger log)
    {
        _directory = Path.GetFullPath(directory);
        _delay = delay;
        _changed = changed;
        _log = log;
        _timer = new Timer(_ => Fire());
        _watcher = new FileSystemWatcher(_directory)
        {
            IncludeSubdirectories = true,
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size,
        };
        _watcher.Changed += (_, e) => Touch(e.FullPath);
        _watcher.Created += (_, e) => Touch(e.FullPath);
        _watcher.Deleted += (_, e) => Touch(e.FullPath);
        _watcher.Renamed += (_, e) =>
        {
            Touch(e.OldFullPath);
            Touch(e.FullPath);
        };
        _watcher.Error += (_, e) => _log.LogWarning(e.GetException(), "the plugin folder watcher failed");
        _watcher.EnableRaisingEvents = true;
    }

    private void Touch(string path)
    {
        var relative = Path.GetRelativePath(_directory, path);
        if (relative.StartsWith("..", StringComparison.Ordinal)) return;
        var top = relative.Split(Path.DirectorySeparatorChar, 2)[0];
        if (top.Length == 0 || top.StartsWith('.')) return; // staging folders (".ping.new") are ignored
        lock (_pending) _pending.Add(Path.Combine(_directory, top));
        _timer.Change(_delay, Timeout.InfiniteTimeSpan); // debounce: restart the quiet period
    }

    private void Fire()
    {
        if (Interlocked.Exchange(ref _running, 1) == 1)
        {
            _timer.Change(_delay, Timeout.InfiniteTimeSpan); // a reload is running: try again after it
            return;
        }
        string[] folders;
        lock (_pending)
        {
            folders = _pending.ToArray();
            _pending.Clear();
        }
        _ = Task.Run(async () =>
        {
            try
            {
                if (folders.Length > 0) await _changed(folders);
            }
            catch (Exception ex)
            {
                _log.LogError(ex, "reloading changed plugin folders failed");
            }
            finally
            {
                Volatile.Write(ref _running, 0);
            }
        });
    }

    public void Dispose()
    {
        _watcher.Dispose();
        _timer.Dispose();
    }
}
