using Actors.Xmpp;
using Actors.Xmpp.Persistence;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Server.Users.Events;
using Akka.Actor;
using Akka.Persistence;

namespace Actors.Plugins.Tests;

/// <summary>
/// A journal written by release 1 (the user actor kept the vCard, private XML and block list itself: vcard.set.v1,
/// private.stored.v1, blocking.blocked.v1, blocking.unblocked.v1 and the fields of user.snapshot.v1) still loads: the plugins that took the data over find it.
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
            ];
            var bob = new UserSnapshot(1, [new RosterItemState("alice@localhost", null, [], "both", false, false)], [], 0, [], ["troll@localhost"],
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

    private sealed class Collector : ReceiveActor
    {
        public Collector(Action done)
        {
            Receive<Props>(p => Context.ActorOf(p));
            Receive<string>(s => { if (s == "done") done(); });
        }
    }

    [Fact]
    public async Task A_release_1_journal_loads_vcard_private_xml_and_block_list_move_into_the_plugin_stores_once()
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
            }
        }
        finally
        {
            try { Directory.Delete(dataDir, recursive: true); } catch (IOException) { }
        }
    }
}
