using System.Formats.Asn1;
using System.Net.Security;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Actors.Xmpp.Security;

namespace Actors.Xmpp.Transport.Tls;

/// <summary>
/// Channel-binding data of an authenticated server-side <see cref="SslStream"/>:
/// <list type="bullet">
/// <item>"tls-exporter" (RFC 9266): 32 bytes exported with label "EXPORTER-Channel-Binding" and no context.
/// .NET has no public API for it, so on Linux the OpenSSL <c>SSL*</c> behind the stream is reached through
/// reflection and <c>SSL_export_keying_material</c> is called directly. Offered only for TLS 1.3, and omitted
/// whenever that fails.</item>
/// <item>"tls-server-end-point" (RFC 5929 §4.1): hash of the server certificate (DER) with the certificate's
/// signature hash (SHA-256 when that is MD5 or SHA-1 or unknown).</item>
/// </list>
/// Values are computed once, at construction; create this after the handshake.
/// </summary>
public sealed class TlsChannelBinding : IChannelBinding
{
    private const string ExporterLabel = "EXPORTER-Channel-Binding";

    private readonly byte[]? _exporter;
    private readonly byte[]? _endPoint;

    public TlsChannelBinding(SslStream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.IsAuthenticated) throw new InvalidOperationException("The TLS handshake has not completed.");
        if (stream.LocalCertificate is { } local)
        {
            try { _endPoint = ServerEndPoint(local); }
            catch (CryptographicException) { _endPoint = null; }
        }
        if (stream.SslProtocol == SslProtocols.Tls13) _exporter = TryExportKeyingMaterial(stream, ExporterLabel, 32);

