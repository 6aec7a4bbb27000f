using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Actors.Xmpp.Testing;

/// <summary>Certificates made in the test: a private CA, servers' certificates (a DNS-ID) and clients' certificates
/// naming accounts (id-on-xmppAddr, RFC 6120 §13.7.1.4), for TLS with verification (RFC 6125) and XEP-0178.</summary>
public static class TestCertificates
{
    private const string XmppAddrOid = "1.3.6.1.5.5.7.8.5";

    /// <summary>A certificate for <paramref name="name"/> (a DNS-ID), self-signed when <paramref name="issuer"/> is null;
    /// with <paramref name="xmppAddrs"/> it names those JIDs instead (a client's certificate for SASL EXTERNAL).</summary>
    public static X509Certificate2 Make(string name, X509Certificate2? issuer, bool isCa = false, params string[] xmppAddrs)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + name, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(isCa, false, 0, true));
        if (isCa) request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        else
        {
            if (xmppAddrs.Length == 0)
            {
                var san = new SubjectAlternativeNameBuilder();
                san.AddDnsName(name);
                request.CertificateExtensions.Add(san.Build());
            }
            else request.CertificateExtensions.Add(XmppAddrNames(xmppAddrs));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
                new OidCollection { new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2") }, false));
        }
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var notBefore = DateTimeOffset.UtcNow.AddDays(-1);
        X509Certificate2 certificate;
        if (issuer is null) certificate = request.CreateSelfSigned(notBefore, notBefore.AddYears(isCa ? 2 : 1)); // a CA outlives what it issues
        else
        {
            using var issued = request.Create(issuer, notBefore, notBefore.AddYears(1), RandomNumberGenerator.GetBytes(8));
            certificate = issued.CopyWithPrivateKey(key);
        }
        // through PKCS#12 so that SslStream can use the key
        using (certificate) return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>A subjectAltName of otherName id-on-xmppAddr entries (UTF8String).</summary>
    private static X509Extension XmppAddrNames(IEnumerable<string> jids)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
            foreach (var jid in jids)
                using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, true)))
                {
                    writer.WriteObjectIdentifier(XmppAddrOid);
                    using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, true)))
                        writer.WriteCharacterString(UniversalTagNumber.UTF8String, jid);
                }
        return new X509Extension("2.5.29.17", writer.Encode(), false);
    }
}
