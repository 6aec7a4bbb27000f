using Actors.Xmpp.Server.Cluster;
using Actors.Xmpp.Server.PluginStores;
using Actors.Xmpp.Xml;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Microsoft.Extensions.DependencyInjection;

namespace Actors.Xmpp.IntegrationTests;

/// <summary>Two nodes of one cluster that both load the offline, MUC, PubSub and blocking plugins.</summary>
public sealed class PluginClusterFixture : ClusterFixture
{
    protected override string[] Plugins => ["disco", "offline", "muc", "pubsub", "blocking"];
}

/// <summary>
/// Issue 10: plugins behave across nodes as on one node. Their stores are entities of the "plugin-stores" shard region
/// and their keyed entities (rooms, PubSub nodes) entities of a shard region per plugin and kind, so a node never
/// answers from a copy of its own: an offline message stored through one node is delivered through the other, a room
/// has one occupant list, a PubSub node one subscriber list.
/// </summary>
public sealed class ClusterPluginTests(PluginClusterFixture cluster) : IClassFixture<PluginClusterFixture>
{
    private const string Conference = "conference.localhost";
    private const string PubSubService = "pubsub.localhost";
    private const string MucUser = "http://jabber.org/protocol/muc#user";
    private const string PubSubNs = "http://jabber.org/protocol/pubsub";
    private const string PubSubEvent = "http://jabber.org/protocol/pubsub#event";

    private static string Unique(string name) => name + "-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>The node whose "users" region holds the account's entity (null: none does now).</summary>
    private async Task<TestServer?> NodeHoldingAsync(Jid account)
    {
        foreach (var node in new[] { cluster.NodeA, cluster.NodeB })
        {
            var region = node.Services.GetRequiredService<ShardedUserDirectory>().Region;
            var state = await region.Ask<CurrentShardRegionState>(GetShardRegionState.Instance, TimeSpan.FromSeconds(5));
            foreach (var shard in state.Shards)
                if (shard.EntityIds.Contains(account.Bare.ToString())) return node;
        }
        return null;
    }

    [Fact]
    public async Task Xep0160_an_offline_message_stored_through_one_node_is_delivered_through_the_other()
    {
        var bob = Jid.Parse("bob@localhost");
        await using var alice = await XmppTestClient.LoginAsync(cluster.NodeA, "alice", Unique("off"));
        var body = Unique("while you were away");
        // XEP-0160 §3: bob has no available resource: the message is stored (no error comes back)
        await alice.SendAsync($"<message to='bob@localhost' type='chat' id='o1'><body>{body}</body></message>");
        // the offline plugin stores it on the node that holds bob's entity: bob logs in through the other one
        TestServer? holder = null;
        await ClusterFixture.WaitForAsync(async () => (holder = await NodeHoldingAsync(bob)) is not null, "bob's entity started");
        var other = holder == cluster.NodeA ? cluster.NodeB : cluster.NodeA;
        // the write is not acknowledged to the sender: wait until bob's offline archive, asked through the other node's
        // "plugin-stores" region, holds it
        var stores = ClusterSharding.Get(other.Services.GetRequiredService<ActorSystem>()).ShardRegion(ShardedPluginStores.TypeName);
        var archive = new StoreAddress(LegacyUserData.OfflinePlugin, StoreShape.Archive, LegacyUserData.OfflineKind, bob);
        await ClusterFixture.WaitForAsync(async () =>
            (await stores.Ask<StoreReplies.Counted>(new StoreEnvelope(archive, StoreCommands.Count.Instance), TimeSpan.FromSeconds(5))).Count >= 1,
            "the message in bob's offline archive");
        var page = await stores.Ask<StoreReplies.Page>(new StoreEnvelope(archive, new StoreCommands.Read(0, 10)), TimeSpan.FromSeconds(5));
        Assert.Contains(page.Items, i => i.Xml!.Contains(body));
        await using var atBob = await XmppTestClient.LoginAsync(other, "bob", Unique("back"), available: true);
        // §4: delivered once bob sends initial presence, with its delay stamp (XEP-0203)
        var delivered = await atBob.Receives(e => e.Name == "message" && e.ChildText("body", Ns.Client) == body, "the offline message");
        Assert.Equal("alice@localhost", Jid.Parse(delivered.From!).Bare.ToString());
        Assert.NotNull(delivered.Child("delay", "urn:xmpp:delay"));
    }

