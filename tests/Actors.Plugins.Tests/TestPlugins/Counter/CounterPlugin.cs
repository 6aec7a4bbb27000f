using Actors.Xmpp.Plugins;

namespace Tests.Counter;

/// <summary>Answers &lt;count xmlns='urn:actors:test:counter'/&gt; with the number of requests so far; keeps the
/// count across reloads. Also runs a timer, a hook and a service, so that unload tests cover them.</summary>
[Xep(9999, "0.1")]
public sealed class CounterPlugin : IXmppPlugin
{
    public const string Ns = "urn:actors:test:counter";
    private int _count;
    private int _ticks;

#if FUTURE
    public PluginDescriptor Descriptor { get; } = new("counter", "2.0.0", ContractVersion: 99);
#elif MISSING
    public PluginDescriptor Descriptor { get; } = new("counter", "3.0.0", [PluginDependency.Hard("nonexistent")]);
#else
    public PluginDescriptor Descriptor { get; } = new("counter", "1.0.0");
#endif

    public void Configure(IPluginContext ctx)
    {
        ctx.AddFeature(Ns);
        ctx.HandleIq("get", IqScope.Server, Ns, "count", r =>
            r.Ok(new Actors.Xmpp.Xml.Element("count", Ns, Interlocked.Increment(ref _count).ToString(System.Globalization.CultureInfo.InvariantCulture))));
        ctx.Hook(HookPoint.Deliver, 0, e => false);
        ctx.Every(TimeSpan.FromMilliseconds(50), _ =>
        {
            Interlocked.Increment(ref _ticks);
            return Task.CompletedTask;
        });
    }

    public byte[]? SaveState() => BitConverter.GetBytes(_count);

    public void RestoreState(byte[] state) => _count = BitConverter.ToInt32(state);
}
