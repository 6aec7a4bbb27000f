using Actors.Xmpp;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Tests;

/// <summary>One server for the PubSub specs (each test uses its own node names).</summary>
public sealed class PubSubServer : IAsyncLifetime
{
    public TestServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await TestServer.StartAsync(["disco", "ping", "pubsub"]);
        await Server.AddUserAsync("carol");
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>XEP-0060 Publish-Subscribe at pubsub.localhost (the 'pubsub' plugin), over TCP with two and three clients.</summary>
public sealed class PubSubSpec(PubSubServer fixture) : IClassFixture<PubSubServer>
{
    internal const string Service = "pubsub.localhost";
    internal const string PubSub = "http://jabber.org/protocol/pubsub";
    internal const string Owner = "http://jabber.org/protocol/pubsub#owner";
    internal const string Event = "http://jabber.org/protocol/pubsub#event";
    internal const string Errors = "http://jabber.org/protocol/pubsub#errors";
    private TestServer Server => fixture.Server;

    internal static string Unique(string name) => name + "-" + Guid.NewGuid().ToString("N")[..8];

    internal static string Condition(Element error) =>
        error.Child("error", Ns.Client)?.Elements().FirstOrDefault(e => e.Namespace == Ns.StanzaErrors)?.Name ?? "(none)";

    internal static string? PubSubCondition(Element error) =>
        error.Child("error", Ns.Client)?.Elements().FirstOrDefault(e => e.Namespace == Errors)?.Name;

    internal static void AssertError(Element reply, string condition, string? pubsubCondition = null)
    {
        Assert.True(reply.Type == "error", $"expected an error, got {reply}");
        Assert.Equal(condition, Condition(reply));
        Assert.Equal(pubsubCondition, PubSubCondition(reply));
    }

    internal static async Task<Element> Ok(XmppTestClient c, string iq)
    {
        var reply = await c.Query(iq);
        Assert.True(reply.Type == "result", $"expected a result, got {reply}");
        return reply;
    }

    internal static Task<Element> Create(XmppTestClient c, string node, string? config = null) =>
        Ok(c, $"<iq type='set' id='{c.NextId()}' to='{Service}'><pubsub xmlns='{PubSub}'><create node='{node}'/>{(config is null ? "" : $"<configure>{Form(config)}</configure>")}</pubsub></iq>");

    internal static string Form(string fields, string formType = "http://jabber.org/protocol/pubsub#node_config") =>
        $"<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>{formType}</value></field>{fields}</x>";

    internal static string Field(string var, string value) => $"<field var='{var}'><value>{value}</value></field>";

    internal static Task<Element> Subscribe(XmppTestClient c, string node, string? jid = null) =>
        c.Query($"<iq type='set' id='{c.NextId()}' to='{Service}'><pubsub xmlns='{PubSub}'><subscribe node='{node}' jid='{jid ?? c.Jid.ToString()}'/></pubsub></iq>");

    internal static Task<Element> Publish(XmppTestClient c, string node, string? id, string payload, string options = "") =>
        c.Query($"<iq type='set' id='{c.NextId()}' to='{Service}'><pubsub xmlns='{PubSub}'><publish node='{node}'><item{(id is null ? "" : $" id='{id}'")}>{payload}</item></publish>{options}</pubsub></iq>");

    internal static Task<Element> Items(XmppTestClient c, string node, string inner = "", string attrs = "") =>
        c.Query($"<iq type='get' id='{c.NextId()}' to='{Service}'><pubsub xmlns='{PubSub}'><items node='{node}'{attrs}>{inner}</items></pubsub></iq>");

    internal static string[] ItemIds(Element reply) =>
        reply.Child("pubsub", PubSub)!.Child("items", PubSub)!.Elements("item", PubSub).Select(i => i.Attr("id")!).ToArray();

    internal static Task<Element> Notification(XmppTestClient c, string node, Func<Element, bool>? also = null) =>
        c.Receives(e => e.Name == "message" && e.From == Service && e.Child("event", Event)?.FirstChild()?.Attr("node") == node && (also?.Invoke(e) ?? true),
            $"a notification from node {node}");

    internal static string Entry(string text) => $"<entry xmlns='http://www.w3.org/2005/Atom'><title>{text}</title></entry>";

    [Fact]
    public async Task Xep0060_5_1_the_service_is_a_pubsub_service_and_lists_exactly_the_features_it_implements_and_5_2_its_nodes()
    {
        await using var alice = await Server.LoginAsync("alice");
        var info = await Ok(alice, $"<iq type='get' id='i1' to='{Service}'><query xmlns='{Ns.DiscoInfo}'/></iq>");
        var query = info.Child("query", Ns.DiscoInfo)!;
        Assert.Contains(query.Elements("identity", Ns.DiscoInfo), i => i.Attr("category") == "pubsub" && i.Attr("type") == "service");
        var features = query.Elements("feature", Ns.DiscoInfo).Select(f => f.Attr("var")!).Order(StringComparer.Ordinal).ToArray();
        var implemented = new[] { "access-authorize", "access-open", "access-presence", "access-roster", "access-whitelist", "config-node", "config-node-max",
                "create-and-configure", "create-nodes", "delete-items", "delete-nodes", "instant-nodes", "item-ids", "last-published",
                "manage-subscriptions", "member-affiliation", "meta-data", "modify-affiliations", "outcast-affiliation", "persistent-items",
                "publish", "publish-options", "publisher-affiliation", "purge-nodes", "retract-items", "retrieve-affiliations",
                "retrieve-default", "retrieve-items", "retrieve-subscriptions", "subscribe", "subscription-options", "collections" }
            .Select(f => PubSub + "#" + f)
            .Concat([Ns.DiscoInfo, Ns.DiscoItems, PubSub, "http://jabber.org/protocol/rsm"]).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(implemented, features); // exactly these: e.g. no multi-collections, multi-subscribe

        var node = Unique("musings");
        await Create(alice, node);
        var items = await Ok(alice, $"<iq type='get' id='i2' to='{Service}'><query xmlns='{Ns.DiscoItems}'/></iq>");
        Assert.Contains(items.Child("query", Ns.DiscoItems)!.Elements("item", Ns.DiscoItems), i => i.Attr("node") == node && i.Attr("jid") == Service);
        // §5.3/§5.4: the node's own disco#info: a leaf with its meta-data form
        var nodeInfo = await Ok(alice, $"<iq type='get' id='i3' to='{Service}'><query xmlns='{Ns.DiscoInfo}' node='{node}'/></iq>");
        StanzaAssert.Matches($"<iq><query xmlns='{Ns.DiscoInfo}' node='{node}'><identity category='pubsub' type='leaf'/><feature var='{PubSub}'/>" +
            "<x xmlns='jabber:x:data' type='result'><field var='pubsub#owner'><value>alice@localhost</value></field></x></query></iq>", nodeInfo);
        AssertError(await alice.Query($"<iq type='get' id='i4' to='{Service}'><query xmlns='{Ns.DiscoInfo}' node='{Unique("none")}'/></iq>"), "item-not-found");
    }

