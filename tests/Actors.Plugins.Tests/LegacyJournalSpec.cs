using Actors.Xmpp;
using Actors.Xmpp.Persistence;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Server.Users.Events;
using Actors.Xmpp.Xml;
using Microsoft.Extensions.DependencyInjection;
using Akka.Actor;
using Akka.Persistence;

namespace Actors.Plugins.Tests;

/// <summary>
/// A journal written by release 1 (the user actor kept the vCard, private XML, block list and offline messages itself:
/// vcard.set.v1, private.stored.v1, blocking.blocked.v1, blocking.unblocked.v1, offline.stored.v1, offline.delivered.v1
/// and the fields of user.snapshot.v1) still loads: the plugins that took the data over find it.
/// </summary>
public sealed class LegacyJournalSpec
{
    /// <summary>Writes what release 1's user actor wrote: events, or a snapshot.</summary>
    private sealed class Release1UserActor(string persistenceId, IReadOnlyList<IPersistentEvent> events, UserSnapshot? snapshot)
        : UntypedPersistentActor
    {
        public override string PersistenceId => persistenceId;

        protected override void PreStart()
        {
            base.PreStart();
            Self.Tell("write");
        }

        protected override void OnRecover(object message) { }

        protected override void OnCommand(object message)
        {
            switch (message)
            {
                case "write" when snapshot is not null:
                    SaveSnapshot(snapshot);
                    break;
                case "write":
                    var remaining = events.Count;
                    PersistAll(events, _ => { if (--remaining == 0) Context.Parent.Tell("done"); });
                    break;
                case SaveSnapshotSuccess:
                    Context.Parent.Tell("done");
                    break;
            }
        }
    }

    private static async Task WriteRelease1Journal(string dataDir)
    {
        var system = PersistenceActorSystem.Create("release1", new XmppPersistenceOptions(), dataDir);
        try
        {
            var stamp = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
            IPersistentEvent[] alice =
            [
                new RosterItemSet("bob@localhost", "Bob", ["Friends"], "both", false, false, 1),
                new VCardSet("<vCard xmlns='vcard-temp'><FN>Alice of release 1</FN></vCard>"),
                new PrivateStored("{urn:example:prefs} prefs", "<prefs xmlns='urn:example:prefs'><color>green</color></prefs>"),
                new PrivateStored("{urn:example:gone} gone", "<gone xmlns='urn:example:gone'/>"),
                new PrivateStored("{urn:example:gone} gone", null),
                new JidsBlocked(["spam@localhost", "gone@localhost"]),
                new JidsUnblocked(["gone@localhost"]),
                new LastActivityRecorded(stamp, "bye"),
                new OfflineStored(1, Chat("delivered in release 1"), stamp),
                new OfflineDelivered(1),
                new OfflineStored(2, Chat("first"), stamp),
                // what release 1's serializer could store for <z xmlns='urn:x'><xml:w/></z>: it does not parse, and must
                // not keep the others back (left behind by the migration)
                new OfflineStored(3, "<message xmlns='jabber:client' from='carol@localhost/x' to='alice@localhost' type='chat'><z xmlns='urn:x'><w xmlns='http://www.w3.org/XML/1998/namespace'/></z></message>", stamp),
                new OfflineStored(4, Chat("second"), stamp.AddMinutes(1)),
            ];
            var bob = new UserSnapshot(1, [new RosterItemState("alice@localhost", null, [], "both", false, false)], [], 7,
                [new OfflineMessageState(7, Chat("from a snapshot"), stamp)], ["troll@localhost"],
                [new PrivateItemState("{urn:example:prefs} prefs", "<prefs xmlns='urn:example:prefs'><color>red</color></prefs>")],
                "<vCard xmlns='vcard-temp'><FN>Bob of release 1</FN></vCard>", stamp, null);
            var done = 0;
            Action count = () => Interlocked.Increment(ref done);
            IPersistentEvent[] none = [];
            var probe = system.ActorOf(Props.Create(() => new Collector(count)));
            probe.Tell(Props.Create(() => new Release1UserActor("user:alice@localhost", alice, null)));
            probe.Tell(Props.Create(() => new Release1UserActor("user:bob@localhost", none, bob)));
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (Volatile.Read(ref done) < 2 && DateTime.UtcNow < deadline) await Task.Delay(50);
            Assert.Equal(2, Volatile.Read(ref done));
        }
        finally
        {
            await system.Terminate();
        }
    }

    private static string Chat(string body) =>
        $"<message xmlns='jabber:client' from='carol@localhost/x' to='alice@localhost' type='chat'><body>{body}</body></message>";

    /// <summary>The offline messages that arrive after initial presence, until the server answers a ping.</summary>
    private static async Task<List<Element>> OfflineMessagesAsync(XmppTestClient client)
    {
        await client.Sends("<presence/>");
        var got = new List<Element>();
        // the mailbox follows initial presence asynchronously: wait for the first one, then for the rest
        var timeout = client.Timeout;
        client.Timeout = TimeSpan.FromSeconds(2);
        try
        {
            while (true) got.Add(await client.Receives(e => e.Name == "message", "an offline message"));
        }
        catch (TimeoutException) { }
        finally { client.Timeout = timeout; }
        return got;
    }

    private sealed class Collector : ReceiveActor
    {
        public Collector(Action done)
        {
            Receive<Props>(p => Context.ActorOf(p));
            Receive<string>(s => { if (s == "done") done(); });
        }
    }

