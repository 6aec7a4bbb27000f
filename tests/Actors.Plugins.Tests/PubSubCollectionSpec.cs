using Actors.Xmpp;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;
using static Actors.Plugins.Tests.PubSubSpec;

namespace Actors.Plugins.Tests;

/// <summary>XEP-0248 PubSub collection nodes at pubsub.localhost (the 'pubsub' plugin), over TCP with two and three
/// clients: the collection's subscribers get its nodes' events with an XEP-0131 'Collection' header.</summary>
public sealed class PubSubCollectionSpec(PubSubServer fixture) : IClassFixture<PubSubServer>
{
    private const string Shim = "http://jabber.org/protocol/shim";
    private const string SubscribeOptions = "http://jabber.org/protocol/pubsub#subscribe_options";
    private TestServer Server => fixture.Server;

    private static string Collection => Field("pubsub#node_type", "collection");
    private static string In(string collection) => Field("pubsub#collection", collection);

    private static Task<Element> Configure(XmppTestClient c, string node, string fields) =>
        c.Query($"<iq type='set' id='{c.NextId()}' to='{Service}'><pubsub xmlns='{Owner}'><configure node='{node}'>{Form(fields)}</configure></pubsub></iq>");

    /// <summary>The values of one field of the node's configuration form (§8.2.1).</summary>
    private static async Task<string[]> ConfigValues(XmppTestClient c, string node, string var)
    {
        var reply = await Ok(c, $"<iq type='get' id='{c.NextId()}' to='{Service}'><pubsub xmlns='{Owner}'><configure node='{node}'/></pubsub></iq>");
        var form = reply.Child("pubsub", Owner)!.Child("configure", Owner)!.Child("x", Ns.DataForms)!;
        var field = form.Elements("field", Ns.DataForms).FirstOrDefault(f => f.Attr("var") == var);
        return field is null ? [] : field.Elements("value", Ns.DataForms).Select(v => v.Text).Where(v => v.Length > 0).ToArray();
    }

    private static async Task<string[]> DiscoItems(XmppTestClient c, string? node = null)
    {
        var reply = await Ok(c, $"<iq type='get' id='{c.NextId()}' to='{Service}'><query xmlns='{Ns.DiscoItems}'{(node is null ? "" : $" node='{node}'")}/></iq>");
        return reply.Child("query", Ns.DiscoItems)!.Elements("item", Ns.DiscoItems).Select(i => i.Attr("node")!).ToArray();
    }

    private static Task<Element> SubscribeWith(XmppTestClient c, string node, string? type, string? depth) =>
        c.Query($"<iq type='set' id='{c.NextId()}' to='{Service}'><pubsub xmlns='{PubSub}'><subscribe node='{node}' jid='{c.Jid}'/><options>" +
            Form((type is null ? "" : Field("pubsub#subscription_type", type)) + (depth is null ? "" : Field("pubsub#subscription_depth", depth)), SubscribeOptions) +
            "</options></pubsub></iq>");

    private static string? CollectionHeader(Element message) =>
        message.Child("headers", Shim)?.Elements("header", Shim).FirstOrDefault(h => h.Attr("name") == "Collection")?.Text;

    /// <summary>An event of <paramref name="node"/> (its first child names it) delivered through <paramref name="collection"/>.</summary>
    private static Task<Element> Through(XmppTestClient c, string collection, string node, string eventName = "items") =>
        c.Receives(e => e.Name == "message" && e.From == Service && CollectionHeader(e) == collection
                && e.Child("event", Event)?.FirstChild() is { } first && first.Name == eventName && first.Attr("node") == node,
            $"<{eventName} node='{node}'/> through collection {collection}");

