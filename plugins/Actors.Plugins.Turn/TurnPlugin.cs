using System.Net;
using Actors.Xmpp.Plugins;

namespace Actors.Plugins.Turn;

/// <summary>
/// The built-in STUN/TURN server (ejabberd's mod_stun_disco + ejabberd_stun, coturn's role), options Xmpp:Turn, off
/// by default: RFC 8489 Binding over UDP and TCP, RFC 8656 allocations over UDP and TCP with long-term credentials
/// made from the TURN REST shared secret (the same scheme and secret extdisco hands credentials out with), permissions,
/// channels, refresh, lifetimes, a quota per user, a relay port range, and peers on loopback and private ranges
/// refused unless allowed. While loaded it lists itself in XEP-0215 (extdisco, when loaded): stun and turn, udp and tcp,
/// and turns over TLS (Xmpp:Turn:TlsPort). RFC 6062 TCP relays (Connect, ConnectionBind, ConnectionAttempt).
/// Hand-written: no maintained .NET STUN/TURN server library exists on NuGet (README.md of this folder).
/// </summary>
public sealed class TurnPlugin : IXmppPlugin
{
    public PluginDescriptor Descriptor { get; } = new("turn", "1.0.0", [PluginDependency.Soft("extdisco")]) { OptionsSection = "Xmpp:Turn" };

    public void Configure(IPluginContext ctx)
    {
        var options = ctx.Options<TurnOptions>();
        if (!options.Enabled) return;
        var realm = string.IsNullOrEmpty(options.Realm) ? First(ctx.Domains) : options.Realm;
        var server = new TurnServer(options, realm, ctx.Logger, options.TlsPort > 0 ? ctx.Require<IServerCertificates>() : null);
        server.Start(); // a port already taken fails the load
        ctx.Track(server); // unload: the sockets close and every allocation goes (newest first: after the sweep stops)
        var listing = options.Advertise ? ctx.Track(new Listing(ctx, options, AdvertisedHost(options, ctx.Domains))) : null;
        listing?.TryList();
        ctx.Every(TimeSpan.FromSeconds(1), _ =>
        {
            server.Sweep();
            listing?.TryList(); // extdisco loaded after this plugin: listed from then on
            return Task.CompletedTask;
        });
    }

    /// <summary>The host XEP-0215 hands out: PublicHost, else a specific BindAddress, else the first domain.</summary>
    private static string AdvertisedHost(TurnOptions options, IReadOnlyList<string> domains) =>
        !string.IsNullOrEmpty(options.PublicHost) ? options.PublicHost
        : IPAddress.TryParse(options.BindAddress, out var bind) && !bind.Equals(IPAddress.Any) && !bind.Equals(IPAddress.IPv6Any)
            ? options.BindAddress : First(domains);

    /// <summary>The server's entries in XEP-0215 (extdisco's <see cref="IExternalServices"/>): stun and turn, udp and
    /// tcp; turn with credentials from the shared secret. Made once extdisco is there; removed on unload (a ledger
    /// entry). An extdisco unload unloads this plugin first (a soft dependency), so the entries never outlive it.</summary>
    private sealed class Listing(IPluginContext ctx, TurnOptions options, string host) : IDisposable
    {
        private readonly Lock _gate = new();
        private List<IDisposable>? _entries;
        private bool _disposed;

        public void TryList()
        {
            if (Volatile.Read(ref _entries) is not null || ctx.Optional<IExternalServices>() is not { } services) return;
            lock (_gate)
            {
                if (_entries is not null || _disposed) return;
                var entries = new List<IDisposable>(4);
                foreach (var transport in Transports)
                {
                    entries.Add(services.Add(new ExternalServiceEntry("stun", host, options.Port, transport)));
                    entries.Add(services.Add(new ExternalServiceEntry("turn", host, options.Port, transport, Secret: options.Secret)));
                }
                // RFC 7065 turns: TURN over TLS, a TCP transport
                if (options.TlsPort > 0)
                    entries.Add(services.Add(new ExternalServiceEntry("turns", host, options.TlsPort, "tcp", Secret: options.Secret)));
                _entries = entries;
            }
        }

        public void Dispose()
        {
            lock (_gate)
            {
                _disposed = true;
                if (_entries is null) return;
                foreach (var e in _entries) e.Dispose();
                _entries = null;
            }
        }

        private static readonly string[] Transports = ["udp", "tcp"];
    }

    private static string First(IReadOnlyList<string> domains)
    {
        foreach (var d in domains) return d;
        return "localhost";
    }
}
