using Actors.Xmpp.Server.PluginStores;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Util;

namespace Actors.Xmpp.Server.Cluster;

/// <summary>
/// Plugin storage on a clustered node: every <see cref="StoreEnvelope"/> goes to the "plugin-stores" shard region,
/// sharded by the store's owner (an account's bare JID or a service JID), so that all the stores of one owner live on
/// one node at a time and every node reads and writes the same store actor (offline messages stored through one node
/// are read through another). The entity of a shard is a <see cref="PluginStoresActor"/> in partition mode: the
/// parent of that shard's <see cref="PluginStoreActor"/>s and the directory of that shard's stores (the answer for a
/// store the journal never held is decided in one place per store). The records cross nodes with
/// <see cref="RoutingSerializer"/>.
/// </summary>
public static class ShardedPluginStores
{
    /// <summary>The shard region's type name (the same on every node).</summary>
    public const string TypeName = "plugin-stores";

    /// <summary>The shard (and entity id) of an owner: stable on every node (Akka's MurmurHash of the bare JID).</summary>
    public static string ShardOf(Jid owner, int shards) =>
        Math.Abs(MurmurHash.StringHash(owner.Bare.ToString()) % shards).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Starts this node's region and points the stores' extension at it.</summary>
    public static async Task<IActorRef> StartAsync(ActorSystem system, PluginStores.PluginStores stores, int shards)
    {
        var sharding = ClusterSharding.Get(system);
        var settings = ClusterShardingSettings.Create(system).WithRememberEntities(false);
        Func<Jid, string> shardOf = owner => ShardOf(owner, shards);
        // (an entity may start before StartAsync returns here: it finds the region through the extension)
        Func<IActorRef> regionRef = () => sharding.ShardRegion(TypeName);
        var region = await sharding.StartAsync(TypeName,
            shard => stores.PartitionProps(new PluginStoresActor.Partition(shard, shardOf, stores.ListForPartitionAsync, regionRef)),
            settings, new MessageExtractor(shards), sharding.DefaultShardAllocationStrategy(settings), PluginStoresActor.HandOff.Instance);
        ShardRedelivery.Redeliver(system, typeof(StoreEnvelope), region);
        stores.UseRegion(region);
        return region;
    }

    /// <summary>Entity id = shard id = the owner's shard: one directory entity per shard.</summary>
    public sealed class MessageExtractor(int shards) : IMessageExtractor
    {
        public string EntityId(object message) => message is StoreEnvelope e ? ShardOf(e.Address.Owner, shards) : null!;

        public object EntityMessage(object message) => message;

        public string ShardId(object message) => message is StoreEnvelope e ? ShardOf(e.Address.Owner, shards) : null!;

        public string ShardId(string entityId, object? messageHint = null) => entityId;
    }
}
