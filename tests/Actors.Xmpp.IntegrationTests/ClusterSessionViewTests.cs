using System.Collections.Concurrent;
using System.Net;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Server;
using Actors.Xmpp.Server.Cluster;
using Actors.Xmpp.Server.PluginStores;
using Actors.Xmpp.Xml;
using Akka.Actor;
using Microsoft.Extensions.DependencyInjection;

namespace Actors.Xmpp.IntegrationTests;

/// <summary>Two nodes of one cluster that load the plugins that look at an account's resources: carbons, last activity
/// and offline.</summary>
public sealed class SessionViewClusterFixture : ClusterFixture
{
    protected override string[] Plugins => ["disco", "carbons", "last", "offline"];
}

/// <summary>
/// Issue 10: plugins see the bound sessions of every node (<see cref="SessionView"/>, behind <c>ISessions</c>): an
/// account's resources on the other member with their presence, priority and flags, gone when the session ends or its
/// node becomes unreachable. XEP-0280 carbons between resources on two nodes, XEP-0012 answered from any node, and the
/// offline mailbox delivered by the node that holds the resource.
/// </summary>
public sealed class ClusterSessionViewTests(SessionViewClusterFixture cluster) : IClassFixture<SessionViewClusterFixture>
{
    private const string Carbons = "urn:xmpp:carbons:2";
    private const string Forward = "urn:xmpp:forward:0";
    private const string LastActivity = "jabber:iq:last";

    private static SessionView ViewOf(TestServer node) => node.Services.GetRequiredService<ServerContext>().SessionView;

    /// <summary>A fresh account, known to both nodes' directories.</summary>
    private async Task<Jid> AccountAsync(string user)
    {
        var jid = await cluster.NodeA.AddUserAsync(user);
        await ClusterFixture.WaitForAsync(() => cluster.NodeB.Accounts.Exists(jid), user + " in node B's directory");
        return jid;
    }

    private static Task<XmppTestClient> OnlineAsync(TestServer node, string user, string resource, int priority = 0) =>
        XmppTestClient.LoginAsync(node, user, resource, available: true, priority: priority);

    private static async Task EnableCarbonsAsync(XmppTestClient client)
    {
        var result = await client.IqAsync("set", $"<enable xmlns='{Carbons}'/>");
        Assert.Equal("result", result.Type); // XEP-0280 §4
    }

    /// <summary>Until <paramref name="node"/>'s view holds <paramref name="full"/> as <paramref name="check"/> says.</summary>
    private static Task WaitViewAsync(TestServer node, Jid full, Func<ViewSession?, bool> check, string what) =>
        ClusterFixture.WaitForAsync(() => check(ViewOf(node).Find(full)), what);

    /// <summary>The forwarded original inside a carbon copy, asserting the §7/§8 wrapper: from the account's bare JID
    /// to the resource, the direction element, XEP-0297 &lt;forwarded/&gt;.</summary>
    private static Element Forwarded(Element copy, string direction, XmppTestClient to)
    {
        Assert.Equal(to.Jid.Bare.ToString(), copy.From);
        Assert.Equal(to.Jid.ToString(), copy.To);
        var wrapper = copy.Child(direction, Carbons);
        Assert.True(wrapper is not null, $"expected <{direction}/>, got {copy}");
        var original = wrapper!.Child("forwarded", Forward)?.Child("message", Ns.Client);
        Assert.NotNull(original);
        return original!;
    }

    [Fact]
    public async Task Issue10_each_node_sees_the_resources_bound_on_the_other_with_presence_and_priority_until_they_end()
    {
        var account = await AccountAsync("view-res");
        await using var onA = await XmppTestClient.LoginAsync(cluster.NodeA, "view-res", "on-a");
        var onB = await OnlineAsync(cluster.NodeB, "view-res", "on-b", priority: 5);
        try
        {
            var full = Jid.Parse("view-res@localhost/on-b");
            await WaitViewAsync(cluster.NodeA, full, s => s is { Available: true, Priority: 5 }, "on-b available with priority 5 in node A's view");
            var resources = ViewOf(cluster.NodeA).Resources(account);
            Assert.Equal(2, resources.Count);
            Assert.Contains(resources, s => s.Jid.Equals(onA.Jid) && s.OnThisNode && !s.Available); // bound, no presence yet
            Assert.Contains(resources, s => s.Jid.Equals(full) && !s.OnThisNode && s.Available && s.Priority == 5);
            // node B sees node A's the same way, and its own as its own
            await WaitViewAsync(cluster.NodeB, onA.Jid, s => s is { OnThisNode: false }, "on-a in node B's view");
            Assert.True(ViewOf(cluster.NodeB).Find(full)?.OnThisNode);

            // RFC 6121 §4.7.2.3: a new priority reaches the other node's view
            await onB.SendAsync("<presence><priority>-1</priority></presence>");
            await WaitViewAsync(cluster.NodeA, full, s => s is { Priority: -1 }, "on-b's priority -1 in node A's view");

            // the session ends: it leaves the other node's view
            await onB.DisposeAsync();
            await WaitViewAsync(cluster.NodeA, full, s => s is null, "on-b gone from node A's view");
            Assert.Single(ViewOf(cluster.NodeA).Resources(account));
        }
        finally
        {
            await onB.DisposeAsync();
        }
    }

