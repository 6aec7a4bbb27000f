using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Actors.Xmpp.Transport.Tls;

/// <summary>
/// The server's certificates: one or more, each with its chain, selected for a handshake by the name the client asked
/// for (TLS SNI, RFC 6066 §3) among the certificates' own DNS names (exact, then a wildcard of the parent), else the
/// first one. <see cref="Reload"/> swaps the whole set at once: handshakes that start afterwards get the new
/// certificates; established connections keep theirs (nothing is dropped).
/// <para>
/// Each certificate's <see cref="SslStreamCertificateContext"/> is built once, with the intermediates of its PEM file,
/// and shared by every connection. Why not <see cref="SslServerAuthenticationOptions.ServerCertificate"/>: given only a
/// certificate, SslStream builds a new context for every handshake — an X509Chain build, a copy of the certificate and
/// of its key handles, and SHA-512 thumbprints of the chain to find OpenSSL's SSL_CTX in the runtime's cache — and that
/// context lives as long as the connection. One context built up front is shared; the runtime then finds the same
/// SSL_CTX for every connection (and the intermediates given here are sent to clients that do not fetch them).
/// </para>
/// </summary>
public sealed class ServerCertificates
{
    private static readonly SslApplicationProtocol XmppClient = new("xmpp-client");

    private readonly Func<IReadOnlyList<ServerCertificate>> _load;
    private volatile Snapshot _current;

    /// <param name="load">Reads the certificates (at construction and at each <see cref="Reload"/>); throws when one
    /// cannot be read (at reload the old set is then kept).</param>
    public ServerCertificates(Func<IReadOnlyList<ServerCertificate>> load)
    {
        _load = load;
        _current = Build(load());
    }

    /// <summary>One certificate (tests, benchmarks).</summary>
    public static ServerCertificates Single(X509Certificate2 certificate) =>
        new(() => [new ServerCertificate(certificate, new X509Certificate2Collection())]);

    /// <summary>Every certificate of the current set, the default (no SNI, unknown name) first.</summary>
    public IReadOnlyList<ServerCertificate> All => _current.Certificates;

    /// <summary>The default certificate.</summary>
    public ServerCertificate Default => _current.Certificates[0];

    /// <summary>Reads the certificates again and uses them for the handshakes that start from now on. On failure
    /// the current ones stay and the exception propagates.</summary>
    public IReadOnlyList<ServerCertificate> Reload()
    {
        var next = Build(_load());
        _current = next;
        return next.Certificates;
    }

    /// <summary>The certificate for a client that asked for <paramref name="serverName"/> (null or empty: none).</summary>
    public ServerCertificate Select(string? serverName) => _current.Select(serverName);

    /// <summary>The TLS options of an XMPP handshake (ALPN xmpp-client, XEP-0368) for that name.</summary>
    public SslServerAuthenticationOptions XmppOptions(string? serverName) => _current.Select(serverName).XmppOptions;

    /// <summary>The selection callback of an XMPP handshake: SslStream calls it with the ClientHello.</summary>
    public static readonly ServerOptionsSelectionCallback SelectXmpp = static (_, hello, state, _) =>
        ValueTask.FromResult(((ServerCertificates)state!).XmppOptions(hello.ServerName));

    /// <summary>The TLS options of an HTTPS handshake (ALPN h2 and http/1.1) for that name.</summary>
    public SslServerAuthenticationOptions HttpOptions(string? serverName) => _current.Select(serverName).HttpOptions;

    private static Snapshot Build(IReadOnlyList<ServerCertificate> certificates)
    {
        if (certificates.Count == 0) throw new InvalidOperationException("no certificate");
        var exact = new Dictionary<string, ServerCertificate>(StringComparer.OrdinalIgnoreCase);
        var wildcard = new Dictionary<string, ServerCertificate>(StringComparer.OrdinalIgnoreCase);
        foreach (var c in certificates)
        {
            foreach (var name in c.DnsNames)
            {
                // the first certificate that names a host wins (the default first, then in configuration order)
                if (name.StartsWith("*.", StringComparison.Ordinal)) wildcard.TryAdd(name[2..], c);
                else exact.TryAdd(name, c);
            }
        }
        return new Snapshot(certificates, exact, wildcard);
    }

    private sealed class Snapshot(IReadOnlyList<ServerCertificate> certificates,
        Dictionary<string, ServerCertificate> exact, Dictionary<string, ServerCertificate> wildcard)
    {
        public IReadOnlyList<ServerCertificate> Certificates { get; } = certificates;

        private readonly Dictionary<string, ServerCertificate>.AlternateLookup<ReadOnlySpan<char>> _exact =
            exact.GetAlternateLookup<ReadOnlySpan<char>>();
        private readonly Dictionary<string, ServerCertificate>.AlternateLookup<ReadOnlySpan<char>> _wildcard =
            wildcard.GetAlternateLookup<ReadOnlySpan<char>>();

        public ServerCertificate Select(string? serverName)
        {
            if (string.IsNullOrEmpty(serverName) || Certificates.Count == 1) return Certificates[0];
            var name = serverName.AsSpan();
            if (name.EndsWith('.')) name = name[..^1];
            if (_exact.TryGetValue(name, out var c)) return c;
            // a wildcard covers exactly one label (RFC 6125 §6.4.3)
            var dot = name.IndexOf('.');
            if (dot > 0 && _wildcard.TryGetValue(name[(dot + 1)..], out c)) return c;
            return Certificates[0];
        }
    }

    /// <summary>One certificate with its intermediates, and the TLS options built from them.</summary>
    public sealed class ServerCertificate
    {
        public ServerCertificate(X509Certificate2 leaf, X509Certificate2Collection intermediates, string? source = null)
        {
            Leaf = leaf;
            Intermediates = intermediates;
            Source = source;
            // offline: the chain is what the file holds (an operator's fullchain.pem); nothing is fetched at start
            Context = SslStreamCertificateContext.Create(leaf, intermediates, offline: true);
            DnsNames = ReadDnsNames(leaf);
            XmppOptions = new SslServerAuthenticationOptions
            {
                ServerCertificateContext = Context,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                ClientCertificateRequired = false,
                AllowRenegotiation = false,
                ApplicationProtocols = [XmppClient],
            };
            HttpOptions = new SslServerAuthenticationOptions
            {
                ServerCertificateContext = Context,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                ClientCertificateRequired = false,
                AllowRenegotiation = false,
                ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
            };
        }

        public X509Certificate2 Leaf { get; }
        public X509Certificate2Collection Intermediates { get; }
        /// <summary>The file it was read from (null: generated or given in code).</summary>
        public string? Source { get; }
        public SslStreamCertificateContext Context { get; }
        /// <summary>The DNS names of the subject alternative name extension (the common name when there is none).</summary>
        public IReadOnlyList<string> DnsNames { get; }
        internal SslServerAuthenticationOptions XmppOptions { get; }
        internal SslServerAuthenticationOptions HttpOptions { get; }

        private static string[] ReadDnsNames(X509Certificate2 certificate)
        {
            var names = new List<string>();
            foreach (var extension in certificate.Extensions)
                if (extension is X509SubjectAlternativeNameExtension san)
                    names.AddRange(san.EnumerateDnsNames());
            if (names.Count == 0 && certificate.GetNameInfo(X509NameType.DnsName, forIssuer: false) is { Length: > 0 } cn)
                names.Add(cn);
            return names.ToArray();
        }
    }
}