    [Fact]
    public async Task Xep0248_5_1_collections_are_advertised_7_1_a_collection_is_created_and_7_1_3_2_publishing_to_it_is_refused()
    {
        await using var alice = await Server.LoginAsync("alice");
        Assert.True(await alice.IsFeatureAdvertised(PubSub + "#collections", Service));
        Assert.False(await alice.IsFeatureAdvertised(PubSub + "#multi-collections", Service)); // one parent per node
        var blogs = Unique("blogs");
        await Create(alice, blogs, Collection);
        StanzaAssert.Matches($"<iq><query xmlns='{Ns.DiscoInfo}' node='{blogs}'><identity category='pubsub' type='collection'/></query></iq>",
            await Ok(alice, $"<iq type='get' id='{alice.NextId()}' to='{Service}'><query xmlns='{Ns.DiscoInfo}' node='{blogs}'/></iq>"));
        Assert.Equal(["collection"], await ConfigValues(alice, blogs, "pubsub#node_type"));
        // XEP-0060 §7.1.3.2 / XEP-0248 §4.1: a collection holds no items
        var published = await Publish(alice, blogs, "x", Entry("x"));
        AssertError(published, "feature-not-implemented", "unsupported");
        Assert.Equal("publish", published.Child("error", Ns.Client)!.Child("unsupported", Errors)!.Attr("feature"));
        // XEP-0248 §6.2.3: no item retrieval through a collection here
        AssertError(await Items(alice, blogs), "feature-not-implemented");
        // XEP-0248 §7.1.3.1: the PEP service has no collections
        var pep = await alice.Query($"<iq type='set' id='{alice.NextId()}' to='alice@localhost'><pubsub xmlns='{PubSub}'><create node='{Unique("pepcoll")}'/><configure>{Form(Collection)}</configure></pubsub></iq>");
        AssertError(pep, "feature-not-implemented", "unsupported");
        Assert.Equal("collections", pep.Child("error", Ns.Client)!.Child("unsupported", Errors)!.Attr("feature"));
    }

    [Fact]
    public async Task Xep0248_7_2_a_node_is_associated_on_create_and_5_2_disco_items_lists_the_children_and_the_root_the_first_level()
    {
        await using var alice = await Server.LoginAsync("alice");
        await using var bob = await Server.LoginAsync("bob");
        var blogs = Unique("blogs");
        var musings = Unique("musings");
        await Create(alice, blogs, Collection);
        await Create(alice, musings, In(blogs));
        Assert.Equal([musings], await ConfigValues(alice, blogs, "pubsub#children"));
        Assert.Equal([blogs], await ConfigValues(alice, musings, "pubsub#collection"));
        Assert.Equal([musings], await DiscoItems(bob, blogs));
        var root = await DiscoItems(bob);
        Assert.Contains(blogs, root);
        Assert.DoesNotContain(musings, root); // §5.2: the root lists its first-level nodes only

        // §7.2.3.2: only the collection's owner associates nodes with it
        AssertError(await bob.Query($"<iq type='set' id='{bob.NextId()}' to='{Service}'><pubsub xmlns='{PubSub}'><create node='{Unique("bobs")}'/><configure>{Form(In(blogs))}</configure></pubsub></iq>"),
            "forbidden");
        // §7.2.3.1: a leaf has no children
        AssertError(await alice.Query($"<iq type='set' id='{alice.NextId()}' to='{Service}'><pubsub xmlns='{PubSub}'><create node='{Unique("under-leaf")}'/><configure>{Form(In(musings))}</configure></pubsub></iq>"),
            "not-allowed", "invalid-options");
        AssertError(await Configure(alice, musings, Field("pubsub#children", blogs)), "not-allowed", "invalid-options");
        // a collection that does not exist
        AssertError(await alice.Query($"<iq type='set' id='{alice.NextId()}' to='{Service}'><pubsub xmlns='{PubSub}'><create node='{Unique("lost")}'/><configure>{Form(In(Unique("none")))}</configure></pubsub></iq>"),
            "item-not-found");
        Assert.Equal([musings], await ConfigValues(alice, blogs, "pubsub#children")); // nothing refused was associated
    }

