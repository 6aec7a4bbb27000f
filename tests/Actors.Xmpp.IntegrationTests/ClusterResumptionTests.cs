using System.Net;
using Actors.Xmpp.Server.Cluster;
using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Xml;
using Akka.Actor;
using Microsoft.Extensions.DependencyInjection;

namespace Actors.Xmpp.IntegrationTests;

/// <summary>Issue 10 with XEP-0198: a session held by one node, resumed by a client that reconnected to another (the
/// holder hands the session over), and resumption when the holder is gone (item-not-found, §5).</summary>
public sealed class ClusterResumptionTests(ClusterFixture cluster) : IClassFixture<ClusterFixture>
{
    private const string Sm = "urn:xmpp:sm:3";

    private static async Task<(XmppTestClient Client, string Id)> LoginWithSmAsync(IPEndPoint node, string user, string resource)
    {
        var c = await XmppTestClient.LoginAsync(node, user, TestServer.Password, resource: resource);
        c.Name = user;
        await c.SendAsync($"<enable xmlns='{Sm}' resume='true'/>");
        var enabled = await c.NextAsync();
        Assert.True(enabled.Is("enabled", Sm), $"expected <enabled/>, got {enabled}");
        await c.SendAsync("<presence/>");
        await c.NextMatchingAsync(e => e.Name == "presence" && e.From == c.Jid.ToString());
        return (c, enabled.Attr("id")!);
    }

    /// <summary>Authenticates on a new connection to <paramref name="node"/> and sends &lt;resume/&gt;; returns the client
    /// and the answer.</summary>
    private static async Task<(XmppTestClient Client, Element Answer)> ResumeAsync(IPEndPoint node, string user, string previd, uint h)
    {
        var c = await XmppTestClient.ConnectAsync(node);
        c.Name = user + "-resumed";
        await c.OpenStreamAsync();
        var features = await c.AuthPlainAsync(user);
        Assert.NotNull(features.Child("sm", Sm));
        await c.SendAsync($"<resume xmlns='{Sm}' previd='{previd}' h='{h}'/>");
        return (c, await c.NextAsync(TimeSpan.FromSeconds(40)));
    }

    private static Task<Element> NextMessageAsync(XmppTestClient c) => c.NextMatchingAsync(e => e.Name == "message");

    private static async Task<uint> HandledAsync(XmppTestClient c)
    {
        await c.SendAsync($"<r xmlns='{Sm}'/>");
        var a = await c.NextMatchingAsync(e => e.Is("a", Sm));
        return uint.Parse(a.Attr("h")!, System.Globalization.CultureInfo.InvariantCulture);
    }

    private async Task AddUsersAsync(params string[] users)
    {
        foreach (var user in users)
        {
            var jid = await cluster.NodeA.AddUserAsync(user);
            await ClusterFixture.WaitForAsync(() => cluster.NodeB.Accounts.Exists(jid), user + " in node B's directory");
        }
    }

    private async Task WaitAvailableAsync(Jid full)
    {
        var directory = cluster.NodeA.Services.GetRequiredService<ShardedUserDirectory>();
        await ClusterFixture.WaitForAsync(async () =>
        {
            var list = await directory.Ask<AccountResourcesActor.ResourceList>(full.Bare, AccountResourcesActor.ListResources.Instance, TimeSpan.FromSeconds(5));
            return list.Resources.Any(r => r.Jid.Equals(full) && r.Available);
        }, full + " available in its entity");
    }

