using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Server.Hosting;

namespace Actors.Plugins.Tests;

/// <summary>The operator's two ways into a running test server: the admin socket (JSON lines) and the
/// actors-server CLI run as a child process against the server's data folder.</summary>
public static class Operator
{
    /// <summary>One request on data/admin.sock (retried while the socket is not yet up).</summary>
    public static async Task<JsonObject> SocketAsync(TestServer server, JsonObject request)
    {
        var path = AdminChannel.SocketPath(Path.Combine(server.Root, "data"));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path));
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
                continue;
            }
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            await stream.WriteAsync(Encoding.UTF8.GetBytes(request.ToJsonString() + "\n"));
            using var reader = new StreamReader(stream, Encoding.UTF8);
            var line = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)) ?? throw new IOException("the server closed the admin connection");
            return JsonNode.Parse(line)!.AsObject();
        }
    }

    public sealed record CliResult(int ExitCode, string Stdout, string Stderr);

    /// <summary>Runs `actors-server ARGS --Xmpp:DataDir=&lt;the server's data folder&gt;` and waits for it.</summary>
    public static Task<CliResult> CliAsync(TestServer server, params string[] args) => CliWithInputAsync(server, "", args);

    /// <summary>The same with <paramref name="input"/> on its standard input (then closed).</summary>
    public static async Task<CliResult> CliWithInputAsync(TestServer server, string input, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = server.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(ServerDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.ArgumentList.Add("--Xmpp:DataDir=" + Path.Combine(server.Root, "data"));
        psi.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(psi)!;
        try
        {
            await process.StandardInput.WriteAsync(input);
            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // the command refused its arguments and exited before reading its input (a broken pipe): its answer is below
        }
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try { await process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("actors-server " + string.Join(' ', args) + " did not finish");
        }
        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    private static string ServerDll => ServerBinary.Dll;
}