    [Fact]
    public async Task Issue10_a_session_flag_set_on_one_node_is_seen_with_the_session_on_the_other()
    {
        await AccountAsync("view-flag");
        await using var onB = await OnlineAsync(cluster.NodeB, "view-flag", "on-b");
        await EnableCarbonsAsync(onB); // the carbons plugin keeps its choice as a host flag
        await ClusterFixture.WaitForAsync(() => ViewOf(cluster.NodeA).HasFlag(onB.Jid, Carbons), "the carbons flag in node A's view");
        Assert.True(ViewOf(cluster.NodeA).AnyHasFlag(onB.Jid.Bare, Carbons));
        Assert.True(ViewOf(cluster.NodeB).HasFlag(onB.Jid, Carbons));
        Assert.False(ViewOf(cluster.NodeA).SetFlag(onB.Jid, Carbons, on: false)); // set where the session lives only

        var disabled = await onB.IqAsync("set", $"<disable xmlns='{Carbons}'/>"); // §5
        Assert.Equal("result", disabled.Type);
        await ClusterFixture.WaitForAsync(() => !ViewOf(cluster.NodeA).HasFlag(onB.Jid, Carbons), "the flag cleared in node A's view");
        Assert.False(ViewOf(cluster.NodeA).AnyHasFlag(onB.Jid.Bare, Carbons));
    }

    [Fact]
    public async Task Xep0280_7_a_message_to_a_full_jid_is_copied_to_the_enabled_resource_on_the_other_node_whichever_node_the_sender_is_on()
    {
        await AccountAsync("cb-x-rcv");
        await AccountAsync("cb-x-rcv-bob");
        await using var r1 = await OnlineAsync(cluster.NodeA, "cb-x-rcv", "r1");
        await using var r2 = await OnlineAsync(cluster.NodeB, "cb-x-rcv", "r2");
        await EnableCarbonsAsync(r1);
        await EnableCarbonsAsync(r2);
        await ClusterFixture.WaitForAsync(() => ViewOf(cluster.NodeA).HasFlag(r2.Jid, Carbons) && ViewOf(cluster.NodeB).HasFlag(r1.Jid, Carbons),
            "each node sees the other's carbons flag");
        foreach (var (node, id) in new[] { (cluster.NodeA, "x1"), (cluster.NodeB, "x2") })
        {
            await using var bob = await OnlineAsync(node, "cb-x-rcv-bob", "on-" + id);
            await bob.SendAsync($"<message to='{r1.Jid}' type='chat' id='{id}'><body>to r1</body></message>");
            var original = await r1.Receives(e => e.Name == "message" && e.Id == id, "the original at r1");
            Assert.Null(original.Child("received", Carbons)); // the addressee gets the message itself, no copy
            var copied = Forwarded(await r2.Receives(e => e.Name == "message" && e.Child("received", Carbons) is not null, "the copy at r2"),
                "received", r2);
            Assert.Equal(id, copied.Id);
            Assert.Equal(bob.Jid.ToString(), copied.From);
            Assert.Equal("to r1", copied.ChildText("body", Ns.Client));
        }
    }

