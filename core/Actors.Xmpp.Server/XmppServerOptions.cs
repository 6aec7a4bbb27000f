namespace Actors.Xmpp.Server;

/// <summary>The "Xmpp" configuration section (appsettings.json, XMPP__* environment variables, --Xmpp:Key=value).</summary>
public sealed partial class XmppServerOptions
{
    public const string Section = "Xmpp";

    /// <summary>The domain served. More domains can be added with <see cref="Domains"/>.</summary>
    public string Domain { get; set; } = "localhost";
    public List<string> Domains { get; set; } = new();
    public string BindAddress { get; set; } = "127.0.0.1";
    /// <summary>Client-to-server port with STARTTLS (RFC 6120). 0 picks a free port.</summary>
    public int C2sPort { get; set; } = 5222;
    /// <summary>Client-to-server port with TLS from the first byte (XEP-0368). -1 disables it.</summary>
    public int DirectTlsPort { get; set; } = 5223;
    public string DataDir { get; set; } = "data";
    /// <summary>Log lines on standard output: "plain" (one line each, date and time in UTC first) or "json" (one JSON
    /// object a line: Timestamp in UTC, EventId, LogLevel, Category, Message, State), for a log shipper.</summary>
    public string LogFormat { get; set; } = LogFormats.Plain;

    public static class LogFormats
    {
        public const string Plain = "plain";
        public const string Json = "json";
        /// <summary>ISO 8601 in UTC, to the millisecond (both formats).</summary>
        public const string Timestamp = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";
    }
    public TlsSettings Tls { get; set; } = new();
    public LimitSettings Limits { get; set; } = new();
    public AuthSettings Auth { get; set; } = new();
    public UserSettings Users { get; set; } = new();
    public MemorySettings Memory { get; set; } = new();
    public SessionSettings Sessions { get; set; } = new();
    public HttpSettings Http { get; set; } = new();
    public ComponentSettings Components { get; set; } = new();
    public MetricsSettings Metrics { get; set; } = new();
    public TracingSettings Tracing { get; set; } = new();
    public S2sSettings S2s { get; set; } = new();

    /// <summary>Refuses settings that would weaken security off loopback (a clear message for the operator).</summary>
    public void Validate()
    {
        if (!System.Net.IPAddress.TryParse(BindAddress, out var address))
            throw new InvalidOperationException($"Xmpp:BindAddress '{BindAddress}' is not an IP address");
        if (Auth.AllowPlainWithoutTls && !System.Net.IPAddress.IsLoopback(address))
            throw new InvalidOperationException(
                "Xmpp:Auth:AllowPlainWithoutTls sends passwords in clear text and is only allowed on a loopback Xmpp:BindAddress (benchmarks, tests)");
        if (!string.IsNullOrEmpty(Http.BindAddress) && !System.Net.IPAddress.TryParse(Http.BindAddress, out _))
            throw new InvalidOperationException($"Xmpp:Http:BindAddress '{Http.BindAddress}' is not an IP address");
        foreach (var proxy in Http.TrustedProxies)
            if (!System.Net.IPAddress.TryParse(proxy, out _))
                throw new InvalidOperationException($"Xmpp:Http:TrustedProxies: '{proxy}' is not an IP address");
        Tracing.Validate();
        if (LogFormat is not (LogFormats.Plain or LogFormats.Json))
            throw new InvalidOperationException($"Xmpp:LogFormat '{LogFormat}' is neither '{LogFormats.Plain}' nor '{LogFormats.Json}'");
        foreach (var path in new[] { Http.WebSocketPath, Http.BoshPath, Http.Admin.Path })
            if (!path.StartsWith('/'))
                throw new InvalidOperationException($"Xmpp:Http paths must start with '/' (got '{path}')");
        if (Http.Admin.Enabled && Http.Port < 0 && Http.TlsPort < 0)
            throw new InvalidOperationException("Xmpp:Http:Admin:Enabled serves the page on the HTTP listeners: set Xmpp:Http:Port or Xmpp:Http:TlsPort");
        if (Http.Admin.Path.Length < 2 || Http.Admin.Path.EndsWith('/'))
            throw new InvalidOperationException($"Xmpp:Http:Admin:Path '{Http.Admin.Path}' must name a folder without a trailing '/'");
    }

