using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Actors.Xmpp.Transport.Tls;

namespace Actors.Xmpp.Tests.Tls;

/// <summary>Selecting a certificate by the client's SNI name (RFC 6066 §3) among the certificates' DNS names.</summary>
public sealed class ServerCertificatesSpec
{
    private static ServerCertificates.ServerCertificate Make(params string[] names)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + names[0], key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var n in names) san.AddDnsName(n);
        request.CertificateExtensions.Add(san.Build());
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        return new ServerCertificates.ServerCertificate(X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null), new());
    }

    private static readonly ServerCertificates.ServerCertificate Default = Make("example.org");
    private static readonly ServerCertificates.ServerCertificate Other = Make("other.test", "*.wild.test");
    private static readonly ServerCertificates Set = new(() => [Default, Other]);

    [Theory]
    [InlineData("example.org", "example.org")]
    [InlineData("EXAMPLE.org", "example.org")]
    [InlineData("other.test", "other.test")]
    [InlineData("other.test.", "other.test")]
    [InlineData("muc.wild.test", "other.test")]
    public void Rfc6066_3_name_selects_the_certificate_that_has_it(string sni, string expectedCn) =>
        Assert.Equal("CN=" + expectedCn, Set.Select(sni).Leaf.Subject);

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("unknown.example")]
    [InlineData("wild.test")]          // *.wild.test does not cover wild.test itself
    [InlineData("a.b.wild.test")]      // nor two labels (RFC 6125 §6.4.3)
    public void Rfc6066_3_no_or_unknown_name_gets_the_default(string? sni) =>
        Assert.Same(Default, Set.Select(sni));

    [Fact]
    public void Reload_that_fails_keeps_the_current_set()
    {
        var fail = false;
        var set = new ServerCertificates(() => fail ? throw new IOException("gone") : [Default]);
        fail = true;
        Assert.Throws<IOException>(() => set.Reload());
        Assert.Same(Default, set.Default);
    }
}
