using System.Runtime.Serialization;
using Actors.Xmpp.Server;
using Actors.Xmpp.Server.C2s;
using Actors.Xmpp.Server.Cluster;
using Actors.Xmpp.Persistence.Plugins;
using Actors.Xmpp.Server.PluginEntities;
using Actors.Xmpp.Server.PluginStores;
using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Xml;
using Akka.Actor;
using Akka.Serialization;

namespace Actors.Xmpp.Tests.Cluster;

/// <summary>The records that cross nodes (issue 10), through Akka's serialization system configured as a clustered
/// node configures it: each is bound to <see cref="RoutingSerializer"/> (never Newtonsoft) and round-trips.</summary>
public sealed class RoutingSerializerSpec() : Akka.TestKit.Xunit2.TestKit(StanzaSerializer.Config + "\n" + RoutingSerializer.Config)
{
    private static readonly Jid Alice = Jid.Parse("alice@localhost");
    private static readonly Jid AliceRes = Jid.Parse("alice@localhost/phone");
    private static readonly Jid Bob = Jid.Parse("bob@localhost/r");

    private static Element Stanza(string id = "m1")
    {
        var m = new Element("message", Ns.Client).SetAttr("to", "alice@localhost").SetAttr("id", id).SetAttr("type", "chat");
        m.AddChild("body").AddText("<&>'\" 😀");
        m.AddChild("x", "urn:x").SetAttr("k", "v");
        return m;
    }

