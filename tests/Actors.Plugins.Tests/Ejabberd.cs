using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Actors.Plugins.Tests;

/// <summary>
/// A private instance of Debian's ejabberd (the package CI installs) for tests that need what ejabberd itself writes:
/// the BEAM started directly (no ejabberdctl, no Erlang distribution, no epmd), its Mnesia and log in a temporary
/// folder, c2s on a free loopback port. Accounts are registered at start; <see cref="ExportAsync"/> runs its
/// XEP-0227 export (ejabberd_piefxis:export_server) inside the running node through a trigger file.
/// </summary>
public sealed class Ejabberd : IAsyncDisposable
{
    private const string Ctl = "/usr/sbin/ejabberdctl";
    private readonly Process _process;
    private readonly string _folder;

    private Ejabberd(Process process, string folder, int port)
    {
        _process = process;
        _folder = folder;
        EndPoint = new IPEndPoint(IPAddress.Loopback, port);
    }

    public IPEndPoint EndPoint { get; }
    public string Folder => _folder;

    public static async Task<Ejabberd> StartAsync(IReadOnlyList<(string User, string Password)> accounts)
    {
        if (!File.Exists(Ctl)) throw new InvalidOperationException("ejabberd is not installed (apt-get install ejabberd; .ci/run does)");
        var folder = Path.Combine(Path.GetTempPath(), "ejabberd-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Path.Combine(folder, "spool"));
        Directory.CreateDirectory(Path.Combine(folder, "log"));
        Directory.CreateDirectory(Path.Combine(folder, "export"));
        await File.WriteAllTextAsync(Path.Combine(folder, "server.pem"), SelfSignedPem());
        var port = FreePort();
        await File.WriteAllTextAsync(Path.Combine(folder, "ejabberd.yml"), $"""
            hosts:
              - "localhost"
            loglevel: warning
            certfiles:
              - "{folder}/server.pem"
            listen:
              -
                port: {port}
                ip: "127.0.0.1"
                module: ejabberd_c2s
                starttls: true
            auth_method: internal
            auth_password_format: scram
            acl:
              local:
                user_regexp: ""
            access_rules:
              local:
                allow: local
              c2s:
                allow: all
            modules:
              mod_roster: {"{}"}
              mod_vcard: {"{}"}
              mod_private: {"{}"}
              mod_offline: {"{}"}
              mod_disco: {"{}"}
            """);
        var register = string.Concat(accounts.Select(a => $"ejabberd_auth:try_register(<<\"{a.User}\">>, <<\"localhost\">>, <<\"{a.Password}\">>), "));
        var trigger = Path.Combine(folder, "export.trigger");
        var eval = register +
            $"Loop = fun L() -> case filelib:is_file(\"{trigger}\") of true -> ok = ejabberd_piefxis:export_server(\"{folder}/export\"), " +
            $"file:write_file(\"{folder}/export.done\", <<>>); false -> timer:sleep(100), L() end end, spawn(Loop).";
        var start = new ProcessStartInfo("erl")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = folder,
        };
        foreach (var a in new[] { "-noinput", "-noshell", "-mnesia", "dir", $"\"{folder}/spool\"", "-s", "ejabberd", "-eval", eval })
            start.ArgumentList.Add(a);
        start.Environment["ERL_LIBS"] = ErlLibs();
        start.Environment["EJABBERD_CONFIG_PATH"] = Path.Combine(folder, "ejabberd.yml");
        start.Environment["EJABBERD_LOG_PATH"] = Path.Combine(folder, "log", "ejabberd.log");
        start.Environment["ERL_CRASH_DUMP_BYTES"] = "0";
        var process = Process.Start(start) ?? throw new InvalidOperationException("erl did not start");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var instance = new Ejabberd(process, folder, port);
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            using var probe = new TcpClient();
            try
            {
                await probe.ConnectAsync(IPAddress.Loopback, port);
                return instance;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !process.HasExited)
            {
                await Task.Delay(250);
            }
            catch (SocketException)
            {
                await instance.DisposeAsync();
                throw new InvalidOperationException("ejabberd did not open its port: " + await LogAsync(folder));
            }
        }
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

    /// <summary>Where the Debian package keeps its Erlang applications (ejabberdctl's ERL_LIBS).</summary>
    private static string ErlLibs()
    {
        foreach (var line in File.ReadLines(Ctl))
            if (line.StartsWith("ERL_LIBS='", StringComparison.Ordinal)) return line["ERL_LIBS='".Length..].TrimEnd('\'');
        return "/usr/lib/x86_64-linux-gnu";
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string SelfSignedPem()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(2));
        return certificate.ExportCertificatePem() + "\n" + key.ExportPkcs8PrivateKeyPem() + "\n";
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        try { Directory.Delete(_folder, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