    [Fact]
    public async Task A_release_1_journal_loads_vcard_private_xml_block_list_and_offline_messages_move_into_the_plugin_stores_once()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "actors-release1-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dataDir);
        try
        {
            await WriteRelease1Journal(dataDir);
            var settings = new Dictionary<string, string?> { ["Xmpp:DataDir"] = dataDir };
            await using (var server = await TestServer.StartAsync(TestServer.RepositoryPlugins, settings))
            {
                await using var alice = await server.LoginAsync("alice");
                // from events
                var card = await alice.Query("<iq type='get' id='v1'><vCard xmlns='vcard-temp'/></iq>");
                Assert.Equal("Alice of release 1", card.Child("vCard", "vcard-temp")!.ChildText("FN", "vcard-temp"));
                var prefs = await alice.Query("<iq type='get' id='p1'><query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'/></query></iq>");
                Assert.Equal("green", prefs.Child("query", "jabber:iq:private")!.Child("prefs", "urn:example:prefs")!.ChildText("color", "urn:example:prefs"));
                var gone = await alice.Query("<iq type='get' id='p2'><query xmlns='jabber:iq:private'><gone xmlns='urn:example:gone'/></query></iq>");
                Assert.False(gone.Child("query", "jabber:iq:private")!.Child("gone", "urn:example:gone")!.HasChildren);
                // the block list (XEP-0191 §3.2), from events
                var blocked = await alice.Query("<iq type='get' id='b1'><blocklist xmlns='urn:xmpp:blocking'/></iq>");
                Assert.Equal(["spam@localhost"], blocked.Child("blocklist", "urn:xmpp:blocking")!.Elements("item", "urn:xmpp:blocking").Select(i => i.Attr("jid")!).ToArray());
                // the roster is still the user actor's
                var roster = await alice.Query("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>");
                Assert.Equal("bob@localhost", roster.Child("query", Ns.Roster)!.Child("item", Ns.Roster)!.Attr("jid"));
                // from a snapshot
                var bobCard = await alice.Query("<iq type='get' id='v2' to='bob@localhost'><vCard xmlns='vcard-temp'/></iq>");
                Assert.Equal("Bob of release 1", bobCard.Child("vCard", "vcard-temp")!.ChildText("FN", "vcard-temp"));
                // XEP-0160: the offline messages, in order, with the time release 1 stored them (XEP-0203)
                var offline = await OfflineMessagesAsync(alice);
                Assert.Equal(["first", "second"], offline.Select(m => m.ChildText("body", Ns.Client)));
                Assert.Equal(["2026-01-02T03:04:05.000Z", "2026-01-02T03:05:05.000Z"], offline.Select(m => m.Child("delay", Ns.Delay)!.Attr("stamp")));
                // the user actor no longer carries them (dropped once the plugin's archive held them)
                var users = server.Services.GetRequiredService<Actors.Xmpp.Server.Users.IUserDirectory>();
                var deadline = DateTime.UtcNow.AddSeconds(10);
                while ((await users.Ask<UserSnapshot>(Jid.Parse("alice@localhost"), Actors.Xmpp.Server.Users.UserActor.GetState.Instance, TimeSpan.FromSeconds(5))).Offline.Length > 0)
                {
                    Assert.True(DateTime.UtcNow < deadline, "release 1's offline messages stayed in the user actor");
                    await Task.Delay(50);
                }
                // a change after the move is what counts from now on
                await alice.Query("<iq type='set' id='v3'><vCard xmlns='vcard-temp'><FN>Alice of release 2</FN></vCard></iq>");
                Assert.Equal("result", (await alice.Query("<iq type='set' id='u1'><unblock xmlns='urn:xmpp:blocking'/></iq>")).Type);
            }
            await using (var server = await TestServer.StartAsync(TestServer.RepositoryPlugins, settings))
            {
                // bob's block list came from a snapshot: it is enforced (XEP-0191 §3.5) once the plugin has read it
                await using var bob = await server.LoginAsync("bob");
                var blocked = await bob.Query("<iq type='get' id='b1'><blocklist xmlns='urn:xmpp:blocking'/></iq>");
                Assert.Equal(["troll@localhost"], blocked.Child("blocklist", "urn:xmpp:blocking")!.Elements("item", "urn:xmpp:blocking").Select(i => i.Attr("jid")!).ToArray());
                // bob's offline message came from a snapshot
                Assert.Equal(["from a snapshot"], (await OfflineMessagesAsync(bob)).Select(m => m.ChildText("body", Ns.Client)));
            }
            await using (var server = await TestServer.StartAsync(TestServer.RepositoryPlugins, settings))
            {
                await using var alice = await server.LoginAsync("alice");
                var card = await alice.Query("<iq type='get' id='v1'><vCard xmlns='vcard-temp'/></iq>");
                Assert.Equal("Alice of release 2", card.Child("vCard", "vcard-temp")!.ChildText("FN", "vcard-temp")); // not imported twice
                var prefs = await alice.Query("<iq type='get' id='p1'><query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'/></query></iq>");
                Assert.Equal("green", prefs.Child("query", "jabber:iq:private")!.Child("prefs", "urn:example:prefs")!.ChildText("color", "urn:example:prefs"));
                var blocked = await alice.Query("<iq type='get' id='b2'><blocklist xmlns='urn:xmpp:blocking'/></iq>");
                Assert.Empty(blocked.Child("blocklist", "urn:xmpp:blocking")!.Elements("item", "urn:xmpp:blocking")); // the unblock stays
                Assert.Empty(await OfflineMessagesAsync(alice)); // delivered once, not imported twice
            }
        }
        finally
        {
            try { Directory.Delete(dataDir, recursive: true); } catch (IOException) { }
        }
    }
}
