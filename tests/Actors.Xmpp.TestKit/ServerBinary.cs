namespace Actors.Xmpp.Testing;

/// <summary>The actors-server executable built in this repository, for tests that run it as a child process (the CLI
/// through the admin socket, the event-log tool, crash tests).</summary>
public static class ServerBinary
{
    /// <summary>hosts/Actors.Host.Server/bin/&lt;configuration of the running test&gt;/net10.0/actors-server.dll.</summary>
    public static string Dll
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Actors.sln"))) dir = dir.Parent;
            if (dir is null) throw new InvalidOperationException("Actors.sln not found above " + AppContext.BaseDirectory);
            var config = AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
            var dll = Path.Combine(dir.FullName, "hosts", "Actors.Host.Server", "bin", config, "net10.0", "actors-server.dll");
            return File.Exists(dll) ? dll : throw new InvalidOperationException(dll + " not built");
        }
    }
}