    private object RoundTrip(object message)
    {
        var serializer = Sys.Serialization.FindSerializerFor(message);
        Assert.IsType<RoutingSerializer>(serializer);
        var bytes = serializer.ToBinary(message);
        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, message);
        return Sys.Serialization.Deserialize(bytes, serializer.Identifier, manifest);
    }

    [Fact]
    public void Every_bound_record_is_serialized_by_the_routing_serializer()
    {
        foreach (var type in RoutingSerializer.Records)
            Assert.IsType<RoutingSerializer>(Sys.Serialization.FindSerializerForType(type));
    }

    [Fact]
    public void An_envelope_with_a_routed_stanza_round_trips_with_its_stanza_and_jids()
    {
        var back = Assert.IsType<UsersActor.Envelope>(RoundTrip(new UsersActor.Envelope(Alice,
            new AccountResourcesActor.RouteStanza(Stanza(), Bob, AliceRes))));
        Assert.Equal(Alice, back.User);
        var route = Assert.IsType<AccountResourcesActor.RouteStanza>(back.Message);
        Assert.Equal(Stanza().ToString(), route.Stanza.ToString());
        Assert.Equal(Bob, route.From);
        Assert.Equal(AliceRes, route.To);
    }

    [Fact]
    public void Session_references_travel_as_actor_paths_and_resolve_to_the_same_actor()
    {
        var session = CreateTestProbe().Ref;
        var back = Assert.IsType<UsersActor.Envelope>(RoundTrip(new UsersActor.Envelope(Alice,
            new AccountResourcesActor.OwnPresence(AliceRes, session, true, -3, null))));
        var own = Assert.IsType<AccountResourcesActor.OwnPresence>(back.Message);
        Assert.Equal(session, own.Session);
        Assert.True(own.Available);
        Assert.Equal(-3, own.Priority);
        Assert.Null(own.Broadcast);

        var list = Assert.IsType<AccountResourcesActor.ResourceList>(RoundTrip(new AccountResourcesActor.ResourceList(
            [new SessionEntry(AliceRes, session, true, 5, 1234567890123L), new SessionEntry(Bob, session, false, 0, 1)])));
        Assert.Equal(2, list.Resources.Count);
        Assert.Equal(new SessionEntry(AliceRes, session, true, 5, 1234567890123L), list.Resources[0]);

        // a starting resources entity's census: the account asked, each node's sessions of it answered
        Assert.Equal(Alice, Assert.IsType<AccountResourcesActor.FindSessions>(RoundTrip(new AccountResourcesActor.FindSessions(Alice))).Account);
        var found = Assert.IsType<AccountResourcesActor.SessionsOnNode>(RoundTrip(new AccountResourcesActor.SessionsOnNode(
            [new SessionEntry(AliceRes, session, true, -1, 42L)])));
        Assert.Equal(new SessionEntry(AliceRes, session, true, -1, 42L), Assert.Single(found.Sessions));
        Assert.Empty(Assert.IsType<AccountResourcesActor.SessionsOnNode>(RoundTrip(new AccountResourcesActor.SessionsOnNode([]))).Sessions);
    }

    [Fact]
    public void The_session_views_changes_ends_and_snapshots_round_trip_with_presence_priority_flags_and_the_session()
    {
        var session = CreateTestProbe().Ref;
        var changed = Assert.IsType<SessionView.Changed>(RoundTrip(new SessionView.Changed(AliceRes, session, true, -5, ["urn:xmpp:carbons:2", "urn:xmpp:blocking"])));
        Assert.Equal(AliceRes, changed.Jid);
        Assert.Equal(session, changed.Session);
        Assert.True(changed.Available);
        Assert.Equal(-5, changed.Priority);
        Assert.Equal(["urn:xmpp:carbons:2", "urn:xmpp:blocking"], changed.Flags);
        Assert.Empty(Assert.IsType<SessionView.Changed>(RoundTrip(new SessionView.Changed(Bob, session, false, 0, []))).Flags);

        var ended = Assert.IsType<SessionView.Ended>(RoundTrip(new SessionView.Ended(AliceRes, session)));
        Assert.Equal(AliceRes, ended.Jid);
        Assert.Equal(session, ended.Session);

        var snapshot = Assert.IsType<SessionView.Snapshot>(RoundTrip(new SessionView.Snapshot(
            [new SessionView.Changed(AliceRes, session, true, 127, []), new SessionView.Changed(Bob, session, false, -128, ["f"])], Reply: true)));
        Assert.True(snapshot.Reply);
        Assert.Equal(2, snapshot.Sessions.Count);
        Assert.Equal(127, snapshot.Sessions[0].Priority);
        Assert.Equal(Bob, snapshot.Sessions[1].Jid);
        Assert.Equal(["f"], snapshot.Sessions[1].Flags);
        Assert.False(Assert.IsType<SessionView.Snapshot>(RoundTrip(new SessionView.Snapshot([], Reply: false))).Reply);
    }

    [Fact]
    public void A_session_view_change_for_a_bare_jid_or_an_out_of_range_priority_is_refused()
    {
        var serializer = (RoutingSerializer)Sys.Serialization.FindSerializerForType(typeof(SessionView.Changed));
        var session = CreateTestProbe().Ref;
        // a session is bound at a full JID (RFC 6120 §7), a priority is -128..127 (RFC 6121 §4.7.2.3)
        Assert.Throws<SerializationException>(() => serializer.FromBinary(serializer.ToBinary(new SessionView.Changed(Alice, session, true, 0, [])), "v.changed.v1"));
        Assert.Throws<SerializationException>(() => serializer.FromBinary(serializer.ToBinary(new SessionView.Changed(AliceRes, session, true, 128, [])), "v.changed.v1"));
        Assert.Throws<SerializationException>(() => serializer.FromBinary(serializer.ToBinary(new SessionView.Ended(Alice, session)), "v.ended.v1"));
    }

    [Fact]
    public void A_signal_to_the_other_nodes_round_trips()
    {
        var signal = new ClusterSignals.Signal("blocking", "list-changed", Alice);
        Assert.Equal(signal, RoundTrip(signal));
    }

    [Fact]
    public void A_joining_nodes_question_for_the_plugin_set_and_its_answer_round_trip()
    {
        Assert.Same(PluginOperations.ListLoaded.Instance, RoundTrip(PluginOperations.ListLoaded.Instance));
        var set = Assert.IsType<PluginOperations.LoadedSet>(RoundTrip(new PluginOperations.LoadedSet(["disco", "muc", "pubsub"])));
        Assert.Equal(["disco", "muc", "pubsub"], set.Plugins);
    }

    [Fact]
    public void The_user_actor_requests_and_answers_round_trip()
    {
        var session = CreateTestProbe().Ref;
        object[] records =
        [
            new UserActor.SessionStarted(AliceRes, session),
            new UserActor.SessionStarted(AliceRes, session, session),
            new Server.Sessions.SessionsActor.Registered(session),
            new NodeInfoActor.Info(12345),
            new UserActor.ResourcePresence(AliceRes, session, Stanza("p"), false, 7),
            new UserActor.SessionEnded(AliceRes, session),
            new UserActor.OutboundSubscription(Stanza("s"), Bob),
            new UserActor.InboundPresence(Stanza("i"), Bob),
            new UserActor.HandleIq(Stanza("q"), Bob),
            new UserActor.PresenceReport(AliceRes, session, null, true),
            new UserActor.DropLegacyOffline(99),
            new UserActor.RemoveAccount(AliceRes, Stanza("f")),
            new UserActor.RemoveAccount(),
            new UserActor.AccountDeleted([Alice, Bob]),
            new UserActor.CloseSessions("conflict", "text", AliceRes),
            new UserActor.GetSubscription(Bob),
            new UserActor.SubscriptionOf("both", new[] { "friends", "family" }),
            new UserActor.LastUnavailable(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero), "away"),
            new UserActor.LastUnavailable(null, null),
            new SessionMessages.PageWritten(12, true),
            new SessionMessages.PageWritten(13, false, AwaitsAck: true),
            new SessionMessages.PageAcknowledged(14, true),
            new C2sConnectionActor.CloseWithStreamError("system-shutdown", null, null),
        ];
        foreach (var r in records)
        {
            var back = RoundTrip(r);
            Assert.Equal(r.GetType(), back.GetType());
            Assert.Equal(Describe(r), Describe(back)); // records compare Elements by reference: compare their text
        }
        Assert.Equal(["friends", "family"], Assert.IsType<UserActor.SubscriptionOf>(RoundTrip(new UserActor.SubscriptionOf("both", new[] { "friends", "family" }))).Groups);
        var import = Assert.IsType<UserActor.ImportData>(RoundTrip(new UserActor.ImportData(
            [new Server.Users.Events.RosterItemState("bob@localhost", "Bob", ["friends"], "both", true, false),
             new Server.Users.Events.RosterItemState("carol@localhost", null, [], "none", false, true)],
            [new Server.Users.Events.SubscriptionRequestState("dave@localhost", "<presence type='subscribe'/>")])));
        Assert.Equal(("bob@localhost", "Bob", "friends", "both", true, false),
            (import.Roster[0].Jid, import.Roster[0].Name, import.Roster[0].Groups.Single(), import.Roster[0].Subscription, import.Roster[0].Ask, import.Roster[0].Approved));
        Assert.Null(import.Roster[1].Name);
        Assert.True(import.Roster[1].Approved);
        Assert.Equal("<presence type='subscribe'/>", import.PendingIn.Single().Stanza);
        Assert.Equal(new UserActor.DataImported(2, 1), RoundTrip(new UserActor.DataImported(2, 1)));
        Assert.Same(UserActor.GetState.Instance, RoundTrip(UserActor.GetState.Instance));
        Assert.Same(UserActor.GetContacts.Instance, RoundTrip(UserActor.GetContacts.Instance));
        Assert.Equal(["a@localhost", "b@example.org"],
            ((UserActor.Contacts)RoundTrip(new UserActor.Contacts([Jid.Parse("a@localhost"), Jid.Parse("b@example.org")]))).Jids.Select(j => j.ToString()));
        Assert.Same(AccountResourcesActor.ListResources.Instance, RoundTrip(AccountResourcesActor.ListResources.Instance));
        Assert.Same(AccountResourcesActor.AccountCreated.Instance, RoundTrip(AccountResourcesActor.AccountCreated.Instance));
    }

    [Fact]
    public void A_delivery_page_for_a_resource_round_trips_inside_its_envelope()
    {
        var page = new SessionMessages.DeliverPage([Stanza("1"), Stanza("2")], 77);
        var back = Assert.IsType<UsersActor.Envelope>(RoundTrip(new UsersActor.Envelope(Alice, new AccountResourcesActor.DeliverPageTo(AliceRes, page))));
        var to = Assert.IsType<AccountResourcesActor.DeliverPageTo>(back.Message);
        Assert.Equal(77, to.Page.PageId);
        Assert.Equal(Stanza("2").ToString(), to.Page.Stanzas[1].ToString());
    }

    [Fact]
    public void A_record_without_a_routing_serializer_is_refused_rather_than_sent_through_Newtonsoft()
    {
        var serializer = (RoutingSerializer)Sys.Serialization.FindSerializerForType(typeof(UsersActor.Envelope));
        Assert.Throws<ArgumentException>(() => serializer.ToBinary(new UsersActor.Envelope(Alice, new object())));
    }

    [Fact]
    public void Hostile_bytes_are_refused_not_trusted()
    {
        var serializer = (RoutingSerializer)Sys.Serialization.FindSerializerForType(typeof(UsersActor.Envelope));
        var bytes = serializer.ToBinary(new AccountResourcesActor.RouteStanza(Stanza(), Bob, AliceRes));
        Assert.Throws<SerializationException>(() => serializer.FromBinary(bytes[..^3], "r.route.v1")); // truncated
        Assert.Throws<SerializationException>(() => serializer.FromBinary([.. bytes, 0], "r.route.v1")); // trailing
        Assert.Throws<SerializationException>(() => serializer.FromBinary(bytes, "no.such.v1"));
        var count = new byte[] { 0xff, 0xff, 0xff, 0x7f };
        Assert.Throws<SerializationException>(() => serializer.FromBinary(count, "r.resources.v1")); // a count larger than the bytes
    }

    [Fact]
    public void Plugin_store_commands_inside_their_envelope_and_the_replies_round_trip_as_host_records_of_strings()
    {
        var address = new StoreAddress("offline", StoreShape.Archive, "messages", Alice);
        var stamp = new DateTimeOffset(2026, 1, 2, 3, 4, 5, 6, TimeSpan.FromHours(2));
        object[] commands =
        [
            new StoreCommands.Get("key <&>"), StoreCommands.GetAll.Instance,
            new StoreCommands.Set([new StoreEntryRecord("a", "text", null), new StoreEntryRecord("b", null, "<x xmlns='urn:x'/>"), new StoreEntryRecord("c", null, null)]),
            StoreCommands.Clear.Instance, new StoreCommands.Append(null, "<message xmlns='jabber:client'/>", 100), new StoreCommands.Append("t", null),
            new StoreCommands.Read(41, 200), new StoreCommands.Trim(40), StoreCommands.Count.Instance, StoreCommands.Purge.Instance,
        ];
        foreach (var command in commands)
        {
            var back = Assert.IsType<StoreEnvelope>(RoundTrip(new StoreEnvelope(address, command)));
            Assert.Equal(address, back.Address);
            Assert.Equal(command.GetType(), back.Command.GetType());
            Assert.Equal(Describe(command), Describe(back.Command));
        }
        object[] replies =
        [
            new StoreReplies.Value(new StoreEntryRecord("k", "v", null)), new StoreReplies.Value(null),
            new StoreReplies.Entries([new StoreEntryRecord("k", null, "<v xmlns='urn:v'/>")]),
            new StoreReplies.Page([new StoreItemRecord(7, stamp, null, "<m xmlns='urn:m'/>"), new StoreItemRecord(8, stamp.ToUniversalTime(), "t", null)], true),
            new StoreReplies.Appended(9), new StoreReplies.Counted(3), StoreReplies.Done.Instance, new StoreReplies.OverQuota(4096),
        ];
        foreach (var reply in replies)
            Assert.Equal(Describe(reply), Describe(RoundTrip(reply)));
        var page = Assert.IsType<StoreReplies.Page>(RoundTrip(replies[3]));
        Assert.Equal(stamp, page.Items[0].Stamp);
        Assert.Equal(stamp.Offset, page.Items[0].Stamp.Offset);
    }

    [Fact]
    public void A_store_address_from_another_node_that_could_not_name_a_store_is_refused()
    {
        var serializer = (RoutingSerializer)Sys.Serialization.FindSerializerForType(typeof(StoreEnvelope));
        // a plugin id with '/' would write into another store's persistence id
        var bytes = serializer.ToBinary(new StoreEnvelope(new StoreAddress("a/b", StoreShape.Map, "k", Alice), StoreCommands.GetAll.Instance));
        Assert.Throws<SerializationException>(() => serializer.FromBinary(bytes, "ps.env.v1"));
        var full = serializer.ToBinary(new StoreEnvelope(new StoreAddress("vcard", StoreShape.Map, "vcard", AliceRes), StoreCommands.GetAll.Instance));
        Assert.Throws<SerializationException>(() => serializer.FromBinary(full, "ps.env.v1")); // an owner is never a full JID
    }

    [Fact]
    public void Plugin_entity_commands_and_answers_round_trip_with_their_xml()
    {
        var command = new Element("join", "urn:x:muc-room").SetAttr("nick", "<&>");
        var back = Assert.IsType<EntityCommand>(RoundTrip(new EntityCommand("room@conference.localhost", command, true)));
        Assert.Equal("room@conference.localhost", back.Key);
        Assert.Equal(command.ToString(), back.Command.ToString());
        Assert.True(back.ExpectsReply);
        Assert.Equal(Stanza().ToString(), Assert.IsType<EntityReply>(RoundTrip(new EntityReply(Stanza()))).Payload!.ToString());
        Assert.Null(Assert.IsType<EntityReply>(RoundTrip(new EntityReply(null))).Payload);
        Assert.Equal("boom", Assert.IsType<EntityFailed>(RoundTrip(new EntityFailed("boom"))).Reason);
        var answered = Assert.IsType<PendingServerIqActor.Answered>(RoundTrip(new PendingServerIqActor.Answered("s-ab-1\nlocalhost\nbob@localhost/r", Stanza())));
        Assert.Equal("s-ab-1\nlocalhost\nbob@localhost/r", answered.Key);
        Assert.Equal(Stanza().ToString(), answered.Stanza.ToString());
        Assert.Same(PendingServerIqActor.WhatTag.Instance, RoundTrip(PendingServerIqActor.WhatTag.Instance));
        Assert.Equal("c0ffee12", Assert.IsType<PendingServerIqActor.NodeTag>(RoundTrip(new PendingServerIqActor.NodeTag("c0ffee12"))).Tag);
        Assert.Equal(new PluginOperations.Run("plugin-reload", "muc"), RoundTrip(new PluginOperations.Run("plugin-reload", "muc")));
        Assert.Equal(new PluginOperations.Result(false, "kept 1.0.0"), RoundTrip(new PluginOperations.Result(false, "kept 1.0.0")));
        var serializer = (RoutingSerializer)Sys.Serialization.FindSerializerForType(typeof(EntityCommand));
        Assert.Throws<SerializationException>(() => serializer.FromBinary(serializer.ToBinary(new EntityCommand("", command, false)), "pe.command.v1"));
    }

    private static string Describe(object o) => o switch
    {
        StoreCommands.Set m => string.Join(";", m.Entries.Select(e => e.ToString())),
        StoreReplies.Entries m => string.Join(";", m.Items.Select(e => e.ToString())),
        StoreReplies.Page m => string.Join(";", m.Items.Select(e => e.ToString())) + " " + m.Complete,
        UserActor.ResourcePresence m => $"{m.Resource} {m.Session} {m.Presence} {m.Available} {m.Priority}",
        UserActor.OutboundSubscription m => $"{m.Stanza} {m.To}",
        UserActor.InboundPresence m => $"{m.Stanza} {m.From}",
        UserActor.HandleIq m => $"{m.Iq} {m.From}",
        UserActor.RemoveAccount m => $"{m.Requester} {m.FinalStanza}",
        UserActor.AccountDeleted m => string.Join(",", m.LocalContacts),
        _ => o.ToString()!,
    };

    [Fact]
    public void Xep0198_a_session_handed_over_between_nodes_round_trips_with_its_counters_unacknowledged_stanzas_and_presence()
    {
        var asker = CreateTestProbe().Ref;
        var session = CreateTestProbe().Ref;
        const string id = "0123456789abcdef0123456789abcdef";
        var state = new Server.Sessions.SessionActor.HandedOver(id, AliceRes, TimeSpan.FromSeconds(300), uint.MaxValue, 7, 5,
            [new(Stanza("u1"), 0, null, false), new(Stanza("u2"), 42, asker, true)], true, -5,
            new Element("presence", Ns.Client).SetAttr("from", AliceRes.ToString()), [Bob], true);
        var back = Assert.IsType<Server.Sessions.SessionActor.HandedOver>(RoundTrip(state));
        Assert.Equal(id, back.SessionId);
        Assert.Equal(AliceRes, back.Jid);
        Assert.Equal(TimeSpan.FromSeconds(300), back.Window);
        Assert.Equal((uint.MaxValue, 7u, 5u), (back.Handled, back.Sent, back.Acknowledged)); // §4: 'h' is 32-bit unsigned
        Assert.Equal(2, back.Unacked.Count);
        Assert.Equal(Stanza("u1").ToString(), back.Unacked[0].Stanza.ToString());
        Assert.Null(back.Unacked[0].Asker);
        Assert.Equal((42L, asker, true), (back.Unacked[1].PageId, back.Unacked[1].Asker, back.Unacked[1].EndsPage));
        Assert.Equal((true, -5, true), (back.Available, back.Priority, back.RosterRequested));
        Assert.Equal(AliceRes.ToString(), back.LastPresence!.Attr("from"));
        Assert.Equal([Bob], back.DirectedPresence);

        var resume = Assert.IsType<AccountResourcesActor.ResumeSession>(RoundTrip(new AccountResourcesActor.ResumeSession(id, 3_000_000_000, session)));
        Assert.Equal((id, 3_000_000_000u, session), (resume.SessionId, resume.Handled, resume.Requester));
        var handOver = Assert.IsType<Server.Sessions.SessionActor.HandOver>(RoundTrip(new Server.Sessions.SessionActor.HandOver(Alice, 9)));
        Assert.Equal((Alice, 9u), (handOver.Account, handOver.Handled));
        var moved = Assert.IsType<UserActor.SessionMoved>(RoundTrip(new UserActor.SessionMoved(AliceRes, session, asker, true, 3)));
        Assert.Equal((AliceRes, session, asker, true, 3), (moved.Resource, moved.From, moved.To, moved.Available, moved.Priority));
        Assert.Equal(asker, Assert.IsType<Server.Sessions.SessionActor.MovedTo>(RoundTrip(new Server.Sessions.SessionActor.MovedTo(asker))).Successor);
        var refused = Assert.IsType<AccountResourcesActor.HandOverRefused>(RoundTrip(new AccountResourcesActor.HandOverRefused(AliceRes, session)));
        Assert.Equal((AliceRes, session), (refused.Resource, refused.Session));
        var failed = Assert.IsType<Server.Sessions.SessionsActor.AttachFailed>(RoundTrip(new Server.Sessions.SessionsActor.AttachFailed(id,
            new Server.Sessions.SessionActor.HandledCountTooHigh(10, 8))));
        Assert.Equal(new Server.Sessions.SessionActor.HandledCountTooHigh(10, 8), failed.TooHigh);
        Assert.Null(Assert.IsType<Server.Sessions.SessionsActor.AttachFailed>(RoundTrip(new Server.Sessions.SessionsActor.AttachFailed(id))).TooHigh);
    }

    [Fact]
    public void Xep0198_a_session_id_from_another_node_that_is_not_of_our_shape_is_refused_it_would_name_an_actor()
    {
        var serializer = (SerializerWithStringManifest)Sys.Serialization.FindSerializerFor(new AccountResourcesActor.ResumeSession("x", 0, TestActor));
        var bytes = serializer.ToBinary(new AccountResourcesActor.ResumeSession("../../user/evil", 0, TestActor));
        Assert.Throws<SerializationException>(() => serializer.FromBinary(bytes, serializer.Manifest(new AccountResourcesActor.ResumeSession("x", 0, TestActor))));
    }
}