    public IReadOnlyList<string> AllDomains()
    {
        var list = new List<string>();
        foreach (var d in Domains.Prepend(Domain))
        {
            var n = Jid.NormalizeDomain(d) ?? throw new InvalidOperationException($"Xmpp:Domain '{d}' is not a valid domain");
            if (!list.Contains(n)) list.Add(n);
        }
        return list;
    }

    public sealed class TlsSettings
    {
        /// <summary>STARTTLS is required before SASL (RFC 6120 §5). Turn off only for tests and benchmarks on loopback.</summary>
        public bool Required { get; set; } = true;
        /// <summary>PEM certificate (chain) file; with <see cref="KeyPath"/>. Empty: a self-signed certificate in the data folder.</summary>
        public string? CertificatePath { get; set; }
        /// <summary>The private key's PEM file. Empty: the key is in <see cref="CertificatePath"/>.</summary>
        public string? KeyPath { get; set; }
        /// <summary>More certificates (other domains), selected by the name the client asks for (SNI) among each
        /// certificate's own names; <see cref="CertificatePath"/> is the default for clients that name none.</summary>
        public List<CertificateFiles> Certificates { get; set; } = new();
        /// <summary>Reload the certificates when their files change (certbot renewals); connections stay up.</summary>
        public bool WatchFiles { get; set; } = true;
        /// <summary>PEM files of the authorities (a device CA) whose client certificates log in with SASL EXTERNAL
        /// (XEP-0178): with any, client TLS handshakes ask for a certificate (not required) and one that chains to these
        /// and names an account (id-on-xmppAddr) is offered EXTERNAL. Empty: no client certificates.</summary>
        public List<string> ClientCertificateAuthorities { get; set; } = new();
    }

    public sealed class CertificateFiles
    {
        /// <summary>PEM certificate file, the leaf first then its intermediates (certbot's fullchain.pem).</summary>
        public string? CertificatePath { get; set; }
        /// <summary>The private key's PEM file. Empty: the key is in <see cref="CertificatePath"/>.</summary>
        public string? KeyPath { get; set; }
    }

