using Actors.Xmpp.Plugins;

namespace Actors.Plugins.Mqtt;

/// <summary>
/// An MQTT 5 bridge onto XEP-0060 PubSub (options: Xmpp:Plugins:mqtt, off by default): MQTT clients log in with an
/// account's JID and password, and publish and subscribe to topics that are the nodes of pubsub.&lt;domain&gt; (topic
/// <c>sensors/t1</c> is node <c>sensors/t1</c>), through the PubSub service and its access rules, as their account.
/// README.md, "MQTT bridge", documents the mapping.
/// </summary>
public sealed class MqttPlugin : IXmppPlugin
{
    public PluginDescriptor Descriptor { get; } = new("mqtt", "1.0.0", [PluginDependency.Hard("pubsub")]);

    public void Configure(IPluginContext ctx)
    {
        var options = ctx.Options<MqttOptions>();
        if (!options.Enabled) return;
        var bridge = new MqttBridge(ctx, options, ctx.Require<IAuthentication>(), ctx.Storage.Map("bridged"));
        ctx.Hook(HookPoint.InboundFull, 100, bridge.OnInbound);
        bridge.Start();
        ctx.Track(new Stop(bridge));
    }

    /// <summary>The ledger entry that stops the listener on unload (newest first: before the hook goes).</summary>
    private sealed class Stop(MqttBridge bridge) : IDisposable
    {
        public void Dispose() => bridge.Stop();
    }
}
