using OpenTelemetry.Trace;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Actors.Xmpp.Server.Diagnostics;

/// <summary>Starts the operator's metrics and health endpoint (<see cref="OperationsHost"/>) when Xmpp:Metrics:Port is
/// set, and feeds the sessions gauge from this node's session registry; records and exports traces
/// (<see cref="XmppTracing"/>) when Xmpp:Tracing:OtlpEndpoint is set.</summary>
public sealed class OperationsService(XmppServerOptions options, ServerContext server, ServerHealth health, ILoggerFactory loggers,
    ILogger<OperationsService> log) : IHostedService, IAsyncDisposable
{
    private OperationsHost? _host;
    private TracerProvider? _tracer;
    private IDisposable? _sessionsGauge;

    /// <summary>The Prometheus scrape URL, when the endpoint runs.</summary>
    public string? MetricsUrl => _host?.MetricsUrl;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _sessionsGauge = XmppMetrics.ObserveSessions(() => server.Sessions.Count);
        _tracer = XmppTracing.CreateProvider(options.Tracing);
        if (_tracer is not null)
            log.LogInformation("traces to {OtlpEndpoint} ({Protocol}, sampling {Ratio})", options.Tracing.OtlpEndpoint,
                options.Tracing.OtlpProtocol, options.Tracing.SampleRatio);
        if (!OperationsHost.Enabled(options)) return;
        _host = new OperationsHost(options, health, loggers);
        await _host.StartAsync(cancellationToken).ConfigureAwait(false);
        log.LogInformation("metrics at {MetricsUrl}, health at {Live} and {Ready}{Otlp}", _host.MetricsUrl, ServerHealth.LivePath,
            ServerHealth.ReadyPath, string.IsNullOrWhiteSpace(options.Metrics.OtlpEndpoint) ? "" : "; OTLP to " + options.Metrics.OtlpEndpoint);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_host is not null) await _host.StopAsync(cancellationToken).ConfigureAwait(false);
        Interlocked.Exchange(ref _sessionsGauge, null)?.Dispose();
        StopTracing();
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is not null) await _host.DisposeAsync().ConfigureAwait(false);
        Interlocked.Exchange(ref _sessionsGauge, null)?.Dispose();
        StopTracing();
    }

    /// <summary>Exports what the tracer still holds (its batch) and stops recording.</summary>
    private void StopTracing()
    {
        var tracer = Interlocked.Exchange(ref _tracer, null);
        if (tracer is null) return;
        tracer.ForceFlush(5000);
        tracer.Dispose();
    }
}
