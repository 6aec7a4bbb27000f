using Actors.Xmpp.Plugins;

namespace Actors.Plugins.PubSub;

/// <summary>
/// XEP-0060 Publish-Subscribe at pubsub.&lt;domain&gt; (options: Xmpp:PubSub). Each node is a keyed persistent entity
/// (<see cref="NodeEntity"/>, kind "node"): configuration, affiliations, subscriptions and items are its events in the
/// server's journal.
/// </summary>
[Xep(60, "1.26.0")]
public sealed class PubSubPlugin : IXmppPlugin
{
    public const string NodeKind = "node";

    public PluginDescriptor Descriptor { get; } = new("pubsub", "1.0.0") { OptionsSection = PubSubOptions.Section };

    public void Configure(IPluginContext ctx)
    {
        var options = ctx.Options<PubSubOptions>();
        var nodes = ctx.AddEntityKind(NodeKind, new NodeEntity(options),
            new EntityKindOptions { PassivateAfter = TimeSpan.FromSeconds(options.IdleSeconds) });
        var service = new PubSubService(ctx, options, nodes,
            ctx.Storage.Map("nodes"), ctx.Storage.Map("subscriptions"), ctx.Storage.Map("affiliations"),
            ctx.Require<IRosters>(), ctx.Require<IAccounts>());
        ctx.OwnService(options.Subdomain, PubSubService.Info(), service.HandleAsync);
    }
}
