using System.Net;
using Actors.Xmpp.Plugins;

namespace Actors.Plugins.Turn;

/// <summary>
/// The built-in STUN/TURN server (ejabberd's mod_stun_disco + ejabberd_stun, coturn's role), options Xmpp:Turn, off
/// by default: RFC 8489 Binding over UDP and TCP, RFC 8656 allocations over UDP and TCP with long-term credentials
/// made from the TURN REST shared secret (the same scheme and secret extdisco hands credentials out with), permissions,
/// channels, refresh, lifetimes, a quota per user, a relay port range, and peers on loopback and private ranges
/// refused unless allowed. While loaded it lists itself in XEP-0215 (extdisco, when loaded): stun and turn, udp and tcp.
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
        var server = new TurnServer(options, realm, ctx.Logger);
        server.Start(); // a port already taken fails the load
        ctx.Track(server); // unload: the sockets close and every allocation goes (newest first: after the sweep stops)
        ctx.Every(TimeSpan.FromSeconds(1), _ =>
        {
            server.Sweep();
            return Task.CompletedTask;
        });
        if (options.Advertise && ctx.Optional<IExternalServices>() is { } services)
        {
            var host = !string.IsNullOrEmpty(options.PublicHost) ? options.PublicHost
                : IPAddress.TryParse(options.BindAddress, out var bind) && !bind.Equals(IPAddress.Any) && !bind.Equals(IPAddress.IPv6Any)
                    ? options.BindAddress : First(ctx.Domains);
            // XEP-0215 §3: stun needs no credentials; turn gets TURN REST ones from the shared secret
            foreach (var transport in new[] { "udp", "tcp" })
            {
                ctx.Track(services.Add(new ExternalServiceEntry("stun", host, options.Port, transport)));
                ctx.Track(services.Add(new ExternalServiceEntry("turn", host, options.Port, transport, Secret: options.Secret)));
            }
        }
    }

    private static string First(IReadOnlyList<string> domains)
    {
        foreach (var d in domains) return d;
        return "localhost";
    }
}