    [Fact]
    public async Task Xep0280_7_a_message_to_the_bare_jid_is_copied_to_the_enabled_resource_on_the_other_node_that_did_not_get_it()
    {
        await AccountAsync("cb-x-bare");
        await AccountAsync("cb-x-bare-bob");
        await using var top = await OnlineAsync(cluster.NodeA, "cb-x-bare", "top", priority: 5);
        await using var low = await OnlineAsync(cluster.NodeB, "cb-x-bare", "low", priority: 1);
        await EnableCarbonsAsync(top);
        await EnableCarbonsAsync(low);
        await using var bob = await OnlineAsync(cluster.NodeA, "cb-x-bare-bob", "x");
        // the sender's node decides the copies (its hooks run where the message enters routing): it must see low's
        // flag and priority
        await WaitViewAsync(cluster.NodeA, low.Jid, s => s is { Available: true, Priority: 1 }, "low available in node A's view");
        await ClusterFixture.WaitForAsync(() => ViewOf(cluster.NodeA).HasFlag(low.Jid, Carbons), "low's flag in node A's view");
        // RFC 6121 §8.5.2.1.1: the highest-priority resource gets it; XEP-0280 §7: the other enabled one a copy
        await bob.SendAsync("<message to='cb-x-bare@localhost' type='chat' id='b1'><body>hi</body></message>");
        Assert.Null((await top.Receives(e => e.Name == "message" && e.Id == "b1", "the original at top")).Child("received", Carbons));
        var copied = Forwarded(await low.Receives(e => e.Name == "message", "the copy at low"), "received", low);
        Assert.Equal("b1", copied.Id);
    }

    [Fact]
    public async Task Xep0280_8_a_message_sent_by_a_resource_is_copied_to_the_enabled_resource_on_the_other_node_not_to_the_sender()
    {
        await AccountAsync("cb-x-sent");
        await AccountAsync("cb-x-sent-bob");
        await using var phone = await OnlineAsync(cluster.NodeA, "cb-x-sent", "phone");
        await using var desk = await OnlineAsync(cluster.NodeB, "cb-x-sent", "desk");
        await EnableCarbonsAsync(phone);
        await EnableCarbonsAsync(desk);
        await using var bob = await OnlineAsync(cluster.NodeB, "cb-x-sent-bob", "x");
        await ClusterFixture.WaitForAsync(() => ViewOf(cluster.NodeA).HasFlag(desk.Jid, Carbons) && ViewOf(cluster.NodeB).HasFlag(phone.Jid, Carbons),
            "each node sees the other's carbons flag");

        await phone.SendAsync("<message to='cb-x-sent-bob@localhost' type='chat' id='s1'><body>from phone</body></message>");
        Assert.Equal("s1", (await bob.Receives(e => e.Name == "message" && e.Id == "s1", "s1 at bob")).Id);
        var copied = Forwarded(await desk.Receives(e => e.Name == "message", "the copy at desk"), "sent", desk);
        Assert.Equal("s1", copied.Id);
        Assert.Equal(phone.Jid.ToString(), copied.From);
        Assert.Equal("cb-x-sent-bob@localhost", copied.To);
        // and back: desk's message is copied to phone on node A; phone saw no copy of its own s1 before it
        await desk.SendAsync("<message to='cb-x-sent-bob@localhost' type='chat' id='s2'><body>from desk</body></message>");
        var atPhone = await phone.Receives(e => e.Name == "message", "the next message at phone");
        Assert.Equal("s2", Forwarded(atPhone, "sent", phone).Id);
    }

    [Fact]
    public async Task Xep0012_4_an_account_online_only_on_the_other_node_is_answered_as_online()
    {
        // a fresh account that never logged out: without the other node's sessions the answer would be item-not-found
        await AccountAsync("last-x");
        await using var asker = await XmppTestClient.LoginAsync(cluster.NodeA, "last-x", "asker"); // bound, not available
        await using var online = await OnlineAsync(cluster.NodeB, "last-x", "on-b");
        await WaitViewAsync(cluster.NodeA, online.Jid, s => s is { Available: true }, "on-b available in node A's view");
        var result = await asker.IqAsync("get", $"<query xmlns='{LastActivity}'/>", to: "last-x@localhost");
        Assert.Equal("result", result.Type);
        Assert.Equal("0", result.Child("query", LastActivity)?.Attr("seconds"));
    }

    [Fact]
    public async Task Xep0160_a_message_stored_through_one_node_is_announced_to_the_other()
    {
        var account = await AccountAsync("off-x-sig");
        var heard = new ConcurrentQueue<(string Node, Jid About)>();
        using var onA = ClusterSignals.Of(cluster.NodeA.Services.GetRequiredService<ActorSystem>()).On("offline", "stored", j => heard.Enqueue(("A", j)));
        using var onB = ClusterSignals.Of(cluster.NodeB.Services.GetRequiredService<ActorSystem>()).On("offline", "stored", j => heard.Enqueue(("B", j)));
        await using var bob = await XmppTestClient.LoginAsync(cluster.NodeA, "bob", "sig");
        // RFC 6121 §8.5.2.2.1: no resource: stored on the node of the account's entity, which tells the other one
        await bob.SendAsync($"<message to='{account}' type='chat' id='o1'><body>later</body></message>");
        await ClusterFixture.WaitForAsync(() => !heard.IsEmpty, "the stored signal on a node");
        await Task.Delay(300);
        var (_, about) = Assert.Single(heard); // only the other node hears it
        Assert.Equal(account, about);
    }

