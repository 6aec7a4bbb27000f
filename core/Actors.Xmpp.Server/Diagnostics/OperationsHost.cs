using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

namespace Actors.Xmpp.Server.Diagnostics;

/// <summary>
/// The operator's HTTP endpoint (Xmpp:Metrics:Port, on loopback unless configured otherwise), apart from the public
/// HTTP host: the Prometheus scrape of the server's meters (<see cref="XmppMetrics"/>, the plugins' meters under
/// "Actors.*", and the .NET runtime's) through OpenTelemetry, OTLP export when Xmpp:Metrics:OtlpEndpoint is set, and the
/// health checks (<see cref="ServerHealth"/>: 200 when live/ready, 503 otherwise, JSON body).
/// </summary>
public sealed class OperationsHost(XmppServerOptions options, ServerHealth health, ILoggerFactory loggers) : IAsyncDisposable
{
    private WebApplication? _app;

    public static bool Enabled(XmppServerOptions options) => options.Metrics.Port >= 0;

    public IPEndPoint? EndPoint { get; private set; }

    /// <summary>The scrape URL (the harness prints it as METRICS_URL).</summary>
    public string? MetricsUrl => EndPoint is { } e
        ? $"http://{(e.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{e.Address}]" : e.Address.ToString())}:{e.Port}{options.Metrics.Path}"
        : null;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var settings = options.Metrics;
        var address = IPAddress.Parse(settings.BindAddress);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Services.AddSingleton(loggers);
        builder.Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(address, settings.Port);
        });
        builder.Services.AddRouting();
        builder.Services.AddOpenTelemetry().WithMetrics(m =>
        {
            m.AddMeter(XmppMetrics.MeterName, "Actors.*", "System.Runtime");
            m.AddPrometheusExporter();
            if (!string.IsNullOrWhiteSpace(settings.OtlpEndpoint))
                m.AddOtlpExporter(o => o.Endpoint = new Uri(settings.OtlpEndpoint));
        });
        var app = builder.Build();
        app.UseRouting();
        app.MapPrometheusScrapingEndpoint(settings.Path);
        app.MapGet(ServerHealth.LivePath, (HttpContext context) => Answer(context, health.Live, new JsonObject { ["live"] = health.Live }));
        app.MapGet(ServerHealth.ReadyPath, async (HttpContext context) =>
        {
            var report = await health.CheckAsync(context.RequestAborted).ConfigureAwait(false);
            await Answer(context, report.Ready, report.ToJson()).ConfigureAwait(false);
        });
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        _app = app;
        foreach (var url in app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses)
            EndPoint = new IPEndPoint(address, new Uri(url).Port);
    }

    private static Task Answer(HttpContext context, bool ok, JsonObject body)
    {
        context.Response.StatusCode = ok ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        context.Response.ContentType = "application/json";
        context.Response.Headers.CacheControl = "no-store";
        return context.Response.WriteAsync(body.ToJsonString());
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null) await _app.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null) await _app.DisposeAsync().ConfigureAwait(false);
        _app = null;
    }
}