    [Fact]
    public async Task Xep0191_3_3_and_3_5_a_block_made_through_one_node_is_pushed_and_enforced_on_the_other()
    {
        const string BlockingNs = "urn:xmpp:blocking";
        var resource = Unique("b");
        // alice on both nodes; her resource on node B requested the list (§3.2), so node B holds it in memory
        await using var atA = await XmppTestClient.LoginAsync(cluster.NodeA, "alice", Unique("a"));
        await using var atB = await XmppTestClient.LoginAsync(cluster.NodeB, "alice", resource);
        Assert.Equal("result", (await atB.Query("<iq type='get' id='l1'><blocklist xmlns='urn:xmpp:blocking'/></iq>")).Type);
        await using var bob = await XmppTestClient.LoginAsync(cluster.NodeB, "bob", Unique("bob"));
        await bob.SendAsync($"<message to='alice@localhost/{resource}' type='chat' id='before'><body>before</body></message>");
        await atB.Receives(e => e.Name == "message" && e.Id == "before", "bob's message before the block");

        // §3.3: blocked through node A; node B reads the list again and pushes the change to its resource
        Assert.Equal("result", (await atA.Query("<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></block></iq>")).Type);
        var push = await atB.Receives(e => e.Name == "iq" && e.Type == "set" && e.Child("block", BlockingNs) is not null, "the block push on node B");
        Assert.Equal("bob@localhost", push.Child("block", BlockingNs)!.Child("item", BlockingNs)!.Attr("jid"));
        await atB.SendAsync($"<iq type='result' id='{push.Id}' to='alice@localhost'/>");

        // §3.5: bob's message routed through node B is refused there, not delivered from a stale list
        await bob.SendAsync($"<message to='alice@localhost/{resource}' type='chat' id='after'><body>after</body></message>");
        var refused = await bob.Receives(e => e.Name == "message" && e.Id == "after", "the refusal");
        StanzaAssert.Error(refused, "service-unavailable");
        // §3.4: unblocked through node A: node B follows again
        Assert.Equal("result", (await atA.Query("<iq type='set' id='u1'><unblock xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></unblock></iq>")).Type);
        await atB.Receives(e => e.Name == "iq" && e.Type == "set" && e.Child("unblock", BlockingNs) is not null, "the unblock push on node B");
        await bob.SendAsync($"<message to='alice@localhost/{resource}' type='chat' id='again'><body>again</body></message>");
        await atB.Receives(e => e.Name == "message" && e.Id == "again", "bob's message after the unblock");
    }

    [Fact]
    public async Task Xep0045_7_2_a_room_joined_from_both_nodes_is_one_room_whose_occupants_see_each_other()
    {
        var room = Unique("room") + "@" + Conference;
        await using var alice = await XmppTestClient.LoginAsync(cluster.NodeA, "alice", Unique("muc"));
        await using var bob = await XmppTestClient.LoginAsync(cluster.NodeB, "bob", Unique("muc"));
        // §10.1.2: alice (node A) creates an instant room
        await alice.SendAsync($"<presence to='{room}/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>");
        var created = await alice.Receives(e => e.Name == "presence" && e.From == room + "/alice", "alice's own presence in the room");
        Assert.Contains(created.Child("x", MucUser)!.Elements("status", MucUser), s => s.Attr("code") == "201");
        var unlocked = await alice.Query($"<iq type='set' id='{alice.NextId()}' to='{room}'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>");
        Assert.Equal("result", unlocked.Type);
        // §7.2.3: bob (node B) enters the same room: he gets alice's presence first, then his own (status 110)
        await bob.SendAsync($"<presence to='{room}/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>");
        var aliceAtBob = await bob.Receives(e => e.Name == "presence" && e.From == room + "/alice", "alice's presence at bob");
        Assert.Equal("owner", aliceAtBob.Child("x", MucUser)!.Child("item", MucUser)!.Attr("affiliation"));
        var own = await bob.Receives(e => e.Name == "presence" && e.From == room + "/bob", "bob's own presence");
        Assert.Contains(own.Child("x", MucUser)!.Elements("status", MucUser), s => s.Attr("code") == "110");
        // §7.2.3: the existing occupant (node A) is told of the new one
        var bobAtAlice = await alice.Receives(e => e.Name == "presence" && e.From == room + "/bob", "bob's presence at alice");
        Assert.Null(bobAtAlice.Type);
        // §7.4: a groupchat message from node B reaches the occupant on node A, and its sender, from room/nick
        await bob.SendAsync($"<message to='{room}' type='groupchat' id='g1'><body>hello from B</body></message>");
        var atAlice = await alice.Receives(e => e.Name == "message" && e.Type == "groupchat" && e.ChildText("body", Ns.Client) == "hello from B", "the groupchat message at alice");
        Assert.Equal(room + "/bob", atAlice.From);
        var echo = await bob.Receives(e => e.Name == "message" && e.Type == "groupchat" && e.ChildText("body", Ns.Client) == "hello from B", "the reflection at bob");
        Assert.Equal(room + "/bob", echo.From);
    }