    public sealed class LimitSettings
    {
        public int MaxStanzaBytes { get; set; } = 256 * 1024;
        /// <summary>The stanza limit until the stream is authenticated (XEP-0205 §2: an unauthenticated client gets less).</summary>
        public int MaxStanzaBytesBeforeAuthentication { get; set; } = 16 * 1024;
        public int MaxDepth { get; set; } = 64;
        /// <summary>Attributes on one element, namespace declarations included (more: &lt;policy-violation/&gt;).</summary>
        public int MaxAttributesPerElement { get; set; } = 64;
        /// <summary>Child elements of one element (more: &lt;policy-violation/&gt;).</summary>
        public int MaxChildrenPerElement { get; set; } = 1024;
        /// <summary>Elements in one stanza (more: &lt;policy-violation/&gt;): a stanza of empty elements costs many times
        /// its bytes in objects.</summary>
        public int MaxElementsPerStanza { get; set; } = 4096;
        /// <summary>Seconds a stanza may take to arrive once its first byte did (slowloris: one byte at a time would hold a
        /// partial stanza forever); past it, &lt;policy-violation/&gt;. 0: no deadline.</summary>
        public int StanzaDeadlineSeconds { get; set; } = 30;
        public int MaxConnections { get; set; } = 100_000;
        /// <summary>Client connections open at once from one address (an IPv6 /64 counts as one); more are refused with
        /// &lt;policy-violation/&gt;. 0: no cap.</summary>
        public int MaxConnectionsPerAddress { get; set; } = 100;
        /// <summary>New client connections per second one address (IPv6 /64) may open on average; 0: no cap.</summary>
        public double NewConnectionsPerSecondPerAddress { get; set; } = 5;
        /// <summary>New client connections one address may open at once before <see cref="NewConnectionsPerSecondPerAddress"/> applies.</summary>
        public int NewConnectionsBurstPerAddress { get; set; } = 30;
        /// <summary>Per-address caps (connections, connection rate, concurrent SASL exchanges, login attempts counted from
        /// &lt;auth/&gt;) do not apply to loopback addresses: local load tests and a reverse proxy on the same host. Their
        /// failed logins still count when they fail.</summary>
        public bool ExemptLoopback { get; set; } = true;
        /// <summary>Bytes per second the server reads from one client connection (TCP, WebSocket), on average, after
        /// <see cref="ClientBurstBytes"/>: a shaper in the manner of ejabberd's (3,000 B/s by default there) and Prosody's
        /// mod_limits (10 KiB/s in its packaged configuration, this default). A client over it is read later, not
        /// dropped. Loopback clients are not shaped unless <see cref="ExemptLoopback"/> is off. 0: not shaped.</summary>
        public int ClientBytesPerSecond { get; set; } = 10 * 1024;
        /// <summary>Bytes a client connection may send at once before <see cref="ClientBytesPerSecond"/> applies (at least a
        /// whole stanza of <see cref="MaxStanzaBytes"/>).</summary>
        public int ClientBurstBytes { get; set; } = 512 * 1024;
        /// <summary>Stanzas per second the server takes from one client connection, on average, after
        /// <see cref="ClientBurstStanzas"/> (the same shaper: a client over it is read later). 0: not shaped. (A flooding
        /// client got 271 messages/s through at 200/s after a burst of 1,000, against Prosody's 73 and ejabberd's 30:
        /// docs/reliability.md, "Hostile clients".)</summary>
        public int ClientStanzasPerSecond { get; set; } = 50;
        /// <summary>Stanzas a client connection may send at once before <see cref="ClientStanzasPerSecond"/> applies (a
        /// client's login and catch-up, roster, disco, carbons, archive and bookmarks queries, are a few dozen).</summary>
        public int ClientBurstStanzas { get; set; } = 200;
        /// <summary>Account classes with their own shaper (ejabberd's shaper rules by ACL): by name, rates (0: not shaped)
        /// and members (bare JIDs or domains). A connection is shaped by the client rates above until it authenticates,
        /// then by its account's class: a bare JID listed wins over a domain listed; an account in no class keeps the
        /// client rates.</summary>
        public Dictionary<string, AccountClassOptions> AccountClasses { get; set; } = new(StringComparer.Ordinal);
        /// <summary>Resources bound at once per account; one more bind is refused with &lt;resource-constraint/&gt;
        /// (RFC 6120 §7.6.2.1). 0: no cap.</summary>
        public int MaxResourcesPerAccount { get; set; } = 32;
        /// <summary>Items a roster may hold; a roster set adding one more gets &lt;not-allowed/&gt; (RFC 6121 §2.3.3). 0: no cap.</summary>
        public int MaxRosterItems { get; set; } = 5000;
        /// <summary>Entities one session may send directed presence to (RFC 6121 §4.6, each owed an unavailable presence
        /// at the session's end); one more gets &lt;resource-constraint/&gt;. 0: no cap.</summary>
        public int MaxDirectedPresenceTargets { get; set; } = 1000;
        /// <summary>IQ requests one client (full JID) may have under way at once in the server's handlers that answer
        /// later (roster sets, plugin stores); one more gets &lt;resource-constraint/&gt; type wait (RFC 6120 §8.3.3.18)
        /// rather than queueing without bound in the account's actor. 0: no cap.</summary>
        public int MaxPendingIqsPerSession { get; set; } = 1000;
        /// <summary>Bytes (UTF-8, keys and values) each plugin store of an account may hold (its vCard, private XML,
        /// blocklist, PubSub subscriptions, offline messages: one cap per store). A write past it is refused, and the request
        /// answered &lt;not-acceptable/&gt;; an offline message past it is handled as when the mailbox is full. 0: no cap.</summary>
        public long MaxAccountStoreBytes { get; set; } = 4 * 1024 * 1024;
        public int ListenBacklog { get; set; } = 4096;
        /// <summary>Bytes queued to a client that takes nothing for <see cref="OutboundStallSeconds"/> before it is
        /// dropped (at four times this whatever it does); past a quarter of it the server stops reading from that
        /// client until it catches up.</summary>
        public int MaxOutboundBytes { get; set; } = 4 * 1024 * 1024;
        /// <summary>Seconds a client with more than <see cref="MaxOutboundBytes"/> waiting may take nothing before it
        /// is dropped.</summary>
        public int OutboundStallSeconds { get; set; } = 5;
        /// <summary>Seconds a connection may take from connect to bound resource.</summary>
        public int NegotiationTimeoutSeconds { get; set; } = 60;
        /// <summary>Seconds a connection may take from connect to authenticated (SASL success); past it,
        /// &lt;connection-timeout/&gt;. Shorter than <see cref="NegotiationTimeoutSeconds"/>: an unauthenticated connection
        /// costs the server and proves nothing.</summary>
        public int AuthenticationTimeoutSeconds { get; set; } = 30;
        /// <summary>Seconds without any byte from the client before the server closes with &lt;connection-timeout/&gt;.</summary>
        public int IdleTimeoutSeconds { get; set; } = 600;
        /// <summary>Seconds without any byte to the client before the server writes a whitespace keep-alive (RFC 6120
        /// §4.6.1). 0 (the default) writes none: dead peers are found by TCP keep-alive (<see cref="TcpKeepAliveSeconds"/>),
        /// which costs the server process nothing. Turn it on for clients behind proxies that end TCP (so that the
        /// kernel's probes do not reach them) and drop connections that carry no data.</summary>
        public int KeepAliveSeconds { get; set; }
        /// <summary>Seconds without any packet from the client before the kernel probes it (TCP keep-alive on every
        /// accepted connection). 0 disables TCP keep-alive.</summary>
        public int TcpKeepAliveSeconds { get; set; } = 60;
        /// <summary>Seconds between TCP keep-alive probes once the first went unanswered.</summary>
        public int TcpKeepAliveIntervalSeconds { get; set; } = 15;
        /// <summary>Unanswered TCP keep-alive probes after which the connection is dropped as dead (with the defaults:
        /// two minutes after the client's last packet).</summary>
        public int TcpKeepAliveProbes { get; set; } = 4;
    }

