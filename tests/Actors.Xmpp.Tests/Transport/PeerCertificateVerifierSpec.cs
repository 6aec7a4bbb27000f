using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Actors.Xmpp.Transport.Tls;
using Xunit;

namespace Actors.Xmpp.Tests.Transport;

/// <summary>RFC 6125 name matching and PKIX validation of peer servers' certificates (RFC 6120 §13.7.2, XEP-0178).</summary>
public sealed class PeerCertificateVerifierSpec
{
    private static X509Certificate2 Make(string subject, Action<CertificateRequest>? extend = null, X509Certificate2? issuer = null, bool isCa = false)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(isCa, false, 0, true));
        if (isCa) request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        extend?.Invoke(request);
        var from = DateTimeOffset.UtcNow.AddDays(-1);
        if (issuer is null) return request.CreateSelfSigned(from, from.AddDays(isCa ? 60 : 30)); // a CA outlives what it issues
        using var issued = request.Create(issuer, from, from.AddDays(30), RandomNumberGenerator.GetBytes(8));
        return issued.CopyWithPrivateKey(key);
    }

    private static Action<CertificateRequest> Dns(params string[] names) => r =>
    {
        var san = new SubjectAlternativeNameBuilder();
        foreach (var n in names) san.AddDnsName(n);
        r.CertificateExtensions.Add(san.Build());
    };

    /// <summary>A subjectAltName with one otherName (id-on-xmppAddr UTF8String, or SRVName IA5String).</summary>
    private static Action<CertificateRequest> OtherName(string oid, string value, UniversalTagNumber type) => r =>
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, true)))
        {
            writer.WriteObjectIdentifier(oid);
            using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, true)))
                writer.WriteCharacterString(type, value);
        }
        r.CertificateExtensions.Add(new X509Extension("2.5.29.17", writer.Encode(), false));
    };

    [Fact]
    public void Rfc6125_6_4_1_dns_id_matches_case_insensitively()
    {
        using var c = Make("CN=other.example", Dns("Example.ORG"));
        Assert.True(PeerCertificateVerifier.IsIssuedFor(c, "example.org"));
        Assert.False(PeerCertificateVerifier.IsIssuedFor(c, "other.example")); // §6.4.4: no CN-ID when there is a DNS-ID
    }

    [Fact]
    public void Rfc6125_6_4_3_a_wildcard_covers_exactly_one_leftmost_label()
    {
        using var c = Make("CN=x", Dns("*.example.org"));
        Assert.True(PeerCertificateVerifier.IsIssuedFor(c, "chat.example.org"));
        Assert.False(PeerCertificateVerifier.IsIssuedFor(c, "example.org"));
        Assert.False(PeerCertificateVerifier.IsIssuedFor(c, "a.chat.example.org"));
    }

    [Fact]
    public void Rfc6125_6_4_4_common_name_only_without_subject_alternative_names()
    {
        using var c = Make("CN=example.org");
        Assert.True(PeerCertificateVerifier.IsIssuedFor(c, "example.org"));
        Assert.False(PeerCertificateVerifier.IsIssuedFor(c, "example.net"));
    }

    [Fact]
    public void Rfc6120_13_7_1_4_xmpp_addr_and_srv_id_name_the_domain()
    {
        using var xmppAddr = Make("CN=x", OtherName("1.3.6.1.5.5.7.8.5", "example.org", UniversalTagNumber.UTF8String));
        Assert.True(PeerCertificateVerifier.IsIssuedFor(xmppAddr, "example.org"));
        Assert.False(PeerCertificateVerifier.IsIssuedFor(xmppAddr, "x"));
        using var srv = Make("CN=x", OtherName("1.3.6.1.5.5.7.8.7", "_xmpp-server.example.org", UniversalTagNumber.IA5String));
        Assert.True(PeerCertificateVerifier.IsIssuedFor(srv, "example.org"));
        using var clientSrv = Make("CN=x", OtherName("1.3.6.1.5.5.7.8.7", "_xmpp-client.example.org", UniversalTagNumber.IA5String));
        Assert.False(PeerCertificateVerifier.IsIssuedFor(clientSrv, "example.org")); // a client service is not the server
    }

    [Fact]
    public void Rfc5280_a_certificate_is_valid_only_when_it_chains_to_a_trusted_root_and_names_the_domain()
    {
        using var ca = Make("CN=Test CA", isCa: true);
        using var leaf = Make("CN=example.org", Dns("example.org"), ca);
        using var selfSigned = Make("CN=example.org", Dns("example.org"));
        var trusting = new PeerCertificateVerifier(new X509Certificate2Collection { ca });
        var trustingNothing = new PeerCertificateVerifier(new X509Certificate2Collection());
        Assert.Null(trusting.Verify(leaf, new X509Certificate2Collection(), "example.org"));
        Assert.NotNull(trusting.Verify(leaf, new X509Certificate2Collection(), "example.net"));   // not its name
        Assert.NotNull(trustingNothing.Verify(leaf, new X509Certificate2Collection(), "example.org")); // unknown CA
        Assert.NotNull(trusting.Verify(selfSigned, new X509Certificate2Collection(), "example.org")); // self-signed
        Assert.NotNull(trusting.Verify(null, new X509Certificate2Collection(), "example.org"));
        // a peer's own self-signed certificate, when configured as trusted
        Assert.Null(new PeerCertificateVerifier(new X509Certificate2Collection { selfSigned }).Verify(selfSigned, new X509Certificate2Collection(), "example.org"));
    }
}