    [Fact]
    public async Task Xep0248_6_1_items_subscribers_get_the_leaves_items_with_the_collection_header_as_deep_as_they_asked()
    {
        await using var alice = await Server.LoginAsync("alice");
        await using var bob = await Server.LoginAsync("bob");
        await using var carol = await Server.LoginAsync("carol");
        var top = Unique("top");
        var sub = Unique("sub");
        var near = Unique("near");
        var deep = Unique("deep");
        await Create(alice, top, Collection);
        await Create(alice, sub, Collection + In(top));
        await Create(alice, near, In(top));
        await Create(alice, deep, In(sub));
        StanzaAssert.Matches($"<iq type='result'><pubsub xmlns='{PubSub}'><subscription node='{top}' subscription='subscribed'/></pubsub></iq>",
            await SubscribeWith(bob, top, "items", "all"));
        Assert.Equal("result", (await SubscribeWith(carol, top, "items", "1")).Type);
        // §6.3.2 with XEP-0248 §6.1: the options show the type and depth
        StanzaAssert.Matches($"<iq type='result'><pubsub xmlns='{PubSub}'><options node='{top}'><x xmlns='jabber:x:data'>" +
            "<field var='pubsub#subscription_type'><value>items</value></field><field var='pubsub#subscription_depth'><value>1</value></field></x></options></pubsub></iq>",
            await carol.Query($"<iq type='get' id='o1' to='{Service}'><pubsub xmlns='{PubSub}'><options node='{top}' jid='{carol.Jid}'/></pubsub></iq>"));

        Assert.Equal("result", (await Publish(alice, near, "n1", Entry("near"))).Type);
        foreach (var c in new[] { bob, carol }) // §5.3.1: the leaf's node and item, the collection in the SHIM header
            StanzaAssert.Matches($"<message from='{Service}' to='{c.Jid}' type='headline'><event xmlns='{Event}'><items node='{near}'><item id='n1'>{Entry("near")}</item></items></event>" +
                $"<headers xmlns='{Shim}'><header name='Collection'>{top}</header></headers></message>", await Through(c, top, near));

        Assert.Equal("result", (await Publish(alice, deep, "d1", Entry("deep"))).Type);
        await Through(bob, top, deep); // depth all: two levels down
        Assert.Equal("result", (await Publish(alice, near, "n2", Entry("after"))).Type);
        await Through(bob, top, near);
        await Through(carol, top, near); // after "deep" in the collection's order: carol's "deep" would have come first
        carol.Timeout = TimeSpan.FromSeconds(1);
        await Assert.ThrowsAsync<TimeoutException>(() => Through(carol, top, deep)); // depth 1: not two levels down

        // §5.3.1: retract (and purge) reach "items" subscribers too
        await Ok(alice, $"<iq type='set' id='r1' to='{Service}'><pubsub xmlns='{PubSub}'><retract node='{near}' notify='1'><item id='n1'/></retract></pubsub></iq>");
        var retracted = await Through(bob, top, near);
        StanzaAssert.Matches($"<message><event xmlns='{Event}'><items node='{near}'><retract id='n1'/></items></event></message>", retracted);
        await Ok(alice, $"<iq type='set' id='p1' to='{Service}'><pubsub xmlns='{Owner}'><purge node='{deep}'/></pubsub></iq>");
        await Through(bob, top, deep, "purge");
        foreach (var c in new[] { alice, bob }) await c.ExpectNoBounceAsync(); // every request answered once, nothing bounced
    }