    /// <summary>One account class of <see cref="LimitSettings.AccountClasses"/>: its shaper and who is in it.</summary>
    public sealed class AccountClassOptions
    {
        /// <summary>Bytes per second read from a connection of a member; 0: not shaped.</summary>
        public int BytesPerSecond { get; set; }
        /// <summary>Bytes a member's connection may send at once before <see cref="BytesPerSecond"/> applies.</summary>
        public int BurstBytes { get; set; } = 512 * 1024;
        /// <summary>Stanzas per second taken from a connection of a member; 0: not shaped.</summary>
        public int StanzasPerSecond { get; set; }
        /// <summary>Stanzas a member's connection may send at once before <see cref="StanzasPerSecond"/> applies.</summary>
        public int BurstStanzas { get; set; } = 1000;
        /// <summary>Bare JIDs (alice@example.com) and domains (sensors.example.com: every account of it) in this class.</summary>
        public List<string> Members { get; set; } = [];
    }

    /// <summary>XEP-0114 external components: <c>Xmpp:Components:Port</c> and, per component domain,
    /// <c>Xmpp:Components:&lt;domain&gt;:Secret</c> (read by <see cref="ReadComponentDomains"/>).</summary>
    public sealed class ComponentSettings
    {
        /// <summary>The component listener's port (jabber:component:accept). -1 (the default) disables it; 0 picks a free port.</summary>
        public int Port { get; set; } = -1;
        /// <summary>Component domain → shared secret.</summary>
        public Dictionary<string, string> Secrets { get; set; } = new(StringComparer.Ordinal);
    }

