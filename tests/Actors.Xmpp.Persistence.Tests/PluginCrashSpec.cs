using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;
using Xunit.Abstractions;

namespace Actors.Xmpp.Persistence.Tests;

/// <summary>
/// Issue 17, "the server killed with SIGKILL mid-traffic, for every persistent plugin": the real server process is
/// SIGKILLed while one client pipelines writes into four plugins of different storage shapes: PubSub publishes
/// (XEP-0060 §7.1; a keyed entity, whose writes are pipelined), private XML storage sets (XEP-0049), blocks (XEP-0191)
/// and vCard sets (XEP-0054; the last one acknowledged, or a later one, is the vCard), each of the last three in a
/// per-account plugin store. Each is acknowledged by its IQ
/// result, which the server sends only after the journal write: after a restart every acknowledged write is there.
/// The same for a persistent MUC room (XEP-0045; a keyed entity of the MUC plugin) whose owner adds members and bans
/// JIDs, and for XEP-0347 registrations in the thing registry. The message archive (XEP-0313) writes its rows in
/// batches after delivery, so what it keeps is what a query had shown before the kill (a query is answered after the rows
/// queued before it are written), in order, once. (Offline messages and roster sets: <see cref="CrashSpec"/>.)
/// </summary>
public sealed class PluginCrashSpec(ITestOutputHelper output)
{
    private const int Count = 300;
    private const int Window = 30;     // requests in flight at most
    private const int KillAfter = 120; // results before the SIGKILL
    private const string PubSub = "pubsub.localhost", Node = "crash";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private static string Request(int i) => (i % 4) switch
    {
        0 => $"<iq type='set' id='p{i}' to='{PubSub}'><pubsub xmlns='{PubSubNs}'><publish node='{Node}'><item id='p{i}'><entry xmlns='urn:test:crash'>{i}</entry></item></publish></pubsub></iq>",
        1 => $"<iq type='set' id='x{i}'><query xmlns='jabber:iq:private'><data xmlns='urn:test:crash:{i}'>{i}</data></query></iq>",
        2 => $"<iq type='set' id='b{i}'><block xmlns='urn:xmpp:blocking'><item jid='spam{i}@example.net'/></block></iq>",
        _ => $"<iq type='set' id='v{i}'><vCard xmlns='vcard-temp'><FN>{i}</FN></vCard></iq>",
    };

    private const string PubSubNs = "http://jabber.org/protocol/pubsub";

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task Sigkill_keeps_every_acknowledged_pubsub_item_private_xml_block_and_vcard(string kind) =>
        await SigkillThenRestartAsync(kind, Request, async alice =>
        {
            // a node that keeps every item (its default keeps 10)
            var created = await alice.IqAsync("set",
                $"<pubsub xmlns='{PubSubNs}'><create node='{Node}'/><configure><x xmlns='jabber:x:data' type='submit'>"
                + "<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field>"
                + "<field var='pubsub#max_items'><value>max</value></field></x></configure></pubsub>", to: PubSub);
            Assert.Equal("result", created.Type);
        }, async (alice, acked, sent) =>
        {
            var items = await alice.IqAsync("get", $"<pubsub xmlns='{PubSubNs}'><items node='{Node}'/></pubsub>", to: PubSub);
            Assert.Equal("result", items.Type);
            var published = items.Child("pubsub", PubSubNs)!.Child("items", PubSubNs)!.Elements("item", PubSubNs).Select(e => e.Attr("id")!).ToHashSet();
            var blocklist = await alice.IqAsync("get", "<blocklist xmlns='urn:xmpp:blocking'/>");
            var blocked = blocklist.Child("blocklist", "urn:xmpp:blocking")!.Elements("item", "urn:xmpp:blocking").Select(e => e.Attr("jid")!).ToHashSet();
            var lost = new List<string>();
            foreach (var id in acked)
            {
                var i = int.Parse(id[1..], System.Globalization.CultureInfo.InvariantCulture);
                switch (id[0])
                {
                    case 'p' when !published.Contains(id):
                    case 'b' when !blocked.Contains($"spam{i}@example.net"):
                        lost.Add(id);
                        break;
                    case 'x':
                        var stored = await alice.IqAsync("get", $"<query xmlns='jabber:iq:private'><data xmlns='urn:test:crash:{i}'/></query>");
                        if (stored.Child("query", "jabber:iq:private")?.Child("data", $"urn:test:crash:{i}")?.Text != i.ToString(System.Globalization.CultureInfo.InvariantCulture))
                            lost.Add(id);
                        break;
                }
            }
            Assert.True(lost.Count == 0, $"acknowledged before the SIGKILL, missing after the restart: {string.Join(", ", lost)} (of {acked.Count})");
            var lastVcard = acked.Where(id => id[0] == 'v').Select(id => int.Parse(id[1..], System.Globalization.CultureInfo.InvariantCulture)).DefaultIfEmpty(-1).Max();
            var vcard = await alice.IqAsync("get", "<vCard xmlns='vcard-temp'/>");
            var fn = vcard.Child("vCard", "vcard-temp")?.ChildText("FN", "vcard-temp");
            Assert.True(fn is not null && int.Parse(fn, System.Globalization.CultureInfo.InvariantCulture) >= lastVcard
                        && int.Parse(fn, System.Globalization.CultureInfo.InvariantCulture) < sent,
                $"the vCard is {fn ?? "none"}; the last acknowledged set was {lastVcard}, {sent} requests were sent");
            // nothing that was never sent
            Assert.All(published, id => Assert.InRange(int.Parse(id[1..], System.Globalization.CultureInfo.InvariantCulture), 0, sent - 1));
            return $"after the restart {published.Count} items, {blocked.Count} blocked JIDs; every acknowledged write kept";
        });

