using Actors.Xmpp.Server.Cluster;
using Actors.Xmpp.Server.Routing;
using Akka.Actor;

namespace Actors.Xmpp.Tests.Cluster;

/// <summary>
/// The session view plugins read (<see cref="SessionView"/>, behind <c>ISessions</c>): this node's registry with the
/// plugins' flags, and the replica of the other members' sessions as the relay applies their changes, snapshots and
/// departures. The relay's messages between real nodes: ClusterSessionViewTests.
/// </summary>
public sealed class SessionViewSpec : Akka.TestKit.Xunit2.TestKit
{
    private const string Carbons = "urn:xmpp:carbons:2";
    private static readonly Jid Alice = Jid.Parse("alice@localhost");
    private static readonly Jid Phone = Jid.Parse("alice@localhost/phone");
    private static readonly Jid Desk = Jid.Parse("alice@localhost/desk");
    private static readonly Address NodeB = new("akka.tcp", "actors", "10.0.0.2", 4053);
    private static readonly Address NodeC = new("akka.tcp", "actors", "10.0.0.3", 4053);

    /// <summary>A session actor's ref as it arrives from another member (its path names that member).</summary>
    private sealed class RemoteSession(ActorPath path, IActorRefProvider provider) : MinimalActorRef
    {
        public override ActorPath Path => path;
        public override IActorRefProvider Provider => provider;
    }

    private IActorRef On(Address node, string name) =>
        new RemoteSession(new RootActorPath(node) / "user" / "sessions" / name, ((ExtendedActorSystem)Sys).Provider);

    private readonly LocalSessionRegistry _local = new();
    private readonly SessionView _view;

    public SessionViewSpec() => _view = new SessionView(_local);

    [Fact]
    public void On_one_node_the_view_is_the_local_registry_with_its_sessions_on_this_node()
    {
        var registry = _view.Publishing(); // no relay started: the local registry, nothing published
        var session = CreateTestProbe().Ref;
        registry.Register(new SessionEntry(Phone, session, false, 0, 1));
        registry.UpdatePresence(Phone, session, true, 3);
        var only = Assert.Single(_view.Resources(Alice));
        Assert.Equal(new ViewSession(Phone, session, true, 3, OnThisNode: true), only);
        Assert.Equal(1, _view.Count);
        Assert.Same(_local.Find(Phone), registry.Find(Phone));
        Assert.True(registry.Unregister(Phone, session));
        Assert.Empty(_view.Resources(Alice));
        Assert.False(_view.Replicating);
    }

    [Fact]
    public void A_flag_is_kept_with_the_session_it_was_set_on_and_a_new_session_at_the_same_jid_starts_without_it()
    {
        Assert.False(_view.SetFlag(Phone, Carbons, on: true)); // nothing bound there
        var first = CreateTestProbe().Ref;
        _local.Register(new SessionEntry(Phone, first, true, 0, 1));
        Assert.True(_view.SetFlag(Phone, Carbons, on: true));
        Assert.True(_view.HasFlag(Phone, Carbons));
        Assert.True(_view.AnyHasFlag(Alice, Carbons));
        Assert.False(_view.HasFlag(Phone, "urn:other"));

        var second = CreateTestProbe().Ref; // RFC 6120 §7.7.2.2: a new session replaces the old at the same full JID
        _local.Register(new SessionEntry(Phone, second, true, 0, 2));
        Assert.False(_view.HasFlag(Phone, Carbons));
        Assert.False(_view.AnyHasFlag(Alice, Carbons));
        _view.SessionClosed(Phone); // the old one's close drops its flags, not the new one's (it has none)
        Assert.True(_view.SetFlag(Phone, Carbons, on: true));
        _view.SessionClosed(Phone); // still bound: kept
        Assert.True(_view.HasFlag(Phone, Carbons));
        Assert.True(_view.SetFlag(Phone, Carbons, on: false));
        Assert.False(_view.HasFlag(Phone, Carbons));
    }

    [Fact]
    public void Another_members_session_is_listed_after_this_nodes_with_its_presence_priority_and_flags()
    {
        var local = CreateTestProbe().Ref;
        _local.Register(new SessionEntry(Phone, local, false, 0, 1));
        var remote = On(NodeB, "desk");
        _view.ApplyChanged(new SessionView.Changed(Desk, remote, true, 5, []));
        var resources = _view.Resources(Alice);
        Assert.Equal(new[] { Phone, Desk }, resources.Select(r => r.Jid));
        Assert.Equal(new ViewSession(Desk, remote, true, 5, OnThisNode: false), resources[1]);
        Assert.Equal(2, _view.Count);
        Assert.Equal(1, _view.RemoteCount);
        Assert.False(_view.HasFlag(Desk, Carbons));
        Assert.False(_view.SetFlag(Desk, Carbons, on: true)); // set where the session lives

        // its next state replaces the entry (one per full JID and member)
        _view.ApplyChanged(new SessionView.Changed(Desk, remote, true, -1, [Carbons]));
        Assert.Equal(-1, _view.Find(Desk)!.Priority);
        Assert.True(_view.HasFlag(Desk, Carbons));
        Assert.True(_view.AnyHasFlag(Alice, Carbons));
        Assert.Equal(1, _view.RemoteCount);
        Assert.Equal(2, _view.All().Count());
    }

    [Fact]
    public void An_end_removes_only_the_session_it_names_and_a_full_jid_bound_here_hides_the_other_members_entry()
    {
        var old = On(NodeB, "desk-1");
        _view.ApplyChanged(new SessionView.Changed(Desk, old, true, 0, [Carbons]));
        // the session moved here (XEP-0198 resumption on this node): this node's entry is the one listed
        var moved = CreateTestProbe().Ref;
        _local.Register(new SessionEntry(Desk, moved, true, 0, 1));
        var listed = Assert.Single(_view.Resources(Alice));
        Assert.True(listed.OnThisNode);
        Assert.Equal(moved, listed.Session);
        Assert.False(_view.HasFlag(Desk, Carbons)); // the flags were the old session's
        Assert.False(_view.AnyHasFlag(Alice, Carbons));

        _view.ApplyEnded(new SessionView.Ended(Desk, On(NodeB, "desk-other"))); // not that session: nothing
        Assert.Equal(1, _view.RemoteCount);
        _view.ApplyEnded(new SessionView.Ended(Desk, old));
        Assert.Equal(0, _view.RemoteCount);
        Assert.Equal(moved, Assert.Single(_view.Resources(Alice)).Session);
    }

    [Fact]
    public void A_member_that_is_dropped_takes_only_its_own_sessions_out_of_the_view()
    {
        _view.ApplyChanged(new SessionView.Changed(Phone, On(NodeB, "phone"), true, 0, []));
        _view.ApplyChanged(new SessionView.Changed(Desk, On(NodeC, "desk"), true, 0, []));
        _view.ApplyChanged(new SessionView.Changed(Jid.Parse("bob@localhost/b"), On(NodeB, "b"), true, 0, []));
        Assert.Equal(3, _view.RemoteCount);
        _view.DropNode(NodeB); // unreachable or removed
        Assert.Equal(1, _view.RemoteCount);
        Assert.Equal(Desk, Assert.Single(_view.Resources(Alice)).Jid);
        Assert.Empty(_view.Resources(Jid.Parse("bob@localhost")));
        Assert.Null(_view.Find(Phone));
    }
}
