using Actors.Xmpp.Plugins;

namespace Actors.Plugins.Disco;

/// <summary>
/// XEP-0030 service discovery on the server and on accounts' bare JIDs, fed by every plugin's AddFeature and
/// AddIdentity and by the IDisco service (items, nodes); XEP-0128 extended info, with the server's contact
/// addresses (XEP-0157) from the options.
/// </summary>
[Xep(30, "2.5rc3")]
[Xep(128, "1.0.1")]
[Xep(157, "1.1.1")]
public sealed class DiscoPlugin : IXmppPlugin
{
    public PluginDescriptor Descriptor { get; } = new("disco", "1.0.0");

    public void Configure(IPluginContext ctx)
    {
        var options = ctx.Options<DiscoOptions>();
        var disco = new DiscoService(ctx.Require<IServerFeatures>(), ctx.Require<IOwnedAddresses>());
        ctx.Provide<IDisco>(disco);
        ctx.AddIdentity("server", "im", options.Name, IqScope.Server);
        ctx.AddIdentity("account", "registered", null, IqScope.Account);
        ctx.AddFeature(DiscoService.InfoNs, IqScope.Both);
        ctx.AddFeature(DiscoService.ItemsNs, IqScope.Both);
        ctx.HandleIq("get", IqScope.Both, DiscoService.InfoNs, "query", disco.InfoQuery);
        ctx.HandleIq("get", IqScope.Both, DiscoService.ItemsNs, "query", disco.ItemsQuery);
        if (options.ContactForm() is { } form) ctx.Track(disco.AddExtendedInfo(IqScope.Server, () => form.Clone()));
    }
}
