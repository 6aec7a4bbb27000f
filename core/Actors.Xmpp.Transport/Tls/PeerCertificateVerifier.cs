using System.Formats.Asn1;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Actors.Xmpp.Transport.Tls;

/// <summary>
/// Whether a peer server's certificate is valid for its domain: a PKIX chain (RFC 5280) to the system's roots or to
/// one of the configured trusted certificates (<c>Xmpp:S2s:TrustedCertificates</c>, a private CA or a peer's own
/// self-signed certificate), and the domain among the certificate's identifiers as RFC 6125 §6 and RFC 6120 §13.7.1.2
/// match them: a DNS-ID (a leftmost-label wildcard covers one label), an SRV-ID for _xmpp-server, an XmppAddr
/// (id-on-xmppAddr), and the subject's common name only when the certificate has none of those. Revocation is not
/// checked (no network fetch on an actor's thread); neither are missing intermediates downloaded.
/// </summary>
public sealed class PeerCertificateVerifier
{
    private const string XmppAddrOid = "1.3.6.1.5.5.7.8.5", SrvNameOid = "1.3.6.1.5.5.7.8.7", SanOid = "2.5.29.17";
    private const string SrvService = "_xmpp-server.";

    private readonly X509Certificate2Collection _trusted;

    public PeerCertificateVerifier(X509Certificate2Collection trusted) => _trusted = trusted;

    /// <summary>The system's roots and every certificate of <paramref name="pemFiles"/>.</summary>
    public static PeerCertificateVerifier Load(IEnumerable<string> pemFiles)
    {
        var trusted = new X509Certificate2Collection();
        foreach (var file in pemFiles)
        {
            var before = trusted.Count;
            trusted.ImportFromPemFile(file);
            if (trusted.Count == before) throw new InvalidOperationException($"{file} holds no PEM certificate");
        }
        return new PeerCertificateVerifier(trusted);
    }

    /// <summary>Null when <paramref name="certificate"/> is valid for <paramref name="domain"/>, else why not.</summary>
    public string? Verify(X509Certificate2? certificate, X509Certificate2Collection intermediates, string domain)
    {
        if (certificate is null) return "no certificate";
        if (!IsIssuedFor(certificate, domain)) return $"the certificate is not issued for {domain}";
        var now = DateTime.Now;
        if (now < certificate.NotBefore || now > certificate.NotAfter) return "the certificate is not valid now";
        if (Chains(certificate, intermediates, custom: false)) return null;
        if (_trusted.Count > 0 && Chains(certificate, intermediates, custom: true)) return null;
        return "the certificate does not chain to a trusted root";
    }

    /// <summary>A client's certificate (XEP-0178 on client streams): null when it chains to one of the configured
    /// certificates only (a deployment's device CA, never the system's roots, which vouch for servers' names and not for
    /// accounts) and is valid now, else why not. The names it may stand for are <see cref="XmppAddrs"/>.</summary>
    public string? VerifyClient(X509Certificate2? certificate, X509Certificate2Collection intermediates)
    {
        if (certificate is null) return "no certificate";
        var now = DateTime.Now;
        if (now < certificate.NotBefore || now > certificate.NotAfter) return "the certificate is not valid now";
        if (_trusted.Count == 0 || !Chains(certificate, intermediates, custom: true)) return "the certificate is not issued by a trusted authority";
        return null;
    }

    /// <summary>The JIDs a certificate names in its subjectAltName as id-on-xmppAddr (RFC 6120 §13.7.1.4).</summary>
    public static IReadOnlyList<string> XmppAddrs(X509Certificate2 certificate)
    {
        var addresses = new List<string>();
        foreach (var extension in certificate.Extensions)
        {
            if (extension.Oid?.Value != SanOid) continue;
            foreach (var (kind, value) in ReadSan(extension.RawData))
                if (kind == SanKind.XmppAddr && value.Length > 0) addresses.Add(value);
        }
        return addresses;
    }

    private bool Chains(X509Certificate2 certificate, X509Certificate2Collection intermediates, bool custom)
    {
        using var chain = new X509Chain();
        var policy = chain.ChainPolicy;
        policy.RevocationMode = X509RevocationMode.NoCheck;
        policy.DisableCertificateDownloads = true;
        policy.ExtraStore.AddRange(intermediates);
        if (custom)
        {
            policy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            policy.CustomTrustStore.AddRange(_trusted);
        }
        try
        {
            if (chain.Build(certificate)) return true;
            // a trusted certificate that is the peer's own self-signed leaf
            if (custom)
                foreach (var t in _trusted)
                    if (t.RawDataMemory.Span.SequenceEqual(certificate.RawDataMemory.Span)) return true;
            return false;
        }
        finally
        {
            for (var i = 0; i < chain.ChainElements.Count; i++) chain.ChainElements[i].Certificate.Dispose();
        }
    }

