using Actors.Xmpp.Testing;
using static Actors.Plugins.Tests.Muc.Muc;

namespace Actors.Plugins.Tests.Muc;

/// <summary>XEP-0045 use cases over TCP with two to four clients (section numbers in the names).</summary>
public sealed class MucSpec : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(["disco", "muc"], new Dictionary<string, string?>
    {
        ["Xmpp:Muc:MaxRoomsPerUser"] = "5",
    });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private Task<XmppTestClient> Login(string user, string resource = "r") => _server.LoginAsync(user, resource);

    [Fact]
    public async Task Disco_on_the_service_rooms_and_occupants_6_1_to_6_5()
    {
        await using var alice = await Login("alice");
        await alice.Sends("<iq type='get' id='i1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>");
        await alice.Receives($"<iq type='result' id='i1'><query xmlns='http://jabber.org/protocol/disco#items'><item jid='{Service}'/></query></iq>");
        await alice.Sends($"<iq type='get' id='i2' to='{Service}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
        await alice.Receives($"<iq type='result' id='i2'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='conference' type='text'/><feature var='{Ns}'/></query></iq>");
        await CreateInstant(alice, "lobby", "alice");
        await alice.Sends($"<iq type='get' id='i3' to='{Service}'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>");
        await alice.Receives($"<iq type='result' id='i3'><query xmlns='http://jabber.org/protocol/disco#items'><item jid='{Room("lobby")}'/></query></iq>");
        await alice.Sends($"<iq type='get' id='i4' to='{Room("lobby")}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
        await alice.Receives($"""
            <iq type='result' id='i4'><query xmlns='http://jabber.org/protocol/disco#info'>
              <identity category='conference' type='text'/><feature var='{Ns}'/><feature var='muc_public'/><feature var='muc_temporary'/>
              <feature var='muc_open'/><feature var='muc_unmoderated'/><feature var='muc_semianonymous'/><feature var='muc_unsecured'/>
              <feature var='urn:xmpp:occupant-id:0'/><feature var='http://jabber.org/protocol/muc#stable_id'/>
              <x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roominfo</value></field>
                <field var='muc#roominfo_occupants'><value>1</value></field></x>
            </query></iq>
            """);
        await alice.Sends($"<iq type='get' id='i5' to='{Room("lobby")}'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>");
        await alice.Receives($"<iq type='result' id='i5'><query xmlns='http://jabber.org/protocol/disco#items'><item jid='{Room("lobby")}/alice'/></query></iq>");
        await Error(alice, $"<iq type='get' id='i6' to='{Room("nowhere")}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", "item-not-found");
    }

    [Fact]
    public async Task Entering_a_new_room_locks_it_until_the_instant_room_is_accepted_7_2_2_7_2_10_and_10_1_2()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        var self = await Enter(alice, "locked", "alice");
        Assert.Equal(["110", "201"], StatusCodes(self));
        await Error(bob, $"<presence to='{Room("locked")}/bob'><x xmlns='{Ns}'/></presence>", "item-not-found"); // §7.2.10
        await Configure(alice, "locked", "");                                                                    // §10.1.2
        await bob.Sends($"<presence to='{Room("locked")}/bob'><x xmlns='{Ns}'/></presence>");
        // §7.2.2: the occupants' presence first, then the new occupant's own (110), then the subject (§7.2.15)
        await bob.Receives($"<presence from='{Room("locked")}/alice'><x xmlns='{User}'><item affiliation='owner' role='moderator'/></x><occupant-id xmlns='urn:xmpp:occupant-id:0'/></presence>");
        var own = await bob.Receives($"<presence from='{Room("locked")}/bob'><x xmlns='{User}'><item affiliation='none' role='participant' jid='bob@localhost/r'/><status code='110'/></x></presence>");
        Assert.Equal(["110"], StatusCodes(own));
        await bob.Receives($"<message type='groupchat' from='{Room("locked")}'><subject/></message>");
        // alice, a moderator, sees bob's real JID (semi-anonymous room)
        var seen = await alice.Receives($"<presence from='{Room("locked")}/bob'><x xmlns='{User}'><item role='participant' jid='bob@localhost/r'/></x></presence>");
        Assert.Empty(StatusCodes(seen));
    }

    [Fact]
    public async Task A_nickname_in_use_is_a_conflict_7_2_8_and_a_non_anonymous_room_says_100_7_2_3()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        await Enter(alice, "names", "alice");
        await Configure(alice, "names", Form(Field("muc#roomconfig_whois", "anyone")));
        await Error(bob, $"<presence to='{Room("names")}/alice'><x xmlns='{Ns}'/></presence>", "conflict");
        var self = await Enter(bob, "names", "bob");
        Assert.Equal(["100", "110"], StatusCodes(self));
    }

    [Fact]
    public async Task Members_only_password_banned_and_full_rooms_refuse_entry_7_2_5_to_7_2_9()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        await using var admin = await Login("admin");
        await Enter(alice, "closed", "alice");
        await Configure(alice, "closed", Form(Field("muc#roomconfig_membersonly", "1")));
        await Error(bob, $"<presence to='{Room("closed")}/bob'><x xmlns='{Ns}'/></presence>", "registration-required"); // §7.2.6

        await Enter(alice, "secret", "alice");
        await Configure(alice, "secret", Form(Field("muc#roomconfig_passwordprotectedroom", "1"), Field("muc#roomconfig_roomsecret", "s3")));
        await Error(bob, $"<presence to='{Room("secret")}/bob'><x xmlns='{Ns}'/></presence>", "not-authorized");         // §7.2.5
        await Enter(bob, "secret", "bob", $"<x xmlns='{Ns}'><password>s3</password></x>");

        await Enter(alice, "full", "alice");
        await Configure(alice, "full", Form(Field("muc#roomconfig_maxusers", "1")));
        await Error(bob, $"<presence to='{Room("full")}/bob'><x xmlns='{Ns}'/></presence>", "service-unavailable");    // §7.2.9

        var ban = await alice.Query($"<iq type='set' id='b1' to='{Room("full")}'><query xmlns='{Admin}'><item affiliation='outcast' jid='admin@localhost'/></query></iq>");
        Assert.Equal("result", ban.Type);
        await Error(admin, $"<presence to='{Room("full")}/admin'><x xmlns='{Ns}'/></presence>", "forbidden");            // §7.2.7
    }

    [Fact]
    public async Task History_on_entry_honours_maxstanzas_maxchars_seconds_and_since_7_2_14_and_the_subject_comes_last_7_2_15()
    {
        await using var alice = await Login("alice");
        await CreateInstant(alice, "talk", "alice");
        for (var i = 1; i <= 3; i++)
        {
            await alice.Sends($"<message type='groupchat' to='{Room("talk")}' id='m{i}'><body>m{i}</body></message>");
            await alice.Receives($"<message type='groupchat' id='m{i}' from='{Room("talk")}/alice'><body>m{i}</body></message>");
        }
        await alice.Sends($"<message type='groupchat' to='{Room("talk")}'><subject>Plans</subject></message>");
        await alice.Receives($"<message type='groupchat' from='{Room("talk")}/alice'><subject>Plans</subject></message>");

        await using var bob = await Login("bob");
        await bob.Sends($"<presence to='{Room("talk")}/bob'><x xmlns='{Ns}'><history maxstanzas='2'/></x></presence>");
        await bob.Receives($"<presence from='{Room("talk")}/bob'><x xmlns='{User}'><status code='110'/></x></presence>");
        var first = await bob.NextMatchingAsync(e => e.Name == "message");
        StanzaAssert.Matches($"<message type='groupchat' from='{Room("talk")}/alice'><body>m2</body><delay xmlns='urn:xmpp:delay' from='{Room("talk")}'/></message>", first);
        StanzaAssert.Matches("<message><body>m3</body></message>", await bob.NextMatchingAsync(e => e.Name == "message"));
        StanzaAssert.Matches($"<message type='groupchat' from='{Room("talk")}/alice'><subject>Plans</subject></message>", await bob.NextMatchingAsync(e => e.Name == "message"));

        await using var bob2 = await Login("bob", "r2");
        await bob2.Sends($"<presence to='{Room("talk")}/bob2'><x xmlns='{Ns}'><history maxchars='0'/></x></presence>");
        await bob2.Receives($"<presence from='{Room("talk")}/bob2'><x xmlns='{User}'><status code='110'/></x></presence>");
        StanzaAssert.Matches("<message><subject>Plans</subject></message>", await bob2.NextMatchingAsync(e => e.Name == "message"));

        await using var bob3 = await Login("bob", "r3");
        await bob3.Sends($"<presence to='{Room("talk")}/bob3'><x xmlns='{Ns}'><history since='2999-01-01T00:00:00Z'/></x></presence>");
        await bob3.Receives($"<presence from='{Room("talk")}/bob3'><x xmlns='{User}'><status code='110'/></x></presence>");
        StanzaAssert.Matches("<message><subject>Plans</subject></message>", await bob3.NextMatchingAsync(e => e.Name == "message"));

        await using var bob4 = await Login("bob", "r4");
        await bob4.Sends($"<presence to='{Room("talk")}/bob4'><x xmlns='{Ns}'><history seconds='3600'/></x></presence>");
        await bob4.Receives($"<presence from='{Room("talk")}/bob4'><x xmlns='{User}'><status code='110'/></x></presence>");
        StanzaAssert.Matches("<message><body>m1</body></message>", await bob4.NextMatchingAsync(e => e.Name == "message"));
    }

    [Fact]
    public async Task Groupchat_goes_to_every_occupant_7_4_private_messages_to_one_7_5()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        await using var admin = await Login("admin");
        await CreateInstant(alice, "chat", "alice");
        await Enter(bob, "chat", "bob");
        await bob.Sends($"<message type='groupchat' to='{Room("chat")}' id='g1'><body>hi all</body><occupant-id xmlns='urn:xmpp:occupant-id:0' id='forged'/></message>");
        var toAlice = await alice.Receives($"<message type='groupchat' id='g1' from='{Room("chat")}/bob' to='alice@localhost/r'><body>hi all</body></message>");
        var toBob = await bob.Receives($"<message type='groupchat' id='g1' from='{Room("chat")}/bob'><body>hi all</body></message>");
        var id = toAlice.Child("occupant-id", "urn:xmpp:occupant-id:0")!;
        Assert.Single(toAlice.Elements("occupant-id", "urn:xmpp:occupant-id:0")); // XEP-0421 §4: the forged one is replaced
        Assert.NotEqual("forged", id.Attr("id"));
        Assert.Equal(id.Attr("id"), toBob.Child("occupant-id", "urn:xmpp:occupant-id:0")!.Attr("id"));
        await Error(admin, $"<message type='groupchat' to='{Room("chat")}' id='g2'><body>not in</body></message>", "not-acceptable"); // §7.4

        await bob.Sends($"<message type='chat' to='{Room("chat")}/alice' id='p1'><body>psst</body></message>");
        await alice.Receives($"<message type='chat' id='p1' from='{Room("chat")}/bob'><body>psst</body><x xmlns='{User}'/></message>");
        await Error(bob, $"<message type='groupchat' to='{Room("chat")}/alice' id='p2'><body>x</body></message>", "bad-request");   // §7.5
        await Error(bob, $"<message type='chat' to='{Room("chat")}/nobody' id='p3'><body>x</body></message>", "item-not-found");    // §7.5
        await Error(admin, $"<message type='chat' to='{Room("chat")}/alice' id='p4'><body>x</body></message>", "not-acceptable");
    }

    [Fact]
    public async Task A_nick_change_is_unavailable_with_303_then_available_7_6_and_leaving_is_unavailable_with_110_7_14()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        await CreateInstant(alice, "nicks", "alice");
        await Enter(bob, "nicks", "bob");
        await Error(bob, $"<presence to='{Room("nicks")}/alice'/>", "conflict"); // §7.6.3
        await bob.Sends($"<presence to='{Room("nicks")}/robert'/>");
        var gone = await alice.Receives($"<presence type='unavailable' from='{Room("nicks")}/bob'><x xmlns='{User}'><item nick='robert'/><status code='303'/></x></presence>");
        await alice.Receives($"<presence from='{Room("nicks")}/robert'><x xmlns='{User}'><item role='participant'/></x></presence>");
        var own = await bob.Receives($"<presence type='unavailable' from='{Room("nicks")}/bob'><x xmlns='{User}'><item nick='robert'/></x></presence>");
        Assert.Equal(["110", "303"], StatusCodes(own));
        Assert.Equal(["303"], StatusCodes(gone));
        await bob.Receives($"<presence from='{Room("nicks")}/robert'><x xmlns='{User}'><status code='110'/></x></presence>");

        await bob.Sends($"<presence type='unavailable' to='{Room("nicks")}/robert'><status>bye</status></presence>");
        await alice.Receives($"<presence type='unavailable' from='{Room("nicks")}/robert'><x xmlns='{User}'><item role='none'/></x><status>bye</status></presence>");
        await bob.Receives($"<presence type='unavailable' from='{Room("nicks")}/robert'><x xmlns='{User}'><status code='110'/></x></presence>");
        await alice.Sends($"<iq type='get' id='d1' to='{Room("nicks")}'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>");
        var items = await alice.Receives("<iq type='result' id='d1'/>");
        Assert.Single(items.FirstChild()!.Elements());
    }

    [Fact]
    public async Task Only_moderators_change_the_subject_unless_the_room_allows_it_8_1()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        await CreateInstant(alice, "topic", "alice");
        await Enter(bob, "topic", "bob");
        await Error(bob, $"<message type='groupchat' to='{Room("topic")}' id='s1'><subject>mine</subject></message>", "forbidden");
        await Configure(alice, "topic", Form(Field("muc#roomconfig_changesubject", "1")));
        await bob.Sends($"<message type='groupchat' to='{Room("topic")}' id='s2'><subject>ours</subject></message>");
        await alice.Receives($"<message type='groupchat' from='{Room("topic")}/bob'><subject>ours</subject></message>");
    }

    [Fact]
    public async Task The_configuration_form_has_every_standard_field_10_2_and_only_owners_get_it()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        await Enter(alice, "reserved", "alice");
        var form = await alice.Query($"<iq type='get' id='c1' to='{Room("reserved")}'><query xmlns='{Owner}'/></iq>"); // §10.1.3
        var fields = form.FirstChild()!.Child("x", XData)!.Elements("field", XData).Select(f => f.Attr("var")).ToHashSet();
        foreach (var name in new[] { "FORM_TYPE", "muc#roomconfig_roomname", "muc#roomconfig_roomdesc", "muc#roomconfig_lang", "muc#roomconfig_enablelogging",
                     "muc#roomconfig_changesubject", "muc#roomconfig_allowinvites", "muc#roomconfig_allowpm", "muc#roomconfig_maxusers",
                     "muc#roomconfig_presencebroadcast", "muc#roomconfig_getmemberlist", "muc#roomconfig_publicroom", "muc#roomconfig_persistentroom",
                     "muc#roomconfig_moderatedroom", "muc#roomconfig_membersonly", "muc#roomconfig_passwordprotectedroom", "muc#roomconfig_roomsecret",
                     "muc#roomconfig_whois", "muc#maxhistoryfetch", "muc#roomconfig_roomadmins", "muc#roomconfig_roomowners", "muc#roomconfig_pubsub" })
            Assert.Contains(name, fields);
        var bad = await alice.Query($"<iq type='set' id='c2' to='{Room("reserved")}'><query xmlns='{Owner}'><x xmlns='jabber:x:data' type='submit'>{Form(Field("muc#roomconfig_whois", "nobody"))}</x></query></iq>");
        StanzaAssert.Error(bad, "not-acceptable");
        await Configure(alice, "reserved", Form(Field("muc#roomconfig_roomname", "Reserved"), Field("muc#roomconfig_persistentroom", "1"), Field("muc#roomconfig_publicroom", "0")));
        await Enter(bob, "reserved", "bob");
        await Error(bob, $"<iq type='get' id='c3' to='{Room("reserved")}'><query xmlns='{Owner}'/></iq>", "forbidden");
        await alice.Sends($"<iq type='get' id='c4' to='{Room("reserved")}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
        await alice.Receives("<iq type='result' id='c4'><query xmlns='http://jabber.org/protocol/disco#info'><identity name='Reserved'/><feature var='muc_hidden'/><feature var='muc_persistent'/></query></iq>");
    }

    [Fact]
    public async Task Destroying_a_room_sends_everyone_the_alternate_venue_10_9()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        await CreateInstant(alice, "doomed", "alice");
        await Enter(bob, "doomed", "bob");
        await Error(bob, $"<iq type='set' id='x0' to='{Room("doomed")}'><query xmlns='{Owner}'><destroy/></query></iq>", "forbidden");
        var done = await alice.Query($"<iq type='set' id='x1' to='{Room("doomed")}'><query xmlns='{Owner}'><destroy jid='{Room("heaven")}'><reason>moved</reason></destroy></query></iq>");
        Assert.Equal("result", done.Type);
        await bob.Receives($"<presence type='unavailable' from='{Room("doomed")}/bob'><x xmlns='{User}'><item affiliation='none' role='none'/><destroy jid='{Room("heaven")}'><reason>moved</reason></destroy></x></presence>");
        await Error(bob, $"<iq type='get' id='x2' to='{Room("doomed")}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", "item-not-found");
    }

    [Fact]
    public async Task Kick_8_2_voice_8_3_8_4_ban_9_1_and_the_lists_9_2_to_10_8()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        await using var admin = await Login("admin");
        await CreateInstant(alice, "mod", "alice");
        await Configure(alice, "mod", Form(Field("muc#roomconfig_moderatedroom", "1")));
        await Enter(bob, "mod", "bob");
        await Enter(admin, "mod", "adm");
        // §8.3: bob, a visitor in a moderated room, gets voice
        await Error(bob, $"<message type='groupchat' to='{Room("mod")}' id='v0'><body>x</body></message>", "forbidden");
        await alice.Query($"<iq type='set' id='v1' to='{Room("mod")}'><query xmlns='{Admin}'><item nick='bob' role='participant'/></query></iq>");
        await admin.Receives($"<presence from='{Room("mod")}/bob'><x xmlns='{User}'><item role='participant'/></x></presence>");
        // §8.4: and loses it; a participant may not do that (§8)
        await Error(bob, $"<iq type='set' id='v2' to='{Room("mod")}'><query xmlns='{Admin}'><item nick='adm' role='visitor'/></query></iq>", "forbidden");
        await alice.Query($"<iq type='set' id='v3' to='{Room("mod")}'><query xmlns='{Admin}'><item nick='bob' role='visitor'/></query></iq>");
        await bob.Receives($"<presence from='{Room("mod")}/bob'><x xmlns='{User}'><item role='visitor'/><status code='110'/></x></presence>");
        // §9.3 member, §9.5 the member list
        await alice.Query($"<iq type='set' id='a1' to='{Room("mod")}'><query xmlns='{Admin}'><item affiliation='member' jid='bob@localhost'/></query></iq>");
        await bob.Receives($"<presence from='{Room("mod")}/bob'><x xmlns='{User}'><item affiliation='member' role='participant'/></x></presence>");
        var members = await alice.Query($"<iq type='get' id='a2' to='{Room("mod")}'><query xmlns='{Admin}'><item affiliation='member'/></query></iq>");
        StanzaAssert.Matches($"<iq type='result'><query xmlns='{Admin}'><item affiliation='member' jid='bob@localhost'/></query></iq>", members);
        await Error(bob, $"<iq type='get' id='a3' to='{Room("mod")}'><query xmlns='{Admin}'><item affiliation='member'/></query></iq>", "forbidden");
        // §8.2: kick with 307
        await alice.Query($"<iq type='set' id='k1' to='{Room("mod")}'><query xmlns='{Admin}'><item nick='adm' role='none'><reason>out</reason></item></query></iq>");
        var kicked = await admin.Receives($"<presence type='unavailable' from='{Room("mod")}/adm'><x xmlns='{User}'><item role='none'><reason>out</reason><actor nick='alice'/></item></x></presence>");
        Assert.Equal(["110", "307"], StatusCodes(kicked));
        await bob.Receives($"<presence type='unavailable' from='{Room("mod")}/adm'><x xmlns='{User}'><status code='307'/></x></presence>");
        // §9.1: ban with 301; the ban list (§9.2)
        await alice.Query($"<iq type='set' id='k2' to='{Room("mod")}'><query xmlns='{Admin}'><item affiliation='outcast' jid='bob@localhost'/></query></iq>");
        var banned = await bob.Receives($"<presence type='unavailable' from='{Room("mod")}/bob'><x xmlns='{User}'><item affiliation='outcast' role='none'/></x></presence>");
        Assert.Equal(["110", "301"], StatusCodes(banned));
        var outcasts = await alice.Query($"<iq type='get' id='k3' to='{Room("mod")}'><query xmlns='{Admin}'><item affiliation='outcast'/></query></iq>");
        StanzaAssert.Matches($"<iq type='result'><query xmlns='{Admin}'><item affiliation='outcast' jid='bob@localhost'/></query></iq>", outcasts);
        // §10.3 owner, §10.6 admin lists; §10.5: the last owner cannot step down
        await alice.Query($"<iq type='set' id='o1' to='{Room("mod")}'><query xmlns='{Admin}'><item affiliation='admin' jid='admin@localhost'/></query></iq>");
        var admins = await alice.Query($"<iq type='get' id='o2' to='{Room("mod")}'><query xmlns='{Admin}'><item affiliation='admin'/></query></iq>");
        StanzaAssert.Matches($"<iq type='result'><query xmlns='{Admin}'><item affiliation='admin' jid='admin@localhost'/></query></iq>", admins);
        var last = await alice.Query($"<iq type='set' id='o3' to='{Room("mod")}'><query xmlns='{Admin}'><item affiliation='member' jid='alice@localhost'/></query></iq>");
        StanzaAssert.Error(last, "conflict");
        var owners = await alice.Query($"<iq type='get' id='o4' to='{Room("mod")}'><query xmlns='{Admin}'><item affiliation='owner'/></query></iq>");
        StanzaAssert.Matches($"<iq type='result'><query xmlns='{Admin}'><item affiliation='owner' jid='alice@localhost'/></query></iq>", owners);
        // §9.1: an admin may not ban an owner
        await Enter(admin, "mod", "adm");
        var notAllowed = await admin.Query($"<iq type='set' id='o5' to='{Room("mod")}'><query xmlns='{Admin}'><item affiliation='outcast' jid='alice@localhost'/></query></iq>");
        StanzaAssert.Error(notAllowed, "not-allowed");
        // §9.8: the moderator list
        var moderators = await alice.Query($"<iq type='get' id='o6' to='{Room("mod")}'><query xmlns='{Admin}'><item role='moderator'/></query></iq>");
        Assert.Equal(2, moderators.FirstChild()!.Elements().Count());
    }

    [Fact]
    public async Task Mediated_invitations_and_declines_7_8_and_direct_invitations_are_routed_XEP0249()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        await bob.Sends("<presence/>"); // available: messages to the bare JID reach this resource
        await alice.Sends("<presence/>");
        await CreateInstant(alice, "party", "alice");
        await alice.Sends($"<message to='{Room("party")}' id='inv1'><x xmlns='{User}'><invite to='bob@localhost'><reason>come</reason></invite></x></message>");
        await bob.Receives($"<message from='{Room("party")}'><x xmlns='{User}'><invite from='alice@localhost/r'><reason>come</reason></invite></x></message>");
        await bob.Sends($"<message to='{Room("party")}' id='dec1'><x xmlns='{User}'><decline to='alice@localhost'><reason>busy</reason></decline></x></message>");
        await alice.Receives($"<message from='{Room("party")}'><x xmlns='{User}'><decline from='bob@localhost'><reason>busy</reason></decline></x></message>");
        await alice.Sends($"<message to='bob@localhost' id='d1'><x xmlns='jabber:x:conference' jid='{Room("party")}' reason='join us'/></message>");
        await bob.Receives($"<message from='alice@localhost/r'><x xmlns='jabber:x:conference' jid='{Room("party")}'/></message>");
    }

    [Fact]
    public async Task A_visitor_requests_voice_and_a_moderator_grants_it_8_6()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        await CreateInstant(alice, "ask", "alice");
        await Configure(alice, "ask", Form(Field("muc#roomconfig_moderatedroom", "1")));
        await Enter(bob, "ask", "bob");
        await bob.Sends($"<message to='{Room("ask")}'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#request</value></field><field var='muc#role'><value>participant</value></field></x></message>");
        var request = await alice.Receives($"<message from='{Room("ask")}'><x xmlns='jabber:x:data' type='form'><field var='muc#roomnick'><value>bob</value></field><field var='muc#jid'><value>bob@localhost/r</value></field></x></message>");
        await alice.Sends($"<message to='{Room("ask")}'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#request</value></field><field var='muc#role'><value>participant</value></field><field var='muc#roomnick'><value>bob</value></field><field var='muc#request_allow'><value>true</value></field></x></message>");
        await bob.Receives($"<presence from='{Room("ask")}/bob'><x xmlns='{User}'><item role='participant'/></x></presence>");
        Assert.NotNull(request);
    }

    [Fact]
    public async Task Self_ping_answers_occupants_and_refuses_others_XEP0410_and_registered_nicks_are_reserved_7_10_7_12()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        await CreateInstant(alice, "ping", "alice");
        var pong = await alice.Query($"<iq type='get' id='sp1' to='{Room("ping")}/alice'><ping xmlns='urn:xmpp:ping'/></iq>");
        Assert.Equal("result", pong.Type);
        var notJoined = await bob.Query($"<iq type='get' id='sp2' to='{Room("ping")}/alice'><ping xmlns='urn:xmpp:ping'/></iq>");
        StanzaAssert.Error(notJoined, "not-acceptable");

        var form = await bob.Query($"<iq type='get' id='rg1' to='{Room("ping")}'><query xmlns='jabber:iq:register'/></iq>");
        StanzaAssert.Error(form, "service-unavailable"); // the registration namespace is muc#register's, not jabber:iq:register
        var registration = await bob.Query($"<iq type='get' id='rg2' to='{Room("ping")}'><query xmlns='http://jabber.org/protocol/muc#register'/></iq>");
        StanzaAssert.Matches("<iq type='result'><query xmlns='http://jabber.org/protocol/muc#register'><x xmlns='jabber:x:data' type='form'><field var='muc#register_roomnick'/></x></query></iq>", registration);
        var done = await bob.Query($"<iq type='set' id='rg3' to='{Room("ping")}'><query xmlns='http://jabber.org/protocol/muc#register'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#register</value></field><field var='muc#register_roomnick'><value>thebob</value></field></x></query></iq>");
        Assert.Equal("result", done.Type);
        var reserved = await bob.Query($"<iq type='get' id='rg4' to='{Room("ping")}'><query xmlns='http://jabber.org/protocol/disco#info' node='x-roomuser-item'/></iq>");
        StanzaAssert.Matches("<iq type='result'><query xmlns='http://jabber.org/protocol/disco#info' node='x-roomuser-item'><identity category='conference' type='text' name='thebob'/></query></iq>", reserved); // §7.12
        var none = await alice.Query($"<iq type='get' id='rg5' to='{Room("ping")}'><query xmlns='http://jabber.org/protocol/disco#info' node='x-roomuser-item'/></iq>");
        Assert.False(none.FirstChild()!.HasChildren);
        await using var admin = await Login("admin");
        await Error(admin, $"<presence to='{Room("ping")}/thebob'><x xmlns='{Ns}'/></presence>", "conflict");
        await Enter(bob, "ping", "thebob");
    }

    [Fact]
    public async Task Occupants_leave_when_their_session_ends_7_14()
    {
        await using var alice = await Login("alice");
        await CreateInstant(alice, "bye", "alice");
        var bob = await Login("bob");
        await Enter(bob, "bye", "bob");
        await bob.DisposeAsync();
        await alice.Receives($"<presence type='unavailable' from='{Room("bye")}/bob'/>");
    }

    [Fact]
    public async Task Room_creation_follows_the_service_limit_on_rooms_per_user()
    {
        await using var bob = await Login("bob");
        for (var i = 0; i < 5; i++) await CreateInstant(bob, "many" + i, "bob");
        await Error(bob, $"<presence to='{Room("many5")}/bob'><x xmlns='{Ns}'/></presence>", "not-allowed");
    }
    [Fact]
    public async Task Cancelling_the_initial_configuration_destroys_the_room_10_1_3()
    {
        await using var alice = await Login("alice");
        await Enter(alice, "never", "alice");
        var cancel = await alice.Query($"<iq type='set' id='c1' to='{Room("never")}'><query xmlns='{Owner}'><x xmlns='jabber:x:data' type='cancel'/></query></iq>");
        Assert.Equal("result", cancel.Type);
        await alice.Receives($"<presence type='unavailable' from='{Room("never")}/alice'/>");
        await Error(alice, $"<iq type='get' id='c2' to='{Room("never")}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", "item-not-found");
    }

    [Fact]
    public async Task Configuration_changes_are_announced_with_104_and_logging_with_170_10_2_1_7_2_12()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        await CreateInstant(alice, "conf", "alice");
        await Enter(bob, "conf", "bob");
        await Configure(alice, "conf", Form(Field("muc#roomconfig_enablelogging", "1"), Field("muc#roomconfig_whois", "anyone")));
        var notice = await bob.Receives($"<message type='groupchat' from='{Room("conf")}'><x xmlns='{User}'><status code='104'/></x></message>");
        var codes = notice.Child("x", User)!.Elements("status", User).Select(c => c.Attr("code")!).OrderBy(c => c, StringComparer.Ordinal).ToArray();
        Assert.Equal(["104", "170", "172"], codes);
        await using var admin = await Login("admin");
        var self = await Enter(admin, "conf", "adm");
        Assert.Equal(["100", "110", "170"], StatusCodes(self));
    }

    [Fact]
    public async Task Losing_membership_of_a_members_only_room_removes_the_occupant_with_321_9_4()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        await CreateInstant(alice, "club", "alice");
        await alice.Query($"<iq type='set' id='m1' to='{Room("club")}'><query xmlns='{Admin}'><item affiliation='member' jid='bob@localhost'/></query></iq>");
        await Configure(alice, "club", Form(Field("muc#roomconfig_membersonly", "1")));
        await Enter(bob, "club", "bob");
        await alice.Query($"<iq type='set' id='m2' to='{Room("club")}'><query xmlns='{Admin}'><item affiliation='none' jid='bob@localhost'/></query></iq>");
        var removed = await bob.Receives($"<presence type='unavailable' from='{Room("club")}/bob'><x xmlns='{User}'><item affiliation='none' role='none'/></x></presence>");
        Assert.Equal(["110", "321"], StatusCodes(removed));
    }

    [Fact]
    public async Task A_hidden_room_is_not_listed_on_the_service_6_3()
    {
        await using var alice = await Login("alice");
        await CreateInstant(alice, "shown", "alice");
        await Enter(alice, "hidden", "alice");
        await Configure(alice, "hidden", Form(Field("muc#roomconfig_publicroom", "0")));
        var items = await alice.Query($"<iq type='get' id='i1' to='{Service}'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>");
        Assert.Equal([Room("shown")], items.FirstChild()!.Elements().Select(i => i.Attr("jid")!).ToArray());
    }
    [Fact]
    public async Task Presence_without_the_muc_element_from_a_non_occupant_is_kicked_with_110_307_333_7_2_18()
    {
        await using var alice = await Login("alice");
        await CreateInstant(alice, "gc", "alice");
        await using var bob = await Login("bob");
        await bob.Sends($"<presence to='{Room("gc")}/bob'/>");
        var kick = await bob.Receives($"<presence type='unavailable' from='{Room("gc")}/bob'><x xmlns='{User}'><item affiliation='none' role='none'/></x></presence>");
        Assert.Equal(["110", "307", "333"], StatusCodes(kick));
        await Error(bob, $"<iq type='get' id='n1' to='{Room("nothere")}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", "item-not-found");
    }

    [Fact]
    public async Task A_join_from_an_occupant_already_in_is_answered_as_a_new_join_and_the_self_presence_keeps_its_id_7_2_1_7_2_2()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        await CreateInstant(alice, "again", "alice");
        await bob.Sends($"<presence id='j1' to='{Room("again")}/bob'><x xmlns='{Ns}'/></presence>");
        await bob.Receives($"<presence id='j1' from='{Room("again")}/bob'><x xmlns='{User}'><status code='110'/></x></presence>");
        await bob.Receives("<message type='groupchat'><subject/></message>");
        await bob.Sends($"<presence id='j2' to='{Room("again")}/bob'><x xmlns='{Ns}'/></presence>");
        await bob.Receives($"<presence from='{Room("again")}/alice'/>");
        await bob.Receives($"<presence id='j2' from='{Room("again")}/bob'><x xmlns='{User}'><status code='110'/></x></presence>");
        await bob.Receives("<message type='groupchat'><subject/></message>");
        var error = await Error(bob, $"<presence to='{Room("again")}'><x xmlns='{Ns}'/></presence>", "jid-malformed"); // §7.2.1: no nickname
        Assert.Equal(Room("again"), error.Child("error", "jabber:client")!.Attr("by"));
    }
    [Fact]
    public async Task An_occupant_whose_client_answers_with_an_error_is_removed_with_333_11_1()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        await CreateInstant(alice, "broken", "alice");
        await Enter(bob, "broken", "bob");
        await bob.Sends($"<message type='error' to='{Room("broken")}'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>");
        var gone = await alice.Receives($"<presence type='unavailable' from='{Room("broken")}/bob'/>");
        Assert.Equal(["307", "333"], StatusCodes(gone));
    }
    [Fact]
    public async Task An_iq_to_an_occupant_goes_to_its_real_jid_and_back_without_revealing_either_18()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        await CreateInstant(alice, "cards", "alice");
        await Enter(bob, "cards", "bob");
        await bob.Sends($"<iq type='get' id='vc1' to='{Room("cards")}/alice'><vCard xmlns='vcard-temp'/></iq>");
        var asked = await alice.Receives($"<iq type='get' id='vc1' from='{Room("cards")}/bob' to='alice@localhost/r'><vCard xmlns='vcard-temp'/></iq>");
        await alice.Sends($"<iq type='result' id='vc1' to='{Room("cards")}/bob'><vCard xmlns='vcard-temp'><FN>Alice</FN></vCard></iq>");
        var answer = await bob.Receives($"<iq type='result' id='vc1' from='{Room("cards")}/alice'><vCard xmlns='vcard-temp'><FN>Alice</FN></vCard></iq>");
        Assert.DoesNotContain("alice@localhost", answer.ToString());
        Assert.DoesNotContain("bob@localhost", asked.ToString().Replace("to=\"alice@localhost/r\"", "", StringComparison.Ordinal));
        var both = await alice.Query($"<iq type='set' id='ab1' to='{Room("cards")}'><query xmlns='{Admin}'><item nick='bob' role='visitor' affiliation='member'/></query></iq>");
        StanzaAssert.Error(both, "bad-request"); // §18: a role or an affiliation, not both
    }
    [Fact]
    public async Task S18_1_a_user_whose_affiliation_changes_while_not_in_the_room_gets_a_message_from_the_room_with_status_101()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        await _server.AddUserAsync("carol");
        await using var carol = await Login("carol");
        await carol.Sends("<presence/>"); // available: a message to her bare JID reaches this session (RFC 6121 §8.5.2.1.1)
        await carol.Receives("<presence from='carol@localhost/r'/>");
        await CreateInstant(alice, "aff101", "alice");
        await Enter(bob, "aff101", "bob");
        // carol is not in the room: the room tells her bare JID, with 101, the new affiliation and the reason
        await alice.Query($"<iq type='set' id='m1' to='{Room("aff101")}'><query xmlns='{Admin}'><item affiliation='member' jid='carol@localhost'><reason>welcome</reason></item></query></iq>");
        var told = await carol.Receives($"<message from='{Room("aff101")}' to='carol@localhost'><x xmlns='{User}'><status code='101'/></x></message>");
        StanzaAssert.Matches($"<message><body/><x xmlns='{User}'><item jid='carol@localhost' affiliation='member'><reason>welcome</reason></item></x></message>", told);
        Assert.NotEqual("groupchat", told.Type);
        // bob is in the room: his presence says it (§9.3), no out-of-room message; an outcast out of the room is told too
        await alice.Query($"<iq type='set' id='m2' to='{Room("aff101")}'><query xmlns='{Admin}'><item affiliation='member' jid='bob@localhost'/></query></iq>");
        await bob.Receives($"<presence from='{Room("aff101")}/bob'><x xmlns='{User}'><item affiliation='member'/><status code='110'/></x></presence>");
        await alice.Query($"<iq type='set' id='m3' to='{Room("aff101")}'><query xmlns='{Admin}'><item affiliation='outcast' jid='carol@localhost'/></query></iq>");
        await carol.Receives($"<message from='{Room("aff101")}'><x xmlns='{User}'><item affiliation='outcast'/><status code='101'/></x></message>");
        await bob.Sends($"<message type='chat' to='bob@localhost/r' id='mark'><body>mark</body></message>");
        // everything the room sent bob came before his own mark: no message with 101 among it
        var first = await bob.Receives(e => e.Id == "mark" || (e.Name == "message" && StatusCodes(e).Contains("101")), "the mark or a 101 message");
        Assert.Equal("mark", first.Id);
    }
}
