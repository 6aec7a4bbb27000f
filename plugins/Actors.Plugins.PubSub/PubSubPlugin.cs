using Actors.Xmpp;
using Actors.Xmpp.Plugins;

namespace Actors.Plugins.PubSub;

/// <summary>
/// XEP-0060 Publish-Subscribe at pubsub.&lt;domain&gt; (options: Xmpp:PubSub) and XEP-0163 PEP on every account's bare
/// JID, on one node engine: each node is a keyed persistent entity (<see cref="NodeEntity"/>, kind "node", key
/// "&lt;service or account&gt;/&lt;node&gt;"): configuration, affiliations, subscriptions and items are its events in the
/// server's journal.
/// </summary>
[Xep(60, "1.26.0")]
[Xep(163, "1.2.2")]
[Xep(223, "1.1.1")]
[Xep(248, "0.4.0")]
public sealed class PubSubPlugin : IXmppPlugin
{
    public const string NodeKind = "node";
    /// <summary>XEP-0060 §10 features only PEP offers: nodes made by a publish, and +notify filtering.</summary>
    private static readonly string[] PepFeatures = ["auto-create", "filtered-notifications"];

    public PluginDescriptor Descriptor { get; } = new("pubsub", "1.0.0") { OptionsSection = PubSubOptions.Section };

    public void Configure(IPluginContext ctx)
    {
        var options = ctx.Options<PubSubOptions>();
        var nodes = ctx.AddEntityKind(NodeKind, new NodeEntity(options),
            new EntityKindOptions { PassivateAfter = TimeSpan.FromSeconds(options.IdleSeconds), FanoutPerSecond = options.FanoutPerSecond });
        var interest = new NotifyInterest(ctx);
        var service = new PubSubService(ctx, options, nodes,
            ctx.Storage.Map("nodes"), ctx.Storage.Map("subscriptions"), ctx.Storage.Map("affiliations"), ctx.Storage.Map("parents"),
            ctx.Require<IRosters>(), ctx.Require<IAccounts>(), interest);
        ctx.OwnService(options.Subdomain, PubSubService.Info(), service.HandleAsync);

        // XEP-0163: every account is a PEP service
        ctx.OwnAccountNamespace(PubSubNs.PubSub, service.HandlePepAsync);
        ctx.OwnAccountNamespace(PubSubNs.Owner, service.HandlePepAsync);
        ctx.AddIdentity("pubsub", "pep", null, IqScope.Account);
        ctx.AddFeature(PubSubNs.PubSub, IqScope.Account);
        foreach (var f in PubSubFeatures.Implemented) ctx.AddFeature(PubSubNs.Feature(f), IqScope.Account);
        foreach (var f in PepFeatures) ctx.AddFeature(PubSubNs.Feature(f), IqScope.Account);

        // +notify (XEP-0163 §4.2): caps from available presence; last items when a contact's presence reaches a session
        ctx.Hook(HookPoint.PresenceBroadcast, 0, interest.OnPresence);
        ctx.On(ServerEventKind.SessionClosed, e => { interest.Forget(e.Jid); return ValueTask.CompletedTask; });
        interest.Deliver = ctx.SendStanza;
        interest.Resolved = (session, contacts) =>
        {
            var wanted = interest.Wanted(session, session.Bare);
            _ = service.SendLastItemsAsync(session, session.Bare, wanted);
            foreach (var contact in contacts) _ = service.SendLastItemsAsync(session, contact, wanted);
        };
        ctx.Hook(HookPoint.Deliver, 0, e =>
        {
            if (e.Stanza.Name == "presence" && e.Stanza.Type is null && Jid.TryParse(e.Stanza.From, out var from) && from is not null
                && from.Local is not null && !from.Bare.Equals(e.Session.Bare))
            {
                var wanted = interest.Wanted(e.Session, from.Bare);
                if (wanted.Count > 0) _ = service.SendLastItemsAsync(e.Session, from.Bare, wanted);
            }
            return false;
        });
    }
}