        var types = new List<string>(2);
        if (_exporter is not null) types.Add(ChannelBindingTypes.TlsExporter);
        if (_endPoint is not null) types.Add(ChannelBindingTypes.TlsServerEndPoint);
        SupportedTypes = types;
    }

    public IReadOnlyList<string> SupportedTypes { get; }

    public byte[]? Get(string type) => type switch
    {
        ChannelBindingTypes.TlsExporter => (byte[]?)_exporter?.Clone(),
        ChannelBindingTypes.TlsServerEndPoint => (byte[]?)_endPoint?.Clone(),
        _ => null,
    };

    /// <summary>RFC 5929 §4.1 tls-server-end-point value of <paramref name="certificate"/>.</summary>
    public static byte[] ServerEndPoint(X509Certificate certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        using var cert = new X509Certificate2(certificate);
        var der = cert.RawData;
        return SignatureHash(cert) switch
        {
            "SHA384" => SHA384.HashData(der),
            "SHA512" => SHA512.HashData(der),
            _ => SHA256.HashData(der),
        };
    }

    private static string SignatureHash(X509Certificate2 cert)
    {
        switch (cert.SignatureAlgorithm.Value)
        {
            case "1.2.840.113549.1.1.12": // sha384WithRSAEncryption
            case "1.2.840.10045.4.3.3":   // ecdsa-with-SHA384
            case "2.16.840.1.101.3.4.3.3": // dsa-with-sha384
                return "SHA384";
            case "1.2.840.113549.1.1.13": // sha512WithRSAEncryption
            case "1.2.840.10045.4.3.4":   // ecdsa-with-SHA512
            case "2.16.840.1.101.3.4.3.4": // dsa-with-sha512
                return "SHA512";
            case "1.2.840.113549.1.1.10": // RSASSA-PSS: hash is in the parameters
                return PssHash(cert) ?? "SHA256";
            default:
                return "SHA256"; // SHA-256 signatures, and MD5/SHA-1 are upgraded to SHA-256
        }
    }

    private static string? PssHash(X509Certificate2 cert)
    {
        try
        {
            // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm AlgorithmIdentifier, signature }
            var reader = new AsnReader(cert.RawData, AsnEncodingRules.DER);
            var certSeq = reader.ReadSequence();
            certSeq.ReadEncodedValue(); // tbsCertificate
            var algId = certSeq.ReadSequence();
            algId.ReadObjectIdentifier();
            if (!algId.HasData) return null;
            var pss = algId.ReadSequence(); // RSASSA-PSS-params
            if (!pss.HasData) return null; // default: SHA-1 -> upgraded to SHA-256
            var tag = new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true);
            if (!pss.PeekTag().HasSameClassAndValue(tag)) return null;
            var hashAlg = pss.ReadSequence(tag).ReadSequence();
            return hashAlg.ReadObjectIdentifier() switch
            {
                "2.16.840.1.101.3.4.2.2" => "SHA384",
                "2.16.840.1.101.3.4.2.3" => "SHA512",
                _ => null,
            };
        }
        catch (AsnContentException) { return null; }
    }

    // ---------------- tls-exporter via OpenSSL ----------------

    internal static readonly FieldInfo? SecurityContextField =
        typeof(SslStream).GetField("_securityContext", BindingFlags.NonPublic | BindingFlags.Instance);

    /// <summary>Exports keying material from the OpenSSL session behind <paramref name="stream"/>; null if impossible.</summary>
    internal static byte[]? TryExportKeyingMaterial(SslStream stream, string label, int length) =>
        WithSsl(stream, ssl =>
        {
            var output = new byte[length];
            return Export(ssl, output, Encoding.ASCII.GetBytes(label)) == 1 ? output : null;
        });

    /// <summary>
    /// Runs <paramref name="use"/> with the OpenSSL <c>SSL*</c> behind <paramref name="stream"/> (kept alive for the
    /// call); default when it cannot be reached (not Linux, runtime internals changed, stream closed).
    /// </summary>
    internal static T? WithSsl<T>(SslStream stream, Func<IntPtr, T?> use)
    {
        if (!OperatingSystem.IsLinux() || SecurityContextField is null) return default;
        try
        {
            var handle = FindSslHandle(SecurityContextField.GetValue(stream));
            if (handle is null || handle.IsInvalid || handle.IsClosed) return default;
            var added = false;
            try
            {
                handle.DangerousAddRef(ref added);
                var ssl = handle.DangerousGetHandle();
                return ssl == IntPtr.Zero ? default : use(ssl);
            }
            finally
            {
                if (added) handle.DangerousRelease();
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or TargetException
                                      or FieldAccessException or MethodAccessException or ObjectDisposedException
                                      or InvalidOperationException or ArgumentException)
        {
            return default;
        }
    }

    /// <summary>
    /// .NET 10 on Linux: SslStream._securityContext is a SafeSslHandle (derived from SafeDeleteSslContext) whose
    /// handle is the SSL*. Older layouts: SafeDeleteSslContext with an SslContext property / _sslContext field.
    /// </summary>
    internal static SafeHandle? FindSslHandle(object? ctx)
    {
        if (ctx is null) return null;
        var t = ctx.GetType();
        if (t.Name == "SafeSslHandle" && ctx is SafeHandle direct) return direct;
        const BindingFlags flags = BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Instance;
        if (t.GetProperty("SslContext", flags)?.GetValue(ctx) is SafeHandle viaProperty && viaProperty.GetType().Name == "SafeSslHandle")
            return viaProperty;
        if (t.GetField("_sslContext", flags)?.GetValue(ctx) is SafeHandle viaField && viaField.GetType().Name == "SafeSslHandle")
            return viaField;
        return null;
    }

    private static int Export(IntPtr ssl, byte[] output, byte[] label) => LoadedLibSsl.Value switch
    {
        // Call into the very libssl the runtime uses: an SSL* must never reach another OpenSSL version.
        "3" => Ssl3.SSL_export_keying_material(ssl, output, (nuint)output.Length, label, (nuint)label.Length, null, 0, 0),
        "1.1" => Ssl11.SSL_export_keying_material(ssl, output, (nuint)output.Length, label, (nuint)label.Length, null, 0, 0),
        _ => 0,
    };

    /// <summary>Which libssl is mapped into the process ("3", "1.1" or null), from /proc/self/maps.</summary>
    internal static readonly Lazy<string?> LoadedLibSsl = new(() =>
    {
        try
        {
            bool v3 = false, v11 = false;
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                if (line.Contains("/libssl.so.3", StringComparison.Ordinal)) v3 = true;
                else if (line.Contains("/libssl.so.1.1", StringComparison.Ordinal)) v11 = true;
            }
            return v3 && !v11 ? "3" : v11 && !v3 ? "1.1" : null;
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    });

    private static class Ssl3
    {
        [DllImport("libssl.so.3", CallingConvention = CallingConvention.Cdecl)]
        public static extern int SSL_export_keying_material(IntPtr ssl, [Out] byte[] output, nuint olen,
            byte[] label, nuint llen, byte[]? context, nuint contextlen, int useContext);
    }

    private static class Ssl11
    {
        [DllImport("libssl.so.1.1", CallingConvention = CallingConvention.Cdecl)]
        public static extern int SSL_export_keying_material(IntPtr ssl, [Out] byte[] output, nuint olen,
            byte[] label, nuint llen, byte[]? context, nuint contextlen, int useContext);
    }
}
