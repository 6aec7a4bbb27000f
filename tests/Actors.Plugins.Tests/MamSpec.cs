using Actors.Xmpp;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;
using Microsoft.Extensions.DependencyInjection;

namespace Actors.Plugins.Tests;

/// <summary>XEP-0313 message archive management for accounts (the 'mam' plugin), XEP-0359 stanza ids and XEP-0441
/// preferences, over TCP.</summary>
public sealed class MamSpec : IAsyncLifetime
{
    private const string Mam = "urn:xmpp:mam:2";
    private const string Rsm = "http://jabber.org/protocol/rsm";
    private const string Sid = "urn:xmpp:sid:0";
    private const string Forward = "urn:xmpp:forward:0";
    private TestServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await TestServer.StartAsync(["disco", "ping", "offline", "carbons", "blocking", "mam"]);
        await _server.AddUserAsync("carol");
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private Task<XmppTestClient> Login(string user, string resource = "test") =>
        XmppTestClient.LoginAsync(_server, user, resource, available: true);

    private static string Condition(Element error) =>
        error.Child("error", Ns.Client)?.Elements().FirstOrDefault(e => e.Namespace == Ns.StanzaErrors)?.Name ?? "(none)";

    /// <summary>A query's results (in arrival order) and its final IQ.</summary>
    private sealed record Results(List<Element> Messages, Element Iq)
    {
        public Element? Fin => Iq.Child("fin", Mam);
        public Element? Set => Fin?.Child("set", Rsm);
        public bool Complete => Fin?.Attr("complete") == "true";
        public string[] Ids => Messages.Select(m => m.Child("result", Mam)!.Attr("id")!).ToArray();
        public string[] Bodies => Messages.Select(m => Forwarded(m).ChildText("body", Ns.Client)!).ToArray();
        public int? Count => Set?.ChildText("count", Rsm) is { } c ? int.Parse(c) : null;
    }

    private static Element Forwarded(Element result) =>
        result.Child("result", Mam)!.Child("forwarded", Forward)!.Child("message", Ns.Client)!;

    private static string Form(params (string Var, string[] Values)[] fields) =>
        "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>" +
        string.Concat(fields.Select(f => $"<field var='{f.Var}'>" + string.Concat(f.Values.Select(v => $"<value>{v}</value>")) + "</field>")) + "</x>";

    private static int _queries;

    private static async Task<Results> Query(XmppTestClient c, string inner = "", string? to = null)
    {
        var id = "q" + Interlocked.Increment(ref _queries);
        var toAttr = to is null ? "" : $" to='{to}'";
        await c.Sends($"<iq type='set' id='{id}'{toAttr}><query xmlns='{Mam}' queryid='{id}'>{inner}</query></iq>");
        var messages = new List<Element>();
        while (true)
        {
            var e = await c.NextAsync();
            if (e.Name == "iq" && e.Id == id) return new Results(messages, e);
            if (e.Name == "message" && e.Child("result", Mam) is { } r)
            {
                Assert.Equal(id, r.Attr("queryid")); // §4.2: the queryid of the query
                messages.Add(e);
            }
        }
    }

    private static async Task<Element> Chat(XmppTestClient from, XmppTestClient to, string body, string extra = "", string type = "chat")
    {
        await from.Sends($"<message type='{type}' to='{to.Jid.Bare}' id='m-{Guid.NewGuid():N}'><body>{body}</body>{extra}</message>");
        return await to.Receives(e => e.Name == "message" && e.ChildText("body", Ns.Client) == body, $"the message '{body}'");
    }

    [Fact]
    public async Task Xep0313_7_the_account_bare_jid_advertises_mam_extended_and_stanza_ids()
    {
        await using var alice = await Login("alice");
        Assert.True(await alice.IsFeatureAdvertised(Mam, "alice@localhost"));
        Assert.True(await alice.IsFeatureAdvertised("urn:xmpp:mam:2#extended", "alice@localhost"));
        Assert.True(await alice.IsFeatureAdvertised(Sid, "alice@localhost"));
    }

