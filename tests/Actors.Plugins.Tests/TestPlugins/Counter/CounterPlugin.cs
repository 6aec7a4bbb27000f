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

        // admin commands: one for the operator only, one with every kind of argument for administrators too
        ctx.AddCommand(new AdminCommand("show", "Show the count", (_, _) =>
            Task.FromResult(CommandResult.Data([ResultField.Of("count", Volatile.Read(ref _count).ToString(System.Globalization.CultureInfo.InvariantCulture))]))));
        ctx.AddCommand(new AdminCommand("add", "Add to the count", (input, _) =>
        {
            var by = input.Integer("by")!.Value * (input.Text("direction") == "down" ? -1 : 1);
            if (by == 0) return Task.FromResult(CommandResult.Failed("adding 0 changes nothing"));
            var now = Interlocked.Add(ref _count, (int)by);
            var fields = new List<ResultField> { ResultField.Of("count", now.ToString(System.Globalization.CultureInfo.InvariantCulture), "The count") };
            if (input.Boolean("loud") == true) fields.Add(new ResultField("by", ArgumentKind.Jids, [input.Caller.ToString(), .. input.Addresses("cc").Select(j => j.ToString())]));
            return Task.FromResult(CommandResult.Data(fields, $"count is {now}" + (input.Text("note") is { } note ? $" ({note})" : "")));
        })
        {
            Access = CommandAccess.Admin,
            Arguments =
            [
                new CommandArgument("by", ArgumentKind.Integer, "How much") { Required = true },
                new CommandArgument("direction", ArgumentKind.Choice, "Up or down") { Choices = ["up", "down"], Default = "up" },
                new CommandArgument("loud", ArgumentKind.Boolean, "Also say who added"),
                new CommandArgument("cc", ArgumentKind.Jids, "Who else to name"),
                new CommandArgument("note", ArgumentKind.Text, "A note"),
            ],
        });
        ctx.AddCommand(new AdminCommand("wait", "Wait until cancelled", async (_, ct) =>
        {
            await Task.Delay(Timeout.Infinite, ct);
            return CommandResult.Done("never");
        }));
    }

    public byte[]? SaveState() => BitConverter.GetBytes(_count);

    public void RestoreState(byte[] state) => _count = BitConverter.ToInt32(state);
}