    /// <summary>Server-to-server federation (RFC 6120): <c>Xmpp:S2s:Port</c> and the routes to peers.</summary>
    public sealed class S2sSettings
    {
        /// <summary>The listening server-to-server port (jabber:server, RFC 6120 default 5269). -1 (the default) turns
        /// federation off: stanzas to other domains are answered &lt;remote-server-not-found/&gt;; 0 picks a free port.</summary>
        public int Port { get; set; } = -1;
        /// <summary>Static routes, remote domain → host:port, asked before DNS (tests, private networks).</summary>
        public Dictionary<string, string> Routes { get; set; } = new(StringComparer.Ordinal);
        /// <summary>Look peers up with DNS SRV (_xmpps-server._tcp, _xmpp-server._tcp) and A/AAAA (RFC 6120 §3.2) when
        /// no static route names them. Off: only static routes are reached.</summary>
        public bool UseDns { get; set; } = true;
        /// <summary>Stanzas an outbound link queues while it connects and authenticates; one more is bounced with
        /// &lt;remote-server-timeout/&gt;.</summary>
        public int MaxQueuedStanzas { get; set; } = 1000;
        /// <summary>Seconds an outbound link may take from resolution to authenticated; then its queue is bounced with
        /// &lt;remote-server-timeout/&gt;. Also the time an inbound stream has to authenticate.</summary>
        public int ConnectTimeoutSeconds { get; set; } = 30;
        /// <summary>Seconds without a stanza after which a link (either direction) closes its stream.</summary>
        public int IdleTimeoutSeconds { get; set; } = 600;
        /// <summary>XEP-0199 §4.2: an authenticated outbound link that has heard nothing from its peer for this many
        /// seconds sends it a ping (an IQ get from this domain to the peer's); 0 turns pings off.</summary>
        public int PingIntervalSeconds { get; set; } = 120;
        /// <summary>Seconds a ping may go unanswered (a result or an error both count as an answer); then the peer is
        /// taken for dead and the link closes with &lt;connection-timeout/&gt; (RFC 6120 §4.9.3.4).</summary>
        public int PingTimeoutSeconds { get; set; } = 30;
        /// <summary>Inbound server-to-server connections open at once; past that the listener stops accepting.</summary>
        public int MaxInboundStreams { get; set; } = 512;
        /// <summary>STARTTLS is mandatory on s2s streams (RFC 6120 §5.3.1): inbound streams offer it as
        /// &lt;required/&gt; and close with &lt;policy-violation/&gt; a peer that goes on without it; outbound streams
        /// give up on a peer that does not offer it. Off: TLS is offered and used when the peer offers it.</summary>
        public bool RequireTls { get; set; } = true;
        /// <summary>PEM files of certificates trusted, besides the system's roots, to verify peers' certificates
        /// (a private CA, or a peer's self-signed certificate). A peer whose certificate verifies for its domain may
        /// use SASL EXTERNAL (XEP-0178); any other authenticates with dialback over TLS (XEP-0344).</summary>
        public List<string> TrustedCertificates { get; set; } = new();
        /// <summary>The XEP-0368 direct TLS s2s port (TLS from the first byte, ALPN xmpp-server); -1 (default): none.</summary>
        public int TlsPort { get; set; } = -1;
        /// <summary>XEP-0288 bidirectional streams (default on): inbound streams offer &lt;bidi/&gt; and, when the peer asks
        /// for it, carry this server's stanzas back to the domains authenticated on them (no second connection); outbound
        /// streams ask for it when the peer offers it and then take the peer's stanzas too. Off: one direction per stream.</summary>
        public bool Bidi { get; set; } = true;
        /// <summary>Bytes per second read from one inbound server-to-server stream, on average, after
        /// <see cref="InboundBurstBytes"/> (ejabberd's default <c>s2s_shaper</c>, 'fast', is 200,000 B/s; Prosody's
        /// packaged <c>s2sin</c> 30 KiB/s): a peer over it is read later, not dropped. Peers on loopback are not shaped
        /// while Xmpp:Limits:ExemptLoopback is on. 0: not shaped.</summary>
        public int InboundBytesPerSecond { get; set; } = 200_000;
        /// <summary>Bytes an inbound stream may send at once before <see cref="InboundBytesPerSecond"/> applies (at least a
        /// whole stanza of Xmpp:Limits:MaxStanzaBytes).</summary>
        public int InboundBurstBytes { get; set; } = 1024 * 1024;
        /// <summary>Stanzas per second taken from one inbound stream after <see cref="InboundBurstStanzas"/>. 0 (the
        /// default): not shaped by count.</summary>
        public int InboundStanzasPerSecond { get; set; }
        /// <summary>Stanzas an inbound stream may send at once before <see cref="InboundStanzasPerSecond"/> applies.</summary>
        public int InboundBurstStanzas { get; set; } = 1000;
    }

