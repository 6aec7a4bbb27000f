using Actors.Xmpp.Server.PluginEntities;
using Akka.Actor;
using Akka.Event;

namespace Actors.Xmpp.PluginHost.Entities;

/// <summary>
/// The region of one entity kind of one plugin (/user/plugins/&lt;plugin&gt;-&lt;n&gt;/entities-&lt;kind&gt;): creates the
/// entity of a key on its first command and forwards commands to it, and passivates idle entities with the handshake
/// of Akka.Cluster.Sharding's ShardRegion (the entity asks, the region buffers the key's commands, tells the entity to
/// stop after the commands already in its mailbox, and starts it again if commands arrived meanwhile). It has the shape
/// of a ShardRegion (one region per kind, reached only by key, entities as children), so the clustering issue can put
/// ClusterSharding.Start behind the same <see cref="Actors.Xmpp.Plugins.IEntityKind"/> without plugin changes.
/// </summary>
internal sealed class EntityRegionActor : ReceiveActor
{
    /// <summary>From an entity: it is idle (or its behaviour asked to stop).</summary>
    public sealed record Passivate
    {
        public static readonly Passivate Instance = new();
    }

    /// <summary>To an entity: stop now (after the commands before this one).</summary>
    public sealed record StopEntity
    {
        public static readonly StopEntity Instance = new();
    }

    private readonly Func<string, Props> _entityProps;
    private readonly Dictionary<string, List<(EntityCommand Command, IActorRef Sender)>> _passivating = new(StringComparer.Ordinal);
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public static Props Props(Func<string, Props> entityProps) => Akka.Actor.Props.Create(() => new EntityRegionActor(entityProps));

    public EntityRegionActor(Func<string, Props> entityProps)
    {
        _entityProps = entityProps;
        Receive<EntityCommand>(c => Deliver(c, Sender));
        Receive<Passivate>(_ => OnPassivate(Sender));
        Receive<Terminated>(t => OnTerminated(t.ActorRef));
    }

    /// <summary>The child name of a key (keys may hold any character).</summary>
    public static string NameOf(string key) => Uri.EscapeDataString(key);

    private void Deliver(EntityCommand c, IActorRef sender)
    {
        var name = NameOf(c.Key);
        if (_passivating.TryGetValue(name, out var buffer))
        {
            buffer.Add((c, sender));
            return;
        }
        var child = Context.Child(name);
        if (child.IsNobody()) child = Start(c.Key, name);
        child.Tell(c, sender);
    }

    private IActorRef Start(string key, string name)
    {
        var child = Context.ActorOf(_entityProps(key), name);
        Context.Watch(child);
        return child;
    }

    private void OnPassivate(IActorRef entity)
    {
        if (!Self.Path.Equals(entity.Path.Parent)) return; // only from our own entities
        var name = entity.Path.Name;
        if (_passivating.ContainsKey(name)) return;
        _passivating[name] = new List<(EntityCommand, IActorRef)>();
        entity.Tell(StopEntity.Instance);
    }

    private void OnTerminated(IActorRef entity)
    {
        var name = entity.Path.Name;
        if (!_passivating.Remove(name, out var buffer) || buffer.Count == 0) return;
        _log.Debug("entity {0} got {1} command(s) while passivating: starting it again", name, buffer.Count);
        var child = Start(buffer[0].Command.Key, name);
        foreach (var (command, sender) in buffer) child.Tell(command, sender);
    }

    // a behaviour that throws restarts its entity, which recovers from the journal (PreRestart fails the asker);
    // an entity failing over and over is stopped, and the next command starts it afresh
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(10, TimeSpan.FromMinutes(1), ex =>
    {
        _log.Error(ex, "an entity of {0} failed; restarting it from its journal", Self.Path.Name);
        return Directive.Restart;
    });
}
