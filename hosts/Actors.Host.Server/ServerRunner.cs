using System.Net.Sockets;
using Actors.Xmpp.PluginHost;
using Actors.Xmpp.Server;
using Actors.Xmpp.Server.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Actors.Host.Server;

internal static class ServerRunner
{
    /// <summary>The same configuration sources for the server and the CLI: appsettings.json beside the binary,
    /// then one in the working directory, environment variables (Xmpp__Domain=...), then --Xmpp:Key=value overrides.</summary>
    public static HostApplicationBuilder CreateBuilder(string[] configArgs)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = configArgs,
            ContentRootPath = AppContext.BaseDirectory,
        });
        var local = Path.Combine(Directory.GetCurrentDirectory(), "appsettings.json");
        if (File.Exists(local) && Path.GetFullPath(local) != Path.Combine(AppContext.BaseDirectory, "appsettings.json"))
        {
            builder.Configuration.AddJsonFile(local, optional: true);
            builder.Configuration.AddEnvironmentVariables();
            builder.Configuration.AddCommandLine(configArgs);
        }
        // Xmpp:LogFormat (validated with the other options at start): plain lines or JSON objects, dated in UTC
        if (builder.Configuration[$"{XmppServerOptions.Section}:{nameof(XmppServerOptions.LogFormat)}"] == XmppServerOptions.LogFormats.Json)
            builder.Logging.AddJsonConsole(o =>
            {
                o.TimestampFormat = XmppServerOptions.LogFormats.Timestamp;
                o.UseUtcTimestamp = true;
            });
        else
            builder.Logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = XmppServerOptions.LogFormats.Timestamp + " "; // date and time, in UTC
                o.UseUtcTimestamp = true;
                o.ColorBehavior = LoggerColorBehavior.Disabled;
            });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(15));
        return builder;
    }

    public static async Task<int> RunAsync(string[] configArgs, CancellationToken ct)
    {
        try
        {
            var builder = CreateBuilder(configArgs);
            builder.Services.AddXmppServer(builder.Configuration);
            builder.Services.AddXmppPlugins(builder.Configuration);
            // under systemd (Type=notify): READY=1 once the listeners are open, STOPPING=1 at shutdown, journald log
            // levels; a no-op elsewhere
            builder.Services.AddSystemd();
            using var host = builder.Build();
            await host.RunAsync(ct);
            return 0;
        }
        catch (Exception ex) when (PortInUse(ex) is { } inUse)
        {
            await Console.Error.WriteLineAsync(inUse);
            return 1;
        }
        catch (InvalidOperationException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}");
            return 1;
        }
    }

    /// <summary>The operator's message when a listener's port is taken (another server, another node, or an outgoing
    /// connection that holds it): the c2s listeners fail with the SocketException itself, Kestrel with it inside an
    /// IOException that names the address, the cluster's Akka.Remote listener with it wrapped in a
    /// RemoteTransportException ("Failed to bind to [host:port]") inside AggregateExceptions. Null for any other
    /// failure.</summary>
    internal static string? PortInUse(Exception failure)
    {
        Akka.Remote.RemoteTransportException? remote = null;
        for (Exception? e = failure; e is not null; e = e is AggregateException { InnerExceptions.Count: 1 } a ? a.InnerExceptions[0] : e.InnerException)
        {
            if (e is Akka.Remote.RemoteTransportException r) remote = r;
            if (e is not SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse } socket) continue;
            // Kestrel (the HTTP listener) names the address in the IOException around it
            if (failure is IOException http)
                return $"error: cannot listen: {http.Message} Another server on that port? Set --Xmpp:Http:Port.";
            if (remote is null)
                return $"error: cannot listen: {socket.Message}. Another server on that port? Set --Xmpp:C2sPort / --Xmpp:DirectTlsPort.";
            var open = remote.Message.IndexOf('[');
            var close = remote.Message.IndexOf(']', open + 1);
            var address = open >= 0 && close > open ? " " + remote.Message[(open + 1)..close] : "";
            return $"error: cannot listen on the cluster port{address}: {socket.Message}. Another node or process on that port? Set --Xmpp:Cluster:Port.";
        }
        return null;
    }
}
