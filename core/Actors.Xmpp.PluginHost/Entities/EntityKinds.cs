using Actors.Xmpp.Server.PluginEntities;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Actors.Xmpp.Server;
using Akka.Cluster.Sharding;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;
using Akka.Actor;

namespace Actors.Xmpp.PluginHost.Entities;

/// <summary>Starts the region of a plugin's entity kind under the plugin's supervisor (so that unloading the plugin
/// stops its entities, and a reload waits for them to stop before recovering them on demand). On a clustered node the
/// region is a cluster shard region instead (<see cref="StartSharded"/>): each entity lives on one node at a time.</summary>
internal static partial class EntityKinds
{
    /// <summary>The shard region's type name of a plugin's kind (the same on every node).</summary>
    public static string ShardedTypeName(string plugin, string kind) => "entities." + plugin + "." + kind;

    /// <summary>Per actor system: the shard regions of entity kinds being shut down (a reload waits for the old region
    /// to be gone before it starts the same type again).</summary>
    private static readonly ConditionalWeakTable<ActorSystem, ConcurrentDictionary<string, (IActorRef Region, Task Stopped)>> Stopping = new();

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,62}$")]
    private static partial Regex KindName();

    /// <summary>The region's child name under the plugin's supervisor.</summary>
    public static string RegionName(string kind) => "entities-" + kind;

    /// <summary>Called from a plugin's Configure (not from an actor): waits for the supervisor to start the region.</summary>
    public static IEntityKind Start(string plugin, string kind, IEntityBehavior behavior, EntityKindOptions? options,
        IActorRef supervisor, Action<Element> send, ActorSystem? system = null, XmppServerOptions.ClusterSettings? cluster = null)
    {
        ArgumentNullException.ThrowIfNull(behavior);
        if (!KindName().IsMatch(kind ?? "")) throw new ArgumentException($"an entity kind is lower-case letters, digits and '-' (got '{kind}')", nameof(kind));
        var o = options ?? new EntityKindOptions();
        if (o.PassivateAfter <= TimeSpan.Zero || o.SnapshotEvery <= 0) throw new ArgumentOutOfRangeException(nameof(options), "PassivateAfter and SnapshotEvery must be positive");
        if (o.FanoutPerSecond < 0 || o.FanoutLanes <= 0) throw new ArgumentOutOfRangeException(nameof(options), "FanoutPerSecond must not be negative and FanoutLanes must be positive");
        var fanout = system is null ? EntityFanout.Inline(send) : new EntityFanout(system, plugin + "/" + kind, o, send);
        if (cluster is { Enabled: true }) return StartSharded(plugin, kind!, behavior, o, send, system!, cluster.ShardCount, fanout);
        var props = EntityRegionActor.Props(key => PluginEntityActor.Props(plugin, kind!, key, behavior, o, send, fanout: fanout));
        object answer = supervisor.Ask(new PluginSupervisorActor.Spawn(props, RegionName(kind!), Reply: true), TimeSpan.FromSeconds(10))
            .GetAwaiter().GetResult();
        if (answer is not IActorRef region)
        {
            fanout.Dispose();
            throw new InvalidOperationException($"the entity kind '{kind}' of plugin '{plugin}' could not start (registered twice?): {answer}");
        }
        return new EntityKindHandle(kind!, region, () =>
        {
            supervisor.Tell(new PluginSupervisorActor.StopChild(RegionName(kind!)));
            fanout.Dispose(); // the lanes route what they hold, then stop (an entity still finishing routes inline)
        });
    }

    /// <summary>
    /// A clustered node: the kind's entities are entities of the shard region "entities.&lt;plugin&gt;.&lt;kind&gt;"
    /// (entity id = the key, shard = its hash), started on every node that loads the plugin, with this node's behaviour.
    /// Passivation goes through the shard's handshake (<see cref="Akka.Cluster.Sharding.Passivate"/>, then
    /// <see cref="EntityRegionActor.StopEntity"/>, which is also the hand-off stop message). Disposing the handle (the
    /// plugin unloads or reloads here) shuts this node's region down gracefully: its entities stop and their shards
    /// move to the nodes that still run the kind (or come back here once the reloaded plugin starts the region again).
    /// </summary>
    private static IEntityKind StartSharded(string plugin, string kind, IEntityBehavior behavior, EntityKindOptions o, Action<Element> send,
        ActorSystem system, int shards, EntityFanout fanout)
    {
        var typeName = ShardedTypeName(plugin, kind);
        var stopping = Stopping.GetValue(system, _ => new ConcurrentDictionary<string, (IActorRef, Task)>());
        IActorRef? previous = null;
        if (stopping.TryRemove(typeName, out var old))
        {
            previous = old.Region;
            if (!old.Stopped.Wait(TimeSpan.FromSeconds(30))) // called from Configure, never from an actor
                throw new InvalidOperationException($"the entity kind '{kind}' of plugin '{plugin}': its previous shard region did not stop within 30 s");
        }
        var sharding = ClusterSharding.Get(system);
        var settings = ClusterShardingSettings.Create(system).WithRememberEntities(false);
        IActorRef region;
        for (var attempt = 0; ; attempt++)
        {
            region = sharding.StartAsync(typeName, key => PluginEntityActor.Props(plugin, kind, key, behavior, o, send, sharded: true, fanout),
                settings, new HashCodeMessageExtractor(shards), sharding.DefaultShardAllocationStrategy(settings),
                EntityRegionActor.StopEntity.Instance).GetAwaiter().GetResult();
            // the sharding guardian may not have seen its old child's end yet: then it answers with that child
            if (previous is null || !region.Equals(previous) || attempt == 50) break;
            Thread.Sleep(100);
        }
        if (previous is not null && region.Equals(previous))
            throw new InvalidOperationException($"the entity kind '{kind}' of plugin '{plugin}': its previous shard region is still registered");
        return new EntityKindHandle(kind, region, () =>
        {
            stopping[typeName] = (region, region.WatchAsync());
            region.Tell(GracefulShutdown.Instance);
            fanout.Dispose();
        });
    }

    /// <summary>Entity id = the key; the shard from its hash (stable on every node).</summary>
    private sealed class HashCodeMessageExtractor(int shards) : Akka.Cluster.Sharding.HashCodeMessageExtractor(shards)
    {
        public override string EntityId(object message) => message is EntityCommand c ? c.Key : null!;
    }
}

