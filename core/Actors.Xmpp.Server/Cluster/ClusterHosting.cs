using Actors.Xmpp.Server.Accounts;
using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Server.Users;
using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Cluster.Hosting.SBR;
using Akka.Hosting;
using Akka.Remote.Hosting;

namespace Actors.Xmpp.Server.Cluster;

/// <summary>
/// The Akka configuration of a clustered node (<c>Xmpp:Cluster:Enabled</c>): Akka.Remote on the configured address,
/// Akka.Cluster with the seed nodes and roles, the split-brain resolver, the routing records' serializer and the
/// sharding settings. Nothing of this is added on a single node (Akka's local provider, as before).
/// <para>
/// Split-brain resolver: keep-majority by default. Our nodes are peers (no role is special and any node can hold any
/// shard), the cluster grows and shrinks (static-quorum would need its size fixed in configuration), and the side
/// that keeps running should be the one holding most of the clients; keep-oldest would let one isolated oldest node
/// down a healthy majority. With an even split, keep-majority keeps the side with the lowest address, so exactly one
/// side survives; a lease-based strategy needs a lease store this project does not run.
/// </para>
/// </summary>
public static class ClusterHosting
{
    public static AkkaConfigurationBuilder WithXmppCluster(this AkkaConfigurationBuilder builder, XmppServerOptions.ClusterSettings cluster)
    {
        builder.WithRemoting(new RemoteOptions
        {
            HostName = cluster.Hostname,
            Port = cluster.Port,
            PublicHostName = string.IsNullOrEmpty(cluster.PublicHostname) ? null : cluster.PublicHostname,
        });
        SplitBrainResolverOption strategy = cluster.SplitBrainResolver switch
        {
            XmppServerOptions.ClusterSettings.KeepOldest => new KeepOldestOption { DownIfAlone = true },
            XmppServerOptions.ClusterSettings.StaticQuorum => new StaticQuorumOption { QuorumSize = cluster.QuorumSize },
            _ => new KeepMajorityOption(),
        };
        builder.WithClustering(new ClusterOptions
        {
            Roles = cluster.Roles.ToArray(),
            SeedNodes = cluster.SeedAddresses().ToArray(),
            SplitBrainResolver = strategy,
        });
        builder.AddHocon(RoutingSerializer.Config, HoconAddMode.Prepend);
        builder.AddHocon($$"""
            akka.cluster.split-brain-resolver.stable-after = {{cluster.StableAfterSeconds}}s
            # the durable DData store needs LightningDB, broken in this package set (stack-findings.md): keep the
            # coordinator's state in memory, replicated (it is rebuilt from the regions when the coordinator moves)
            akka.cluster.sharding.distributed-data.durable.keys = []
            akka.cluster.sharding.state-store-mode = ddata
            # remember-entities (where a kind asks for it) on the event-sourced store, on the shared SQL journal
            akka.cluster.sharding.remember-entities-store = eventsourced
            akka.cluster.sharding.passivate-idle-entity-after = off
            akka.cluster.log-info = off
            # an account directory is written by a short-lived writer on whichever node takes the change, so one
            # persistence id legitimately alternates between writers (the journal's unique sequence numbers order them):
            # the replay filter would discard a returning writer's newer events as a split brain's
            {{Actors.Xmpp.Persistence.XmppPersistenceConfig.JournalPlugin}}.replay-filter.mode = off
            """, HoconAddMode.Prepend);
        return builder;
    }

    /// <summary>Starts the "users" region and hands it to <paramref name="directory"/>; account creations seen on
    /// this node are forwarded to the account's entity (wherever it lives) instead of the local event stream.</summary>
    internal static async Task StartUsersAsync(ActorSystem system, ShardedUserDirectory directory, StanzaRouter router,
        Func<Jid, Props> userProps, AccountResourcesActor.Settings? resources, int shards, SessionView view)
    {
        // sessions live on their nodes: the resources entities watch them (a crashed node's sessions end when it is downed)
        var watched = (resources ?? AccountResourcesActor.Settings.Default) with { WatchSessions = true };
        var region = await ShardedUserDirectory.StartRegionAsync(system,
            id => UsersActor.ShardEntityProps(userProps, router, watched), shards);
        directory.Attach(region);
        ShardRedelivery.Redeliver(system, typeof(UsersActor.Envelope), region); // at-most-once sharding: what a hand-off drops
        system.ActorOf(Props.Create(() => new UnreachableNodes.Tracker()), UnreachableNodes.Tracker.Name);
        system.ActorOf(Props.Create(() => new ServerIqNodes(router.PendingIqs)), ServerIqNodes.Name);
        system.ActorOf(Props.Create(() => new AccountCreationForwarder(directory)), "account-creations");
        system.ActorOf(Props.Create(() => new NodeInfoActor(router.Sessions)), NodeInfoActor.Name);
        // what the other nodes keep in memory follows: plugins' signals, and roster changes for their handlers there
        var signals = ClusterSignals.Of(system);
        signals.On(ClusterSignals.HostSource, ClusterSignals.RosterChanged,
            account => Lifecycle.ServerEvents.Of(system).Raise(Plugins.ServerEventKind.RosterChanged, account));
        signals.Start(system);
        // plugins see every member's sessions (ISessions): this node's changes go to the others, theirs come here
        view.Start(system);
    }

    /// <summary>Tells the entity of each account created on this node (the event stream is per node).</summary>
    private sealed class AccountCreationForwarder : ReceiveActor
    {
        public AccountCreationForwarder(ShardedUserDirectory directory)
        {
            Receive<AccountCreated>(e => directory.Tell(Jid.Create(e.User, e.Domain), AccountResourcesActor.AccountCreated.Instance));
        }

        protected override void PreStart() => Context.System.EventStream.Subscribe(Self, typeof(AccountCreated));
        protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);
    }
}
