using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Actors.Xmpp.Server.Sasl;
using Actors.Xmpp.Tests.Sasl;
using Actors.Xmpp.Transport.Tls;

namespace Actors.Xmpp.Tests.Tls;

public class ScramPlusOverTlsSpec
{
    [Fact]
    public async Task Scram_sha256_plus_with_real_tls_exporter()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var tmp = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        using var cert = X509CertificateLoader.LoadPkcs12(tmp.Export(X509ContentType.Pfx), null);
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var client = new TcpClient();
        var connect = client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        using var accepted = await listener.AcceptTcpClientAsync();
        await connect;
        listener.Stop();
        using var server = new SslStream(accepted.GetStream());
        using var cli = new SslStream(client.GetStream(), false, (_, _, _, _) => true);
        await Task.WhenAll(server.AuthenticateAsServerAsync(cert), cli.AuthenticateAsClientAsync("localhost"));

        var cb = new TlsChannelBinding(server);
        var mechs = new SaslMechanisms(new SaslOptions());
        Assert.Contains("SCRAM-SHA-256-PLUS", mechs.Advertise(true, cb));
        var m = mechs.Create("SCRAM-SHA-256-PLUS", true, cb, "example.com")!;
        var clientCb = TlsChannelBinding.TryExportKeyingMaterial(cli, "EXPORTER-Channel-Binding", 32)!;
        var scram = new ScramTestClient("SHA-256", "juliet", "pw", "clientnonce", "p=tls-exporter,,", clientCb);
        Assert.IsType<SaslResult.NeedCredentials>(m.Start(scram.ClientFirst()));
        var ch = Assert.IsType<SaslResult.Challenge>(m.Continue(ScramKeys.Create("juliet", "pw", 100)));
        var ok = Assert.IsType<SaslResult.Success>(m.Step(scram.ClientFinal(ch.Data)));
        Assert.True(scram.VerifyServerFinal(ok.AdditionalData!));

        // tls-server-end-point from the client's view of the certificate
        var m2 = mechs.Create("SCRAM-SHA-256-PLUS", true, cb, "example.com")!;
        var endPoint = TlsChannelBinding.ServerEndPoint(cli.RemoteCertificate!);
        var scram2 = new ScramTestClient("SHA-256", "juliet", "pw", "n2", "p=tls-server-end-point,,", endPoint);
        Assert.IsType<SaslResult.NeedCredentials>(m2.Start(scram2.ClientFirst()));
        var ch2 = Assert.IsType<SaslResult.Challenge>(m2.Continue(ScramKeys.Create("juliet", "pw", 100)));
        Assert.IsType<SaslResult.Success>(m2.Step(scram2.ClientFinal(ch2.Data)));
    }
}
