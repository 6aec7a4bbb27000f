using System.Text;
using Actors.Xmpp;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Tests;

/// <summary>A PubSub server whose fan-out is paced (Xmpp:PubSub:FanoutPerSecond) so that a large fan-out lasts
/// seconds, with a small outbound bound (a client that does not read reaches it soon).</summary>
public sealed class PubSubFanoutServer : IAsyncLifetime
{
    public const int CopiesPerSecond = 2000;
    public TestServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await TestServer.StartAsync(["disco", "ping", "pubsub"], new Dictionary<string, string?>
        {
            ["Xmpp:PubSub:FanoutPerSecond"] = CopiesPerSecond.ToString(),
            ["Xmpp:Limits:MaxOutboundBytes"] = (256 * 1024).ToString(),
        });
        await Server.AddUserAsync("crowd");
        await Server.AddUserAsync("lagging");
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>XEP-0060 §7.1.2 notifications to many subscribers: the node's fan-out is streamed by the host off the
/// node's actor (IEntityContext.SendToEach), in order per subscriber, and a subscriber that does not read holds up
/// nobody.</summary>
public sealed class PubSubFanoutSpec(PubSubFanoutServer fixture) : IClassFixture<PubSubFanoutServer>
{
    private const string Service = "pubsub.localhost";
    private const string PubSub = "http://jabber.org/protocol/pubsub";
    private const string Event = "http://jabber.org/protocol/pubsub#event";
    private TestServer Server => fixture.Server;

    private static string Unique(string name) => name + "-" + Guid.NewGuid().ToString("N")[..8];

    private static async Task<Element> Ok(XmppTestClient c, string iq)
    {
        var reply = await c.Query(iq);
        Assert.True(reply.Type == "result", $"expected a result, got {reply}");
        return reply;
    }

    private static string SubscribeIq(string id, string node, string jid) =>
        $"<iq type='set' id='{id}' to='{Service}'><pubsub xmlns='{PubSub}'><subscribe node='{node}' jid='{jid}'/></pubsub></iq>";

    private static string PublishIq(string id, string node, string item, string payload) =>
        $"<iq type='set' id='{id}' to='{Service}'><pubsub xmlns='{PubSub}'><publish node='{node}'><item id='{item}'>{payload}</item></publish></pubsub></iq>";

    private static string Entry(string text) => $"<entry xmlns='http://www.w3.org/2005/Atom'><title>{text}</title></entry>";

    /// <summary>Sends the IQs in one write each batch (no waiting in between) and waits for all their results.</summary>
    private static async Task Pipelined(XmppTestClient c, IReadOnlyList<(string Id, string Xml)> iqs, int batch = 400)
    {
        for (var start = 0; start < iqs.Count; start += batch)
        {
            var text = new StringBuilder();
            var ids = new HashSet<string>();
            for (var i = start; i < Math.Min(iqs.Count, start + batch); i++)
            {
                text.Append(iqs[i].Xml);
                ids.Add(iqs[i].Id);
            }
            await c.SendAsync(text.ToString());
            while (ids.Count > 0)
            {
                var reply = await c.Receives(e => e.Name == "iq" && e.Id is { } id && ids.Contains(id), $"the results of {ids.Count} IQs");
                Assert.True(reply.Type == "result", $"expected a result, got {reply}");
                ids.Remove(reply.Id!);
            }
        }
    }

    /// <summary>Subscribes <paramref name="count"/> full JIDs of the crowd account (resources without a session: the
    /// router handles their copies as for any absent resource).</summary>
    private async Task SubscribeCrowd(string node, int count)
    {
        await using var crowd = await Server.LoginAsync("crowd", "main");
        crowd.Timeout = TimeSpan.FromSeconds(60);
        var iqs = new List<(string, string)>();
        for (var i = 0; i < count; i++) iqs.Add(($"s{i}", SubscribeIq($"s{i}", node, $"crowd@localhost/c{i}")));
        await Pipelined(crowd, iqs, batch: 50); // each subscription is a write of the node's: a few at a time (its asks time out after 4 s)
    }

    private static Task<Element> Notification(XmppTestClient c, string node, string item) =>
        c.Receives(e => e.Name == "message" && e.From == Service && e.Child("event", Event)?.Child("items", Event) is { } items
            && items.Attr("node") == node && items.Child("item", Event)?.Attr("id") == item, $"the notification of {item} from {node}");

    private static string? NotifiedItem(Element e) =>
        e.Name == "message" && e.From == Service ? e.Child("event", Event)?.Child("items", Event)?.Child("item", Event)?.Attr("id") : null;

