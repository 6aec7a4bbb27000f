using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Actors.Xmpp.Transport.Tls;

/// <summary>Loads the server certificate from PEM files, or generates and stores a self-signed one on first start.</summary>
public static class CertificateLoader
{
    /// <summary>A certificate with its chain from a PEM file (certbot's fullchain.pem: the leaf first, then the
    /// intermediates) and its private key from <paramref name="keyPath"/> (null or empty: the same file).</summary>
    public static ServerCertificates.ServerCertificate LoadPemChain(string certificatePath, string? keyPath)
    {
        var leaf = LoadPem(certificatePath, string.IsNullOrEmpty(keyPath) ? null : keyPath);
        var all = new X509Certificate2Collection();
        all.ImportFromPemFile(certificatePath);
        var intermediates = new X509Certificate2Collection();
        foreach (var c in all)
        {
            if (c.RawDataMemory.Span.SequenceEqual(leaf.RawDataMemory.Span)) c.Dispose();
            else intermediates.Add(c);
        }
        return new ServerCertificates.ServerCertificate(leaf, intermediates, Path.GetFullPath(certificatePath));
    }

    public static X509Certificate2 LoadPem(string certificatePath, string? keyPath)
    {
        using var pem = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
        // round-trip through PKCS#12 so that the private key is usable by SslStream on every platform
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>Returns the self-signed certificate stored in <paramref name="directory"/> for these domains,
    /// generating it (and writing cert.pem / key.pem) if it is missing.</summary>
    public static X509Certificate2 LoadOrCreateSelfSigned(string directory, IReadOnlyList<string> domains)
    {
        var certPath = Path.Combine(directory, "selfsigned-cert.pem");
        var keyPath = Path.Combine(directory, "selfsigned-key.pem");
        if (File.Exists(certPath) && File.Exists(keyPath))
        {
            var existing = LoadPem(certPath, keyPath);
            if (existing.NotAfter > DateTime.Now.AddDays(1) && domains.All(d => existing.MatchesHostname(d)))
                return existing;
            existing.Dispose();
        }
        Directory.CreateDirectory(directory);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + domains[0], key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var d in domains)
        {
            san.AddDnsName(d);
            san.AddDnsName("*." + d);
        }
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            new OidCollection { new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2") }, false)); // server and client (s2s, XEP-0178)
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(5));
        var keyTmp = keyPath + ".tmp";
        File.WriteAllText(keyTmp, key.ExportPkcs8PrivateKeyPem());
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(keyTmp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(keyTmp, keyPath, overwrite: true);
        File.WriteAllText(certPath, cert.ExportCertificatePem());
        return LoadPem(certPath, keyPath);
    }
}