    /// <summary>Reads the <c>Xmpp:Components:&lt;domain&gt;:Secret</c> keys of <paramref name="components"/> (the
    /// "Xmpp:Components" section) into <see cref="ComponentSettings.Secrets"/>, by normalized domain. A component domain
    /// must not be one this server serves.</summary>
    public void ReadComponentDomains(Microsoft.Extensions.Configuration.IConfigurationSection components)
    {
        var served = AllDomains();
        foreach (var child in components.GetChildren())
        {
            if (child.Key == nameof(ComponentSettings.Port) || child.Key == nameof(ComponentSettings.Secrets)) continue;
            var secret = child["Secret"];
            if (secret is null) continue;
            var domain = Jid.NormalizeDomain(child.Key) ?? throw new InvalidOperationException($"Xmpp:Components:{child.Key} is not a valid domain");
            if (served.Contains(domain)) throw new InvalidOperationException($"Xmpp:Components:{child.Key} is a domain this server serves");
            if (secret.Length == 0) throw new InvalidOperationException($"Xmpp:Components:{child.Key}:Secret is empty");
            Components.Secrets[domain] = secret;
        }
    }

    /// <summary>Sessions that outlive their connection (the lifecycle in docs/architecture.md).</summary>
    public sealed class SessionSettings
    {
        /// <summary>Seconds a session whose connection was lost stays detached, waiting to be attached to a new
        /// connection (what XEP-0198 resumption needs), before it is closed. 0 (the default) closes it at once.</summary>
        public int ResumptionWindowSeconds { get; set; }
        /// <summary>Stanzas a detached session keeps for its next connection, and, with XEP-0198, stanzas a session
        /// keeps unacknowledged; one more closes it.</summary>
        public int MaxDetachedStanzas { get; set; } = 500;
        /// <summary>XEP-0198: the longest a session that enabled stream resumption waits detached for it (the 'max' of
        /// &lt;enabled/&gt;; a client's shorter 'max' wins). 0: resumption is not offered (acknowledgements still are).</summary>
        public int StreamResumptionSeconds { get; set; } = 300;
        /// <summary>XEP-0198 §3: the host (or host:port) clients should reconnect to for resumption, sent as
        /// &lt;enabled location='…'/&gt;; empty: none (reconnect as usual).</summary>
        public string? ResumeLocation { get; set; }
    }