    [Fact]
    public async Task Xep0060_7_1_2_an_item_published_through_one_node_is_notified_to_a_subscriber_on_the_other()
    {
        var node = Unique("news");
        await using var alice = await XmppTestClient.LoginAsync(cluster.NodeA, "alice", Unique("ps"));
        await using var bob = await XmppTestClient.LoginAsync(cluster.NodeB, "bob", Unique("ps"));
        var created = await alice.Query($"<iq type='set' id='{alice.NextId()}' to='{PubSubService}'><pubsub xmlns='{PubSubNs}'><create node='{node}'/></pubsub></iq>");
        Assert.Equal("result", created.Type);
        // §6.1: bob subscribes through node B to the node alice created through node A
        var subscribed = await bob.Query($"<iq type='set' id='{bob.NextId()}' to='{PubSubService}'><pubsub xmlns='{PubSubNs}'><subscribe node='{node}' jid='{bob.Jid}'/></pubsub></iq>");
        Assert.Equal("result", subscribed.Type);
        Assert.Equal("subscribed", subscribed.Child("pubsub", PubSubNs)!.Child("subscription", PubSubNs)!.Attr("subscription"));
        // §7.1: alice publishes through node A; §7.1.2: the subscriber on node B is notified with the payload
        var published = await alice.Query($"<iq type='set' id='{alice.NextId()}' to='{PubSubService}'><pubsub xmlns='{PubSubNs}'><publish node='{node}'><item id='i1'><entry xmlns='http://www.w3.org/2005/Atom'><title>across</title></entry></item></publish></pubsub></iq>");
        Assert.Equal("result", published.Type);
        var notification = await bob.Receives(e => e.Name == "message" && e.From == PubSubService
            && e.Child("event", PubSubEvent)?.Child("items", PubSubEvent)?.Attr("node") == node, "the notification at bob");
        var item = notification.Child("event", PubSubEvent)!.Child("items", PubSubEvent)!.Child("item", PubSubEvent)!;
        Assert.Equal("i1", item.Attr("id"));
        Assert.Equal("across", item.Child("entry", "http://www.w3.org/2005/Atom")!.ChildText("title", "http://www.w3.org/2005/Atom"));
    }

    [Fact]
    public async Task A_plugin_reloaded_on_either_node_restarts_its_entity_regions_there_and_its_entities_go_on()
    {
        var node = Unique("reloaded");
        await using var alice = await XmppTestClient.LoginAsync(cluster.NodeA, "alice", Unique("rl"));
        await using var bob = await XmppTestClient.LoginAsync(cluster.NodeB, "bob", Unique("rl"));
        Assert.Equal("result", (await alice.Query($"<iq type='set' id='{alice.NextId()}' to='{PubSubService}'><pubsub xmlns='{PubSubNs}'><create node='{node}'/></pubsub></iq>")).Type);
        Assert.Equal("result", (await bob.Query($"<iq type='set' id='{bob.NextId()}' to='{PubSubService}'><pubsub xmlns='{PubSubNs}'><subscribe node='{node}' jid='{bob.Jid}'/></pubsub></iq>")).Type);
        var round = 0;
        foreach (var reloaded in new[] { cluster.NodeA, cluster.NodeB })
        {
            // the node's old region shuts down (its shards move to the other node), the reloaded plugin starts a new one
            var result = await reloaded.Plugins.ReloadAsync("pubsub");
            Assert.True(result.Ok, result.Message);
            var id = "r" + ++round;
            var published = await alice.Query($"<iq type='set' id='{alice.NextId()}' to='{PubSubService}'><pubsub xmlns='{PubSubNs}'><publish node='{node}'><item id='{id}'><x xmlns='urn:x'/></item></publish></pubsub></iq>");
            Assert.Equal("result", published.Type);
            // XEP-0060 §7.1.2: the subscription made before the reload is still the node's (recovered from its journal)
            var notification = await bob.Receives(e => e.Name == "message" && e.From == PubSubService
                && e.Child("event", PubSubEvent)?.Child("items", PubSubEvent)?.Child("item", PubSubEvent)?.Attr("id") == id, "the notification of " + id);
            Assert.Equal(node, notification.Child("event", PubSubEvent)!.Child("items", PubSubEvent)!.Attr("node"));
        }
    }