/// <summary>A plugin's handle on one entity kind: commands by key, nothing else. Disposing it (the plugin unloads or
/// reloads) stops the region; asks still waiting then fail at once rather than at their timeout (a command an entity
/// had not handled when it stopped gets no answer), and later asks fail as soon as they are made.</summary>
internal sealed class EntityKindHandle(string kind, IActorRef region, Action stop) : IEntityKind
{
    private Action? _stop = stop;
    private readonly CancellationTokenSource _stopped = new();

    public string Kind { get; } = kind;

    public void Tell(string key, Element command) => region.Tell(new EntityCommand(CheckKey(key), command.Clone(), false));

    public async Task<Element?> AskAsync(string key, Element command, TimeSpan timeout)
    {
        object answer;
        try
        {
            answer = await region.Ask(new EntityCommand(CheckKey(key), command.Clone(), true), timeout, _stopped.Token).ConfigureAwait(false);
        }
        catch (AskTimeoutException ex)
        {
            throw new TimeoutException($"the entity {Kind}/{key} did not answer within {timeout}", ex);
        }
        catch (OperationCanceledException ex) when (_stopped.IsCancellationRequested)
        {
            throw new InvalidOperationException($"the entity kind {Kind} stopped (its plugin was unloaded or reloaded) before {key} answered", ex);
        }
        return answer switch
        {
            EntityReply r => r.Payload,
            EntityFailed f => throw new InvalidOperationException($"the entity {Kind}/{key} failed: {f.Reason}"),
            _ => throw new InvalidOperationException($"unexpected answer from the entity {Kind}/{key}: {answer}"),
        };
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _stop, null) is not { } stopRegion) return;
        _stopped.Cancel();
        stopRegion();
    }

    private static string CheckKey(string key) =>
        string.IsNullOrEmpty(key) ? throw new ArgumentException("an entity key must not be empty", nameof(key)) : key;
}