    /// <summary>The HTTP host (Kestrel): XMPP over WebSocket (RFC 7395), BOSH (XEP-0206) and XEP-0156 discovery
    /// (/.well-known/host-meta, host-meta.json). Off unless a port is set.</summary>
    public sealed class HttpSettings
    {
        /// <summary>Plain HTTP port (ws:, http:). -1 (the default) disables it; 0 picks a free port.</summary>
        public int Port { get; set; } = -1;
        /// <summary>HTTPS port (wss:, https:) with the certificate of the client listeners. -1 (the default) disables it.</summary>
        public int TlsPort { get; set; } = -1;
        /// <summary>Address of the HTTP listeners; empty: <see cref="XmppServerOptions.BindAddress"/>.</summary>
        public string? BindAddress { get; set; }
        public string WebSocketPath { get; set; } = "/xmpp-websocket";
        public string BoshPath { get; set; } = "/http-bind";
        /// <summary>Addresses of TLS-terminating reverse proxies. A request from one of them counts as secure (unless
        /// its X-Forwarded-Proto says http), its X-Forwarded-For names the client and its X-Forwarded-Host and
        /// X-Forwarded-Proto the public URL. Forwarded headers from any other address are ignored. Empty by default.</summary>
        public List<string> TrustedProxies { get; set; } = new();
        /// <summary>When set, every WebSocket stream is answered with &lt;close see-other-uri='...'/&gt; (RFC 7395
        /// §3.6.1): the client is sent to that endpoint.</summary>
        public string? SeeOtherUri { get; set; }
        /// <summary>The public base URL (https://chat.example.org) host-meta lists the endpoints under; empty: the
        /// scheme and Host of each request (the forwarded ones behind a trusted proxy).</summary>
        public string? PublicUrl { get; set; }
        public BoshSettings Bosh { get; set; } = new();
        /// <summary>The web admin page (Http/Admin/WebAdmin) under <see cref="AdminSettings.Path"/> on these listeners.</summary>
        public AdminSettings Admin { get; set; } = new();
    }

    /// <summary>The web admin page: sign-in with an XMPP account among the administrators (Xmpp:Plugins:admin:Admins).</summary>
    public sealed class AdminSettings
    {
        /// <summary>Off by default: the page is served only when the operator turns it on.</summary>
        public bool Enabled { get; set; }
        /// <summary>Where it is served on the HTTP listeners.</summary>
        public string Path { get; set; } = "/admin";
    }

    /// <summary>The operator's HTTP endpoint: Prometheus metrics and health checks, apart from the public HTTP host
    /// (bound to loopback by default), and the OTLP export.</summary>
    public sealed class MetricsSettings
    {
        /// <summary>Port of the metrics and health endpoint. -1 (the default) disables it; 0 picks a free port.</summary>
        public int Port { get; set; } = -1;
        /// <summary>Its address: loopback unless the operator exposes it (to a scraper on another host).</summary>
        public string BindAddress { get; set; } = "127.0.0.1";
        /// <summary>The Prometheus scrape path.</summary>
        public string Path { get; set; } = "/metrics";
        /// <summary>When set (http://collector:4317), metrics are also pushed with OTLP to that collector.</summary>
        public string? OtlpEndpoint { get; set; }
    }

    /// <summary>Traces of stanzas' paths across actors (Diagnostics/XmppTracing), exported with OpenTelemetry's OTLP.</summary>
    public sealed class TracingSettings
    {
        public const string Grpc = "grpc";
        public const string HttpProtobuf = "http/protobuf";

        /// <summary>When set (http://collector:4317 for gRPC, http://collector:4318/v1/traces for HTTP), traces are
        /// recorded and pushed there with OTLP. Empty (the default): no span is made.</summary>
        public string? OtlpEndpoint { get; set; }
        /// <summary>The OTLP transport: "grpc" (the default) or "http/protobuf".</summary>
        public string OtlpProtocol { get; set; } = Grpc;
        /// <summary>Share of new traces recorded (0 to 1); a trace begun on another node follows that node's choice.</summary>
        public double SampleRatio { get; set; } = 1.0;

        public bool Enabled => !string.IsNullOrWhiteSpace(OtlpEndpoint);