    [Fact]
    public async Task Xep0160_the_node_holding_the_available_resource_delivers_a_message_stored_while_it_came_online()
    {
        // the window of the rolling-restart loss: the resource came online on node B and its delivery read the mailbox
        // before the append landed; the append's announcement makes node B deliver it. Made deterministic here: the
        // message is appended straight into the mailbox once the resource is online, then the announcement comes
        // from node A, where the account has no session (so node A delivers nothing itself)
        var account = await AccountAsync("off-x-late");
        await using var onB = await OnlineAsync(cluster.NodeB, "off-x-late", "on-b");
        var systemA = cluster.NodeA.Services.GetRequiredService<ActorSystem>();
        var mailbox = PluginStores.Of(systemA).For("offline").Archive("messages");
        var stanza = Element.Parse($"<message xmlns='jabber:client' from='bob@localhost/x' to='{account}' type='chat' id='late'><body>in the window</body></message>");
        Assert.NotEqual(0, await mailbox.AppendAsync(account, StoredValue.Of(stanza), 100));

        ClusterSignals.Of(systemA).Tell("offline", "stored", account);
        var delivered = await onB.Receives(e => e.Name == "message" && e.Id == "late", "the stored message at on-b");
        Assert.Equal("in the window", delivered.ChildText("body", Ns.Client));
        Assert.NotNull(delivered.Child("delay", "urn:xmpp:delay")); // XEP-0203
        await ClusterFixture.WaitForAsync(async () => await mailbox.CountAsync(account) == 0, "the mailbox trimmed once delivered");
    }

    /// <summary>An account removed through one node: that node raises AccountRemoved (stored state goes once), and
    /// every node raises AccountGone when it reads the removal from the journal, so their caches drop the account.</summary>
    [Fact]
    public async Task Issue10_an_account_removed_on_one_node_is_AccountGone_on_every_node_and_AccountRemoved_on_that_one()
    {
        var account = await AccountAsync("view-gone");
        var seen = new ConcurrentQueue<(string Node, ServerEventKind Kind)>();
        IDisposable Watch(TestServer node, string name, ServerEventKind kind) =>
            Actors.Xmpp.Server.Lifecycle.ServerEvents.Of(node.Services.GetRequiredService<ActorSystem>()).On(kind, e =>
            {
                if (e.Jid.Equals(account)) seen.Enqueue((name, kind));
                return ValueTask.CompletedTask;
            });
        using var goneA = Watch(cluster.NodeA, "A", ServerEventKind.AccountGone);
        using var goneB = Watch(cluster.NodeB, "B", ServerEventKind.AccountGone);
        using var removedA = Watch(cluster.NodeA, "A", ServerEventKind.AccountRemoved);
        using var removedB = Watch(cluster.NodeB, "B", ServerEventKind.AccountRemoved);

        Assert.True(await cluster.NodeA.Services.GetRequiredService<ServerContext>().AccountLifecycle.RemoveAsync(account));

        await ClusterFixture.WaitForAsync(() => seen.Count(e => e.Kind == ServerEventKind.AccountGone) == 2, "AccountGone on both nodes");
        await Task.Delay(500); // nothing more comes
        Assert.Equal(1, seen.Count(e => e == ("A", ServerEventKind.AccountGone)));
        Assert.Equal(1, seen.Count(e => e == ("B", ServerEventKind.AccountGone)));
        Assert.Equal([("A", ServerEventKind.AccountRemoved)], seen.Where(e => e.Kind == ServerEventKind.AccountRemoved));
        await ClusterFixture.WaitForAsync(() => !cluster.NodeB.Accounts.Exists(account), "view-gone out of node B's directory");
    }
}

/// <summary>
/// Issue 10: a member that dies takes its sessions out of the other members' session views once it is unreachable.
/// A cluster of its own: the killed node may have held shards, whose recovery elsewhere would slow the other tests'
/// stores.
/// </summary>
public sealed class ClusterSessionViewFailureTests(ClusterFixture cluster) : IClassFixture<ClusterFixture>
{
    private static SessionView ViewOf(TestServer node) => node.Services.GetRequiredService<ServerContext>().SessionView;

