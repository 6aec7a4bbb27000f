using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Actors.Xmpp.Transport.Tls;

/// <summary>
/// The server-side TLS options, built once per certificate and shared by every connection (SslStream copies what it
/// needs from them when a handshake starts and changes nothing in them).
/// <para>
/// Why not <see cref="SslServerAuthenticationOptions.ServerCertificate"/>: given only a certificate, SslStream builds a
/// new <see cref="SslStreamCertificateContext"/> for every handshake — an X509Chain build, a copy of the certificate
/// and of its key handles, and SHA-512 thumbprints of the chain to find OpenSSL's SSL_CTX in the runtime's cache —
/// and that context lives as long as the connection. One context built up front is shared; the runtime then finds
/// the same SSL_CTX for every connection.
/// </para>
/// </summary>
internal static class ServerTlsOptions
{
    private static readonly SslApplicationProtocol XmppClient = new("xmpp-client");
    private static readonly ConditionalWeakTable<X509Certificate2, SslServerAuthenticationOptions> ByCertificate = new();

    public static SslServerAuthenticationOptions For(X509Certificate2 certificate) =>
        ByCertificate.GetValue(certificate, static cert => new SslServerAuthenticationOptions
        {
            // offline: false as SslStream does for a bare certificate (missing intermediates may be fetched)
            ServerCertificateContext = SslStreamCertificateContext.Create(cert, additionalCertificates: null, offline: false),
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            ClientCertificateRequired = false,
            AllowRenegotiation = false,
            ApplicationProtocols = [XmppClient],
        });
}
