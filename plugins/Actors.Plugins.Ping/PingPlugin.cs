using Actors.Xmpp.Plugins;

namespace Actors.Plugins.Ping;

/// <summary>XEP-0199: answers pings to the server and to accounts; pings idle clients and drops dead ones.</summary>
[Xep(199, "2.0.1")]
public sealed class PingPlugin : IXmppPlugin
{
    public const string Ns = "urn:xmpp:ping";

    public PluginDescriptor Descriptor { get; } = new("ping", "1.0.0");

    public void Configure(IPluginContext ctx)
    {
        ctx.AddFeature(Ns, IqScope.Both);
        ctx.HandleIq("get", IqScope.Both, Ns, "ping", r => r.Ok());
        ServerPings.Start(ctx, ctx.Options<PingOptions>());
    }
}
