using System.Collections.Concurrent;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;
using static Actors.Xmpp.Plugins.AdHoc;

namespace Actors.Plugins.AdHoc;

/// <summary>XEP-0050 ad-hoc commands on the server, as a service (<see cref="IAdHocCommands"/>) other plugins add
/// commands to; commands are listed at the disco node http://jabber.org/protocol/commands. The plugin keeps the
/// sessions of multi-stage commands and answers the errors of §4.6 (actions, sessions) itself.</summary>
[Xep(50, "1.3.0")]
public sealed class AdHocPlugin : IXmppPlugin
{
    public PluginDescriptor Descriptor { get; } = new("adhoc", "1.1.0", [PluginDependency.Hard("disco")]);

    /// <summary>A session that saw no request for this long is over (then: session-expired).</summary>
    private static readonly TimeSpan SessionLifetime = TimeSpan.FromMinutes(10);

    public void Configure(IPluginContext ctx)
    {
        var commands = new Commands();
        var sessions = new Sessions();
        var disco = ctx.Require<IDisco>();
        ctx.Provide<IAdHocCommands>(commands);
        ctx.AddFeature(Ns);
        ctx.Track(disco.AddItems(IqScope.Server, Ns, r =>
            commands.Visible(r.From).Select(c => new DiscoItem(r.To.ToString(), c.Node, c.Name))));
        ctx.Track(disco.AddNode(IqScope.Server, Ns, r => new DiscoInfo([], [], [])));
        ctx.Track(disco.AddNode(IqScope.Server, "*", r => commands.Find(r.Payload.Attr("node")!) is { } c && c.Allowed(r.From)
            ? new DiscoInfo([new DiscoIdentity("automation", "command-node", c.Name)], [Ns, DataNs], [])
            : null));
        ctx.Every(TimeSpan.FromMinutes(1), _ =>
        {
            sessions.Purge();
            return Task.CompletedTask;
        });
        ctx.HandleIq("set", IqScope.Server, Ns, "command", async r =>
        {
            var node = r.Payload.Attr("node");
            if (node is null || commands.Find(node) is not { } command) return r.Error("item-not-found", $"no command '{node}'");
            if (!command.Allowed(r.From)) return r.Error("forbidden", "you may not run this command");
            var action = r.Payload.Attr("action") ?? ActionExecute;
            if (action is not (ActionExecute or ActionCancel or ActionPrev or ActionNext or ActionComplete))
                return Error(r, "bad-request", MalformedAction, $"'{action}' is not an XEP-0050 action");
            var id = r.Payload.Attr("sessionid");
            if (id is not null)
            {
                switch (sessions.Find(id, node, r.From))
                {
                    case SessionState.Expired: return Error(r, "not-allowed", SessionExpired, "this session is over");
                    case SessionState.Unknown: return Error(r, "bad-request", BadSessionId, $"no session '{id}' of yours for this command");
                }
                if (action == ActionCancel)
                {
                    sessions.End(id);
                    return r.Result(Command(r, StatusCanceled));
                }
                if (action != ActionExecute && !sessions.Allows(id, action))
                    return Error(r, "bad-request", BadAction, $"'{action}' is not offered at this stage");
            }
            else if (action == ActionCancel) return r.Result(Command(r, StatusCanceled));
            else if (action != ActionExecute) return Error(r, "bad-request", BadAction, $"'{action}' needs a session of this command");

            var reply = await command.Execute(r);
            if (reply.Type != "result") return reply; // an error (bad-payload, say) leaves the session at its stage
            var answer = reply.Child("command", Ns);
            if (answer?.Attr("status") == StatusExecuting && answer.Attr("sessionid") is { } next) sessions.Stage(next, node, r.From, answer);
            else if (id is not null) sessions.End(id);
            return reply;
        });
    }

    private sealed class Commands : IAdHocCommands
    {
        private readonly ConcurrentDictionary<string, AdHocCommand> _byNode = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<object, Func<IEnumerable<AdHocCommand>>> _sources = new();

        public IDisposable Add(AdHocCommand command)
        {
            if (!_byNode.TryAdd(command.Node, command)) throw new InvalidOperationException($"a command '{command.Node}' exists already");
            return new Removal(() => _byNode.TryRemove(new KeyValuePair<string, AdHocCommand>(command.Node, command)));
        }

        public IDisposable AddSource(Func<IEnumerable<AdHocCommand>> commands)
        {
            var key = new object();
            _sources[key] = commands;
            return new Removal(() => _sources.TryRemove(key, out _));
        }

        public AdHocCommand? Find(string node)
        {
            if (_byNode.TryGetValue(node, out var command)) return command;
            foreach (var source in _sources.Values)
                foreach (var c in source())
                    if (c.Node == node) return c;
            return null;
        }

        public IEnumerable<AdHocCommand> Visible(Xmpp.Jid requester) =>
            _byNode.Values.Concat(_sources.Values.SelectMany(s => s())).Where(c => c.Allowed(requester)).OrderBy(c => c.Node, StringComparer.Ordinal);
    }

    private enum SessionState { Active, Expired, Unknown }

    /// <summary>The sessions of multi-stage commands (XEP-0050 §3.4): each belongs to one requester and one node,
    /// offers the actions its last stage listed, and ends when the command completes or is canceled.</summary>
    private sealed class Sessions
    {
        private sealed record Session(string Node, Xmpp.Jid Requester, string[] Actions, long Until);

        private readonly ConcurrentDictionary<string, Session> _active = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<string, long> _ended = new(StringComparer.Ordinal); // until when it is remembered

        public SessionState Find(string id, string node, Xmpp.Jid requester)
        {
            if (_active.TryGetValue(id, out var s))
            {
                if (s.Until < Environment.TickCount64)
                {
                    End(id);
                    return s.Node == node && s.Requester.Equals(requester) ? SessionState.Expired : SessionState.Unknown;
                }
                return s.Node == node && s.Requester.Equals(requester) ? SessionState.Active : SessionState.Unknown;
            }
            return _ended.ContainsKey(id) ? SessionState.Expired : SessionState.Unknown;
        }

        public bool Allows(string id, string action) => _active.TryGetValue(id, out var s) && s.Actions.Contains(action);

        /// <summary>The command answered 'executing': the next request may use the actions of its &lt;actions/&gt;
        /// (none listed: execute only, which is always allowed).</summary>
        public void Stage(string id, string node, Xmpp.Jid requester, Element command)
        {
            var actions = command.Child("actions", Ns)?.Elements().Where(e => e.Namespace == Ns).Select(e => e.Name).ToArray() ?? [];
            _active[id] = new Session(node, requester, actions, Environment.TickCount64 + (long)SessionLifetime.TotalMilliseconds);
        }

        public void End(string id)
        {
            _active.TryRemove(id, out _);
            _ended[id] = Environment.TickCount64 + (long)SessionLifetime.TotalMilliseconds;
        }

        public void Purge()
        {
            var now = Environment.TickCount64;
            foreach (var (id, s) in _active)
                if (s.Until < now) End(id);
            foreach (var (id, until) in _ended)
                if (until < now) _ended.TryRemove(id, out _);
        }
    }

    private sealed class Removal(Action undo) : IDisposable
    {
        private Action? _undo = undo;
        public void Dispose() => Interlocked.Exchange(ref _undo, null)?.Invoke();
    }
}
