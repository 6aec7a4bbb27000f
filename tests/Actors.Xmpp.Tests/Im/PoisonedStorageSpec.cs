using Actors.Xmpp.Persistence;
using Actors.Xmpp.Server.PluginStores;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Server.Users.Events;
using Actors.Xmpp.Xml;
using Akka.Actor;
using Akka.Persistence;

namespace Actors.Xmpp.Tests.Im;

/// <summary>
/// Stored stanzas (release 1's XEP-0160 offline messages, RFC 6121 §3.1.3 pending subscription requests) that do not
/// parse any more, as the previous serializer could write them, are skipped and logged: the rest is delivered.
/// </summary>
public sealed class PoisonedStorageSpec : ImSpecBase
{
    // what the previous serializer stored for <z xmlns='urn:x'><xml:w/></z> (the xml namespace declared as the
    // default one, Namespaces in XML §3) and for an attribute in a namespace whose name held a '}' (split at the '}')
    private const string PoisonXmlNamespace =
        "<message xmlns='jabber:client' from='bob@localhost/phone' to='alice@localhost' type='chat'><z xmlns='urn:x'><w xmlns='http://www.w3.org/XML/1998/namespace'/></z></message>";
    private const string PoisonBrace =
        "<message xmlns='jabber:client' from='bob@localhost/phone' to='alice@localhost' type='chat'><z xmlns='urn:x' xmlns:a1='urn:a' a1:b}c='v'/></message>";

    private static readonly DateTimeOffset Stamp = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

    private static string Chat(string body) =>
        $"<message xmlns='jabber:client' from='bob@localhost/phone' to='alice@localhost' type='chat'><body>{body}</body></message>";

    private static string Subscribe(string from) => $"<presence xmlns='jabber:client' from='{from}' to='alice@localhost' type='subscribe'/>";

    [Fact]
    public void Xep0160_release_1_offline_messages_that_do_not_parse_are_left_behind_by_the_migration_and_the_rest_dropped_once_taken_over()
    {
        Assert.False(StanzaXml.TryParse(PoisonXmlNamespace, out _, out _));
        Assert.False(StanzaXml.TryParse(PoisonBrace, out _, out _));
        WriteJournal(Alice,
            new OfflineStored(1, Chat("one"), Stamp), new OfflineStored(2, PoisonXmlNamespace, Stamp), new OfflineStored(3, Chat("three"), Stamp),
            new OfflineStored(4, PoisonBrace, Stamp), new OfflineStored(5, Chat("five"), Stamp));
        var state = State(Alice);
        Assert.Equal(5, state.Offline.Length);

        // what the offline plugin's archive takes over: the three that parse, in order, with their stamps
        var address = new StoreAddress(LegacyUserData.OfflinePlugin, StoreShape.Archive, LegacyUserData.OfflineKind, Alice);
        var legacy = new LegacyUserData(Users, ["localhost"]);
        Assert.True(legacy.Covers(address));
        var data = LegacyUserData.Data(address, state);
        Assert.Equal(["one", "three", "five"], data.Items.Select(i => Parse(i.Xml!).ChildText("body", Ns.Client)));
        Assert.All(data.Items, i => Assert.Equal(Stamp, i.Stamp));
        Assert.Equal(5, data.SourceUpTo);

        // once stored there, the user actor drops all five (the poisoned ones must not stay in its snapshots)
        legacy.Imported(address, data);
        AwaitAssert(() => Assert.Empty(State(Alice).Offline));
        StopUser(Alice);
        Assert.Empty(State(Alice).Offline); // for good: recovered the same
    }

    [Fact]
    public void Rfc6121_3_1_3_a_stored_subscription_request_that_does_not_parse_is_skipped_and_replaced_by_a_new_one()
    {
        WriteJournal(Alice,
            new SubscriptionRequestStored("bob@localhost", PoisonXmlNamespace.Replace("message", "presence")),
            new SubscriptionRequestStored("carol@localhost", Subscribe("carol@localhost")));

        var a = Online(Alice.WithResource("phone"));
        var got = Drain(a);
        Assert.Contains(got, e => e.Name == "presence" && e.Type == "subscribe" && e.From == "carol@localhost");
        Assert.DoesNotContain(got, e => e.From == "bob@localhost");

        // bob asks again: the new request replaces the one that could not be read, and reaches alice
        var b = Online(Jid.Parse("bob@localhost/phone"));
        Send(Jid.Parse("bob@localhost/phone"), "<presence to='alice@localhost' type='subscribe'/>");
        var again = Next(a);
        Assert.Equal(("subscribe", "bob@localhost"), (again.Type, again.From));
        AwaitAssert(() => Assert.True(StanzaXml.TryParse(State(Alice).PendingIn.Single(p => p.From == "bob@localhost").Stanza, out _, out _)));
        Nothing(b);
    }

    /// <summary>Writes events straight into the account's journal (as an older release left them), then stops.</summary>
    private void WriteJournal(Jid user, params IPersistentEvent[] events)
    {
        var writer = Sys.ActorOf(Props.Create(() => new JournalWriter(UserActor.PersistenceIdOf(user), events)));
        writer.Tell("write", TestActor);
        ExpectMsg("written", TimeSpan.FromSeconds(5));
        Watch(writer);
        Sys.Stop(writer);
        ExpectTerminated(writer);
    }

    private sealed class JournalWriter(string persistenceId, IPersistentEvent[] events) : UntypedPersistentActor
    {
        public override string PersistenceId => persistenceId;
        protected override void OnRecover(object message) { }

        protected override void OnCommand(object message)
        {
            var sender = Sender;
            PersistAll(events, _ => { });
            DeferAsync("written", done => sender.Tell(done));
        }
    }
}