    /// <summary>One crash test on <paramref name="kind"/>'s database: the server with the account alice, logged in;
    /// <paramref name="prepare"/>; then <paramref name="request"/>(i) pipelined until the SIGKILL
    /// (<see cref="RequestsUntilKilledAsync"/>); then the server started again on the same database and
    /// <paramref name="verify"/>(alice logged in again, the acknowledged ids, the requests written), which returns what
    /// it found for the test's output.</summary>
    private async Task SigkillThenRestartAsync(string kind, Func<int, string> request, Func<XmppTestClient, Task> prepare,
        Func<XmppTestClient, HashSet<string>, int, Task<string>> verify)
    {
        using var db = TestDatabase.Create(kind);
        var port = ServerProcess.FreePort();
        var server = await CrashSpec.StartAsync(db, port);
        var acked = new HashSet<string>();
        var sent = 0;
        try
        {
            Assert.True((bool?)(await ServerProcess.AdminAsync(db, new System.Text.Json.Nodes.JsonObject { ["cmd"] = "add", ["user"] = "alice", ["password"] = "pw" }))["ok"]);
            await using var alice = await CrashSpec.LoginAsync(port, "alice");
            await prepare(alice);
            sent = await RequestsUntilKilledAsync(server, alice, acked, request);
        }
        finally
        {
            if (!server.HasExited) server.Kill();
            await server.WaitForExitAsync();
        }
        Assert.True(acked.Count < Count, "every request was answered before the kill: not a crash in the middle");
        output.WriteLine($"{kind}: {sent} requests sent, {acked.Count} acknowledged before the SIGKILL");

        port = ServerProcess.FreePort();
        server = await CrashSpec.StartAsync(db, port);
        try
        {
            await using var alice = await CrashSpec.LoginAsync(port, "alice");
            output.WriteLine($"{kind}: {await verify(alice, acked, sent)}");
        }
        finally
        {
            server.Kill();
            await server.WaitForExitAsync();
        }
    }

    /// <summary>Pipelines <see cref="Request"/>-like requests (at most <see cref="Window"/> unanswered) and SIGKILLs the
    /// server once <see cref="KillAfter"/> have their IQ result; <paramref name="acked"/> gets the ids of the results.
    /// Fails on an error answer or a server silent for 10 s. Returns how many requests were written.</summary>
    private static async Task<int> RequestsUntilKilledAsync(System.Diagnostics.Process server, XmppTestClient client, HashSet<string> acked,
        Func<int, string> request)
    {
        var killed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var progress = new SemaphoreSlim(0);
        var errors = new List<string>();
        var reader = Task.Run(async () =>
        {
            while (true)
            {
                XmppTestClient.Event e;
                try { e = await client.NextEventAsync(Wait); }
                catch (TimeoutException) { lock (errors) errors.Add("no answer from the server within 10 s"); killed.TrySetResult(); return; }
                if (e is not XmppTestClient.StanzaEvent { Element: var el }) return; // the server is gone
                if (el.Name != "iq" || el.Id is not { } id) continue; // blocking pushes (XEP-0191 §3.3), room presences and the like
                if (el.Type == "error") { lock (errors) errors.Add(el.ToString()); continue; }
                if (el.Type != "result") continue;
                lock (acked)
                {
                    acked.Add(id);
                    if (acked.Count >= KillAfter) killed.TrySetResult();
                }
                progress.Release();
            }
        });
        var writer = CrashSpec.PipelineAsync(client, Count, Window, () => { lock (acked) return acked.Count; }, progress, killed.Task, request);
        var ready = await Task.WhenAny(killed.Task, Task.Delay(TimeSpan.FromSeconds(60)));
        Assert.True(ready == killed.Task, "too few results within 60 s");
        server.Kill(); // SIGKILL with requests in flight
        await server.WaitForExitAsync().WaitAsync(Wait);
        var sent = await writer.WaitAsync(Wait);
        await reader.WaitAsync(Wait);
        lock (errors) Assert.True(errors.Count == 0, string.Join("\n", errors));
        return sent;
    }