        public void Validate()
        {
            if (!Enabled) return;
            if (!Uri.TryCreate(OtlpEndpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                throw new InvalidOperationException($"Xmpp:Tracing:OtlpEndpoint '{OtlpEndpoint}' is not an http(s) URL");
            if (OtlpProtocol is not (Grpc or HttpProtobuf))
                throw new InvalidOperationException($"Xmpp:Tracing:OtlpProtocol '{OtlpProtocol}' is neither '{Grpc}' nor '{HttpProtobuf}'");
            if (!(SampleRatio >= 0 && SampleRatio <= 1))
                throw new InvalidOperationException($"Xmpp:Tracing:SampleRatio {SampleRatio} is not between 0 and 1");
        }
    }

    /// <summary>XEP-0124 session limits the server announces and enforces.</summary>
    public sealed class BoshSettings
    {
        /// <summary>Longest 'wait' granted (seconds a request may be held for lack of data).</summary>
        public int MaxWaitSeconds { get; set; } = 60;
        /// <summary>'inactivity': seconds with no request held before the session ends.</summary>
        public int InactivitySeconds { get; set; } = 60;
        /// <summary>'maxpause': longest pause a client may ask for (seconds).</summary>
        public int MaxPauseSeconds { get; set; } = 120;
        /// <summary>'polling': shortest interval between two empty requests when no request is held (seconds).</summary>
        public int PollingSeconds { get; set; } = 2;
        /// <summary>Upper bound of 'requests' (simultaneous requests); the session gets min(hold + 1, this).</summary>
        public int MaxRequests { get; set; } = 2;
        /// <summary>Upper bound of 'hold' (requests the server may keep waiting).</summary>
        public int MaxHold { get; set; } = 1;
    }

    public sealed class AuthSettings
    {
        /// <summary>SASL PLAIN on a stream without TLS. Never the default; for load tests on loopback only.</summary>
        public bool AllowPlainWithoutTls { get; set; }
        public int ScramIterations { get; set; } = 4096;
        /// <summary>Failed logins allowed per remote address per minute before further attempts are refused.</summary>
        public int MaxFailuresPerMinute { get; set; } = 10;
        /// <summary>Failed SASL attempts on one stream before it is closed (RFC 6120 §6.4.5).</summary>
        public int MaxFailuresPerStream { get; set; } = 3;
        /// <summary>Seconds an address (IPv6 /64) that reached <see cref="MaxFailuresPerMinute"/> failed logins is
        /// refused (&lt;temporary-auth-failure/&gt; with the seconds left).</summary>
        public int BanSeconds { get; set; } = 300;
        /// <summary>SASL exchanges under way at once from one address (IPv6 /64); more get &lt;temporary-auth-failure/&gt;. 0: no cap.</summary>
        public int MaxConcurrentExchangesPerAddress { get; set; } = 16;
    }

    public sealed class UserSettings
    {
        /// <summary>A user actor saves a snapshot of its state every this many events.</summary>
        public int SnapshotEvery { get; set; } = 100;

        /// <summary>A user actor with no bound session and no message for this many seconds stops (passivation;
        /// the next message recovers it from the journal). 0: never.</summary>
        public int PassivateAfterSeconds { get; set; } = 60;
    }

    public sealed class MemorySettings
    {
        /// <summary>
        /// Return memory to the operating system when a burst of work is over: once the server has allocated almost
        /// nothing for <see cref="IdleSeconds"/> and its heap grew by <see cref="TrimGrowthMegabytes"/> or
        /// <see cref="TrimReleasedActors"/> connections, sessions or passivated entities ended since the last trim,
        /// one compacting collection runs (<see cref="Hosting.IdleHeapTrimmer"/>).
        /// </summary>
        public bool TrimWhenIdle { get; set; } = true;
        public int IdleSeconds { get; set; } = 2;
        /// <summary>Below this allocation rate (MiB/s) the server counts as idle.</summary>
        public double IdleAllocationMegabytesPerSecond { get; set; } = 1;
        public int TrimGrowthMegabytes { get; set; } = 32;
        /// <summary>Long-lived actors stopped since the last trim (each leaves 2–5 KiB of garbage in the oldest
        /// generation) that make a trim worth it; 0: only heap growth counts.</summary>
        public int TrimReleasedActors { get; set; } = 1000;
    }
}