    [Fact]
    public async Task Xep0198_5_a_session_held_by_one_node_resumes_on_the_other_and_each_unacknowledged_or_later_stanza_arrives_once()
    {
        await AddUsersAsync("rita", "sam");
        var (rita, id) = await LoginWithSmAsync(cluster.NodeA.C2sEndPoint, "rita", "phone");
        var full = rita.Jid;
        await using var sam = await XmppTestClient.LoginAsync(cluster.NodeB.C2sEndPoint, "sam", TestServer.Password, resource: "desk");
        await sam.SendAsync($"<message to='{full}' type='chat' id='m1'><body>one</body></message>");
        await sam.SendAsync($"<message to='{full}' type='chat' id='m2'><body>two</body></message>");
        Assert.Equal("m1", (await NextMessageAsync(rita)).Id);
        Assert.Equal("m2", (await NextMessageAsync(rita)).Id);
        // rita processed her presence's reflection and m1 only, then her connection dies
        await rita.SendAsync($"<a xmlns='{Sm}' h='2'/>");
        rita.Abort();
        await rita.DisposeAsync();
        // a message while the session waits on node A
        await sam.SendAsync($"<message to='{full}' type='chat' id='m3'><body>three</body></message>");
        await sam.IqAsync("get", "<query xmlns='jabber:iq:roster'/>"); // handled: m3 was routed before

        // she reconnects to node B: the session moves there (§5: <resumed/>, then what she did not acknowledge)
        var (c, resumed) = await ResumeAsync(cluster.NodeB.C2sEndPoint, "rita", id, 2);
        await using var _ = c;
        Assert.True(resumed.Is("resumed", Sm), $"expected <resumed/>, got {resumed}");
        Assert.Equal(id, resumed.Attr("previd"));
        Assert.Equal("1", resumed.Attr("h")); // node A handled her initial presence
        Assert.Equal("m2", (await NextMessageAsync(c)).Id);
        Assert.Equal("m3", (await NextMessageAsync(c)).Id);
        // the same full JID is routed to node B now, and the counts go on from node A's
        await sam.SendAsync($"<message to='{full}' type='chat' id='m4'><body>four</body></message>");
        Assert.Equal("m4", (await NextMessageAsync(c)).Id);
        Assert.Equal(1u, await HandledAsync(c));
        // exactly once: nothing else reached her before the answer to this ping (no m2 or m3 a second time)
        await c.SendAsync("<iq type='get' id='after' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
        var next = await c.NextMatchingAsync(e => !e.Is("r", Sm));
        Assert.True(next.Name == "iq" && next.Id == "after", $"expected the ping's result, got {next}");
        Assert.Equal(2u, await HandledAsync(c));
        // node A's session ended without a trace (no unavailable presence: the resource never went away), node B holds it
        Assert.Null(cluster.NodeA.Services.GetRequiredService<ISessionRegistry>().Find(full));
        Assert.NotNull(cluster.NodeB.Services.GetRequiredService<ISessionRegistry>().Find(full));
        await WaitAvailableAsync(full);
        // nothing bounced to sam: the next stanza he gets is the answer to this request
        await sam.SendAsync("<iq type='get' id='nb'><query xmlns='jabber:iq:roster'/></iq>");
        var atSam = await sam.NextAsync();
        Assert.True(atSam.Name == "iq" && atSam.Id == "nb", $"expected the roster result, got {atSam}");
        // and her answers flow from node B
        await c.SendAsync($"<message to='{sam.Jid}' type='chat' id='r1'><body>back</body></message>");
        Assert.Equal("r1", (await NextMessageAsync(sam)).Id);
    }

    [Fact]
    public async Task Xep0198_5_a_second_resumption_on_the_first_node_moves_the_session_back()
    {
        await AddUsersAsync("vera", "walt");
        var (vera, id) = await LoginWithSmAsync(cluster.NodeA.C2sEndPoint, "vera", "phone");
        var full = vera.Jid;
        await using var walt = await XmppTestClient.LoginAsync(cluster.NodeA.C2sEndPoint, "walt", TestServer.Password, resource: "desk");
        vera.Abort();
        await vera.DisposeAsync();
        var (onB, resumed) = await ResumeAsync(cluster.NodeB.C2sEndPoint, "vera", id, 0);
        Assert.True(resumed.Is("resumed", Sm), $"expected <resumed/>, got {resumed}");
        await walt.SendAsync($"<message to='{full}' type='chat' id='w1'><body>on b</body></message>");
        Assert.Equal("w1", (await NextMessageAsync(onB)).Id);
        onB.Abort();
        await onB.DisposeAsync();
        await walt.SendAsync($"<message to='{full}' type='chat' id='w2'><body>detached on b</body></message>");
        await walt.IqAsync("get", "<query xmlns='jabber:iq:roster'/>");
        // back to node A, where the old session may still relay: the client acknowledged nothing after resuming
        var (onA, again) = await ResumeAsync(cluster.NodeA.C2sEndPoint, "vera", id, 0);
        await using var _ = onA;
        Assert.True(again.Is("resumed", Sm), $"expected <resumed/>, got {again}");
        Assert.Equal("w1", (await NextMessageAsync(onA)).Id);
        Assert.Equal("w2", (await NextMessageAsync(onA)).Id);
        await walt.SendAsync($"<message to='{full}' type='chat' id='w3'><body>on a</body></message>");
        Assert.Equal("w3", (await NextMessageAsync(onA)).Id);
        Assert.NotNull(cluster.NodeA.Services.GetRequiredService<ISessionRegistry>().Find(full));
        Assert.Null(cluster.NodeB.Services.GetRequiredService<ISessionRegistry>().Find(full));
    }

    [Fact]
    public async Task Xep0198_5_resuming_a_session_whose_node_was_killed_fails_item_not_found_and_the_client_binds_on_a_survivor()
    {
        await AddUsersAsync("tina");
        await using var nodeC = await NodeProcess.StartAsync(cluster);
        var (tina, id) = await LoginWithSmAsync(new IPEndPoint(IPAddress.Loopback, nodeC.C2sPort), "tina", "phone");
        await WaitAvailableAsync(tina.Jid);
        nodeC.Kill(); // SIGKILL
        tina.Abort();
        await tina.DisposeAsync();
        var systemA = cluster.NodeA.Services.GetRequiredService<ActorSystem>();
        await ClusterFixture.WaitForAsync(() => Akka.Cluster.Cluster.Get(systemA).State.Unreachable.Any(m => m.Address == nodeC.Address)
                                                || Akka.Cluster.Cluster.Get(systemA).State.Members.All(m => m.Address != nodeC.Address),
            "node C unreachable or gone", seconds: 60);
        var (c, answer) = await ResumeAsync(cluster.NodeA.C2sEndPoint, "tina", id, 0);
        await using var _ = c;
        Assert.True(answer.Is("failed", Sm), $"expected <failed/>, got {answer}");
        Assert.NotNull(answer.Child("item-not-found", Ns.StanzaErrors));
        // §5: the client may bind a new session instead, served by a survivor
        await c.BindAsync("phone");
        Assert.Equal("result", (await c.IqAsync("get", "<query xmlns='jabber:iq:roster'/>")).Type);
    }

    [Fact]
    public async Task Xep0198_4_a_holder_that_leaves_gracefully_hands_unacknowledged_stanzas_back_once_and_a_resumption_then_fails()
    {
        await AddUsersAsync("uma", "xena");
        var nodeC = await ClusterFixture.StartNodeAsync(cluster.ConnectionString, ClusterFixture.FreePort(), cluster.SeedPort);
        try
        {
            await ClusterFixture.WaitForAsync(() => nodeC.Accounts.Exists(Jid.Parse("uma@localhost")), "uma in node C's directory");
            var (uma, id) = await LoginWithSmAsync(nodeC.C2sEndPoint, "uma", "phone");
            var full = uma.Jid;
            await WaitAvailableAsync(full);
            await using var xena = await XmppTestClient.LoginAsync(cluster.NodeA.C2sEndPoint, "xena", TestServer.Password, resource: "desk");
            await xena.SendAsync($"<message to='{full}' type='chat' id='u1'><body>unacknowledged</body></message>");
            Assert.Equal("u1", (await NextMessageAsync(uma)).Id);
            uma.Abort(); // never acknowledged u1
            await uma.DisposeAsync();
            await nodeC.StopAsync();
            // §4: the session ended with u1 unacknowledged: as on one node, it is handled as undelivered (no offline
            // plugin here: a chat message to a resource that is gone, and no other available: bounced, once)
            var bounce = await xena.Receives(e => e.Name == "message" && e.Id == "u1", "the bounce of u1");
            StanzaAssert.Error(bounce, "service-unavailable");
            var (c, answer) = await ResumeAsync(cluster.NodeB.C2sEndPoint, "uma", id, 0);
            await using var _ = c;
            Assert.True(answer.Is("failed", Sm), $"expected <failed/>, got {answer}");
            Assert.NotNull(answer.Child("item-not-found", Ns.StanzaErrors));
            await xena.SendAsync("<iq type='get' id='end' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
            var next = await xena.NextMatchingAsync(e => e.Name is "iq" or "message");
            Assert.True(next.Name == "iq" && next.Id == "end", $"u1 bounced once only, got {next}");
        }
        finally
        {
            await nodeC.DisposeAsync();
        }
    }
}
