using System.Net;
using Actors.Xmpp.Persistence;

namespace Actors.Xmpp.Server;

public sealed partial class XmppServerOptions
{
    /// <summary>Clustered nodes (issue 10): several nodes serving the same domains as one service.</summary>
    public ClusterSettings Cluster { get; set; } = new();

    /// <summary>
    /// The "Xmpp:Cluster" section. Off by default: a single node runs Akka's local provider, with no remoting and no
    /// cluster machinery at all. When <see cref="Enabled"/>, the node joins an Akka.Cluster through
    /// <see cref="SeedNodes"/> (Akka.Remote on <see cref="Hostname"/>:<see cref="Port"/>) and the accounts' entities
    /// become cluster-sharded; every node must use the same PostgreSQL journal.
    /// </summary>
    public sealed class ClusterSettings
    {
        /// <summary>The actor system's name: the same on every node of one cluster (it is part of node addresses).</summary>
        public const string SystemName = "actors";
        /// <summary>The split-brain resolver strategies an operator may choose (Akka.Cluster's names).</summary>
        public const string KeepMajority = "keep-majority";
        public const string KeepOldest = "keep-oldest";
        public const string StaticQuorum = "static-quorum";
        private static readonly string[] Strategies = [KeepMajority, KeepOldest, StaticQuorum];

        public bool Enabled { get; set; }
        /// <summary>The address Akka.Remote binds for the other nodes (an IP address).</summary>
        public string Hostname { get; set; } = "127.0.0.1";
        /// <summary>Akka.Remote's port. 0 picks a free port (then this node cannot be a seed node).</summary>
        public int Port { get; set; } = 4053;
        /// <summary>The host name the other nodes reach this node at, when it differs from <see cref="Hostname"/> (NAT, containers).</summary>
        public string? PublicHostname { get; set; }
        /// <summary>The nodes a starting node contacts to join, as host:port (or full akka.tcp://actors@host:port
        /// addresses). The first seed node that lists itself first forms the cluster when no other node answers.</summary>
        public List<string> SeedNodes { get; set; } = new();
        /// <summary>This node's cluster roles (shown by <c>cluster status</c>).</summary>
        public List<string> Roles { get; set; } = new();
        /// <summary>The split-brain resolver's strategy: keep-majority (default), keep-oldest or static-quorum.</summary>
        public string SplitBrainResolver { get; set; } = KeepMajority;
        /// <summary>How long membership must be stable before the resolver downs unreachable nodes (Akka's stable-after).</summary>
        public int StableAfterSeconds { get; set; } = 20;
        /// <summary>For static-quorum: the number of nodes that must be reachable for a side to keep running.</summary>
        public int QuorumSize { get; set; }
        /// <summary>Shards per sharded entity type (the same on every node; at least ten times the largest node count).</summary>
        public int ShardCount { get; set; } = 100;

        /// <summary>The seed nodes as Akka addresses.</summary>
        public IReadOnlyList<string> SeedAddresses()
        {
            var list = new List<string>(SeedNodes.Count);
            foreach (var seed in SeedNodes)
            {
                var s = seed.Trim();
                if (s.Length == 0) continue;
                list.Add(s.Contains("://", StringComparison.Ordinal) ? s : $"akka.tcp://{SystemName}@{s}");
            }
            return list;
        }

        /// <summary>Refuses a cluster the journal cannot serve and settings Akka would misread, with a clear message.</summary>
        public void Validate(XmppPersistenceOptions persistence)
        {
            if (!Enabled) return;
            if (!persistence.IsPostgres)
                throw new InvalidOperationException(
                    "Xmpp:Cluster:Enabled needs one journal that every node shares: SQLite is a single-node store. " +
                    "Set Xmpp:Persistence:Provider=PostgreSQL and Xmpp:Persistence:ConnectionString, or turn Xmpp:Cluster:Enabled off");
            if (!IPAddress.TryParse(Hostname, out _))
                throw new InvalidOperationException($"Xmpp:Cluster:Hostname '{Hostname}' is not an IP address");
            if (Port is < 0 or > 65535)
                throw new InvalidOperationException($"Xmpp:Cluster:Port {Port} is not a port (0 picks a free one)");
            foreach (var seed in SeedAddresses())
                if (!Uri.TryCreate(seed, UriKind.Absolute, out var uri) || uri.Scheme != "akka.tcp" || uri.Port <= 0
                    || uri.UserInfo != SystemName)
                    throw new InvalidOperationException(
                        $"Xmpp:Cluster:SeedNodes: '{seed}' is not host:port or akka.tcp://{SystemName}@host:port");
            if (Array.IndexOf(Strategies, SplitBrainResolver) < 0)
                throw new InvalidOperationException(
                    $"Xmpp:Cluster:SplitBrainResolver '{SplitBrainResolver}' is not one of {string.Join(", ", Strategies)}");
            if (SplitBrainResolver == StaticQuorum && QuorumSize < 1)
                throw new InvalidOperationException("Xmpp:Cluster:SplitBrainResolver static-quorum needs Xmpp:Cluster:QuorumSize >= 1");
            if (StableAfterSeconds < 1)
                throw new InvalidOperationException("Xmpp:Cluster:StableAfterSeconds must be at least 1");
            if (ShardCount < 1)
                throw new InvalidOperationException("Xmpp:Cluster:ShardCount must be at least 1");
        }
    }
}
