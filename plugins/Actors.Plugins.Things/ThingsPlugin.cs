using Actors.Xmpp.Plugins;

namespace Actors.Plugins.Things;

/// <summary>XEP-0347 Internet of Things - Discovery: a thing registry at discovery.&lt;domain&gt; (options:
/// Xmpp:Plugins:things), its records in plugin storage (<see cref="ThingRegistry"/>). XEP-0323 sensor data and XEP-0325
/// control as the server owes them: requests to a device's bare JID routed to the device, callers checked against the
/// registry's ownership, read-outs of offline devices answered from their twins (<see cref="DeviceGateway"/>,
/// <see cref="DeviceTwin"/>).</summary>
[Xep(347, "0.5.1")]
[Xep(323, "0.5")]
[Xep(325, "0.5.1")]
public sealed class ThingsPlugin : IXmppPlugin
{
    /// <summary>Hooks run before the server's own processing; the blocking plugin (1000) decides first.</summary>
    private const int HookPriority = 500;

    public PluginDescriptor Descriptor { get; } = new("things", "1.1.0");

    public void Configure(IPluginContext ctx)
    {
        var options = ctx.Options<ThingsOptions>();
        var things = ctx.Storage.Map("things");
        var sessions = ctx.Require<ISessions>();
        var rosters = ctx.Require<IRosters>();
        var accounts = ctx.Require<IAccounts>();
        var registry = new ThingRegistry(ctx, options, things, sessions, rosters, accounts);
        ctx.OwnService(options.Subdomain, ThingRegistry.Info(options.Name), registry.HandleAsync);

        var twins = ctx.AddEntityKind("twin", new DeviceTwin(options.TwinMaxFields),
            new EntityKindOptions { PassivateAfter = TimeSpan.FromSeconds(options.TwinIdleSeconds) });
        var gateway = new DeviceGateway(ctx, options, things, sessions, rosters, accounts, twins);
        ctx.OwnAccountNamespace(SensorData.Ns, gateway.ToBareAsync);
        ctx.OwnAccountNamespace(SensorData.ControlNs, gateway.ToBareAsync);
        ctx.Hook(HookPoint.FromClient, HookPriority, gateway.FromClient);
        ctx.Hook(HookPoint.InboundFull, HookPriority, gateway.Inbound);
        ctx.Hook(HookPoint.InboundBare, HookPriority, gateway.Inbound);
        ctx.On(ServerEventKind.AccountRemoved, e =>
        {
            twins.Tell(e.Jid.Bare.ToString(), new Xmpp.Xml.Element(DeviceTwin.Forget, DeviceTwin.Ns)); // its values go with it
            return ValueTask.CompletedTask;
        });
    }
}
