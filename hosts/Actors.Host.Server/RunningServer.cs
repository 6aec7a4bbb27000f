using System.CommandLine;
using System.Text.Json.Nodes;
using Actors.Xmpp.Server;
using Microsoft.Extensions.Configuration;

namespace Actors.Host.Server;

/// <summary>The commands that only a running server can answer (plugins, certificates, sessions, stats, health): one
/// request through its admin socket, with the errors printed the same way for all of them.</summary>
internal static class RunningServer
{
    /// <summary>The server's answer when it is running and said ok; otherwise null, with the reason on standard error.</summary>
    public static async Task<JsonObject?> RequestAsync(ParseResult parse, JsonObject request)
    {
        var configuration = ServerRunner.CreateBuilder(ConfigOverrides.For(parse)).Configuration;
        var options = new XmppServerOptions();
        configuration.GetSection(XmppServerOptions.Section).Bind(options);
        JsonObject? response;
        try
        {
            response = await UserCommands.ThroughRunningServer(options.DataDir, request);
        }
        catch (IOException ex)
        {
            await Console.Error.WriteLineAsync("error: " + ex.Message);
            return null;
        }
        if (response is null)
        {
            await Console.Error.WriteLineAsync($"error: no server is running on the data folder {Path.GetFullPath(options.DataDir)}");
            return null;
        }
        if ((bool?)response["ok"] != true)
        {
            await Console.Error.WriteLineAsync("error: " + (string?)response["error"]);
            return null;
        }
        return response;
    }
}