    [Fact]
    public async Task Xep0313_3_5_an_archived_message_reaches_the_recipient_with_the_stanza_id_of_its_archive_and_the_sender_gets_none()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        // bob forges an id in alice's archive: the server overrides it (XEP-0359 §4), keeping the origin-id
        var got = await Chat(bob, alice, "hello", "<origin-id xmlns='urn:xmpp:sid:0' id='o-1'/><stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='forged'/>");
        var ids = got.Elements("stanza-id", Sid).ToList();
        var sid = Assert.Single(ids);
        Assert.Equal("alice@localhost", sid.Attr("by"));
        Assert.NotEqual("forged", sid.Attr("id"));
        Assert.Equal("o-1", got.Child("origin-id", Sid)?.Attr("id"));

        // the id is the archive id of the message in alice's archive (§3.5, §4.2)
        var mine = await Query(alice);
        Assert.Equal([sid.Attr("id")!], mine.Ids);
        // bob's archive has his outgoing copy, under an id of its own
        var bobs = await Query(bob);
        Assert.Equal(["hello"], bobs.Bodies);
        Assert.NotEqual(sid.Attr("id"), bobs.Ids[0]);
        Assert.Equal("alice@localhost", Forwarded(bobs.Messages[0]).To);
    }

    [Fact]
    public async Task Xep0313_4_2_results_are_forwarded_with_a_delay_and_the_fin_carries_the_rsm_set()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);
        await Chat(bob, alice, "one");
        await Chat(alice, bob, "two");
        var r = await Query(alice);
        Assert.Equal("result", r.Iq.Type);
        Assert.Equal(["one", "two"], r.Bodies); // chronological (§3.1)
        foreach (var m in r.Messages)
        {
            Assert.Equal("alice@localhost", m.From);
            Assert.Equal(alice.Jid.ToString(), m.To);
            var delay = m.Child("result", Mam)!.Child("forwarded", Forward)!.Child("delay", Ns.Delay)!;
            var stamp = DateTimeOffset.Parse(delay.Attr("stamp")!);
            Assert.InRange(stamp, before, DateTimeOffset.UtcNow.AddSeconds(1));
        }
        Assert.Equal("bob@localhost/test", Forwarded(r.Messages[0]).From);
        Assert.True(r.Complete);
        Assert.Equal(r.Ids[0], r.Set!.ChildText("first", Rsm));
        Assert.Null(r.Set.Child("first", Rsm)!.Attr("index")); // optional (§4.3.2), left out: see Queries.Query
        Assert.Equal(r.Ids[1], r.Set.ChildText("last", Rsm));
        Assert.Equal(2, r.Count);
    }

    [Fact]
    public async Task Xep0313_6_1_1_only_chat_and_normal_messages_with_a_body_or_a_store_hint_are_archived()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        await bob.Sends("<message type='chat' to='alice@localhost'><active xmlns='http://jabber.org/protocol/chatstates'/></message>");
        var state = await alice.Receives(e => e.Child("active", "http://jabber.org/protocol/chatstates") is not null, "a chat state");
        Assert.Null(state.Child("stanza-id", Sid));
        await bob.Sends("<message to='alice@localhost'><received xmlns='urn:xmpp:receipts' id='x'/></message>");
        await alice.Receives(e => e.Child("received", "urn:xmpp:receipts") is not null, "a receipt");
        var noStore = await Chat(bob, alice, "no-store", "<no-store xmlns='urn:xmpp:hints'/>");
        Assert.Null(noStore.Child("stanza-id", Sid)); // not archived: no id
        await Chat(bob, alice, "no-permanent-store", "<no-permanent-store xmlns='urn:xmpp:hints'/>");
        await Chat(bob, alice, "headline", type: "headline");
        await Chat(bob, alice, "normal", type: "normal");
        await bob.Sends("<message type='chat' to='alice@localhost'><store xmlns='urn:xmpp:hints'/><encrypted xmlns='eu.siacs.conversations.axolotl'/></message>");
        var stored = await alice.Receives(e => e.Child("encrypted", "eu.siacs.conversations.axolotl") is not null, "the stored message");
        Assert.NotNull(stored.Child("stanza-id", Sid));
        var r = await Query(alice);
        Assert.Equal(2, r.Messages.Count);
        Assert.Equal("normal", Forwarded(r.Messages[0]).ChildText("body", Ns.Client));
        Assert.NotNull(Forwarded(r.Messages[1]).Child("store", "urn:xmpp:hints"));
    }

    [Fact]
    public async Task Xep0313_4_1_1_with_a_bare_jid_matches_every_resource_and_a_full_jid_only_that_one()
    {
        await using var alice = await Login("alice");
        await using var desk = await Login("bob", "desk");
        await using var phone = await Login("bob", "phone");
        await using var carol = await Login("carol");
        await Chat(desk, alice, "from desk");
        await Chat(phone, alice, "from phone");
        await Chat(carol, alice, "from carol");
        await Chat(alice, carol, "to carol");
        Assert.Equal(["from desk", "from phone"], (await Query(alice, Form(("with", ["bob@localhost"])))).Bodies);
        Assert.Equal(["from phone"], (await Query(alice, Form(("with", ["bob@localhost/phone"])))).Bodies);
        Assert.Equal(["from carol", "to carol"], (await Query(alice, Form(("with", ["carol@localhost"])))).Bodies);
        Assert.Equal("jid-malformed", Condition((await Query(alice, Form(("with", ["@bad"])))).Iq));
    }

    [Fact]
    public async Task Xep0313_4_1_2_start_and_end_are_inclusive_and_must_be_xep0082_datetimes()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        await Chat(bob, alice, "a");
        await Task.Delay(30);
        await Chat(bob, alice, "b");
        await Task.Delay(30);
        await Chat(bob, alice, "c");
        var all = await Query(alice);
        var stamps = all.Messages.Select(m => m.Child("result", Mam)!.Child("forwarded", Forward)!.Child("delay", Ns.Delay)!.Attr("stamp")!).ToArray();
        Assert.Equal(["b", "c"], (await Query(alice, Form(("start", [stamps[1]])))).Bodies);
        Assert.Equal(["a", "b"], (await Query(alice, Form(("end", [stamps[1]])))).Bodies);
        Assert.Equal(["b"], (await Query(alice, Form(("start", [stamps[1]]), ("end", [stamps[1]])))).Bodies);
        Assert.Empty((await Query(alice, Form(("start", ["2100-01-01T00:00:00Z"])))).Messages);
        Assert.Equal("bad-request", Condition((await Query(alice, Form(("start", ["yesterday"])))).Iq));
        Assert.Equal("bad-request", Condition((await Query(alice, Form(("end", ["2020-01-01"])))).Iq));
    }

    [Fact]
    public async Task Xep0313_4_3_rsm_pages_forward_and_backward_and_an_empty_before_is_the_last_page()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        for (var i = 1; i <= 5; i++) await Chat(bob, alice, "m" + i);
        var ids = (await Query(alice)).Ids;

        var p1 = await Query(alice, "<set xmlns='http://jabber.org/protocol/rsm'><max>2</max></set>");
        Assert.Equal(["m1", "m2"], p1.Bodies);
        Assert.False(p1.Complete); // §4.3.2: limited by max
        Assert.Equal(5, p1.Count);
        var p2 = await Query(alice, $"<set xmlns='http://jabber.org/protocol/rsm'><max>2</max><after>{p1.Ids[^1]}</after></set>");
        Assert.Equal(["m3", "m4"], p2.Bodies);
        var p3 = await Query(alice, $"<set xmlns='http://jabber.org/protocol/rsm'><max>2</max><after>{p2.Ids[^1]}</after></set>");
        Assert.Equal(["m5"], p3.Bodies);
        Assert.True(p3.Complete);

        // §4.3.3: the last page, in chronological order; then backwards with <before>
        var last = await Query(alice, "<set xmlns='http://jabber.org/protocol/rsm'><max>2</max><before/></set>");
        Assert.Equal(["m4", "m5"], last.Bodies);
        Assert.False(last.Complete);
        Assert.Equal(5, last.Count);
        var back = await Query(alice, $"<set xmlns='http://jabber.org/protocol/rsm'><max>2</max><before>{last.Ids[0]}</before></set>");
        Assert.Equal(["m2", "m3"], back.Bodies);
        Assert.False(back.Complete);
        var first = await Query(alice, $"<set xmlns='http://jabber.org/protocol/rsm'><max>2</max><before>{back.Ids[0]}</before></set>");
        Assert.Equal(["m1"], first.Bodies);
        Assert.True(first.Complete);

        // XEP-0059 §2.6: max 0 counts only
        var count = await Query(alice, "<set xmlns='http://jabber.org/protocol/rsm'><max>0</max></set>");
        Assert.Empty(count.Messages);
        Assert.Equal(5, count.Count);
        // §4.3.2: an unknown id in <after/> or <before/> is item-not-found
        Assert.Equal("item-not-found", Condition((await Query(alice, "<set xmlns='http://jabber.org/protocol/rsm'><after>nope</after></set>")).Iq));
        Assert.Equal("item-not-found", Condition((await Query(alice, "<set xmlns='http://jabber.org/protocol/rsm'><before>nope</before></set>")).Iq));
        Assert.Equal(ids, (await Query(alice)).Ids);
    }

    [Fact]
    public async Task Xep0313_4_1_3_before_id_after_id_and_ids_select_by_archive_id_and_unknown_ids_are_item_not_found()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        for (var i = 1; i <= 5; i++) await Chat(bob, alice, "m" + i);
        var ids = (await Query(alice)).Ids;
        Assert.Equal(["m3", "m4", "m5"], (await Query(alice, Form(("after-id", [ids[1]])))).Bodies);
        Assert.Equal(["m1", "m2"], (await Query(alice, Form(("before-id", [ids[2]])))).Bodies);
        var between = await Query(alice, Form(("after-id", [ids[0]]), ("before-id", [ids[4]])));
        Assert.Equal(["m2", "m3", "m4"], between.Bodies);
        Assert.Equal(3, between.Count); // the result set is what the form selects
        Assert.Equal(["m2", "m5"], (await Query(alice, Form(("ids", [ids[4], ids[1]])))).Bodies);
        Assert.Equal("item-not-found", Condition((await Query(alice, Form(("after-id", ["nope"])))).Iq));
        Assert.Equal("item-not-found", Condition((await Query(alice, Form(("before-id", ["nope"])))).Iq));
        Assert.Equal("item-not-found", Condition((await Query(alice, Form(("ids", [ids[0], "nope"])))).Iq));
    }

    [Fact]
    public async Task Xep0313_4_1_5_the_form_lists_the_fields_and_an_unknown_field_is_feature_not_implemented()
    {
        await using var alice = await Login("alice");
        var form = await alice.Query("<iq type='get' id='f1'><query xmlns='urn:xmpp:mam:2'/></iq>");
        var fields = form.Child("query", Mam)!.Child("x", Ns.DataForms)!.Elements("field", Ns.DataForms).ToList();
        Assert.Equal(["FORM_TYPE", "with", "start", "end", "before-id", "after-id", "ids"], fields.Take(7).Select(f => f.Attr("var")!).ToArray());
        Assert.DoesNotContain(fields, f => f.Child("required", Ns.DataForms) is not null);
        Assert.NotNull(fields.Single(f => f.Attr("var") == "ids").Child("validate", "http://jabber.org/protocol/xdata-validate")?.Child("open", "http://jabber.org/protocol/xdata-validate"));
        Assert.Equal("feature-not-implemented", Condition((await Query(alice, Form(("{urn:example}mood", ["x"])))).Iq));
        Assert.Equal("feature-not-implemented", Condition((await Query(alice, Form(("include-groupchat", ["true"])))).Iq));
        Assert.Equal("bad-request", Condition((await Query(alice,
            "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:1</value></field></x>")).Iq));
    }

    [Fact]
    public async Task Xep0313_4_3_4_a_flipped_page_arrives_newest_first_with_the_same_set()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        for (var i = 1; i <= 3; i++) await Chat(bob, alice, "m" + i);
        var flipped = await Query(alice, "<set xmlns='http://jabber.org/protocol/rsm'><max>2</max><before/></set><flip-page/>");
        Assert.Equal(["m3", "m2"], flipped.Bodies);
        Assert.Equal(flipped.Ids[1], flipped.Set!.ChildText("first", Rsm)); // the page's first is still the oldest
    }

    [Fact]
    public async Task Xep0313_5_metadata_names_the_first_and_last_message_and_is_empty_for_an_empty_archive()
    {
        await using var carol = await Login("carol");
        var empty = await carol.Query("<iq type='get' id='md0'><metadata xmlns='urn:xmpp:mam:2'/></iq>");
        Assert.False(empty.Child("metadata", Mam)!.HasChildren);
        await using var bob = await Login("bob");
        await Chat(bob, carol, "first");
        await Chat(bob, carol, "last");
        var ids = (await Query(carol)).Ids;
        var md = (await carol.Query("<iq type='get' id='md1'><metadata xmlns='urn:xmpp:mam:2'/></iq>")).Child("metadata", Mam)!;
        Assert.Equal(ids[0], md.Child("start", Mam)!.Attr("id"));
        Assert.Equal(ids[1], md.Child("end", Mam)!.Attr("id"));
        Assert.NotNull(md.Child("end", Mam)!.Attr("timestamp"));
    }

    [Fact]
    public async Task Xep0313_8_1_only_the_account_itself_reads_its_archive()
    {
        await using var bob = await Login("bob");
        Assert.Equal("forbidden", Condition((await Query(bob, to: "alice@localhost")).Iq));
        Assert.Equal("forbidden", Condition(await bob.Query("<iq type='get' id='p1' to='alice@localhost'><prefs xmlns='urn:xmpp:mam:2'/></iq>")));
    }

    [Fact]
    public async Task Xep0441_preferences_default_and_the_always_and_never_lists_decide_what_is_archived()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        await using var carol = await Login("carol");
        var initial = (await alice.Query("<iq type='get' id='p0'><prefs xmlns='urn:xmpp:mam:2'/></iq>")).Child("prefs", Mam)!;
        Assert.Equal("always", initial.Attr("default"));

        var set = await alice.Query("<iq type='set' id='p1'><prefs xmlns='urn:xmpp:mam:2' default='never'><always><jid>bob@localhost</jid></always><never/></prefs></iq>");
        var applied = set.Child("prefs", Mam)!;
        Assert.Equal("never", applied.Attr("default"));
        Assert.Equal(["bob@localhost"], applied.Child("always", Mam)!.Elements("jid", Mam).Select(j => j.Text).ToArray());

        var fromCarol = await Chat(carol, alice, "not archived");
        Assert.Null(fromCarol.Child("stanza-id", Sid));
        var fromBob = await Chat(bob, alice, "archived");
        Assert.NotNull(fromBob.Child("stanza-id", Sid));
        await Chat(alice, carol, "not archived either");
        Assert.Equal(["archived"], (await Query(alice)).Bodies);

        // a full JID in 'never' matches only that resource (JID matching)
        await alice.Query("<iq type='set' id='p2'><prefs xmlns='urn:xmpp:mam:2' default='always'><never><jid>bob@localhost/test</jid></never></prefs></iq>");
        Assert.Null((await Chat(bob, alice, "from bob/test")).Child("stanza-id", Sid));
        Assert.NotNull((await Chat(carol, alice, "from carol")).Child("stanza-id", Sid));

        Assert.Equal("bad-request", Condition(await alice.Query("<iq type='set' id='p3'><prefs xmlns='urn:xmpp:mam:2'/></iq>")));
        Assert.Equal("bad-request", Condition(await alice.Query("<iq type='set' id='p4'><prefs xmlns='urn:xmpp:mam:2' default='sometimes'/></iq>")));
        Assert.Equal("always", (await alice.Query("<iq type='get' id='p5'><prefs xmlns='urn:xmpp:mam:2'/></iq>")).Child("prefs", Mam)!.Attr("default"));
    }

    private static async Task SetRosterItem(XmppTestClient c, string jid, bool remove = false)
    {
        var id = "r-" + Guid.NewGuid().ToString("N");
        var subscription = remove ? " subscription='remove'" : "";
        Assert.Equal("result", (await c.Query($"<iq type='set' id='{id}'><query xmlns='jabber:iq:roster'><item jid='{jid}'{subscription}/></query></iq>")).Type);
    }

    /// <summary>Sends chat messages from <paramref name="from"/> to <paramref name="to"/> until one arrives archived (or
    /// not) as <paramref name="archived"/> says: the plugin reads the roster again after a change, without holding the
    /// roster set's answer.</summary>
    private static async Task<bool> EventuallyArchived(XmppTestClient from, XmppTestClient to, string body, bool archived)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        for (var n = 0; ; n++)
        {
            var got = await Chat(from, to, $"{body} {n}");
            if (got.Child("stanza-id", Sid) is not null == archived) return true;
            if (DateTime.UtcNow > deadline) return false;
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Xep0441_default_roster_archives_incoming_and_outgoing_messages_only_with_contacts_in_the_roster()
    {
        await _server.AddUserAsync("dave");
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        await using var carol = await Login("carol");
        await using var dave = await Login("dave");
        // bob is in alice's roster without any subscription (an item with subscription 'none' is in the roster);
        // dave is in it with a mutual subscription; carol is not in it
        await SetRosterItem(alice, "bob@localhost");
        await alice.Sends("<presence type='subscribe' to='dave@localhost'/>");
        await dave.Receives(e => e.Name == "presence" && e.Type == "subscribe", "alice's subscription request");
        await dave.Sends("<presence type='subscribed' to='alice@localhost'/>");
        await dave.Sends("<presence type='subscribe' to='alice@localhost'/>");
        await alice.Receives(e => e.Name == "presence" && e.Type == "subscribe", "dave's subscription request");
        await alice.Sends("<presence type='subscribed' to='dave@localhost'/>");
        await alice.PingServerAsync();

        var set = await alice.Query("<iq type='set' id='p1'><prefs xmlns='urn:xmpp:mam:2' default='roster'><always/><never/></prefs></iq>");
        Assert.Equal("roster", set.Child("prefs", Mam)!.Attr("default"));
        Assert.Equal("roster", (await alice.Query("<iq type='get' id='p2'><prefs xmlns='urn:xmpp:mam:2'/></iq>")).Child("prefs", Mam)!.Attr("default"));

        // incoming: archived (and marked with the archive's stanza-id) from contacts in the roster only
        Assert.NotNull((await Chat(bob, alice, "from bob, in the roster")).Child("stanza-id", Sid));
        Assert.NotNull((await Chat(dave, alice, "from dave, subscribed both ways")).Child("stanza-id", Sid));
        Assert.Null((await Chat(carol, alice, "from carol, not in the roster")).Child("stanza-id", Sid));
        // outgoing: likewise, by the 'to'
        await Chat(alice, bob, "to bob");
        await Chat(alice, dave, "to dave");
        await Chat(alice, carol, "to carol");
        Assert.Equal(["from bob, in the roster", "from dave, subscribed both ways", "to bob", "to dave"], (await Query(alice)).Bodies);

        // the always and never lists still win over the default
        await alice.Query("<iq type='set' id='p3'><prefs xmlns='urn:xmpp:mam:2' default='roster'><always><jid>carol@localhost</jid></always><never><jid>bob@localhost</jid></never></prefs></iq>");
        Assert.NotNull((await Chat(carol, alice, "carol, always")).Child("stanza-id", Sid));
        Assert.Null((await Chat(bob, alice, "bob, never")).Child("stanza-id", Sid));
        await Chat(alice, carol, "to carol, always");
        await Chat(alice, bob, "to bob, never");
        var bodies = (await Query(alice)).Bodies;
        Assert.Contains("to carol, always", bodies);
        Assert.DoesNotContain("to bob, never", bodies);

        // the roster as it changes: carol added is archived, dave removed is not
        await alice.Query("<iq type='set' id='p4'><prefs xmlns='urn:xmpp:mam:2' default='roster'/></iq>");
        await SetRosterItem(alice, "dave@localhost", remove: true);
        Assert.True(await EventuallyArchived(dave, alice, "dave, removed", archived: false));
        await SetRosterItem(alice, "carol@localhost");
        Assert.True(await EventuallyArchived(carol, alice, "carol, added", archived: true));
        await alice.Query("<iq type='set' id='p5'><prefs xmlns='urn:xmpp:mam:2' default='roster'/></iq>"); // read at once
        await Chat(alice, carol, "to carol, added");
        await Chat(alice, dave, "to dave, removed");
        bodies = (await Query(alice)).Bodies;
        Assert.Contains("to carol, added", bodies);
        Assert.DoesNotContain("to dave, removed", bodies);
    }

    [Fact]
    public async Task Xep0441_default_roster_survives_a_reload_of_the_plugin_with_the_roster_read_again()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        await using var carol = await Login("carol");
        await SetRosterItem(alice, "bob@localhost");
        await alice.Query("<iq type='set' id='p1'><prefs xmlns='urn:xmpp:mam:2' default='roster'/></iq>");
        var reloaded = await _server.Plugins.ReloadAsync("mam");
        Assert.True(reloaded.Ok, reloaded.Message);
        // at once: the new version serves with the stored preferences and the roster already read (not the server's
        // default 'always' until they are)
        Assert.Null((await Chat(carol, alice, "carol after the reload")).Child("stanza-id", Sid));
        Assert.NotNull((await Chat(bob, alice, "bob after the reload")).Child("stanza-id", Sid));
    }

    [Fact]
    public async Task Xep0313_6_1_1_a_message_stored_offline_is_archived_once_and_delivered_with_its_stanza_id()
    {
        await using (var bob = await Login("bob"))
        {
            await bob.Sends("<message type='chat' to='carol@localhost' id='off1'><body>while you were out</body></message>");
            await bob.PingServerAsync();
        }
        await using var carol = await Login("carol");
        var delivered = await carol.Receives(e => e.ChildText("body", Ns.Client) == "while you were out", "the offline message");
        var sid = delivered.Child("stanza-id", Sid)!;
        Assert.Equal([sid.Attr("id")!], (await Query(carol)).Ids);
    }

    [Fact]
    public async Task Xep0313_6_1_1_a_message_copied_by_carbons_is_archived_once_and_the_copy_carries_the_stanza_id()
    {
        await using var phone = await Login("alice", "phone");
        await using var desk = await Login("alice", "desk");
        Assert.Equal("result", (await desk.Query("<iq type='set' id='c1'><enable xmlns='urn:xmpp:carbons:2'/></iq>")).Type);
        await using var bob = await Login("bob");
        await bob.Sends("<message type='chat' to='alice@localhost/phone' id='cc1'><body>to the phone</body></message>");
        var original = await phone.Receives(e => e.ChildText("body", Ns.Client) == "to the phone", "the message");
        var copy = await desk.Receives(e => e.Child("received", "urn:xmpp:carbons:2") is not null, "the carbon copy");
        var inner = copy.Child("received", "urn:xmpp:carbons:2")!.Child("forwarded", Forward)!.Child("message", Ns.Client)!;
        Assert.Equal(original.Child("stanza-id", Sid)!.Attr("id"), inner.Child("stanza-id", Sid)?.Attr("id"));
        Assert.Single((await Query(desk)).Messages);
    }

    [Fact]
    public async Task Xep0280_6_Xep0313_3_5_a_sent_carbon_carries_the_stanza_id_of_the_senders_archive_and_the_contact_gets_none_of_it()
    {
        await using var phone = await Login("alice", "phone");
        await using var desk = await Login("alice", "desk");
        Assert.Equal("result", (await desk.Query("<iq type='set' id='c1'><enable xmlns='urn:xmpp:carbons:2'/></iq>")).Type);
        await using var bob = await Login("bob");
        // the client's own claim on its archive is not trusted (XEP-0359 §4)
        await phone.Sends("<message type='chat' to='bob@localhost' id='s1'><body>from the phone</body>" +
                          "<stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='forged'/></message>");
        var copy = await desk.Receives(e => e.Child("sent", "urn:xmpp:carbons:2") is not null, "the sent carbon");
        var inner = copy.Child("sent", "urn:xmpp:carbons:2")!.Child("forwarded", Forward)!.Child("message", Ns.Client)!;
        var sid = Assert.Single(inner.Elements("stanza-id", Sid));
        Assert.Equal("alice@localhost", sid.Attr("by"));
        Assert.NotEqual("forged", sid.Attr("id"));

        var atBob = await bob.Receives(e => e.ChildText("body", Ns.Client) == "from the phone", "the message");
        Assert.DoesNotContain(atBob.Elements("stanza-id", Sid), e => e.Attr("by") == "alice@localhost");
        Assert.Equal("bob@localhost", Assert.Single(atBob.Elements("stanza-id", Sid)).Attr("by")); // bob's own archive's

        // the id is the message's in alice's archive (§4.2)
        var mine = await Query(desk);
        Assert.Equal([sid.Attr("id")!], mine.Ids);
        Assert.Empty(Forwarded(mine.Messages[0]).Elements("stanza-id", Sid)); // archived as sent

        // not archived: the copy carries no id of the archive
        await desk.Query("<iq type='set' id='p1'><prefs xmlns='urn:xmpp:mam:2' default='never'/></iq>");
        await phone.Sends("<message type='chat' to='bob@localhost' id='s2'><body>not archived</body></message>");
        copy = await desk.Receives(e => e.Child("sent", "urn:xmpp:carbons:2") is not null, "the second sent carbon");
        inner = copy.Child("sent", "urn:xmpp:carbons:2")!.Child("forwarded", Forward)!.Child("message", Ns.Client)!;
        Assert.Equal("not archived", inner.ChildText("body", Ns.Client));
        Assert.Null(inner.Child("stanza-id", Sid));
    }

    [Fact]
    public async Task Xep0313_3_2_removing_an_account_removes_its_archive()
    {
        var dave = await _server.AddUserAsync("dave");
        await using (var d = await Login("dave"))
        await using (var bob = await Login("bob"))
            await Chat(bob, d, "for dave");
        var context = _server.Services.GetRequiredService<Actors.Xmpp.Server.ServerContext>();
        Assert.True(await context.AccountLifecycle.RemoveAsync(dave));
        await _server.AddUserAsync("dave");
        await using var again = await Login("dave");
        var deadline = DateTime.UtcNow.AddSeconds(10); // the purge runs after the removal is stored
        Results r;
        while ((r = await Query(again)).Messages.Count > 0 && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.Empty(r.Messages);
    }
}
