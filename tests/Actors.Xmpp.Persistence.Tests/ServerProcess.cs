using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Actors.Xmpp.Persistence.Tests;

/// <summary>Runs actors-server (built beside this test project) as a child process: CLI commands, or the server itself.</summary>
public static class ServerProcess
{
    public static string Dll => Actors.Xmpp.Testing.ServerBinary.Dll;

    public static ProcessStartInfo StartInfo(IEnumerable<string> args, string workDir)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_NOLOGO"] = "1";
        return psi;
    }

    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static async Task<Result> RunAsync(TestDatabase db, params string[] args)
    {
        using var process = Process.Start(StartInfo(args.Concat(db.CliArgs()), db.DataDir))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        try { await process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { process.Kill(entireProcessTree: true); throw new TimeoutException("actors-server " + string.Join(' ', args) + " did not finish"); }
        return new Result(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Starts the server on free ports; returns once its admin socket answers. <paramref name="overrides"/>
    /// come last, so they replace the defaults (e.g. "--Xmpp:C2sPort=36222").</summary>
    public static async Task<Process> StartServerAsync(TestDatabase db, params string[] overrides)
    {
        var args = new[] { "--Xmpp:C2sPort=0", "--Xmpp:DirectTlsPort=-1", "--Xmpp:BindAddress=127.0.0.1" }.Concat(db.CliArgs()).Concat(overrides);
        var process = Process.Start(StartInfo(args, db.DataDir))!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited) throw new InvalidOperationException($"the server exited with {process.ExitCode}");
            try
            {
                var r = await AdminAsync(db, new JsonObject { ["cmd"] = "online" });
                if ((bool?)r["ok"] == true) return process;
            }
            catch (Exception ex) when (ex is SocketException or IOException) { }
            await Task.Delay(200);
        }
        process.Kill(entireProcessTree: true);
        throw new TimeoutException("the server did not open its admin socket");
    }

    /// <summary>A TCP port on 127.0.0.1 that nothing listens on right now.</summary>
    public static int FreePort()
    {
        var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        try { return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port; }
        finally { listener.Stop(); }
    }

    public static async Task<JsonObject> AdminAsync(TestDatabase db, JsonObject request)
    {
        var path = Actors.Xmpp.Server.Hosting.AdminChannel.SocketPath(db.DataDir);
        if (!File.Exists(path)) throw new IOException("no admin socket yet");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path));
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Encoding.UTF8.GetBytes(request.ToJsonString() + "\n"));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var line = await reader.ReadLineAsync() ?? throw new IOException("admin socket closed");
        return JsonNode.Parse(line)!.AsObject();
    }
}
