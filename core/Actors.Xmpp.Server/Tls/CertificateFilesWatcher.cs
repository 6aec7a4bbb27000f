using Actors.Xmpp.Transport.Tls;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Actors.Xmpp.Server.Tls;

/// <summary>
/// Reloads the server's certificates when their files change (Xmpp:Tls:WatchFiles): a renewal (certbot replaces the
/// files, or the symbolic links of its live/ folder) is picked up without a restart and without dropping connections.
/// The folders of the configured files are watched; a change is acted on once the files have been quiet for
/// <see cref="Settle"/>, so that a certificate and its key written one after the other are read together. A reload that
/// fails (a key that does not match yet) keeps the current certificates and is retried at the next change.
/// </summary>
public sealed class CertificateFilesWatcher : IHostedService, IDisposable
{
    public static readonly TimeSpan Settle = TimeSpan.FromSeconds(2);

    private readonly ServerCertificates _certificates;
    private readonly IReadOnlyList<string> _files;
    private readonly ILogger<CertificateFilesWatcher> _log;
    private readonly List<FileSystemWatcher> _watchers = new();
    private readonly Timer _settle;

    public CertificateFilesWatcher(ServerCertificates certificates, IReadOnlyList<string> files, ILogger<CertificateFilesWatcher> log)
    {
        _certificates = certificates;
        _files = files;
        _log = log;
        _settle = new Timer(static s => ((CertificateFilesWatcher)s!).ReloadNow(), this, Timeout.Infinite, Timeout.Infinite);
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var folders = new HashSet<string>(StringComparer.Ordinal);
        foreach (var f in _files)
            if (Path.GetDirectoryName(Path.GetFullPath(f)) is { } folder) folders.Add(folder);
        foreach (var folder in folders)
        {
            if (!Directory.Exists(folder)) continue;
            var watcher = new FileSystemWatcher(folder)
            {
                NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size | NotifyFilters.CreationTime,
            };
            watcher.Changed += OnChange;
            watcher.Created += OnChange;
            watcher.Renamed += OnChange;
            watcher.Deleted += OnChange;
            watcher.EnableRaisingEvents = true;
            _watchers.Add(watcher);
        }
        return Task.CompletedTask;
    }

    private void OnChange(object sender, FileSystemEventArgs e) => _settle.Change(Settle, Timeout.InfiniteTimeSpan);

    private void ReloadNow()
    {
        try
        {
            var loaded = _certificates.Reload();
            _log.LogInformation("certificates reloaded after a file change: {Certificates}", CertificateReload.Describe(loaded));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException
                                       or InvalidOperationException or ArgumentException)
        {
            _log.LogWarning("certificate files changed but could not be loaded (the current certificates stay): {Error}", ex.Message);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        foreach (var w in _watchers) w.Dispose();
        _watchers.Clear();
        _settle.Dispose();
    }
}