    [Fact]
    public async Task Xep0060_8_1_1_named_and_8_1_2_instant_nodes_and_8_1_3_4_an_existing_node_is_a_conflict()
    {
        await using var alice = await Server.LoginAsync("alice");
        await using var bob = await Server.LoginAsync("bob");
        var node = Unique("named");
        await Create(alice, node);
        AssertError(await bob.Query($"<iq type='set' id='c2' to='{Service}'><pubsub xmlns='{PubSub}'><create node='{node}'/></pubsub></iq>"), "conflict");
        var instant = await Ok(alice, $"<iq type='set' id='c3' to='{Service}'><pubsub xmlns='{PubSub}'><create/></pubsub></iq>");
        var made = instant.Child("pubsub", PubSub)?.Child("create", PubSub)?.Attr("node");
        Assert.False(string.IsNullOrEmpty(made)); // §8.1.2: the service names the node in its answer
        var affiliations = await Ok(alice, $"<iq type='get' id='c4' to='{Service}'><pubsub xmlns='{PubSub}'><affiliations node='{made}'/></pubsub></iq>");
        StanzaAssert.Matches($"<iq><pubsub xmlns='{PubSub}'><affiliations><affiliation node='{made}' affiliation='owner'/></affiliations></pubsub></iq>", affiliations);
    }