    [Fact]
    public async Task Xep0060_7_1_2_consecutive_publishes_reach_every_one_of_many_subscribers_in_publish_order()
    {
        await using var alice = await Server.LoginAsync("alice");
        alice.Timeout = TimeSpan.FromSeconds(60);
        var node = Unique("ordered");
        await Ok(alice, $"<iq type='set' id='c1' to='{Service}'><pubsub xmlns='{PubSub}'><create node='{node}'/></pubsub></iq>");
        await SubscribeCrowd(node, 300);
        var readers = new List<XmppTestClient>();
        try
        {
            for (var i = 0; i < 8; i++)
            {
                var reader = await Server.LoginAsync("bob", "reader" + i);
                reader.Timeout = TimeSpan.FromSeconds(60);
                readers.Add(reader);
                await Ok(reader, SubscribeIq("sub", node, reader.Jid.ToString()));
            }
            const int publishes = 20;
            var iqs = new List<(string, string)>();
            for (var i = 0; i < publishes; i++) iqs.Add(($"p{i}", PublishIq($"p{i}", node, $"item{i}", Entry($"n{i}"))));
            await Pipelined(alice, iqs); // 20 × 308 copies, paced: seconds of fan-out

            foreach (var reader in readers)
            {
                var got = new List<string>();
                while (got.Count < publishes)
                {
                    var e = await reader.NextAsync(TimeSpan.FromSeconds(60));
                    if (NotifiedItem(e) is { } id) got.Add(id);
                }
                Assert.Equal(Enumerable.Range(0, publishes).Select(i => $"item{i}"), got); // each reader: publish order, none lost
            }
        }
        finally
        {
            foreach (var reader in readers) await reader.DisposeAsync();
        }
    }

    [Fact]
    public async Task Xep0060_6_5_the_node_answers_items_requests_while_a_large_fanout_is_under_way()
    {
        await using var alice = await Server.LoginAsync("alice");
        alice.Timeout = TimeSpan.FromSeconds(60);
        var node = Unique("busy");
        await Ok(alice, $"<iq type='set' id='c1' to='{Service}'><pubsub xmlns='{PubSub}'><create node='{node}'/></pubsub></iq>");
        await SubscribeCrowd(node, 2000);
        await using var last = await Server.LoginAsync("bob", "last"); // subscribed last: the last copy of each fan-out
        last.Timeout = TimeSpan.FromSeconds(60);
        await Ok(last, SubscribeIq("sub", node, last.Jid.ToString()));

        const int publishes = 5; // 5 × 2001 copies at 2000/s: about 5 s of fan-out
        var iqs = new List<(string, string)>();
        for (var i = 0; i < publishes; i++) iqs.Add(($"p{i}", PublishIq($"p{i}", node, $"item{i}", Entry($"n{i}"))));
        var lastCopy = Notification(last, node, $"item{publishes - 1}");
        await Pipelined(alice, iqs); // the publisher's results do not wait for the fan-out
        Assert.False(lastCopy.IsCompleted, "the fan-out was over before the publishes were answered");

        var items = await Ok(alice, $"<iq type='get' id='g1' to='{Service}'><pubsub xmlns='{PubSub}'><items node='{node}'/></pubsub></iq>");
        Assert.False(lastCopy.IsCompleted, "the node answered only once its fan-out was done");
        var ids = items.Child("pubsub", PubSub)!.Child("items", PubSub)!.Elements("item", PubSub).Select(i => i.Attr("id")).ToArray();
        Assert.Equal(Enumerable.Range(0, publishes).Select(i => $"item{i}"), ids);

        await lastCopy; // and the fan-out goes on to the end
    }

    [Fact]
    public async Task Xep0060_7_1_2_a_subscriber_that_does_not_read_holds_up_none_of_the_others()
    {
        await using var alice = await Server.LoginAsync("alice");
        alice.Timeout = TimeSpan.FromSeconds(60);
        var node = Unique("lagging");
        await Ok(alice, $"<iq type='set' id='c1' to='{Service}'><pubsub xmlns='{PubSub}'><create node='{node}'/></pubsub></iq>");
        await using var slow = await Server.LoginAsync("lagging", "slow");
        await Ok(slow, SubscribeIq("sub", node, slow.Jid.ToString()));
        await using var fast = await Server.LoginAsync("bob", "fast");
        fast.Timeout = TimeSpan.FromSeconds(60);
        await Ok(fast, SubscribeIq("sub", node, fast.Jid.ToString()));
        slow.PauseReading(receiveBufferBytes: 64 * 1024); // its transport's outbound queue fills up

        const int publishes = 120; // 120 × 8 KiB: far past the slow one's socket buffer and outbound bound (256 KiB)
        var text = new string('x', 8 * 1024);
        var iqs = new List<(string, string)>();
        for (var i = 0; i < publishes; i++) iqs.Add(($"p{i}", PublishIq($"p{i}", node, $"item{i}", Entry(text))));
        await Pipelined(alice, iqs, batch: 24);

        var got = new List<string>();
        while (got.Count < publishes)
        {
            var e = await fast.NextAsync(TimeSpan.FromSeconds(60));
            if (NotifiedItem(e) is { } id) got.Add(id);
        }
        Assert.Equal(Enumerable.Range(0, publishes).Select(i => $"item{i}"), got);
    }
}
