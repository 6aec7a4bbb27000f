using System.Collections.Concurrent;
using Actors.Xmpp.Plugins;

namespace Actors.Plugins.AdHoc;

/// <summary>XEP-0050 ad-hoc commands on the server, as a service (<see cref="IAdHocCommands"/>) other plugins add
/// commands to; commands are listed at the disco node http://jabber.org/protocol/commands.</summary>
[Xep(50, "1.3.0")]
public sealed class AdHocPlugin : IXmppPlugin
{
    public PluginDescriptor Descriptor { get; } = new("adhoc", "1.0.0", [PluginDependency.Hard("disco")]);

    public void Configure(IPluginContext ctx)
    {
        var commands = new Commands();
        var disco = ctx.Require<IDisco>();
        ctx.Provide<IAdHocCommands>(commands);
        ctx.AddFeature(Xmpp.Plugins.AdHoc.Ns);
        ctx.Track(disco.AddItems(IqScope.Server, Xmpp.Plugins.AdHoc.Ns, r =>
            commands.Visible(r.From).Select(c => new DiscoItem(r.To.ToString(), c.Node, c.Name))));
        ctx.Track(disco.AddNode(IqScope.Server, Xmpp.Plugins.AdHoc.Ns, r => new DiscoInfo([], [], [])));
        ctx.Track(disco.AddNode(IqScope.Server, "*", r => commands.Find(r.Payload.Attr("node")!) is { } c && c.Allowed(r.From)
            ? new DiscoInfo([new DiscoIdentity("automation", "command-node", c.Name)], [Xmpp.Plugins.AdHoc.Ns, Xmpp.Plugins.AdHoc.DataNs], [])
            : null));
        ctx.HandleIq("set", IqScope.Server, Xmpp.Plugins.AdHoc.Ns, "command", r =>
        {
            var node = r.Payload.Attr("node");
            if (node is null || commands.Find(node) is not { } command) return r.Fail("item-not-found", $"no command '{node}'");
            if (!command.Allowed(r.From)) return r.Fail("forbidden", "you may not run this command");
            if (r.Payload.Attr("action") == "cancel") return r.Ok(Xmpp.Plugins.AdHoc.Command(r, "canceled"));
            return command.Execute(r);
        });
    }

    private sealed class Commands : IAdHocCommands
    {
        private readonly ConcurrentDictionary<string, AdHocCommand> _byNode = new(StringComparer.Ordinal);

        public IDisposable Add(AdHocCommand command)
        {
            if (!_byNode.TryAdd(command.Node, command)) throw new InvalidOperationException($"a command '{command.Node}' exists already");
            return new Removal(() => _byNode.TryRemove(new KeyValuePair<string, AdHocCommand>(command.Node, command)));
        }

        public AdHocCommand? Find(string node) => _byNode.GetValueOrDefault(node);

        public IEnumerable<AdHocCommand> Visible(Xmpp.Jid requester) =>
            _byNode.Values.Where(c => c.Allowed(requester)).OrderBy(c => c.Node, StringComparer.Ordinal);
    }

    private sealed class Removal(Action undo) : IDisposable
    {
        private Action? _undo = undo;
        public void Dispose() => Interlocked.Exchange(ref _undo, null)?.Invoke();
    }
}
