using Actors.Xmpp.Server.Users;
using Akka.Actor;
using Akka.Cluster.Sharding;

namespace Actors.Xmpp.Server.Cluster;

/// <summary>
/// The <see cref="IUserDirectory"/> of a clustered node: every account's <see cref="UsersActor"/> (its user actor and
/// resources entity under it) is an entity of the "users" shard region, keyed by the bare JID, so that it lives on one
/// node at a time and moves when nodes join or leave (the user actor recovering from the shared journal). Messages
/// cross nodes as core records with <see cref="RoutingSerializer"/>.
/// </summary>
public sealed class ShardedUserDirectory : IUserDirectory
{
    /// <summary>The shard region's type name (the same on every node).</summary>
    public const string TypeName = "users";

    private IActorRef _region = ActorRefs.Nobody;

    /// <summary>Connects the directory to this node's shard region (once the actor system is up).</summary>
    public void Attach(IActorRef region) => _region = region;

    public bool Attached => !_region.IsNobody();

    public IActorRef Region => _region;

    public void Tell(Jid user, object message, IActorRef? sender = null) =>
        _region.Tell(new UsersActor.Envelope(user.Bare, message), sender ?? ActorRefs.NoSender);

    public Task<T> Ask<T>(Jid user, object message, TimeSpan timeout) =>
        _region.Ask<T>(new UsersActor.Envelope(user.Bare, message), timeout);

    /// <summary>Starts this node's "users" region (Akka.Cluster.Sharding) with one <see cref="UsersActor"/> entity per account.</summary>
    public static Task<IActorRef> StartRegionAsync(ActorSystem system, Func<string, Props> entityProps, int shards)
    {
        // no remember-entities: an account's entity is started by the next message for it (its resources entity asks
        // every node for the account's sessions before it routes; the user actor recovers from the journal)
        var settings = ClusterShardingSettings.Create(system).WithRememberEntities(false);
        var sharding = ClusterSharding.Get(system);
        // a hand-off drains the entity (UsersActor.HandOffStop) instead of stopping it with a PoisonPill
        return sharding.StartAsync(TypeName, entityProps, settings, new MessageExtractor(shards),
            sharding.DefaultShardAllocationStrategy(settings), UsersActor.HandOffStop.Instance);
    }

    /// <summary>Entity id = the bare JID of the envelope; the shard from its hash (stable on every node).</summary>
    public sealed class MessageExtractor(int shards) : HashCodeMessageExtractor(shards)
    {
        public override string EntityId(object message) => message is UsersActor.Envelope e ? e.User.ToString() : null!;
    }
}