    private const string Room = "crash@conference.localhost";
    private const string MucAdmin = "http://jabber.org/protocol/muc#admin", MucOwner = "http://jabber.org/protocol/muc#owner";

    /// <summary>XEP-0045 §9.3 and §9.1: members added and JIDs banned in a persistent room (a keyed entity of the MUC
    /// plugin), alternately.</summary>
    private static string Affiliation(int i) => i % 2 == 0
        ? $"<iq type='set' id='m{i}' to='{Room}'><query xmlns='{MucAdmin}'><item affiliation='member' jid='m{i}@example.net'/></query></iq>"
        : $"<iq type='set' id='o{i}' to='{Room}'><query xmlns='{MucAdmin}'><item affiliation='outcast' jid='o{i}@example.net'/></query></iq>";

    /// <summary>The JIDs of one affiliation list of the room (§9.5, §9.2), asked by its owner.</summary>
    private static async Task<HashSet<string>> AffiliatedAsync(XmppTestClient owner, string affiliation)
    {
        var list = await owner.IqAsync("get", $"<query xmlns='{MucAdmin}'><item affiliation='{affiliation}'/></query>", to: Room);
        Assert.True(list.Type == "result", list.ToString());
        return list.Child("query", MucAdmin)!.Elements("item", MucAdmin).Select(e => e.Attr("jid")!).ToHashSet();
    }

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task Sigkill_keeps_every_acknowledged_muc_room_affiliation(string kind) =>
        await SigkillThenRestartAsync(kind, Affiliation, async alice =>
        {
            // XEP-0045 §10.1.2: enter (the room is created, locked), then configure it persistent
            await alice.SendAsync($"<presence to='{Room}/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>");
            await alice.NextMatchingAsync(e => e.Name == "presence" && e.From == Room + "/alice");
            var configured = await alice.IqAsync("set", $"<query xmlns='{MucOwner}'><x xmlns='jabber:x:data' type='submit'>"
                + "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>"
                + "<field var='muc#roomconfig_persistentroom'><value>1</value></field></x></query>", to: Room);
            Assert.True(configured.Type == "result", configured.ToString());
        }, async (alice, acked, sent) =>
        {
            var members = await AffiliatedAsync(alice, "member");
            var outcasts = await AffiliatedAsync(alice, "outcast");
            var lost = acked.Where(id => !(id[0] == 'm' ? members : outcasts).Contains($"{id}@example.net")).ToList();
            Assert.True(lost.Count == 0, $"acknowledged before the SIGKILL, missing after the restart: {string.Join(", ", lost)} (of {acked.Count})");
            Assert.All(members.Concat(outcasts), jid => Assert.InRange(int.Parse(jid[1..jid.IndexOf('@')], System.Globalization.CultureInfo.InvariantCulture), 0, sent - 1));
            return $"after the restart {members.Count} members, {outcasts.Count} outcasts; every acknowledged change kept";
        });

    private const string Registry = "discovery.localhost", Discovery = "urn:xmpp:iot:discovery";