    [Fact]
    public async Task Xep0248_6_1_nodes_subscribers_are_told_of_creation_5_3_2_association_and_deletion_and_6_1_3_one_subscription_is_a_conflict()
    {
        await using var alice = await Server.LoginAsync("alice");
        await using var bob = await Server.LoginAsync("bob");
        var feeds = Unique("feeds");
        await Create(alice, feeds, Collection);
        Assert.Equal("result", (await Subscribe(bob, feeds)).Type); // no options: type "nodes", depth 1
        StanzaAssert.Matches($"<iq type='result'><pubsub xmlns='{PubSub}'><options node='{feeds}'><x xmlns='jabber:x:data'>" +
            "<field var='pubsub#subscription_type'><value>nodes</value></field><field var='pubsub#subscription_depth'><value>1</value></field></x></options></pubsub></iq>",
            await bob.Query($"<iq type='get' id='o1' to='{Service}'><pubsub xmlns='{PubSub}'><options node='{feeds}' jid='{bob.Jid}'/></pubsub></iq>"));
        // §6.1.3: a second subscription with another type is a conflict
        AssertError(await SubscribeWith(bob, feeds, "items", "1"), "conflict");

        var born = Unique("born");
        await Create(alice, born, In(feeds));
        StanzaAssert.Matches($"<message from='{Service}' to='{bob.Jid}'><event xmlns='{Event}'><create node='{born}'/></event>" +
            $"<headers xmlns='{Shim}'><header name='Collection'>{feeds}</header></headers></message>", await Through(bob, feeds, born, "create"));
        Assert.Equal("result", (await Publish(alice, born, "i1", Entry("x"))).Type); // items: not for a "nodes" subscriber

        var moved = Unique("moved");
        await Create(alice, moved); // at the root, then associated by configuration
        Assert.Equal("result", (await Configure(alice, moved, In(feeds))).Type);
        var associated = await bob.Receives(e => e.Child("event", Event)?.Child("collection", Event) is { } c && c.Attr("node") == feeds
            && c.Child("associate", Event)?.Attr("node") == moved, "the association notification");
        Assert.Equal(feeds, CollectionHeader(associated));
        Assert.Equal([born, moved], await ConfigValues(alice, feeds, "pubsub#children")); // in association order
        Assert.DoesNotContain(moved, await DiscoItems(bob));

        // back to the root: a dissociation
        Assert.Equal("result", (await Configure(alice, moved, Field("pubsub#collection", ""))).Type);
        await bob.Receives(e => e.Child("event", Event)?.Child("collection", Event)?.Child("dissociate", Event)?.Attr("node") == moved, "the dissociation notification");
        Assert.Equal([born], await ConfigValues(alice, feeds, "pubsub#children"));
        Assert.Contains(moved, await DiscoItems(bob));

        await Ok(alice, $"<iq type='set' id='d1' to='{Service}'><pubsub xmlns='{Owner}'><delete node='{born}'/></pubsub></iq>");
        await Through(bob, feeds, born, "delete");
        bob.Timeout = TimeSpan.FromSeconds(1); // the delete came after the publish: an items notification would be here
        await Assert.ThrowsAsync<TimeoutException>(() => Through(bob, feeds, born));
        Assert.Empty(await ConfigValues(alice, feeds, "pubsub#children"));
        await alice.ExpectNoBounceAsync(); // every request answered once
    }

    [Fact]
    public async Task Xep0248_7_2_3_5_cycles_are_refused_7_2_3_4_a_collection_stays_one_and_7_2_4_a_leaf_becomes_one_without_its_items()
    {
        await using var alice = await Server.LoginAsync("alice");
        var a = Unique("a");
        var b = Unique("b");
        var c = Unique("c");
        await Create(alice, a, Collection);
        await Create(alice, b, Collection + In(a));
        await Create(alice, c, Collection + In(b));
        AssertError(await Configure(alice, a, In(c)), "not-allowed", "invalid-options"); // a under c under b under a
        AssertError(await Configure(alice, a, In(a)), "not-allowed", "invalid-options");
        Assert.Empty(await ConfigValues(alice, a, "pubsub#collection"));
        AssertError(await Configure(alice, b, Field("pubsub#node_type", "leaf")), "not-allowed", "invalid-options");
        // a form that leaves the node graph as it is passes (a client sends back what it got)
        Assert.Equal("result", (await Configure(alice, c, In(b) + Field("pubsub#title", "C") + Collection)).Type);

        var leaf = Unique("leaf");
        await Create(alice, leaf);
        Assert.Equal("result", (await Publish(alice, leaf, "old", Entry("old"))).Type);
        Assert.Equal("result", (await Configure(alice, leaf, Collection)).Type);
        Assert.Equal(["collection"], await ConfigValues(alice, leaf, "pubsub#node_type"));
        Assert.DoesNotContain("old", await DiscoItems(alice, leaf)); // §7.2.4: purged
        AssertError(await Publish(alice, leaf, "new", Entry("new")), "feature-not-implemented", "unsupported");
    }

