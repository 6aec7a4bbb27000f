using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Actors.Plugins.Tests;

/// <summary>
/// A private instance of Debian's ejabberd (the package CI installs) for tests that need what ejabberd itself writes,
/// started by tests/interop/ejabberd/run-ejabberd.sh: the one ejabberd configuration of the repository's tests (the
/// interop suite's federation peer runs the same), serving <c>localhost</c> with c2s on a free loopback port, its
/// Mnesia and log in a temporary folder, the given accounts registered at start. <see cref="ExportAsync"/> runs its
/// XEP-0227 export (ejabberd_piefxis:export_server) inside the running node through a trigger file (the script's
/// EJABBERD_EVAL).
/// </summary>
public sealed class Ejabberd : IAsyncDisposable
{
    private const string Ctl = "/usr/sbin/ejabberdctl";
    private const string Domain = "localhost";
    private readonly string _script;
    private readonly string _folder;

    private Ejabberd(string script, string folder, int port)
    {
        _script = script;
        _folder = folder;
        EndPoint = new IPEndPoint(IPAddress.Loopback, port);
    }

    public IPEndPoint EndPoint { get; }
    public string Folder => _folder;

    public static async Task<Ejabberd> StartAsync(IReadOnlyList<(string User, string Password)> accounts)
    {
        if (!File.Exists(Ctl)) throw new InvalidOperationException("ejabberd is not installed (apt-get install ejabberd; .ci/run does)");
        var script = Script();
        var folder = Path.Combine(Path.GetTempPath(), "ejabberd-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Path.Combine(folder, "export"));
        var port = FreePort();
        var trigger = Path.Combine(folder, "export.trigger");
        var eval =
            $"Loop = fun L() -> case filelib:is_file(\"{trigger}\") of true -> ok = ejabberd_piefxis:export_server(\"{folder}/export\"), " +
            $"file:write_file(\"{folder}/export.done\", <<>>); false -> timer:sleep(100), L() end end, spawn(Loop)";
        var instance = new Ejabberd(script, folder, port);
        var start = await RunAsync(script, ["start", folder, Domain, "127.0.0.1", port.ToString(), FreePort().ToString()],
            ("EJABBERD_ACCOUNTS", string.Join(' ', accounts.Select(a => a.User + ":" + a.Password))), ("EJABBERD_EVAL", eval));
        if (start.ExitCode != 0)
        {
            await instance.DisposeAsync();
            throw new InvalidOperationException("ejabberd did not start: " + start.Output);
        }
        return instance;
    }

    /// <summary>Runs ejabberd's XEP-0227 export and returns the main file (it XIncludes one file per host).</summary>
    public async Task<string> ExportAsync()
    {
        await File.WriteAllTextAsync(Path.Combine(_folder, "export.trigger"), "");
        var done = Path.Combine(_folder, "export.done");
        for (var i = 0; i < 600 && !File.Exists(done); i++) await Task.Delay(100);
        if (!File.Exists(done)) throw new TimeoutException("ejabberd did not export within 60 s: " + await LogAsync(_folder));
        // the main file is the one without the host in its name (<stamp>.xml, next to <stamp>_localhost.xml)
        return Directory.GetFiles(Path.Combine(_folder, "export"), "*.xml").Single(f => !Path.GetFileName(f).Contains('_'));
    }

    private static async Task<string> LogAsync(string folder)
    {
        var log = Path.Combine(folder, "log", "ejabberd.log");
        return File.Exists(log) ? await File.ReadAllTextAsync(log) : "(no log)";
    }

    /// <summary>tests/interop/ejabberd/run-ejabberd.sh of the checkout the tests run from.</summary>
    private static string Script()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Actors.sln"))) dir = dir.Parent;
        if (dir is null) throw new InvalidOperationException("Actors.sln not found above " + AppContext.BaseDirectory);
        return Path.Combine(dir.FullName, "tests", "interop", "ejabberd", "run-ejabberd.sh");
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string script, IEnumerable<string> arguments, params (string Name, string Value)[] environment)
    {
        var start = new ProcessStartInfo("bash")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add(script);
        foreach (var a in arguments) start.ArgumentList.Add(a);
        foreach (var (name, value) in environment) start.Environment[name] = value;
        using var process = Process.Start(start) ?? throw new InvalidOperationException("bash did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        await RunAsync(_script, ["stop", _folder]);
        try { Directory.Delete(_folder, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