    private static async Task<System.Text.Json.Nodes.JsonObject> AdminAsync(TestServer node, System.Text.Json.Nodes.JsonObject request)
    {
        foreach (var extension in node.Services.GetServices<Server.Hosting.IAdminCommandExtension>())
            if (await extension.TryExecuteAsync(request) is { } answer) return answer;
        throw new InvalidOperationException("no admin command took " + request.ToJsonString());
    }

    [Fact]
    public async Task Plugin_unload_and_load_through_one_node_apply_on_every_node_and_report_each_node()
    {
        var unload = await AdminAsync(cluster.NodeA, new() { ["cmd"] = "plugin-unload", ["plugin"] = "pubsub" });
        Assert.True((bool?)unload["ok"], unload.ToJsonString());
        var nodes = unload["nodes"]!.AsArray();
        Assert.Equal(2, nodes.Count);
        Assert.All(nodes, n => Assert.True((bool?)n!["ok"]));
        Assert.DoesNotContain(cluster.NodeB.Plugins.List(), p => p.Id == "pubsub" && p.State == "loaded");
        Assert.DoesNotContain(cluster.NodeA.Plugins.List(), p => p.Id == "pubsub" && p.State == "loaded");
        try
        {
            // a second unload fails on each node, and says so per node
            var again = await AdminAsync(cluster.NodeB, new() { ["cmd"] = "plugin-unload", ["plugin"] = "pubsub" });
            Assert.False((bool?)again["ok"]);
            Assert.Equal(2, again["nodes"]!.AsArray().Count(n => (bool?)n!["ok"] == false));
        }
        finally
        {
            var load = await AdminAsync(cluster.NodeB, new() { ["cmd"] = "plugin-load", ["plugin"] = "pubsub" });
            Assert.True((bool?)load["ok"], load.ToJsonString());
        }
        Assert.Contains(cluster.NodeA.Plugins.List(), p => p.Id == "pubsub" && p.State == "loaded");
        Assert.Contains(cluster.NodeB.Plugins.List(), p => p.Id == "pubsub" && p.State == "loaded");
        // and the service answers again through either node (XEP-0060 §8.1: a node created through A, seen through B)
        await using var alice = await XmppTestClient.LoginAsync(cluster.NodeA, "alice", Unique("op"));
        await using var bob = await XmppTestClient.LoginAsync(cluster.NodeB, "bob", Unique("op"));
        var node = Unique("after-load");
        Assert.Equal("result", (await alice.Query($"<iq type='set' id='{alice.NextId()}' to='{PubSubService}'><pubsub xmlns='{PubSubNs}'><create node='{node}'/></pubsub></iq>")).Type);
        Assert.Equal("result", (await bob.Query($"<iq type='set' id='{bob.NextId()}' to='{PubSubService}'><pubsub xmlns='{PubSubNs}'><subscribe node='{node}' jid='{bob.Jid}'/></pubsub></iq>")).Type);
    }

    [Fact]
    public async Task A_node_that_joins_takes_the_clusters_plugin_set_and_unloads_a_plugin_the_cluster_does_not_run()
    {
        // node C's plugin folder holds one plugin more than the cluster runs (ping): once up, it runs what the others run
        var nodeC = await ClusterFixture.StartNodeAsync(cluster.ConnectionString, ClusterFixture.FreePort(), cluster.SeedPort,
            ["disco", "offline", "muc", "pubsub", "blocking", "ping"]);
        try
        {
            string[] Loaded() => nodeC.Plugins.List().Where(p => p.State == "loaded").Select(p => p.Id).Order().ToArray();
            await ClusterFixture.WaitForAsync(() => !nodeC.Plugins.IsLoaded("ping"), "ping unloaded on node C", seconds: 60);
            var expected = cluster.NodeA.Plugins.List().Where(p => p.State == "loaded").Select(p => p.Id).Order().ToArray();
            Assert.Equal(expected, Loaded());
            // and what it runs answers: the cluster's MUC service through node C
            await using var carol = await XmppTestClient.LoginAsync(nodeC, "alice", Unique("joined"));
            var info = await carol.Query($"<iq type='get' id='{carol.NextId()}' to='{Conference}'><query xmlns='{Ns.DiscoInfo}'/></iq>");
            Assert.Equal("result", info.Type);
        }
        finally
        {
            await nodeC.DisposeAsync();
        }
    }
}
