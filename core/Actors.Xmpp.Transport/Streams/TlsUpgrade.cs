using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Actors.Xmpp.Transport.Tls;

namespace Actors.Xmpp.Transport.Streams;

/// <summary>
/// One TLS handshake of a link (<see cref="StreamLink.StartTls"/>), as the client (the initiating server, with its own
/// certificate for XEP-0178) or as the server (requesting the peer's certificate, which it may not have). The peer's
/// certificate is accepted whatever it is during the handshake and kept, with the intermediates it sent, in
/// <see cref="PeerCertificate"/> and <see cref="PeerIntermediates"/>: whether it is valid for the peer's domain is the
/// owner's decision, afterwards (RFC 6125), because a server that cannot verify it falls back to dialback (XEP-0344)
/// instead of failing the handshake. Read the results only after the owner was told that TLS is established.
/// </summary>
public sealed class TlsUpgrade
{
    /// <summary>ALPN of server-to-server streams (XEP-0368 §3).</summary>
    public static readonly SslApplicationProtocol XmppServer = new("xmpp-server");

    private readonly Func<SslStream, TlsUpgrade, Task> _authenticate;

    private TlsUpgrade(TimeSpan timeout, Func<SslStream, TlsUpgrade, Task> authenticate)
    {
        Timeout = timeout;
        _authenticate = authenticate;
    }

    public TimeSpan Timeout { get; }

    /// <summary>The peer's certificate (null: it sent none).</summary>
    public X509Certificate2? PeerCertificate { get; private set; }

    /// <summary>The other certificates the peer sent with it (its intermediates).</summary>
    public X509Certificate2Collection PeerIntermediates { get; } = new();

    /// <summary>As the server: the name the peer asked for (SNI, RFC 6066 §3), or null.</summary>
    public string? RequestedServerName { get; private set; }

    /// <summary>The initiating side: SNI <paramref name="targetHost"/> (the remote domain, RFC 6120 §13.7.2.1),
    /// ALPN xmpp-server, and <paramref name="clientCertificate"/> offered for SASL EXTERNAL (XEP-0178).</summary>
    public static TlsUpgrade AsClient(string targetHost, SslStreamCertificateContext? clientCertificate, TimeSpan timeout)
    {
        return new TlsUpgrade(timeout, (tls, self) => tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = targetHost,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            ApplicationProtocols = [XmppServer],
            ClientCertificateContext = clientCertificate,
            AllowRenegotiation = false,
            RemoteCertificateValidationCallback = self.Keep,
        }));
    }

    /// <summary>The receiving side: the certificate of <paramref name="certificates"/> for the name the peer asked for,
    /// ALPN xmpp-server, and the peer's certificate requested (not required: a peer without one uses dialback).</summary>
    public static TlsUpgrade AsServer(ServerCertificates certificates, TimeSpan timeout)
    {
        return new TlsUpgrade(timeout, (tls, self) => tls.AuthenticateAsServerAsync(static (_, hello, state, _) =>
        {
            var self = (TlsUpgrade)state!;
            self.RequestedServerName = string.IsNullOrEmpty(hello.ServerName) ? null : hello.ServerName;
            return ValueTask.FromResult(self._serverOptions!(hello.ServerName));
        }, self, CancellationToken.None)).WithServerOptions(name => new SslServerAuthenticationOptions
        {
            ServerCertificateContext = certificates.Select(name).Context,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            ClientCertificateRequired = true,
            AllowRenegotiation = false,
            ApplicationProtocols = [XmppServer],
        });
    }

    private Func<string?, SslServerAuthenticationOptions>? _serverOptions;

    private TlsUpgrade WithServerOptions(Func<string?, SslServerAuthenticationOptions> options)
    {
        _serverOptions = name =>
        {
            var o = options(name);
            o.RemoteCertificateValidationCallback = Keep;
            return o;
        };
        return this;
    }

    internal Task AuthenticateAsync(SslStream tls) => _authenticate(tls, this);

    /// <summary>Keeps the peer's certificate and the intermediates it sent; the handshake goes on whatever they are.</summary>
    private bool Keep(object sender, System.Security.Cryptography.X509Certificates.X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null) return true;
        // copies: the handshake's own objects are disposed with the chain and the stream
        PeerCertificate = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        if (chain is not null)
            foreach (var extra in chain.ChainPolicy.ExtraStore)
                if (!extra.RawDataMemory.Span.SequenceEqual(PeerCertificate.RawDataMemory.Span))
                    PeerIntermediates.Add(X509CertificateLoader.LoadCertificate(extra.RawDataMemory.Span));
        return true;
    }
}
