using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Plugins;

/// <summary>
/// The behaviour of a kind of keyed entity (<see cref="IPluginContext.AddEntityKind"/>): a host-owned persistent actor
/// per key runs it over plugin-supplied state. The host keeps the state in memory only; what crosses the actor boundary
/// or reaches the journal is XML: commands, events, replies and snapshots. Methods run one at a time per entity, on the
/// entity's actor. <see cref="Handle"/> must not change the state: it decides and persists events, and
/// <see cref="Apply"/> (also run on recovery) changes the state. The host applies a command's events as soon as
/// <see cref="Handle"/> returns (the next command sees them) while it writes them; nothing the command asked for leaves
/// before they are written, and if the write fails the entity goes back to its journal. Prefer
/// <see cref="EntityBehavior{TState}"/>.
/// </summary>
public interface IEntityBehavior
{
    /// <summary>The state of an entity that has no events yet.</summary>
    object Initial(string key);

    /// <summary>The state after <paramref name="event"/> (the same object changed, or a new one).</summary>
    object Apply(object state, Element @event);

    /// <summary>Handles a command: reads the state, persists events, replies, sends stanzas, schedules timers (all
    /// through <paramref name="entity"/>; events are written before replies and stanzas leave). An exception restarts
    /// the entity from its journal (supervision) and the command's asker gets a failure.</summary>
    void Handle(IEntityContext entity, object state, Element command);

    /// <summary>The state as a snapshot, or null to keep only events.</summary>
    EntitySnapshot? Snapshot(object state);

    /// <summary>The state a snapshot made by <see cref="Snapshot"/> stands for.</summary>
    object Restore(string key, EntitySnapshot snapshot);
}

/// <summary>A typed <see cref="IEntityBehavior"/>.</summary>
public abstract class EntityBehavior<TState> : IEntityBehavior where TState : class
{
    public abstract TState Initial(string key);
    public abstract TState Apply(TState state, Element @event);
    public abstract void Handle(IEntityContext entity, TState state, Element command);
    /// <summary>No snapshots unless overridden (with <see cref="Restore"/>).</summary>
    public virtual EntitySnapshot? Snapshot(TState state) => null;
    public virtual TState Restore(string key, EntitySnapshot snapshot) =>
        throw new NotSupportedException($"{GetType().Name} makes no snapshots but was offered one");

    object IEntityBehavior.Initial(string key) => Initial(key);
    object IEntityBehavior.Apply(object state, Element @event) => Apply((TState)state, @event);
    void IEntityBehavior.Handle(IEntityContext entity, object state, Element command) => Handle(entity, (TState)state, command);
    EntitySnapshot? IEntityBehavior.Snapshot(object state) => Snapshot((TState)state);
    object IEntityBehavior.Restore(string key, EntitySnapshot snapshot) => Restore(key, snapshot);
}

/// <summary>An entity's state as stored: an element, or bytes.</summary>
public sealed record EntitySnapshot(Element? Xml, byte[]? Bytes = null)
{
    public static EntitySnapshot Of(Element xml) => new(xml);
    public static EntitySnapshot Of(byte[] bytes) => new(null, bytes);
}

/// <summary>What a command handler may do; effects take place after the handler returns and its events are written.</summary>
public interface IEntityContext
{
    /// <summary>The entity's key within its kind.</summary>
    string Key { get; }
    /// <summary>Writes an event to the entity's journal and applies it to the state.</summary>
    void Persist(Element @event);
    /// <summary>The answer to the command's asker (<see cref="IEntityKind.AskAsync"/>); ignored for told commands.</summary>
    void Reply(Element reply);
    /// <summary>Routes a stanza (its 'from' must be a local domain, a service the plugin owns, or a local JID).</summary>
    void Send(Element stanza);
    /// <summary>Sends a copy of <paramref name="stanza"/> to each of <paramref name="recipients"/> (JIDs; each copy is
    /// the stanza with its 'to' set to one of them), once the events are written: a fan-out. The host streams the
    /// copies out off the entity's actor (which goes on handling commands meanwhile), a bounded number at a time and
    /// at most <see cref="EntityKindOptions.FanoutPerSecond"/>, copying the stanza per recipient as it goes. When the
    /// fan-out lane already holds many copies (several thousand), the entity's reply to this command and its next
    /// commands wait until the lane has routed enough of them (at most 2 s): back-pressure, so that a publisher
    /// waiting for its answers goes no faster than its subscribers' copies leave. Every
    /// recipient gets the copies of one entity's fan-outs in the order the entity made them (one entity's fan-outs
    /// never overtake each other; a plain <see cref="Send"/> may overtake them). A recipient that is gone gets the
    /// router's usual handling (offline storage, or an error to the sender); one whose connection does not read is the
    /// session's outbound limit's business and never holds up the others. The entity must not change
    /// <paramref name="stanza"/> afterwards; the list is copied. The copies share the stanza's child elements (only
    /// the top element is copied), so nothing on their way may change a copy below its top element.</summary>
    void SendToEach(Element stanza, IReadOnlyList<string> recipients);
    /// <summary>Delivers <paramref name="command"/> to this entity after <paramref name="delay"/> (one timer per name,
    /// a new one replaces the pending one). An entity with a pending timer is not passivated for idleness; the timer
    /// is lost only if the entity stops otherwise (<see cref="Passivate"/>, plugin unload, node loss): state that
    /// must outlive those belongs in an event, re-armed from the state when the entity next runs.</summary>
    void Schedule(string name, TimeSpan delay, Element command);
    void Cancel(string name);
    /// <summary>Stops the entity once this command is done (its state stays in the journal).</summary>
    void Passivate();
}

/// <summary>How the host runs the entities of a kind.</summary>
public sealed record EntityKindOptions
{
    /// <summary>An entity that got no command for this long is stopped (passivated); the next command recovers it.</summary>
    public TimeSpan PassivateAfter { get; init; } = TimeSpan.FromMinutes(2);
    /// <summary>A snapshot after this many events (when the behaviour makes snapshots).</summary>
    public int SnapshotEvery { get; init; } = 100;
    /// <summary>Copies per second the kind's fan-outs (<see cref="IEntityContext.SendToEach"/>) may route, per fan-out
    /// lane (a kind has <see cref="FanoutLanes"/>, each entity always the same one); 0: as fast as the router takes them.</summary>
    public int FanoutPerSecond { get; init; }
    /// <summary>Fan-outs of different entities of the kind that stream at once (an entity's own go one after another).</summary>
    public int FanoutLanes { get; init; } = 4;
}

/// <summary>
/// The entities of one kind, reached only by key (a shard region's shape: the clustering issue can put a
/// cluster-sharded region behind it without any plugin change). Disposing it stops the entities; their state stays.
/// </summary>
public interface IEntityKind : IDisposable
{
    string Kind { get; }
    /// <summary>Sends a command to the entity of <paramref name="key"/> (created and recovered on demand).</summary>
    void Tell(string key, Element command);
    /// <summary>Sends a command and completes with the entity's reply (null if it did not reply); fails with
    /// TimeoutException, or with the entity's failure.</summary>
    Task<Element?> AskAsync(string key, Element command, TimeSpan timeout);
}
