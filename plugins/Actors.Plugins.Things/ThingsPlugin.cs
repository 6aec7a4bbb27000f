using Actors.Xmpp.Plugins;

namespace Actors.Plugins.Things;

/// <summary>XEP-0347 Internet of Things - Discovery: a thing registry at discovery.&lt;domain&gt; (options:
/// Xmpp:Plugins:things), its records in plugin storage (<see cref="ThingRegistry"/>).</summary>
[Xep(347, "0.5.1")]
public sealed class ThingsPlugin : IXmppPlugin
{
    public PluginDescriptor Descriptor { get; } = new("things", "1.0.0");

    public void Configure(IPluginContext ctx)
    {
        var options = ctx.Options<ThingsOptions>();
        var registry = new ThingRegistry(ctx, options, ctx.Storage.Map("things"), ctx.Require<ISessions>(),
            ctx.Require<IRosters>(), ctx.Require<IAccounts>());
        ctx.OwnService(options.Subdomain, ThingRegistry.Info(options.Name), registry.HandleAsync);
    }
}