    /// <summary>XEP-0347 §3.2 and §3.3: self-owned registrations of nodes behind the account (a concentrator's), each its
    /// own record in the registry's plugin store (one store for the whole registry, written one change at a time).</summary>
    private static string Registration(int i) =>
        $"<iq type='set' id='t{i}' to='{Registry}'><register xmlns='{Discovery}' selfOwned='true' nodeId='n{i}'>"
        + $"<str name='KIND' value='crash'/><num name='N' value='{i}'/></register></iq>";

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task Sigkill_keeps_every_acknowledged_thing_registration(string kind) =>
        await SigkillThenRestartAsync(kind, Registration, static _ => Task.CompletedTask, async (alice, acked, sent) =>
        {
            var nodes = new HashSet<string>();
            for (var more = true; more;)
            {
                var page = await alice.IqAsync("get", $"<search xmlns='{Discovery}' offset='{nodes.Count}' maxCount='100'><strEq name='KIND' value='crash'/></search>", to: Registry);
                Assert.True(page.Type == "result", page.ToString());
                var found = page.Child("found", Discovery)!;
                var before = nodes.Count;
                foreach (var thing in found.Elements("thing", Discovery)) nodes.Add(thing.Attr("nodeId")!);
                more = found.Attr("more") == "true" && nodes.Count > before;
            }
            var lost = acked.Where(id => !nodes.Contains("n" + id[1..])).ToList();
            Assert.True(lost.Count == 0, $"acknowledged before the SIGKILL, missing after the restart: {string.Join(", ", lost)} (of {acked.Count})");
            Assert.All(nodes, node => Assert.InRange(int.Parse(node[1..], System.Globalization.CultureInfo.InvariantCulture), 0, sent - 1));
            return $"after the restart {nodes.Count} registrations; every acknowledged one kept";
        });

    private const string Mam = "urn:xmpp:mam:2", Rsm = "http://jabber.org/protocol/rsm", Forward = "urn:xmpp:forward:0";

    /// <summary>XEP-0313: a chat message, archived in the sender's archive as the session routes it (its rows are written
    /// in batches after delivery), then a query of that archive: the host answers a query only once every row queued
    /// before it is written, so the query's result says the message is on disk. (The message goes to a local name with
    /// no account: archived as sent, then answered &lt;service-unavailable/&gt;, which the test ignores.)</summary>
    private static string ArchivedMessage(int i) =>
        $"<message to='nobody@localhost' type='chat' id='c{i}'><body>c{i}</body></message>"
        + $"<iq type='set' id='q{i}'><query xmlns='{Mam}' queryid='q{i}'><set xmlns='{Rsm}'><max>0</max></set></query></iq>";

    /// <summary>The bodies of <paramref name="owner"/>'s whole archive, oldest first, page by page (XEP-0313 §4, XEP-0059).</summary>
    private static async Task<List<string>> ArchiveBodiesAsync(XmppTestClient owner)
    {
        var bodies = new List<string>();
        string? after = null;
        for (var page = 0; ; page++)
        {
            var id = "all" + page;
            var set = after is null ? $"<set xmlns='{Rsm}'><max>100</max></set>" : $"<set xmlns='{Rsm}'><max>100</max><after>{after}</after></set>";
            await owner.SendAsync($"<iq type='set' id='{id}'><query xmlns='{Mam}' queryid='{id}'>{set}</query></iq>");
            var found = 0;
            while (true)
            {
                var e = await owner.NextAsync(Wait);
                if (e.Name == "message" && e.Child("result", Mam) is { } result && result.Attr("queryid") == id)
                {
                    bodies.Add(result.Child("forwarded", Forward)!.Child("message", Ns.Client)!.ChildText("body", Ns.Client)!);
                    found++;
                    continue;
                }
                if (e.Name != "iq" || e.Id != id) continue;
                Assert.True(e.Type == "result", e.ToString());
                var fin = e.Child("fin", Mam)!;
                if (fin.Attr("complete") == "true" || found == 0) return bodies;
                after = fin.Child("set", Rsm)!.ChildText("last", Rsm);
                break;
            }
        }
    }

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task Sigkill_keeps_every_archived_message_a_query_showed_once_and_in_order(string kind) =>
        await SigkillThenRestartAsync(kind, ArchivedMessage, static _ => Task.CompletedTask, async (alice, acked, sent) =>
        {
            var bodies = await ArchiveBodiesAsync(alice);
            var numbers = bodies.Select(b => int.Parse(b[1..], System.Globalization.CultureInfo.InvariantCulture)).ToList();
            var lost = acked.Select(id => "c" + id[1..]).Where(body => !bodies.Contains(body)).ToList();
            Assert.True(lost.Count == 0, $"archived before a query answered before the SIGKILL, missing after the restart: {string.Join(", ", lost)} (of {acked.Count})");
            Assert.True(numbers.Distinct().Count() == numbers.Count, "a message archived twice: " + string.Join(",", bodies));
            Assert.True(numbers.SequenceEqual(numbers.Order()), "the archive is out of order: " + string.Join(",", bodies));
            Assert.All(numbers, n => Assert.InRange(n, 0, sent - 1));
            return $"after the restart {bodies.Count} archived messages; every one a query had shown kept, in order, once";
        });
}