    [Fact]
    public async Task Xep0060_8_1_3_create_and_configure_applies_the_form_and_refuses_values_it_does_not_support()
    {
        await using var alice = await Server.LoginAsync("alice");
        var node = Unique("configured");
        await Create(alice, node, Field("pubsub#title", "Princely Musings") + Field("pubsub#max_items", "3") + Field("pubsub#access_model", "whitelist"));
        var config = await Ok(alice, $"<iq type='get' id='g1' to='{Service}'><pubsub xmlns='{Owner}'><configure node='{node}'/></pubsub></iq>");
        StanzaAssert.Matches($"<iq><pubsub xmlns='{Owner}'><configure node='{node}'><x xmlns='jabber:x:data' type='form'>" +
            "<field var='pubsub#title'><value>Princely Musings</value></field><field var='pubsub#max_items'><value>3</value></field>" +
            "<field var='pubsub#access_model'><value>whitelist</value></field></x></configure></pubsub></iq>", config);
        var refused = await alice.Query($"<iq type='set' id='c1' to='{Service}'><pubsub xmlns='{PubSub}'><create node='{Unique("bad")}'/><configure>{Form(Field("pubsub#access_model", "telepathy"))}</configure></pubsub></iq>");
        AssertError(refused, "not-acceptable");
    }

    [Fact]
    public async Task Xep0060_6_1_subscribe_and_7_1_2_1_publish_notifies_every_subscriber_with_the_payload()
    {
        await using var alice = await Server.LoginAsync("alice");
        await using var bob = await Server.LoginAsync("bob");
        await using var carol = await Server.LoginAsync("carol");
        var node = Unique("news");
        await Create(alice, node);
        foreach (var c in new[] { bob, carol })
        {
            var sub = await Subscribe(c, node);
            StanzaAssert.Matches($"<iq type='result'><pubsub xmlns='{PubSub}'><subscription node='{node}' jid='{c.Jid}' subscription='subscribed'/></pubsub></iq>", sub);
            Assert.False(string.IsNullOrEmpty(sub.Child("pubsub", PubSub)!.Child("subscription", PubSub)!.Attr("subid")));
        }
        var published = await Publish(alice, node, null, Entry("Soliloquy"));
        var id = published.Child("pubsub", PubSub)?.Child("publish", PubSub)?.Child("item", PubSub)?.Attr("id");
        Assert.False(string.IsNullOrEmpty(id)); // §7.1.2: the service generates an item id
        foreach (var c in new[] { bob, carol })
        {
            var n = await Notification(c, node);
            StanzaAssert.Matches($"<message from='{Service}' to='{c.Jid}' type='headline'><event xmlns='{Event}'><items node='{node}'>" +
                $"<item id='{id}'>{Entry("Soliloquy")}</item></items></event></message>", n);
        }
        // §6.1.3.1: a subscription for someone else's JID is refused
        AssertError(await Subscribe(bob, node, "carol@localhost"), "bad-request", "invalid-jid");
        // §6.1.3.12 / §7.1.3.3: no such node
        AssertError(await Subscribe(bob, Unique("none")), "item-not-found");
        AssertError(await Publish(alice, Unique("none"), "x", Entry("x")), "item-not-found");
        // §7.1.3.1: only publishers publish (publish_model 'publishers')
        AssertError(await Publish(bob, node, "b1", Entry("not mine")), "forbidden");
    }

    [Fact]
    public async Task Xep0060_7_1_2_2_without_payloads_notifications_carry_the_item_id_only()
    {
        await using var alice = await Server.LoginAsync("alice");
        await using var bob = await Server.LoginAsync("bob");
        var node = Unique("ids-only");
        await Create(alice, node, Field("pubsub#deliver_payloads", "0"));
        Assert.Equal("result", (await Subscribe(bob, node)).Type);
        Assert.Equal("result", (await Publish(alice, node, "item-1", Entry("quiet"))).Type);
        var n = await Notification(bob, node);
        var item = n.Child("event", Event)!.Child("items", Event)!.Child("item", Event)!;
        Assert.Equal("item-1", item.Attr("id"));
        Assert.False(item.HasChildren);
        Assert.Equal(["item-1"], ItemIds(await Items(bob, node))); // the payload is kept and retrievable
    }

    [Fact]
    public async Task Xep0060_7_1_3_publish_errors_payload_required_invalid_payload_and_payload_too_big()
    {
        await using var alice = await Server.LoginAsync("alice");
        var node = Unique("strict");
        await Create(alice, node, Field("pubsub#max_payload_size", "100"));
        AssertError(await alice.Query($"<iq type='set' id='p1' to='{Service}'><pubsub xmlns='{PubSub}'><publish node='{node}'/></pubsub></iq>"), "bad-request", "item-required");
        AssertError(await Publish(alice, node, "a", ""), "bad-request", "payload-required");
        AssertError(await Publish(alice, node, "a", "<one xmlns='x'/><two xmlns='x'/>"), "bad-request", "invalid-payload");
        AssertError(await Publish(alice, node, "a", Entry(new string('z', 200))), "not-acceptable", "payload-too-big");
        Assert.Empty(ItemIds(await Items(alice, node)));
    }

    [Fact]
    public async Task Xep0060_7_1_5_publish_options_are_preconditions_on_the_node_configuration()
    {
        await using var alice = await Server.LoginAsync("alice");
        var node = Unique("private");
        await Create(alice, node, Field("pubsub#access_model", "whitelist"));
        var wrong = Form(Field("pubsub#access_model", "open"), "http://jabber.org/protocol/pubsub#publish-options");
        AssertError(await Publish(alice, node, "k1", Entry("key"), $"<publish-options>{wrong}</publish-options>"), "conflict", "precondition-not-met");
        var right = Form(Field("pubsub#access_model", "whitelist") + Field("pubsub#persist_items", "true"), "http://jabber.org/protocol/pubsub#publish-options");
        Assert.Equal("result", (await Publish(alice, node, "k1", Entry("key"), $"<publish-options>{right}</publish-options>")).Type);
        Assert.Equal(["k1"], ItemIds(await Items(alice, node)));
    }

    [Fact]
    public async Task Xep0060_6_3_subscription_options_deliver_off_stops_notifications_and_6_3_7_subscribe_with_options()
    {
        await using var alice = await Server.LoginAsync("alice");
        await using var bob = await Server.LoginAsync("bob");
        await using var carol = await Server.LoginAsync("carol");
        var node = Unique("optioned");
        await Create(alice, node);
        const string OptionsForm = "http://jabber.org/protocol/pubsub#subscribe_options";
        string Deliver(bool on) => Form(Field("pubsub#deliver", on ? "1" : "0"), OptionsForm);
        var subid = (await Subscribe(bob, node)).Child("pubsub", PubSub)!.Child("subscription", PubSub)!.Attr("subid");
        // §6.3.2: the form, with the current value
        StanzaAssert.Matches($"<iq type='result'><pubsub xmlns='{PubSub}'><options node='{node}' jid='{bob.Jid}' subid='{subid}'><x xmlns='jabber:x:data' type='form'>" +
            $"<field var='FORM_TYPE'><value>{OptionsForm}</value></field><field var='pubsub#deliver'><value>1</value></field></x></options></pubsub></iq>",
            await bob.Query($"<iq type='get' id='o1' to='{Service}'><pubsub xmlns='{PubSub}'><options node='{node}' jid='{bob.Jid}'/></pubsub></iq>"));
        // §6.3.5: delivery off; §6.3.6: an option the service does not know is refused
        await Ok(bob, $"<iq type='set' id='o2' to='{Service}'><pubsub xmlns='{PubSub}'><options node='{node}' jid='{bob.Jid}'>{Deliver(false)}</options></pubsub></iq>");
        AssertError(await bob.Query($"<iq type='set' id='o3' to='{Service}'><pubsub xmlns='{PubSub}'><options node='{node}' jid='{bob.Jid}'>{Form(Field("pubsub#digest", "1"), OptionsForm)}</options></pubsub></iq>"),
            "bad-request", "invalid-options");
        AssertError(await carol.Query($"<iq type='get' id='o4' to='{Service}'><pubsub xmlns='{PubSub}'><options node='{node}' jid='{bob.Jid}'/></pubsub></iq>"), "forbidden"); // §6.3.4.1
        AssertError(await carol.Query($"<iq type='get' id='o5' to='{Service}'><pubsub xmlns='{PubSub}'><options node='{node}' jid='{carol.Jid}'/></pubsub></iq>"),
            "unexpected-request", "not-subscribed"); // §6.3.4.2
        // §6.3.7: carol subscribes with delivery on in the same request
        var carolSub = await carol.Query($"<iq type='set' id='o6' to='{Service}'><pubsub xmlns='{PubSub}'><subscribe node='{node}' jid='{carol.Jid}'/><options>{Deliver(true)}</options></pubsub></iq>");
        Assert.Equal("result", carolSub.Type);
        Assert.Equal("result", (await Publish(alice, node, "quiet-for-bob", Entry("x"))).Type);
        await Notification(carol, node);
        bob.Timeout = TimeSpan.FromSeconds(1); // carol has hers: bob's would have come by now
        await Assert.ThrowsAsync<TimeoutException>(() => Notification(bob, node));
        // §6.4: the default options
        StanzaAssert.Matches($"<iq type='result'><pubsub xmlns='{PubSub}'><default><x xmlns='jabber:x:data'><field var='pubsub#deliver'/></x></default></pubsub></iq>",
            await bob.Query($"<iq type='get' id='o7' to='{Service}'><pubsub xmlns='{PubSub}'><default/></pubsub></iq>"));
    }

    [Fact]
    public async Task Xep0060_6_2_unsubscribe_with_subid_and_its_errors()
    {
        await using var alice = await Server.LoginAsync("alice");
        await using var bob = await Server.LoginAsync("bob");
        var node = Unique("leaving");
        await Create(alice, node);
        var subid = (await Subscribe(bob, node)).Child("pubsub", PubSub)!.Child("subscription", PubSub)!.Attr("subid");
        AssertError(await bob.Query($"<iq type='set' id='u0' to='{Service}'><pubsub xmlns='{PubSub}'><unsubscribe node='{node}' jid='{bob.Jid}' subid='nonsense'/></pubsub></iq>"),
            "not-acceptable", "invalid-subid"); // §6.2.3.5
        AssertError(await alice.Query($"<iq type='set' id='u1' to='{Service}'><pubsub xmlns='{PubSub}'><unsubscribe node='{node}' jid='{alice.Jid}'/></pubsub></iq>"),
            "unexpected-request", "not-subscribed"); // §6.2.3.2
        await using (var carol = await Server.LoginAsync("carol"))
            AssertError(await carol.Query($"<iq type='set' id='u2' to='{Service}'><pubsub xmlns='{PubSub}'><unsubscribe node='{node}' jid='{bob.Jid}'/></pubsub></iq>"),
                "forbidden"); // §6.2.3.3
        await Ok(bob, $"<iq type='set' id='u3' to='{Service}'><pubsub xmlns='{PubSub}'><unsubscribe node='{node}' jid='{bob.Jid}' subid='{subid}'/></pubsub></iq>");
        Assert.Equal("result", (await Publish(alice, node, "after", Entry("gone"))).Type);
        await bob.ExpectNoBounceAsync();
        Assert.DoesNotContain(await DrainAsync(bob), e => e.Name == "message");
    }

    private static async Task<List<Element>> DrainAsync(XmppTestClient c)
    {
        await c.PingServerAsync();
        var seen = new List<Element>();
        while (true)
        {
            try { seen.Add(await c.NextAsync(TimeSpan.FromMilliseconds(200))); }
            catch (TimeoutException) { return seen; }
            catch (OperationCanceledException) { return seen; }
        }
    }

    [Fact]
    public async Task Xep0060_6_5_retrieve_all_items_some_by_id_and_the_most_recent_with_max_items()
    {
        await using var alice = await Server.LoginAsync("alice");
        await using var bob = await Server.LoginAsync("bob");
        var node = Unique("archive");
        await Create(alice, node);
        foreach (var id in new[] { "a", "b", "c", "d" }) Assert.Equal("result", (await Publish(alice, node, id, Entry(id))).Type);
        Assert.Equal(["a", "b", "c", "d"], ItemIds(await Items(bob, node))); // §6.5.2
        Assert.Equal(["c", "d"], ItemIds(await Items(bob, node, attrs: " max_items='2'"))); // §6.5.7
        var some = await Items(bob, node, $"<item id='b'/><item id='d'/>"); // §6.5.8
        Assert.Equal(["b", "d"], ItemIds(some));
        StanzaAssert.Matches($"<iq><pubsub xmlns='{PubSub}'><items node='{node}'><item id='b'>{Entry("b")}</item></items></pubsub></iq>", some);
        AssertError(await Items(bob, Unique("none")), "item-not-found"); // §6.5.9.11
        // republishing an id replaces the item and makes it the newest
        Assert.Equal("result", (await Publish(alice, node, "a", Entry("a2"))).Type);
        Assert.Equal(["b", "c", "d", "a"], ItemIds(await Items(bob, node)));
    }

    [Fact]
    public async Task Xep0060_6_5_4_items_are_paged_with_xep0059_result_set_management()
    {
        await using var alice = await Server.LoginAsync("alice");
        var node = Unique("paged");
        await Create(alice, node, Field("pubsub#max_items", "max"));
        foreach (var id in new[] { "a", "b", "c", "d", "e" }) Assert.Equal("result", (await Publish(alice, node, id, Entry(id))).Type);
        Task<Element> Page(string set) => alice.Query($"<iq type='get' id='{alice.NextId()}' to='{Service}'><pubsub xmlns='{PubSub}'><items node='{node}'/>" +
            $"<set xmlns='http://jabber.org/protocol/rsm'>{set}</set></pubsub></iq>");
        const string Rsm = "http://jabber.org/protocol/rsm";
        var first = await Page("<max>2</max>");
        Assert.Equal(["a", "b"], ItemIds(first));
        StanzaAssert.Matches($"<iq><pubsub xmlns='{PubSub}'><set xmlns='{Rsm}'><first index='0'>a</first><last>b</last><count>5</count></set></pubsub></iq>", first);
        Assert.Equal(["c", "d"], ItemIds(await Page("<max>2</max><after>b</after>")));
        Assert.Equal(["e"], ItemIds(await Page("<max>2</max><after>d</after>")));
        Assert.Equal(["d", "e"], ItemIds(await Page("<max>2</max><before/>"))); // XEP-0059 §2.5: the last page
        Assert.Equal(["b", "c"], ItemIds(await Page("<max>2</max><before>d</before>")));
        AssertError(await Page("<max>2</max><after>nonesuch</after>"), "item-not-found");
    }

    [Fact]
    public async Task Xep0060_16_4_4_item_expire_removes_items_that_outlived_it()
    {
        await using var alice = await Server.LoginAsync("alice");
        var node = Unique("expiring");
        await Create(alice, node, Field("pubsub#item_expire", "1"));
        Assert.Equal("result", (await Publish(alice, node, "soon-gone", Entry("brief"))).Type);
        Assert.Equal(["soon-gone"], ItemIds(await Items(alice, node)));
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.Empty(ItemIds(await Items(alice, node)));
        var disco = await Ok(alice, $"<iq type='get' id='d' to='{Service}'><query xmlns='{Ns.DiscoItems}' node='{node}'/></iq>");
        Assert.Empty(disco.Child("query", Ns.DiscoItems)!.Elements());
        AssertError(await alice.Query($"<iq type='set' id='c' to='{Service}'><pubsub xmlns='{Owner}'><configure node='{node}'>{Form(Field("pubsub#item_expire", "soon"))}</configure></pubsub></iq>"), "not-acceptable");
    }

    [Fact]
    public async Task Xep0060_7_2_retract_removes_the_item_and_notifies_with_notify()
    {
        await using var alice = await Server.LoginAsync("alice");
        await using var bob = await Server.LoginAsync("bob");
        var node = Unique("retract");
        await Create(alice, node);
        Assert.Equal("result", (await Subscribe(bob, node)).Type);
        Assert.Equal("result", (await Publish(alice, node, "r1", Entry("oops"))).Type);
        await Notification(bob, node);
        await Ok(alice, $"<iq type='set' id='r1' to='{Service}'><pubsub xmlns='{PubSub}'><retract node='{node}' notify='true'><item id='r1'/></retract></pubsub></iq>");
        var n = await Notification(bob, node, e => e.Child("event", Event)!.Child("items", Event)!.Child("retract", Event) is not null);
        Assert.Equal("r1", n.Child("event", Event)!.Child("items", Event)!.Child("retract", Event)!.Attr("id")); // §7.2.2.1
        Assert.Empty(ItemIds(await Items(bob, node)));
        AssertError(await alice.Query($"<iq type='set' id='r2' to='{Service}'><pubsub xmlns='{PubSub}'><retract node='{node}'><item id='r1'/></retract></pubsub></iq>"), "item-not-found"); // §7.2.3.7
        AssertError(await alice.Query($"<iq type='set' id='r3' to='{Service}'><pubsub xmlns='{PubSub}'><retract node='{node}'/></pubsub></iq>"), "bad-request", "item-required"); // §7.2.3.5
        AssertError(await bob.Query($"<iq type='set' id='r4' to='{Service}'><pubsub xmlns='{PubSub}'><retract node='{node}'><item id='x'/></retract></pubsub></iq>"), "forbidden"); // §7.2.3.1
    }

    [Fact]
    public async Task Xep0060_8_4_delete_with_redirect_notifies_subscribers_and_the_node_is_gone()
    {
        await using var alice = await Server.LoginAsync("alice");
        await using var bob = await Server.LoginAsync("bob");
        await using var carol = await Server.LoginAsync("carol");
        var node = Unique("doomed");
        await Create(alice, node);
        Assert.Equal("result", (await Subscribe(bob, node)).Type);
        Assert.Equal("result", (await Subscribe(carol, node)).Type);
        AssertError(await bob.Query($"<iq type='set' id='d0' to='{Service}'><pubsub xmlns='{Owner}'><delete node='{node}'/></pubsub></iq>"), "forbidden"); // §8.4.3.1
        await Ok(alice, $"<iq type='set' id='d1' to='{Service}'><pubsub xmlns='{Owner}'><delete node='{node}'><redirect uri='xmpp:{Service}?;node=elsewhere'/></delete></pubsub></iq>");
        foreach (var c in new[] { bob, carol })
            StanzaAssert.Matches($"<message from='{Service}'><event xmlns='{Event}'><delete node='{node}'><redirect uri='xmpp:{Service}?;node=elsewhere'/></delete></event></message>",
                await Notification(c, node));
        AssertError(await Items(bob, node), "item-not-found");
        var subs = await Ok(bob, $"<iq type='get' id='d2' to='{Service}'><pubsub xmlns='{PubSub}'><subscriptions/></pubsub></iq>");
        Assert.DoesNotContain(subs.Child("pubsub", PubSub)!.Child("subscriptions", PubSub)!.Elements(), s => s.Attr("node") == node);
        var listed = await Ok(bob, $"<iq type='get' id='d3' to='{Service}'><query xmlns='{Ns.DiscoItems}'/></iq>");
        Assert.DoesNotContain(listed.Child("query", Ns.DiscoItems)!.Elements(), i => i.Attr("node") == node);
        await Create(bob, node); // the name is free again
    }

    [Fact]
    public async Task Xep0060_8_5_purge_removes_every_item_and_notifies()
    {
        await using var alice = await Server.LoginAsync("alice");
        await using var bob = await Server.LoginAsync("bob");
        var node = Unique("purge");
        await Create(alice, node);
        Assert.Equal("result", (await Subscribe(bob, node)).Type);
        foreach (var id in new[] { "1", "2" }) Assert.Equal("result", (await Publish(alice, node, id, Entry(id))).Type);
        AssertError(await bob.Query($"<iq type='set' id='p0' to='{Service}'><pubsub xmlns='{Owner}'><purge node='{node}'/></pubsub></iq>"), "forbidden"); // §8.5.3.1
        await Ok(alice, $"<iq type='set' id='p1' to='{Service}'><pubsub xmlns='{Owner}'><purge node='{node}'/></pubsub></iq>");
        await Notification(bob, node, e => e.Child("event", Event)!.Child("purge", Event) is not null);
        Assert.Empty(ItemIds(await Items(bob, node)));
    }

    [Fact]
    public async Task Xep0060_8_2_owner_configures_the_node_subscribers_are_told_and_others_are_forbidden()
    {
        await using var alice = await Server.LoginAsync("alice");
        await using var bob = await Server.LoginAsync("bob");
        var node = Unique("config");
        await Create(alice, node);
        Assert.Equal("result", (await Subscribe(bob, node)).Type);
        AssertError(await bob.Query($"<iq type='get' id='g0' to='{Service}'><pubsub xmlns='{Owner}'><configure node='{node}'/></pubsub></iq>"), "forbidden"); // §8.2.3.3
        AssertError(await alice.Query($"<iq type='get' id='g1' to='{Service}'><pubsub xmlns='{Owner}'><configure/></pubsub></iq>"), "bad-request", "nodeid-required"); // §8.2.3.2
        await Ok(alice, $"<iq type='set' id='s1' to='{Service}'><pubsub xmlns='{Owner}'><configure node='{node}'>{Form(Field("pubsub#title", "Renamed") + Field("pubsub#max_items", "max"))}</configure></pubsub></iq>");
        await Notification(bob, node, e => e.Child("event", Event)!.Child("configuration", Event) is not null); // §8.2.5.1
        var config = await Ok(alice, $"<iq type='get' id='g2' to='{Service}'><pubsub xmlns='{Owner}'><configure node='{node}'/></pubsub></iq>");
        StanzaAssert.Matches($"<iq><pubsub xmlns='{Owner}'><configure><x xmlns='jabber:x:data'><field var='pubsub#title'><value>Renamed</value></field>" +
            "<field var='pubsub#max_items'><value>max</value></field></x></configure></pubsub></iq>", config);
        AssertError(await alice.Query($"<iq type='set' id='s2' to='{Service}'><pubsub xmlns='{Owner}'><configure node='{node}'>{Form(Field("pubsub#max_items", "-4"))}</configure></pubsub></iq>"), "not-acceptable");
        // §8.3: the default configuration
        StanzaAssert.Matches($"<iq><pubsub xmlns='{Owner}'><default><x xmlns='jabber:x:data' type='form'><field var='pubsub#access_model'><value>open</value></field></x></default></pubsub></iq>",
            await Ok(alice, $"<iq type='get' id='g3' to='{Service}'><pubsub xmlns='{Owner}'><default/></pubsub></iq>"));
    }

    [Fact]
    public async Task Xep0060_5_6_and_5_7_an_entity_retrieves_its_own_subscriptions_and_affiliations()
    {
        await using var alice = await Server.LoginAsync("alice");
        await using var bob = await Server.LoginAsync("bob");
        var mine = Unique("mine");
        var theirs = Unique("theirs");
        await Create(bob, mine);
        await Create(alice, theirs);
        Assert.Equal("result", (await Subscribe(bob, theirs)).Type);
        var subs = await Ok(bob, $"<iq type='get' id='s1' to='{Service}'><pubsub xmlns='{PubSub}'><subscriptions/></pubsub></iq>");
        StanzaAssert.Matches($"<iq><pubsub xmlns='{PubSub}'><subscriptions><subscription node='{theirs}' jid='{bob.Jid}' subscription='subscribed'/></subscriptions></pubsub></iq>", subs);
        var affs = await Ok(bob, $"<iq type='get' id='a1' to='{Service}'><pubsub xmlns='{PubSub}'><affiliations/></pubsub></iq>");
        var list = affs.Child("pubsub", PubSub)!.Child("affiliations", PubSub)!.Elements("affiliation", PubSub).ToList();
        Assert.Contains(list, a => a.Attr("node") == mine && a.Attr("affiliation") == "owner");
        Assert.DoesNotContain(list, a => a.Attr("node") == theirs);
    }

    [Fact]
    public async Task Xep0060_8_8_and_8_9_owners_manage_subscriptions_and_affiliations_and_an_outcast_is_refused()
    {
        await using var alice = await Server.LoginAsync("alice");
        await using var bob = await Server.LoginAsync("bob");
        await using var carol = await Server.LoginAsync("carol");
        var node = Unique("managed");
        await Create(alice, node);
        Assert.Equal("result", (await Subscribe(bob, node)).Type);
        await carol.Sends("<presence/>"); // available: a headline to her bare JID reaches her (RFC 6121 §8.5.2.1.1)
        AssertError(await bob.Query($"<iq type='get' id='m0' to='{Service}'><pubsub xmlns='{Owner}'><subscriptions node='{node}'/></pubsub></iq>"), "forbidden"); // §8.8.1.2
        StanzaAssert.Matches($"<iq><pubsub xmlns='{Owner}'><subscriptions node='{node}'><subscription jid='{bob.Jid}' subscription='subscribed'/></subscriptions></pubsub></iq>",
            await Ok(alice, $"<iq type='get' id='m1' to='{Service}'><pubsub xmlns='{Owner}'><subscriptions node='{node}'/></pubsub></iq>"));
        // §8.8.2: subscribe carol, remove bob
        await Ok(alice, $"<iq type='set' id='m2' to='{Service}'><pubsub xmlns='{Owner}'><subscriptions node='{node}'>" +
            $"<subscription jid='carol@localhost' subscription='subscribed'/><subscription jid='{bob.Jid}' subscription='none'/></subscriptions></pubsub></iq>");
        Assert.Equal("result", (await Publish(alice, node, "m", Entry("managed"))).Type);
        await Notification(carol, node);
        // §8.9.2: bob becomes a publisher and publishes; carol becomes an outcast and loses her subscription
        await Ok(alice, $"<iq type='set' id='m3' to='{Service}'><pubsub xmlns='{Owner}'><affiliations node='{node}'>" +
            "<affiliation jid='bob@localhost' affiliation='publisher'/><affiliation jid='carol@localhost' affiliation='outcast'/></affiliations></pubsub></iq>");
        StanzaAssert.Matches($"<iq><pubsub xmlns='{Owner}'><affiliations node='{node}'><affiliation jid='alice@localhost' affiliation='owner'/>" +
            "<affiliation jid='bob@localhost' affiliation='publisher'/><affiliation jid='carol@localhost' affiliation='outcast'/></affiliations></pubsub></iq>",
            await Ok(alice, $"<iq type='get' id='m4' to='{Service}'><pubsub xmlns='{Owner}'><affiliations node='{node}'/></pubsub></iq>"));
        Assert.Equal("result", (await Publish(bob, node, "b", Entry("by bob"))).Type);
        AssertError(await Subscribe(carol, node), "forbidden"); // §6.1.3.8
        AssertError(await Items(carol, node), "forbidden");
        AssertError(await alice.Query($"<iq type='set' id='m5' to='{Service}'><pubsub xmlns='{Owner}'><affiliations node='{node}'><affiliation jid='alice@localhost' affiliation='none'/></affiliations></pubsub></iq>"),
            "not-acceptable"); // the last owner stays
    }

    [Fact]
    public async Task Xep0060_4_5_whitelist_nodes_are_closed_to_all_but_affiliates()
    {
        await using var alice = await Server.LoginAsync("alice");
        await using var bob = await Server.LoginAsync("bob");
        var node = Unique("closed");
        await Create(alice, node, Field("pubsub#access_model", "whitelist"));
        AssertError(await Subscribe(bob, node), "not-allowed", "closed-node"); // §6.1.3.4
        AssertError(await Items(bob, node), "not-allowed", "closed-node"); // §6.5.9.4
        await Ok(alice, $"<iq type='set' id='w1' to='{Service}'><pubsub xmlns='{Owner}'><affiliations node='{node}'><affiliation jid='bob@localhost' affiliation='member'/></affiliations></pubsub></iq>");
        Assert.Equal("result", (await Subscribe(bob, node)).Type);
    }

    [Fact]
    public async Task Xep0060_4_5_roster_nodes_admit_the_owners_allowed_roster_groups_6_1_3_3_6_5_9_7()
    {
        await using var alice = await Server.LoginAsync("alice", "roster");
        await using var bob = await Server.LoginAsync("bob", "roster");
        await using var carol = await Server.LoginAsync("carol", "roster");
        var node = Unique("friends-only");
        await Create(alice, node, Field("pubsub#access_model", "roster") +
            "<field var='pubsub#roster_groups_allowed'><value>friends</value><value>family</value></field>");
        var config = await Ok(alice, $"<iq type='get' id='c1' to='{Service}'><pubsub xmlns='{Owner}'><configure node='{node}'/></pubsub></iq>");
        StanzaAssert.Matches("<iq><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure><x xmlns='jabber:x:data'>" +
            "<field var='pubsub#access_model'><value>roster</value></field>" +
            "<field var='pubsub#roster_groups_allowed' type='list-multi'><value>friends</value><value>family</value></field></x></configure></pubsub></iq>", config);
        // RFC 6121 §2.3: alice puts bob in 'family' and carol in 'work'
        await Ok(alice, "<iq type='set' id='r1'><query xmlns='jabber:iq:roster'><item jid='bob@localhost'><group>family</group></item></query></iq>");
        await Ok(alice, "<iq type='set' id='r2'><query xmlns='jabber:iq:roster'><item jid='carol@localhost'><group>work</group></item></query></iq>");
        AssertError(await Subscribe(carol, node), "not-authorized", "not-in-roster-group"); // §6.1.3.3
        AssertError(await Items(carol, node), "not-authorized", "not-in-roster-group"); // §6.5.9.7
        Assert.Equal("result", (await Subscribe(bob, node)).Type);
        Assert.Equal("result", (await Items(bob, node)).Type);
        // a member affiliation admits whatever the groups (§4.1)
        await Ok(alice, $"<iq type='set' id='m1' to='{Service}'><pubsub xmlns='{Owner}'><affiliations node='{node}'><affiliation jid='carol@localhost' affiliation='member'/></affiliations></pubsub></iq>");
        Assert.Equal("result", (await Items(carol, node)).Type);
    }

    [Fact]
    public async Task Xep0060_4_5_presence_nodes_need_the_owners_presence_subscription()
    {
        await using var alice = await Server.LoginAsync("alice", "presence");
        await using var carol = await Server.LoginAsync("carol", "presence");
        var node = Unique("presence");
        await Create(alice, node, Field("pubsub#access_model", "presence"));
        AssertError(await Subscribe(carol, node), "not-authorized", "presence-subscription-required"); // §6.1.3.2
        AssertError(await Items(carol, node), "not-authorized", "presence-subscription-required"); // §6.5.9.2
        // carol subscribes to alice's presence and alice approves: alice's roster has carol with 'from'
        await alice.Sends("<presence/>");
        await carol.Sends("<presence/>");
        await carol.Sends("<presence type='subscribe' to='alice@localhost'/>");
        await alice.Receives("<presence type='subscribe' from='carol@localhost'/>");
        await alice.Sends("<presence type='subscribed' to='carol@localhost'/>");
        await carol.Receives("<presence type='subscribed' from='alice@localhost'/>");
        Assert.Equal("result", (await Subscribe(carol, node)).Type);
        Assert.Equal("result", (await Items(carol, node)).Type);
    }

    [Fact]
    public async Task Xep0060_8_6_authorize_nodes_ask_the_owner_who_approves_or_denies_with_a_message_form()
    {
        await using var alice = await Server.LoginAsync("alice", "approver");
        await using var bob = await Server.LoginAsync("bob", "asker");
        await using var carol = await Server.LoginAsync("carol", "asker");
        await alice.Sends("<presence/>");
        await bob.Sends("<presence/>");
        await carol.Sends("<presence/>");
        var node = Unique("approved");
        await Create(alice, node, Field("pubsub#access_model", "authorize"));
        Assert.Equal("result", (await Publish(alice, node, "secret", Entry("for the approved"))).Type);
        const string AuthForm = "http://jabber.org/protocol/pubsub#subscribe_authorization";
        async Task<Element> Ask(XmppTestClient who)
        {
            var pending = await Subscribe(who, node);
            StanzaAssert.Matches($"<iq type='result'><pubsub xmlns='{PubSub}'><subscription node='{node}' jid='{who.Jid}' subscription='pending'/></pubsub></iq>", pending); // §6.1.2
            var request = await alice.Receives(e => e.Name == "message" && e.From == Service && e.Child("x", "jabber:x:data") is { } x
                && x.Elements("field", "jabber:x:data").Any(f => f.Attr("var") == "pubsub#subscriber_jid" && f.ChildText("value", "jabber:x:data") == who.Jid.ToString()),
                $"the authorization form for {who.Jid}"); // §8.6
            StanzaAssert.Matches($"<message><x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE'><value>{AuthForm}</value></field>" +
                $"<field var='pubsub#node'><value>{node}</value></field><field var='pubsub#allow'><value>false</value></field></x></message>", request);
            return request;
        }
        string Answer(Element request, bool allow)
        {
            var subid = request.Child("x", "jabber:x:data")!.Elements("field", "jabber:x:data").First(f => f.Attr("var") == "pubsub#subid").ChildText("value", "jabber:x:data");
            var jid = request.Child("x", "jabber:x:data")!.Elements("field", "jabber:x:data").First(f => f.Attr("var") == "pubsub#subscriber_jid").ChildText("value", "jabber:x:data");
            return $"<message to='{Service}' id='{Guid.NewGuid():N}'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>{AuthForm}</value></field>" +
                $"<field var='pubsub#subid'><value>{subid}</value></field><field var='pubsub#node'><value>{node}</value></field>" +
                $"<field var='pubsub#subscriber_jid'><value>{jid}</value></field><field var='pubsub#allow'><value>{(allow ? "true" : "false")}</value></field></x></message>";
        }

        var bobRequest = await Ask(bob);
        AssertError(await Items(bob, node), "not-authorized", "pending-subscription"); // §6.5.9.3 while pending
        await alice.Sends(Answer(bobRequest, allow: true));
        await bob.Receives($"<message from='{Service}'><event xmlns='{Event}'><subscription node='{node}' jid='{bob.Jid}' subscription='subscribed'/></event></message>");
        Assert.Equal(["secret"], ItemIds(await Items(bob, node)));

        var carolRequest = await Ask(carol);
        await alice.Sends(Answer(carolRequest, allow: false));
        await carol.Receives($"<message from='{Service}'><event xmlns='{Event}'><subscription node='{node}' jid='{carol.Jid}' subscription='none'/></event></message>");
        AssertError(await Items(carol, node), "not-authorized", "not-subscribed");
        // only owners decide
        var forged = await Ask(carol);
        await carol.Sends(Answer(forged, allow: true));
        await carol.Receives(e => e.Name == "message" && e.Type == "error" && e.Child("error", Ns.Client)?.Child("forbidden", Ns.StanzaErrors) is not null, "a forbidden error");
    }

    [Fact]
    public async Task Xep0060_6_1_7_a_new_subscriber_gets_the_last_published_item_with_a_delay()
    {
        await using var alice = await Server.LoginAsync("alice");
        await using var bob = await Server.LoginAsync("bob");
        var node = Unique("last");
        await Create(alice, node);
        Assert.Equal("result", (await Publish(alice, node, "old", Entry("old"))).Type);
        Assert.Equal("result", (await Publish(alice, node, "new", Entry("new"))).Type);
        Assert.Equal("result", (await Subscribe(bob, node)).Type);
        var last = await Notification(bob, node);
        StanzaAssert.Matches($"<message from='{Service}'><event xmlns='{Event}'><items node='{node}'><item id='new'>{Entry("new")}</item></items></event>" +
            $"<delay xmlns='urn:xmpp:delay' from='{Service}'/></message>", last);
        Assert.True(DateTimeOffset.TryParse(last.Child("delay", "urn:xmpp:delay")!.Attr("stamp"), out _));
    }

    [Fact]
    public async Task Xep0060_max_items_keeps_the_newest_and_transient_nodes_keep_nothing()
    {
        await using var alice = await Server.LoginAsync("alice");
        await using var bob = await Server.LoginAsync("bob");
        var node = Unique("small");
        await Create(alice, node, Field("pubsub#max_items", "2"));
        foreach (var id in new[] { "1", "2", "3" }) Assert.Equal("result", (await Publish(alice, node, id, Entry(id))).Type);
        Assert.Equal(["2", "3"], ItemIds(await Items(alice, node)));

        var transient = Unique("transient");
        await Create(alice, transient, Field("pubsub#persist_items", "0"));
        Assert.Equal("result", (await Subscribe(bob, transient)).Type);
        Assert.Equal("result", (await Publish(alice, transient, "t", Entry("now only"))).Type);
        await Notification(bob, transient); // notified, not stored
        Assert.Empty(ItemIds(await Items(alice, transient)));
        AssertError(await alice.Query($"<iq type='set' id='p' to='{Service}'><pubsub xmlns='{Owner}'><purge node='{transient}'/></pubsub></iq>"),
            "feature-not-implemented", "unsupported");
        // notification-only: no payload may be published (§7.1.3.6 item-forbidden)
        var bare = Unique("bare");
        await Create(alice, bare, Field("pubsub#persist_items", "0") + Field("pubsub#deliver_payloads", "0"));
        AssertError(await Publish(alice, bare, "x", Entry("no")), "bad-request", "item-forbidden");
        Assert.Equal("result", (await alice.Query($"<iq type='set' id='e' to='{Service}'><pubsub xmlns='{PubSub}'><publish node='{bare}'/></pubsub></iq>")).Type);
    }

    [Fact]
    public async Task A_journal_replay_shows_the_nodes_configuration_subscribers_and_items_in_order()
    {
        await using var alice = await Server.LoginAsync("alice");
        await using var bob = await Server.LoginAsync("bob");
        var node = Unique("replayed");
        await Create(alice, node, Field("pubsub#title", "Replayed"));
        Assert.Equal("result", (await Subscribe(bob, node)).Type);
        foreach (var id in new[] { "first", "second", "third" }) Assert.Equal("result", (await Publish(alice, node, id, Entry(id))).Type);
        await Ok(alice, $"<iq type='set' id='r' to='{Service}'><pubsub xmlns='{PubSub}'><retract node='{node}'><item id='second'/></retract></pubsub></iq>");

        var rebuilt = await Operator.CliAsync(Server, "events", "rebuild", $"entity:pubsub/node/{Service}/{node}");
        Assert.True(rebuilt.ExitCode == 0, rebuilt.Stderr);
        var output = rebuilt.Stdout;
        Assert.Contains("Replayed", output);                       // the configuration
        Assert.Contains("creator='alice@localhost'", output);      // the owner
        Assert.Contains($"<subscribed xmlns='urn:actors:pubsub:node:0' jid='{bob.Jid}'", output); // the subscriber
        var first = output.IndexOf("id='first'", StringComparison.Ordinal);
        var second = output.IndexOf("id='second'", StringComparison.Ordinal);
        var third = output.IndexOf("id='third'", StringComparison.Ordinal);
        Assert.True(first >= 0 && second > first && third > second, output);  // the items, in publish order
        Assert.Contains("<retracted xmlns='urn:actors:pubsub:node:0' id='second'/>", output);
    }

    [Fact]
    public async Task Hot_swapping_the_plugin_under_publish_load_loses_no_notification()
    {
        await using var alice = await Server.LoginAsync("alice");
        await using var bob = await Server.LoginAsync("bob");
        var node = Unique("swap");
        await Create(alice, node);
        Assert.Equal("result", (await Subscribe(bob, node)).Type);
        var acknowledged = new List<string>();
        var refused = 0;
        var publishing = Task.Run(async () =>
        {
            for (var i = 0; i < 150; i++)
            {
                var reply = await Publish(alice, node, "i" + i, Entry("n" + i));
                if (reply.Type == "result") acknowledged.Add("i" + i);
                else refused++; // while the address is between versions the IQ is answered with an error: not lost silently
            }
        });
        await Task.Delay(100);
        var reload = await Server.Plugins.ReloadAsync("pubsub");
        Assert.True(reload.Ok, reload.Message);
        await publishing;
        Assert.True(acknowledged.Count > 0);
        var received = new HashSet<string>();
        // until every acknowledged publish is notified (a publish answered with an error while the versions swapped
        // may have been stored and notified too: an error is no promise that nothing happened)
        while (!acknowledged.All(received.Contains))
        {
            var n = await Notification(bob, node);
            received.Add(n.Child("event", Event)!.Child("items", Event)!.Child("item", Event)!.Attr("id")!);
        }
        Assert.Empty(acknowledged.Except(received)); // every publish that got its result notified the subscriber
    }

    [Fact]
    public async Task A_node_recovers_from_its_snapshot_with_every_item_in_order()
    {
        await using var alice = await Server.LoginAsync("alice");
        var node = Unique("snapshotted");
        await Create(alice, node, Field("pubsub#max_items", "max"));
        var ids = Enumerable.Range(0, 120).Select(i => "s" + i).ToArray(); // past the 100 events after which the node snapshots
        foreach (var id in ids) Assert.Equal("result", (await Publish(alice, node, id, Entry(id))).Type);
        var rebuilt = await Operator.CliAsync(Server, "events", "rebuild", $"entity:pubsub/node/{Service}/{node}");
        Assert.Contains("from the snapshot", rebuilt.Stdout); // the journal holds one: recovery starts from it
        var reload = await Server.Plugins.ReloadAsync("pubsub");
        Assert.True(reload.Ok, reload.Message);
        Assert.Equal(ids, ItemIds(await Items(alice, node)));
    }

    [Fact]
    public async Task Xep0060_nodes_survive_a_plugin_reload_with_their_items_and_subscribers()
    {
        await using var alice = await Server.LoginAsync("alice");
        await using var bob = await Server.LoginAsync("bob");
        var node = Unique("durable");
        await Create(alice, node);
        Assert.Equal("result", (await Subscribe(bob, node)).Type);
        foreach (var id in new[] { "x", "y" }) Assert.Equal("result", (await Publish(alice, node, id, Entry(id))).Type);
        var reload = await Server.Plugins.ReloadAsync("pubsub");
        Assert.True(reload.Ok, reload.Message);
        Assert.Equal(["x", "y"], ItemIds(await Items(bob, node))); // recovered from the journal
        Assert.Equal("result", (await Publish(alice, node, "z", Entry("z"))).Type);
        await Notification(bob, node, e => e.Child("event", Event)!.Child("items", Event)!.Child("item", Event)?.Attr("id") == "z");
    }
}

/// <summary>The operator's limits (Xmpp:PubSub) and who may create nodes.</summary>
public sealed class PubSubLimitsSpec
{
    private const string Service = "pubsub.localhost";
    private const string PubSub = "http://jabber.org/protocol/pubsub";

    [Fact]
    public async Task Xep0060_8_1_3_limits_nodes_per_user_subscriptions_per_node_and_who_creates()
    {
        await using var server = await TestServer.StartAsync(["disco", "pubsub"], new Dictionary<string, string?>
        {
            ["Xmpp:PubSub:MaxNodesPerUser"] = "1",
            ["Xmpp:PubSub:MaxSubscriptionsPerNode"] = "1",
        });
        await using var alice = await server.LoginAsync("alice");
        await using var bob = await server.LoginAsync("bob");
        Assert.Equal("result", (await alice.Query($"<iq type='set' id='c1' to='{Service}'><pubsub xmlns='{PubSub}'><create node='one'/></pubsub></iq>")).Type);
        var second = await alice.Query($"<iq type='set' id='c2' to='{Service}'><pubsub xmlns='{PubSub}'><create node='two'/></pubsub></iq>");
        Assert.Equal("error", second.Type);
        Assert.NotNull(second.Child("error", Ns.Client)!.Child("not-allowed", Ns.StanzaErrors));
        Assert.Equal("result", (await alice.Query($"<iq type='set' id='s1' to='{Service}'><pubsub xmlns='{PubSub}'><subscribe node='one' jid='{alice.Jid}'/></pubsub></iq>")).Type);
        var full = await bob.Query($"<iq type='set' id='s2' to='{Service}'><pubsub xmlns='{PubSub}'><subscribe node='one' jid='{bob.Jid}'/></pubsub></iq>");
        StanzaAssert.Matches("<iq type='error'><error type='wait'><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>" +
            "<too-many-subscriptions xmlns='http://jabber.org/protocol/pubsub#errors'/></error></iq>", full); // §6.1.3.9
    }

    [Fact]
    public async Task Xep0060_8_1_3_3_only_admins_create_when_so_configured()
    {
        await using var server = await TestServer.StartAsync(["disco", "pubsub"], new Dictionary<string, string?>
        {
            ["Xmpp:PubSub:NodeCreation"] = "Admins",
            ["Xmpp:PubSub:Admins:0"] = "admin@localhost",
        });
        await using var alice = await server.LoginAsync("alice");
        await using var admin = await server.LoginAsync("admin");
        var refused = await alice.Query($"<iq type='set' id='c1' to='{Service}'><pubsub xmlns='{PubSub}'><create node='n'/></pubsub></iq>");
        Assert.NotNull(refused.Child("error", Ns.Client)?.Child("forbidden", Ns.StanzaErrors));
        Assert.Equal("result", (await admin.Query($"<iq type='set' id='c2' to='{Service}'><pubsub xmlns='{PubSub}'><create node='n'/></pubsub></iq>")).Type);
    }
}
