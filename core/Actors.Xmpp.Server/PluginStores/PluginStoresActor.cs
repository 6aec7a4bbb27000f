using Akka.Actor;

namespace Actors.Xmpp.Server.PluginStores;

/// <summary>
/// Parent and supervisor of the <see cref="PluginStoreActor"/>s (/system/plugin-stores): creates the store of an
/// address on the first command for it and forwards. A store that asks to passivate is told to stop (behind the
/// commands already in its mailbox); commands that arrive until it has stopped are kept and handed to a fresh one. Host-owned: unloading or reloading a plugin
/// stops none of its stores (their data stays in the journal either way).
/// </summary>
public sealed class PluginStoresActor : UntypedActor
{
    /// <summary>Answers with the persistence ids of the stores running now.</summary>
    public sealed record ListRunning
    {
        public static readonly ListRunning Instance = new();
    }

    private readonly PluginStoreActor.Settings _settings;
    private readonly Func<ILegacyStoreSource?> _legacy;
    private readonly Dictionary<IActorRef, (StoreAddress Address, List<(object Command, IActorRef Sender)> Waiting)> _stopping = new();
    private readonly Dictionary<string, IActorRef> _stoppingByName = new(StringComparer.Ordinal);
    private readonly Dictionary<IActorRef, StoreAddress> _running = new();

    public static Props Props(PluginStoreActor.Settings settings, Func<ILegacyStoreSource?> legacy) =>
        ActorProps.Of(() => new PluginStoresActor(settings, legacy));

    public PluginStoresActor(PluginStoreActor.Settings settings, Func<ILegacyStoreSource?> legacy)
    {
        _settings = settings;
        _legacy = legacy;
    }

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case StoreEnvelope e:
                var name = Uri.EscapeDataString(e.Address.PersistenceId);
                if (_stoppingByName.TryGetValue(name, out var stopping))
                {
                    _stopping[stopping].Waiting.Add((e.Command, Sender));
                    return;
                }
                Child(e.Address, name).Forward(e.Command);
                break;
            case PluginStoreActor.Passivate p:
                if (!_running.Remove(p.Store, out var address)) return;
                _stopping[p.Store] = (address, new());
                _stoppingByName[p.Store.Path.Name] = p.Store;
                p.Store.Tell(PluginStoreActor.Stop.Instance); // after the commands already in its mailbox
                break;
            case Terminated t:
                _running.Remove(t.ActorRef);
                if (!_stopping.Remove(t.ActorRef, out var entry)) return;
                _stoppingByName.Remove(t.ActorRef.Path.Name);
                if (entry.Waiting.Count == 0) return;
                var fresh = Child(entry.Address, t.ActorRef.Path.Name);
                foreach (var (command, sender) in entry.Waiting) fresh.Tell(command, sender);
                break;
            case ListRunning:
                Sender.Tell(_running.Values.Select(a => a.PersistenceId).ToArray());
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private IActorRef Child(StoreAddress address, string name)
    {
        var child = Context.Child(name);
        if (!child.IsNobody()) return child;
        child = Context.ActorOf(PluginStoreActor.Props(address, _settings, _legacy()), name);
        Context.Watch(child);
        _running[child] = address;
        return child;
    }

    // a failing store is restarted (recovered from the journal); one whose journal write failed has stopped itself
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(10, TimeSpan.FromMinutes(1), _ => Directive.Restart);
}
