using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Actors.Xmpp.Security;
using Actors.Xmpp.Transport.Tls;

namespace Actors.Xmpp.Tests.Tls;

public sealed class TlsChannelBindingSpec : IDisposable
{
    private readonly X509Certificate2 _cert;

    public TlsChannelBindingSpec()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        using var tmp = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        _cert = X509CertificateLoader.LoadPkcs12(tmp.Export(X509ContentType.Pfx), null);
    }

    public void Dispose() => _cert.Dispose();

    private sealed record Pair(SslStream Server, SslStream Client, TcpClient A, TcpClient B) : IDisposable
    {
        public void Dispose() { Server.Dispose(); Client.Dispose(); A.Dispose(); B.Dispose(); }
    }

    private async Task<Pair> Connect(SslProtocols protocols = SslProtocols.None, X509Certificate2? cert = null)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var client = new TcpClient();
            var connect = client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
            var accepted = await listener.AcceptTcpClientAsync();
            await connect;
            var server = new SslStream(accepted.GetStream());
            var cli = new SslStream(client.GetStream(), false, (_, _, _, _) => true);
            await Task.WhenAll(
                server.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificate = cert ?? _cert,
                    EnabledSslProtocols = protocols,
                }),
                cli.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost", EnabledSslProtocols = protocols }))
                .WaitAsync(TimeSpan.FromSeconds(20));
            return new Pair(server, cli, accepted, client);
        }
        finally { listener.Stop(); }
    }

    [Fact]
    public async Task Tls13_server_offers_exporter_and_end_point()
    {
        using var p = await Connect();
        Assert.Equal(SslProtocols.Tls13, p.Server.SslProtocol);
        var cb = new TlsChannelBinding(p.Server);
        Assert.Equal([ChannelBindingTypes.TlsExporter, ChannelBindingTypes.TlsServerEndPoint], cb.SupportedTypes);

        var exp = cb.Get("tls-exporter")!;
        Assert.Equal(32, exp.Length);
        Assert.Equal(exp, cb.Get("tls-exporter"));
        Assert.Equal(exp, new TlsChannelBinding(p.Server).Get("tls-exporter")); // stable across calls / instances
        Assert.NotEqual(new byte[32], exp);

        // both ends derive the same keying material (the client side is read through the same internal hook)
        Assert.Equal(exp, TlsChannelBinding.TryExportKeyingMaterial(p.Client, "EXPORTER-Channel-Binding", 32));
        Assert.NotEqual(exp, TlsChannelBinding.TryExportKeyingMaterial(p.Server, "EXPORTER-Other", 32));

        Assert.Equal(SHA256.HashData(_cert.RawData), cb.Get("tls-server-end-point"));
        Assert.Null(cb.Get("tls-unique"));

        // the connection still works after we poked at it
        await p.Client.WriteAsync(new byte[] { 42 });
        var buf = new byte[1];
        Assert.Equal(1, await p.Server.ReadAsync(buf));
        Assert.Equal(42, buf[0]);
    }

    [Fact]
    public async Task Exporter_differs_between_connections()
    {
        using var p1 = await Connect();
        using var p2 = await Connect();
        var a = new TlsChannelBinding(p1.Server).Get("tls-exporter");
        var b = new TlsChannelBinding(p2.Server).Get("tls-exporter");
        Assert.NotNull(a);
        Assert.NotNull(b);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public async Task Tls12_offers_only_end_point()
    {
        Pair p;
        try
        {
#pragma warning disable SYSLIB0039
            p = await Connect(SslProtocols.Tls12);
#pragma warning restore SYSLIB0039
        }
        catch (AuthenticationException)
        {
            return; // TLS 1.2 disabled by the system policy
        }
        using (p)
        {
            var cb = new TlsChannelBinding(p.Server);
            Assert.Equal([ChannelBindingTypes.TlsServerEndPoint], cb.SupportedTypes);
            Assert.Null(cb.Get("tls-exporter"));
        }
    }

    [Fact]
    public void End_point_uses_the_signature_hash()
    {
        using var rsa = RSA.Create(2048);
        foreach (var (alg, hash) in new[] { (HashAlgorithmName.SHA384, 48), (HashAlgorithmName.SHA512, 64) })
        {
            var req = new CertificateRequest("CN=x", rsa, alg, RSASignaturePadding.Pkcs1);
            using var c = req.CreateSelfSigned(DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1));
            var v = TlsChannelBinding.ServerEndPoint(c);
            Assert.Equal(hash, v.Length);
            var expected = hash switch { 48 => SHA384.HashData(c.RawData), 64 => SHA512.HashData(c.RawData), _ => SHA256.HashData(c.RawData) };
            Assert.Equal(expected, v);
        }
        var pss = new CertificateRequest("CN=x", rsa, HashAlgorithmName.SHA384, RSASignaturePadding.Pss);
        using var pc = pss.CreateSelfSigned(DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1));
        Assert.Equal(SHA384.HashData(pc.RawData), TlsChannelBinding.ServerEndPoint(pc));
    }
}
