using System.Net;
using System.Net.Sockets;
using Actors.Xmpp.Testing;

namespace Actors.Plugins.Tests;

/// <summary>A listener's port already taken at start (another server, another node, an outgoing connection that holds
/// it): the server exits with status 1 and one line that names the port and the setting to change, never a stack trace.</summary>
public sealed class ListenerPortSpec
{
    private static async Task<ExternalProgram.Outcome> StartServer(string data, params string[] settings)
    {
        var args = new List<string> { ServerBinary.Dll };
        foreach (var s in new[] { "Xmpp:DataDir=" + data, "Xmpp:DirectTlsPort=-1", "Xmpp:Tls:Required=false" }.Concat(settings))
        {
            args.Add("--set");
            args.Add(s);
        }
        return await ExternalProgram.RunAsync("dotnet", args, TimeSpan.FromSeconds(90));
    }

    private static async Task WithDataFolder(Func<string, Task> test)
    {
        var data = Path.Combine(Path.GetTempPath(), "actors-port-" + Guid.NewGuid().ToString("N")[..12]);
        try
        {
            await test(data);
        }
        finally
        {
            try { Directory.Delete(data, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>A loopback port held by a listener of the test's own.</summary>
    private static TcpListener TakenPort(out int port)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        port = ((IPEndPoint)listener.LocalEndpoint).Port;
        return listener;
    }

    [Fact]
    public Task A_taken_c2s_port_is_refused_with_its_setting_named() => WithDataFolder(async data =>
    {
        using var taken = TakenPort(out var port);
        var r = await StartServer(data, "Xmpp:BindAddress=127.0.0.1", $"Xmpp:C2sPort={port}");
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.Contains("error: cannot listen", r.Stderr);
        Assert.Contains("--Xmpp:C2sPort", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
    });

    [Fact]
    public Task A_taken_http_port_is_refused_with_its_address_and_setting_named() => WithDataFolder(async data =>
    {
        using var taken = TakenPort(out var port);
        var r = await StartServer(data, "Xmpp:BindAddress=127.0.0.1", "Xmpp:C2sPort=0", $"Xmpp:Http:Port={port}");
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.Contains("error: cannot listen", r.Stderr);
        Assert.Contains(port.ToString(System.Globalization.CultureInfo.InvariantCulture), r.Stderr);
        Assert.Contains("--Xmpp:Http:Port", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
    });

    /// <summary>The cluster's Akka.Remote listener fails inside the actor system's start, wrapped five deep; the operator
    /// still gets the address and the setting.</summary>
    [Fact]
    public Task A_taken_cluster_port_is_refused_with_its_address_and_setting_named() => WithDataFolder(async data =>
    {
        using var taken = TakenPort(out var port);
        var r = await StartServer(data, "Xmpp:C2sPort=0", "Xmpp:Persistence:Provider=PostgreSQL",
            "Xmpp:Persistence:ConnectionString=Host=127.0.0.1;Port=1;Database=none;Username=none;Password=none",
            "Xmpp:Cluster:Enabled=true", "Xmpp:Cluster:Hostname=127.0.0.1", $"Xmpp:Cluster:Port={port}",
            $"Xmpp:Cluster:SeedNodes:0=127.0.0.1:{port}");
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.Contains($"error: cannot listen on the cluster port 127.0.0.1:{port}", r.Stderr);
        Assert.Contains("--Xmpp:Cluster:Port", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
    });
}