    /// <summary>RFC 6125 §6 name matching for an XMPP server (RFC 6120 §13.7.1.2).</summary>
    public static bool IsIssuedFor(X509Certificate2 certificate, string domain)
    {
        domain = domain.TrimEnd('.');
        var hasSanIdentifiers = false;
        foreach (var extension in certificate.Extensions)
        {
            if (extension.Oid?.Value != SanOid) continue;
            foreach (var (kind, value) in ReadSan(extension.RawData))
            {
                if (kind != SanKind.Other) hasSanIdentifiers = true;
                var matches = kind switch
                {
                    SanKind.Dns => DnsIdMatches(value, domain),
                    SanKind.XmppAddr => string.Equals(value, domain, StringComparison.OrdinalIgnoreCase),
                    SanKind.SrvName => value.StartsWith(SrvService, StringComparison.OrdinalIgnoreCase)
                                       && string.Equals(value[SrvService.Length..], domain, StringComparison.OrdinalIgnoreCase),
                    _ => false,
                };
                if (matches) return true;
            }
        }
        if (hasSanIdentifiers) return false;
        // §6.4.4: the CN-ID only when there is no DNS-ID, SRV-ID or URI-ID (nor XmppAddr)
        var cn = certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
        return !string.IsNullOrEmpty(cn) && DnsIdMatches(cn, domain);
    }

    /// <summary>RFC 6125 §6.4.1 (case-insensitive) and §6.4.3 (a '*' as the whole leftmost label, one label only).</summary>
    private static bool DnsIdMatches(string presented, string domain)
    {
        presented = presented.TrimEnd('.');
        if (string.Equals(presented, domain, StringComparison.OrdinalIgnoreCase)) return true;
        if (!presented.StartsWith("*.", StringComparison.Ordinal)) return false;
        var dot = domain.IndexOf('.');
        return dot > 0 && presented.Length > 2 && presented[2..].Contains('.')
               && string.Equals(presented[2..], domain[(dot + 1)..], StringComparison.OrdinalIgnoreCase);
    }

    private enum SanKind { Dns, XmppAddr, SrvName, Uri, Other }

    /// <summary>The identifiers of a subjectAltName extension (RFC 5280 §4.2.1.6) that name an XMPP service.</summary>
    private static List<(SanKind, string)> ReadSan(byte[] der)
    {
        var names = new List<(SanKind, string)>();
        try
        {
            var reader = new AsnReader(der, AsnEncodingRules.DER);
            var sequence = reader.ReadSequence();
            while (sequence.HasData)
            {
                var tag = sequence.PeekTag();
                if (tag.TagClass != TagClass.ContextSpecific)
                {
                    sequence.ReadEncodedValue();
                    continue;
                }
                switch (tag.TagValue)
                {
                    case 0: // otherName ::= SEQUENCE { type-id OID, value [0] EXPLICIT ANY }
                        var other = sequence.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0, true));
                        var oid = other.ReadObjectIdentifier();
                        var explicitValue = other.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0, true));
                        if (oid == XmppAddrOid) names.Add((SanKind.XmppAddr, explicitValue.ReadCharacterString(UniversalTagNumber.UTF8String)));
                        else if (oid == SrvNameOid) names.Add((SanKind.SrvName, explicitValue.ReadCharacterString(UniversalTagNumber.IA5String)));
                        else names.Add((SanKind.Other, ""));
                        break;
                    case 2: // dNSName IA5String
                        names.Add((SanKind.Dns, Encoding.ASCII.GetString(sequence.ReadOctetString(new Asn1Tag(TagClass.ContextSpecific, 2)))));
                        break;
                    case 6: // uniformResourceIdentifier
                        sequence.ReadEncodedValue();
                        names.Add((SanKind.Uri, ""));
                        break;
                    default:
                        sequence.ReadEncodedValue();
                        break;
                }
            }
        }
        catch (AsnContentException)
        {
            // a malformed extension names nothing
        }
        return names;
    }
}