    [Fact]
    public async Task Xep0248_8_2_deleting_a_collection_moves_its_children_to_the_root_and_7_3_3_1_the_root_is_not_deleted()
    {
        await using var alice = await Server.LoginAsync("alice");
        await using var bob = await Server.LoginAsync("bob");
        AssertError(await alice.Query($"<iq type='set' id='root' to='{Service}'><pubsub xmlns='{Owner}'><delete/></pubsub></iq>"), "not-allowed");
        var shelf = Unique("shelf");
        var book = Unique("book");
        await Create(alice, shelf, Collection);
        await Create(alice, book, In(shelf));
        Assert.Equal("result", (await Subscribe(bob, shelf)).Type);
        Assert.Equal("result", (await Subscribe(bob, book)).Type);
        await Ok(alice, $"<iq type='set' id='d1' to='{Service}'><pubsub xmlns='{Owner}'><delete node='{shelf}'/></pubsub></iq>");
        await Notification(bob, shelf); // XEP-0060 §8.4.2: the collection's own subscribers
        Assert.Empty(await ConfigValues(alice, book, "pubsub#collection"));
        Assert.Contains(book, await DiscoItems(bob));
        Assert.Equal("result", (await Publish(alice, book, "still", Entry("still here"))).Type);
        var n = await Notification(bob, book);
        Assert.Null(CollectionHeader(n)); // straight from the leaf: no collection in between any more
    }

    [Fact]
    public async Task Xep0248_10_1_the_collections_access_model_decides_who_subscribes()
    {
        await using var alice = await Server.LoginAsync("alice");
        await using var bob = await Server.LoginAsync("bob");
        await using var carol = await Server.LoginAsync("carol");
        var closed = Unique("closed");
        await Create(alice, closed, Collection + Field("pubsub#access_model", "whitelist"));
        AssertError(await SubscribeWith(bob, closed, "items", "all"), "not-allowed", "closed-node"); // XEP-0060 §6.1.3.4
        await Ok(alice, $"<iq type='set' id='a1' to='{Service}'><pubsub xmlns='{Owner}'><affiliations node='{closed}'><affiliation jid='carol@localhost' affiliation='member'/></affiliations></pubsub></iq>");
        Assert.Equal("result", (await SubscribeWith(carol, closed, "items", "1")).Type);
        // §10.1: only the collection's model counts, so an open leaf's items reach its members through it
        var leaf = Unique("open-leaf");
        await Create(alice, leaf, In(closed));
        Assert.Equal("result", (await Publish(alice, leaf, "x", Entry("x"))).Type);
        await Through(carol, closed, leaf);
    }

    [Fact]
    public async Task Xep0248_the_journal_shows_the_associations_after_a_replay()
    {
        await using var alice = await Server.LoginAsync("alice");
        var parent = Unique("parent");
        var child = Unique("child");
        await Create(alice, parent, Collection);
        await Create(alice, child, In(parent));
        var rebuilt = await Operator.CliAsync(Server, "events", "rebuild", $"entity:pubsub/node/{Service}/{parent}");
        Assert.True(rebuilt.ExitCode == 0, rebuilt.Stderr);
        Assert.Contains($"<associated xmlns='urn:actors:pubsub:node:0' child='{child}'/>", rebuilt.Stdout);
        Assert.Contains("collection", rebuilt.Stdout); // its node_type
        var leaf = await Operator.CliAsync(Server, "events", "rebuild", $"entity:pubsub/node/{Service}/{child}");
        Assert.True(leaf.ExitCode == 0, leaf.Stderr);
        Assert.Contains($"var='pubsub#collection'>{parent}<", leaf.Stdout);
    }
}
