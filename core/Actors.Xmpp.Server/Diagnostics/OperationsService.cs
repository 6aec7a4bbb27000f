using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Actors.Xmpp.Server.Diagnostics;

/// <summary>Starts the operator's metrics and health endpoint (<see cref="OperationsHost"/>) when Xmpp:Metrics:Port is
/// set, and feeds the sessions gauge from this node's session registry.</summary>
public sealed class OperationsService(XmppServerOptions options, ServerContext server, ServerHealth health, ILoggerFactory loggers,
    ILogger<OperationsService> log) : IHostedService, IAsyncDisposable
{
    private OperationsHost? _host;

    /// <summary>The Prometheus scrape URL, when the endpoint runs.</summary>
    public string? MetricsUrl => _host?.MetricsUrl;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        XmppMetrics.ObserveSessions(() => server.Sessions.Count);
        if (!OperationsHost.Enabled(options)) return;
        _host = new OperationsHost(options, health, loggers);
        await _host.StartAsync(cancellationToken).ConfigureAwait(false);
        log.LogInformation("metrics at {MetricsUrl}, health at {Live} and {Ready}{Otlp}", _host.MetricsUrl, ServerHealth.LivePath,
            ServerHealth.ReadyPath, string.IsNullOrWhiteSpace(options.Metrics.OtlpEndpoint) ? "" : "; OTLP to " + options.Metrics.OtlpEndpoint);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_host is not null) await _host.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is not null) await _host.DisposeAsync().ConfigureAwait(false);
    }
}
