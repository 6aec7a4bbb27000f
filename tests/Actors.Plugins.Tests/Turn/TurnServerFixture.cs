using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Net;
using System.Net.Sockets;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Testing;

namespace Actors.Plugins.Tests.Turn;

/// <summary>A server with extdisco and the turn plugin on a port of its own (UDP and TCP), loopback peers allowed,
/// a quota of 3 allocations per user (each test uses users of its own).</summary>
public sealed class TurnServerFixture : IAsyncLifetime
{
    public const string Secret = "turn-test-secret";
    public const int Quota = 3;

    public TestServer Server { get; private set; } = null!;
    public int Port { get; } = FreePort();
    public IPEndPoint EndPoint => new(IPAddress.Loopback, Port);
    /// <summary>TURN over TLS (Xmpp:Turn:TlsPort) with a certificate for "localhost" from <see cref="CaFile"/>'s CA.</summary>
    public int TlsPort { get; } = FreePort();
    public string CaFile { get; private set; } = null!;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "turns-" + Guid.NewGuid().ToString("N")[..8]);

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        using var ca = TestCertificates.Make("Test TURN CA", null, isCa: true);
        using var leaf = TestCertificates.Make("localhost", ca);
        CaFile = Write("ca.pem", ca.ExportCertificatePem());
        var certFile = Write("cert.pem", leaf.ExportCertificatePem() + "\n" + ca.ExportCertificatePem());
        var keyFile = Write("key.pem", leaf.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        Server = await TestServer.StartAsync(["disco", "extdisco", "turn"], Settings(Port, new Dictionary<string, string?>
        {
            ["Xmpp:Tls:CertificatePath"] = certFile,
            ["Xmpp:Tls:KeyPath"] = keyFile,
            ["Xmpp:Turn:TlsPort"] = TlsPort.ToString(CultureInfo.InvariantCulture),
            ["Xmpp:Turn:AllowLoopbackPeers"] = "true",
            ["Xmpp:Turn:MaxAllocationsPerUser"] = Quota.ToString(CultureInfo.InvariantCulture),
        }));
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    public static Dictionary<string, string?> Settings(int port, Dictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Xmpp:Turn:Enabled"] = "true",
            ["Xmpp:Turn:BindAddress"] = "127.0.0.1",
            ["Xmpp:Turn:Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Xmpp:Turn:Secret"] = Secret,
        };
        if (more is not null)
            foreach (var (k, v) in more) settings[k] = v;
        return settings;
    }

    /// <summary>TURN REST credentials for <paramref name="user"/>, valid for an hour (what extdisco hands out).</summary>
    public static (string Username, string Password) Credentials(string user, TimeSpan? validFor = null) =>
        TurnRestCredentials.Make(Secret, user, DateTimeOffset.UtcNow + (validFor ?? TimeSpan.FromHours(1)));

    /// <summary>A port free for both UDP and TCP on 127.0.0.1 (other tests run at the same time).</summary>
    public static int FreePort()
    {
        for (var attempt = 0; ; attempt++)
        {
            var tcp = new TcpListener(IPAddress.Loopback, 0);
            tcp.Start();
            var port = ((IPEndPoint)tcp.LocalEndpoint).Port;
            try
            {
                using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                udp.Bind(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException) when (attempt < 50)
            {
            }
            finally
            {
                tcp.Stop();
            }
        }
    }

    /// <summary>A client with credentials of <paramref name="user"/>.</summary>
    internal async Task<TurnTestClient> ClientAsync(string user, bool tcp)
    {
        var c = await TurnTestClient.ConnectAsync(EndPoint, tcp);
        (c.Username, c.Password) = Credentials(user);
        return c;
    }
}

/// <summary>A UDP peer on loopback: what the relay sends to and receives from.</summary>
public sealed class UdpPeer : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);

    public UdpPeer() => _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));

    public IPEndPoint EndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    public Task SendAsync(IPEndPoint to, byte[] data) => _socket.SendToAsync(data, SocketFlags.None, to);

    public async Task<(IPEndPoint From, byte[] Data)> ReceiveAsync(TimeSpan? timeout = null)
    {
        var buffer = new byte[65536];
        using var cts = new CancellationTokenSource(timeout ?? TurnTestClient.Timeout);
        var r = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), cts.Token);
        return ((IPEndPoint)r.RemoteEndPoint, buffer.AsSpan(0, r.ReceivedBytes).ToArray());
    }

    public async Task<bool> NothingWithin(TimeSpan quiet)
    {
        try
        {
            await ReceiveAsync(quiet);
            return false;
        }
        catch (OperationCanceledException)
        {
            return true;
        }
    }

    public void Dispose() => _socket.Dispose();
}