    private static Task WaitViewAsync(TestServer node, Jid full, Func<ViewSession?, bool> check, string what) =>
        ClusterFixture.WaitForAsync(() => check(ViewOf(node).Find(full)), what);

    private static async Task<XmppTestClient> FirstLoginAsync(TestServer node, string user, string resource, int? priority)
    {
        XmppTestClient? client = null;
        await ClusterFixture.WaitForAsync(async () =>
        {
            try
            {
                client = await XmppTestClient.LoginAsync(node, user, resource, available: true, priority: priority);
                return true;
            }
            catch (TimeoutException)
            {
                return false;
            }
        }, $"{user}/{resource} logged in");
        return client!;
    }

    [Fact]
    public async Task Issue10_a_node_that_joins_receives_the_sessions_bound_before_it_came_and_its_own_leave_with_it()
    {
        var user = await cluster.NodeA.AddUserAsync("view-join");
        // the first bind of a cluster that just formed waits for its first shard allocation (longer than a client's
        // read timeout on a loaded machine): tried again until it is bound
        await using var onA = await FirstLoginAsync(cluster.NodeA, "view-join", "on-a", 2);
        var nodeC = await ClusterFixture.StartNodeAsync(cluster.ConnectionString, ClusterFixture.FreePort(), cluster.SeedPort);
        try
        {
            // bound before node C existed: it learns them from node A's snapshot when it comes up
            await WaitViewAsync(nodeC, onA.Jid, s => s is { Available: true, Priority: 2, OnThisNode: false }, "on-a in node C's view");
            await ClusterFixture.WaitForAsync(() => nodeC.Accounts.Exists(user), "view-join in node C's directory");
            // a bind on node C waits for the account's entity through node C's "users" region: registered first
            var regionC = nodeC.Services.GetRequiredService<ShardedUserDirectory>().Region;
            await ClusterFixture.WaitForAsync(async () => (await regionC.Ask<Akka.Cluster.Sharding.CurrentRegions>(
                Akka.Cluster.Sharding.GetCurrentRegions.Instance, TimeSpan.FromSeconds(5))).Regions.Count == 3, "node C's users region registered");
            await using var onC = await FirstLoginAsync(nodeC, "view-join", "on-c", null);
            await WaitViewAsync(cluster.NodeA, onC.Jid, s => s is { Available: true, OnThisNode: false }, "on-c in node A's view");
            await WaitViewAsync(cluster.NodeB, onC.Jid, s => s is { Available: true, OnThisNode: false }, "on-c in node B's view");
            await nodeC.StopAsync(); // a graceful leave: its sessions end, then it is removed
            await ClusterFixture.WaitForAsync(() => ViewOf(cluster.NodeA).Find(onC.Jid) is null && ViewOf(cluster.NodeB).Find(onC.Jid) is null,
                "on-c gone from both views");
            Assert.True(ViewOf(cluster.NodeB).Find(onA.Jid) is { OnThisNode: false });
        }
        finally
        {
            await nodeC.DisposeAsync();
        }
    }

    [Fact]
    public async Task Issue10_a_node_that_becomes_unreachable_takes_its_sessions_out_of_the_others_views()
    {
        var user = await cluster.NodeA.AddUserAsync("view-kill");
        await ClusterFixture.WaitForAsync(() => cluster.NodeB.Accounts.Exists(user), "view-kill in node B's directory");
        await using var nodeC = await NodeProcess.StartAsync(cluster);
        await using var onC = await XmppTestClient.LoginAsync(new IPEndPoint(IPAddress.Loopback, nodeC.C2sPort), "view-kill", TestServer.Password, resource: "k");
        await onC.SendAsync("<presence/>");
        var full = Jid.Parse("view-kill@localhost/k");
        await WaitViewAsync(cluster.NodeA, full, s => s is { Available: true, OnThisNode: false }, "node C's session in node A's view");
        await WaitViewAsync(cluster.NodeB, full, s => s is { Available: true }, "node C's session in node B's view");

        nodeC.Kill(); // SIGKILL: no session end reaches anyone; the failure detector has to notice
        await ClusterFixture.WaitForAsync(() => ViewOf(cluster.NodeA).Find(full) is null && ViewOf(cluster.NodeB).Find(full) is null,
            "node C's session gone from both views", seconds: 60);
    }
}
