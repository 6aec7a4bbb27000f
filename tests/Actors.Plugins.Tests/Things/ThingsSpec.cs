using Actors.Xmpp;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Tests.Things;

/// <summary>One server with the thing registry (each test uses its own tag values).</summary>
public sealed class ThingsServer : IAsyncLifetime
{
    public TestServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        // a thing that does not answer (its session still closing) is given up on well within a client's wait
        Server = await TestServer.StartAsync(["disco", "things"], new Dictionary<string, string?> { ["Xmpp:Plugins:things:ThingTimeoutSeconds"] = "3" });
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>XEP-0347 Internet of Things - Discovery: the thing registry at discovery.localhost (the 'things' plugin),
/// over TCP with things and owners as clients.</summary>
public sealed class ThingsSpec(ThingsServer fixture) : IClassFixture<ThingsServer>
{
    private const string Registry = "discovery.localhost";
    private const string IoT = "urn:xmpp:iot:discovery";
    private TestServer Server => fixture.Server;

    private static string Unique() => Guid.NewGuid().ToString("N")[..12];

    /// <summary>A thing of its own (one registry record per bare JID): a new account, logged in.</summary>
    private async Task<XmppTestClient> NewThing(string resource)
    {
        var user = "thing-" + Unique();
        await Server.AddUserAsync(user);
        return await Server.LoginAsync(user, resource);
    }

    private static string Tags(string sn, string key, string extra = "") =>
        $"<str name='SN' value='{sn}'/><str name='MAN' value='www.example.org'/><str name='MODEL' value='IMC'/><num name='V' value='1.2'/><str name='KEY' value='{key}'/>{extra}";

    private static async Task<Element> Set(XmppTestClient c, string payload) =>
        await c.Query($"<iq type='set' id='{c.NextId()}' to='{Registry}'>{payload}</iq>");

    private static async Task<Element> Ok(XmppTestClient c, string payload)
    {
        var reply = await Set(c, payload);
        Assert.True(reply.Type == "result", $"expected a result, got {reply}");
        return reply;
    }

    private static void AssertError(Element reply, string condition)
    {
        Assert.True(reply.Type == "error", $"expected an error, got {reply}");
        Assert.NotNull(reply.Child("error", Ns.Client)?.Child(condition, Ns.StanzaErrors));
    }

    private static async Task<Element> Search(XmppTestClient c, string operators, string attrs = "")
    {
        var reply = await c.Query($"<iq type='get' id='{c.NextId()}' to='{Registry}'><search xmlns='{IoT}'{attrs}>{operators}</search></iq>");
        Assert.True(reply.Type == "result", $"expected a result, got {reply}");
        return reply.Child("found", IoT)!;
    }

    /// <summary>The thing answers the registry's IQ set carrying <paramref name="name"/> (§3.4 claimed, §3.5 removed, §3.11 disowned).</summary>
    private static async Task<Element> Acknowledge(XmppTestClient thing, string name)
    {
        var iq = await thing.Receives(e => e.Name == "iq" && e.Type == "set" && e.From == Registry && e.Child(name, IoT) is not null, $"<{name}/> from the registry");
        await thing.Sends($"<iq type='result' id='{iq.Id}' to='{Registry}'/>");
        return iq.Child(name, IoT)!;
    }

    /// <summary>The thing registers, the owner claims it (public unless said otherwise); returns the SN.</summary>
    private async Task<string> Claimed(XmppTestClient thing, XmppTestClient owner, string key, bool isPublic = true, string extra = "")
    {
        var sn = Unique();
        await Ok(thing, $"<register xmlns='{IoT}'>{Tags(sn, key, extra)}</register>");
        var claim = await Ok(owner, $"<mine xmlns='{IoT}'{(isPublic ? "" : " public='false'")}>{Tags(sn, key, extra)}</mine>");
        Assert.Equal(thing.Jid.Bare.ToString(), claim.Child("claimed", IoT)?.Attr("jid"));
        await Acknowledge(thing, "claimed");
        return sn;
    }

    /// <summary>The subscription state of <paramref name="contact"/> in <paramref name="c"/>'s roster (RFC 6121 §2.1.3),
    /// once it is <paramref name="expected"/> (roster changes follow the claim by a few messages).</summary>
    private static async Task RosterSays(XmppTestClient c, string contact, string expected)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        string? state;
        do
        {
            var roster = await c.Query($"<iq type='get' id='{c.NextId()}'><query xmlns='jabber:iq:roster'/></iq>");
            state = roster.Child("query", "jabber:iq:roster")?.Elements("item", "jabber:iq:roster").FirstOrDefault(i => i.Attr("jid") == contact)?.Attr("subscription");
            if (state == expected) return;
            await Task.Delay(50);
        }
        while (DateTime.UtcNow < until);
        Assert.Fail($"{c.Jid}'s roster has {contact} with subscription '{state}', not '{expected}'");
    }

    [Fact]
    public async Task Xep0347_3_4_a_claim_makes_owner_and_thing_friends_both_ways_so_the_owner_sees_the_things_presence()
    {
        await using var thing = await NewThing("sensor");
        await using var alice = await Server.LoginAsync("alice");
        await Claimed(thing, alice, "k-" + Unique());
        await RosterSays(alice, thing.Jid.Bare.ToString(), "both");
        await RosterSays(thing, "alice@localhost", "both");

        await alice.Sends("<presence/>"); // available (RFC 6121 §4.2.2: presence goes to available resources)
        await alice.Receives(e => e.Name == "presence" && e.From == alice.Jid.ToString(), "her own presence");
        await thing.Sends("<presence/>");
        await alice.Receives(e => e.Name == "presence" && e.From == thing.Jid.ToString() && e.Type is null, "the thing's presence");
    }

    [Fact]
    public async Task Xep0347_4_the_registry_advertises_its_feature_and_the_server_lists_it()
    {
        await using var alice = await Server.LoginAsync("alice");
        Assert.True(await alice.IsFeatureAdvertised(IoT, Registry));
        var items = await alice.Query($"<iq type='get' id='i1' to='localhost'><query xmlns='{Ns.DiscoItems}'/></iq>");
        Assert.Contains(items.Child("query", Ns.DiscoItems)!.Elements("item", Ns.DiscoItems), i => i.Attr("jid") == Registry);
    }

    [Fact]
    public async Task Xep0347_3_2_3_4_a_thing_registers_its_owner_claims_it_by_exactly_its_tags_the_thing_is_told_and_registering_again_names_the_owner()
    {
        await using var thing = await NewThing("imc");
        await using var alice = await Server.LoginAsync("alice");
        var sn = Unique();
        var registered = await Ok(thing, $"<register xmlns='{IoT}'>{Tags(sn, "k-" + sn)}</register>");
        Assert.False(registered.HasChildren); // §3.2: always empty while unclaimed
        AssertError(await Set(alice, $"<mine xmlns='{IoT}'>{Tags(sn, "wrong-key")}</mine>"), "item-not-found"); // not EXACTLY the same
        AssertError(await Set(alice, $"<mine xmlns='{IoT}'><str name='SN' value='{sn}'/></mine>"), "item-not-found"); // a subset is not enough

        var claim = await Ok(alice, $"<mine xmlns='{IoT}'><str name='key' value='k-{sn}'/><num name='V' value='1.20'/><str name='MODEL' value='IMC'/><str name='MAN' value='www.example.org'/><str name='SN' value='{sn}'/></mine>");
        Assert.Equal(thing.Jid.Bare.ToString(), claim.Child("claimed", IoT)?.Attr("jid")); // order and name case do not matter
        var told = await Acknowledge(thing, "claimed");
        Assert.Equal("alice@localhost", told.Attr("jid"));
        Assert.Null(told.Attr("public"));

        var again = await Ok(thing, $"<register xmlns='{IoT}'>{Tags(sn, "k-" + sn)}</register>");
        Assert.Equal("alice@localhost", again.Child("claimed", IoT)?.Attr("jid")); // §3.2: claimed already
        Assert.Equal(thing.Jid.Bare.ToString(), (await Ok(alice, $"<mine xmlns='{IoT}'>{Tags(sn, "k-" + sn)}</mine>")).Child("claimed", IoT)?.Attr("jid")); // the owner's own claim again
        await using var bob = await Server.LoginAsync("bob");
        AssertError(await Set(bob, $"<mine xmlns='{IoT}'>{Tags(sn, "k-" + sn)}</mine>"), "item-not-found"); // claimed by somebody else
    }

    [Fact]
    public async Task Xep0347_3_9_search_finds_public_claimed_things_by_every_operator_never_by_KEY_and_never_shows_KEY()
    {
        await using var thing = await NewThing("t");
        await using var alice = await Server.LoginAsync("alice");
        var model = "M" + Unique();
        var sn = Unique();
        await Ok(thing, $"<register xmlns='{IoT}'>{Tags(sn, "secret-" + sn, $"<str name='CLASS' value='{model}'/><num name='LAT' value='-33.5'/>")}</register>");
        await using var curious = await Server.LoginAsync("bob");
        Assert.Empty((await Search(curious, $"<strEq name='CLASS' value='{model}'/>")).Elements()); // unclaimed: never found
        await Ok(alice, $"<mine xmlns='{IoT}'>{Tags(sn, "secret-" + sn, $"<str name='CLASS' value='{model}'/><num name='LAT' value='-33.5'/>")}</mine>");
        await Acknowledge(thing, "claimed");

        var found = await Search(curious, $"<strEq name='class' value='{model}'/><strMask name='SN' value='{sn[..4]}*{sn[^2..]}' wildcard='*'/><numRange name='LAT' min='-34' max='-33' maxIncluded='false'/><numGtEq name='V' value='1.2'/><strNEq name='MODEL' value='other'/><strRange name='MAN' min='www.a' max='www.z'/>");
        Assert.Equal("false", found.Attr("more"));
        var t = Assert.Single(found.Elements("thing", IoT));
        Assert.Equal(thing.Jid.Bare.ToString(), t.Attr("jid"));
        Assert.Equal("alice@localhost", t.Attr("owner"));
        Assert.DoesNotContain(t.Elements(), e => e.Attr("name") == "KEY"); // §3.9: never shown
        Assert.Contains(t.Elements("num", IoT), e => e.Attr("name") == "LAT" && e.Attr("value") == "-33.5");

        Assert.Empty((await Search(curious, $"<strEq name='CLASS' value='{model}'/><strEq name='KEY' value='secret-{sn}'/>")).Elements()); // never by KEY
        Assert.Empty((await Search(curious, $"<strEq name='CLASS' value='{model}'/><numNRange name='LAT' min='-34' max='-33'/>")).Elements());
        Assert.Empty((await Search(curious, $"<strEq name='CLASS' value='{model}'/><numLt name='V' value='1.2'/>")).Elements());
        Assert.Empty((await Search(curious, $"<strEq name='CLASS' value='{model}'/><strEq name='NOSUCHTAG' value='x'/>")).Elements());
        Assert.Empty((await Search(curious, $"<strEq name='CLASS' value='{model}'/>", " offset='1'")).Elements());
        AssertError(await curious.Query($"<iq type='get' id='b1' to='{Registry}'><search xmlns='{IoT}'><strLike name='CLASS' value='x'/></search></iq>"), "bad-request");
    }

    [Fact]
    public async Task Xep0347_3_9_search_pages_with_offset_and_maxCount_and_says_more()
    {
        var model = "P" + Unique();
        await using var alice = await Server.LoginAsync("alice");
        for (var i = 0; i < 3; i++)
        {
            var user = "paged" + Unique();
            await Server.AddUserAsync(user);
            await using var thing = await Server.LoginAsync(user);
            await Claimed(thing, alice, "k", extra: $"<str name='CLASS' value='{model}'/>");
        }
        await using var bob = await Server.LoginAsync("bob");
        var first = await Search(bob, $"<strEq name='CLASS' value='{model}'/>", " offset='0' maxCount='2'");
        Assert.Equal(2, first.Elements("thing", IoT).Count());
        Assert.Equal("true", first.Attr("more"));
        var rest = await Search(bob, $"<strEq name='CLASS' value='{model}'/>", " offset='2' maxCount='2'");
        Assert.Single(rest.Elements("thing", IoT));
        Assert.Equal("false", rest.Attr("more"));
        Assert.Empty(first.Elements("thing", IoT).Select(t => t.Attr("jid")).Intersect(rest.Elements("thing", IoT).Select(t => t.Attr("jid"))));
    }

    [Fact]
    public async Task Xep0347_3_4_a_private_claim_is_told_with_public_false_and_never_found()
    {
        await using var thing = await NewThing("p");
        await using var alice = await Server.LoginAsync("alice");
        var sn = Unique();
        await Ok(thing, $"<register xmlns='{IoT}'>{Tags(sn, "k")}</register>");
        await Ok(alice, $"<mine xmlns='{IoT}' public='false'>{Tags(sn, "k")}</mine>");
        Assert.Equal("false", (await Acknowledge(thing, "claimed")).Attr("public"));
        Assert.Empty((await Search(alice, $"<strEq name='SN' value='{sn}'/>")).Elements());
    }

    [Fact]
    public async Task Xep0347_3_3_a_self_owned_thing_is_public_and_claimed_at_once()
    {
        await using var thing = await NewThing("self");
        var sn = Unique();
        await Ok(thing, $"<register xmlns='{IoT}' selfOwned='true'>{Tags(sn, "k")}</register>");
        var t = Assert.Single((await Search(thing, $"<strEq name='SN' value='{sn}'/>")).Elements("thing", IoT));
        Assert.Equal(thing.Jid.Bare.ToString(), t.Attr("owner"));
    }

    [Fact]
    public async Task Xep0347_3_7_3_8_the_thing_and_its_owner_update_tags_an_empty_value_removes_one_and_others_get_item_not_found()
    {
        await using var thing = await NewThing("u");
        await using var alice = await Server.LoginAsync("alice");
        var sn = await Claimed(thing, alice, "k");
        await Ok(thing, $"<update xmlns='{IoT}'><str name='KEY' value=''/><str name='CLASS' value='PLC'/><num name='LON' value='-71.5'/></update>");
        await Ok(alice, $"<update xmlns='{IoT}' jid='{thing.Jid.Bare}'><str name='ROOM' value='lab'/></update>");
        var t = Assert.Single((await Search(alice, $"<strEq name='SN' value='{sn}'/><strEq name='CLASS' value='PLC'/><strEq name='ROOM' value='lab'/><numEq name='LON' value='-71.5'/>")).Elements("thing", IoT));
        Assert.Equal(thing.Jid.Bare.ToString(), t.Attr("jid"));
        AssertError(await Set(alice, $"<mine xmlns='{IoT}'>{Tags(sn, "k")}</mine>"), "item-not-found"); // KEY is gone: the old tags no longer match

        await using var bob = await Server.LoginAsync("bob");
        AssertError(await Set(bob, $"<update xmlns='{IoT}' jid='{thing.Jid.Bare}'><str name='ROOM' value='mine'/></update>"), "item-not-found"); // §3.8: not bob's
        AssertError(await Set(bob, $"<update xmlns='{IoT}'><str name='ROOM' value='x'/></update>"), "item-not-found"); // bob is no thing here

        await using var fresh = await NewThing("u");
        await Ok(fresh, $"<register xmlns='{IoT}'>{Tags(Unique(), "k")}</register>");
        var disowned = await Ok(fresh, $"<update xmlns='{IoT}'><str name='CLASS' value='X'/></update>");
        Assert.NotNull(disowned.Child("disowned", IoT)); // §3.7: registered but not claimed
    }

    [Fact]
    public async Task Xep0347_3_5_the_owner_removes_its_thing_which_is_told_and_no_longer_found()
    {
        await using var thing = await NewThing("r");
        await using var alice = await Server.LoginAsync("alice");
        var sn = await Claimed(thing, alice, "k");
        await using var bob = await Server.LoginAsync("bob");
        AssertError(await Set(bob, $"<remove xmlns='{IoT}' jid='{thing.Jid.Bare}'/>"), "item-not-found"); // not bob's

        await Ok(alice, $"<remove xmlns='{IoT}' jid='{thing.Jid.Bare}'/>");
        await Acknowledge(thing, "removed");
        Assert.Empty((await Search(bob, $"<strEq name='SN' value='{sn}'/>")).Elements());
        AssertError(await Set(thing, $"<update xmlns='{IoT}'><str name='CLASS' value='X'/></update>"), "item-not-found"); // §3.7: removed
        AssertError(await Set(alice, $"<remove xmlns='{IoT}' jid='{thing.Jid.Bare}'/>"), "item-not-found");
    }

    [Fact]
    public async Task Xep0347_3_11_disowning_needs_the_thing_online_to_acknowledge_then_it_is_unclaimed_with_a_random_KEY()
    {
        await using var alice = await Server.LoginAsync("alice");
        var user = "thing-" + Unique();
        await Server.AddUserAsync(user);
        var jid = $"{user}@localhost";
        string sn;
        await using (var thing = await Server.LoginAsync(user, "d"))
            sn = await Claimed(thing, alice, "k-" + Unique());
        var until = DateTime.UtcNow.AddSeconds(10);
        Element offline;
        do offline = await Set(alice, $"<disown xmlns='{IoT}' jid='{jid}'/>"); // the session may take a moment to end
        while (offline.Type == "result" && DateTime.UtcNow < until);
        AssertError(offline, "not-allowed"); // offline: it could not be claimed again

        await using var again = await Server.LoginAsync(user, "d2");
        await using var bob = await Server.LoginAsync("bob");
        AssertError(await Set(bob, $"<disown xmlns='{IoT}' jid='{jid}'/>"), "item-not-found"); // not bob's
        var disown = Set(alice, $"<disown xmlns='{IoT}' jid='{jid}'/>");
        await Acknowledge(again, "disowned");
        Assert.Equal("result", (await disown).Type);
        await RosterSays(alice, jid, "none"); // the friendship ends with the ownership
        await RosterSays(again, "alice@localhost", "none");
        Assert.Empty((await Search(alice, $"<strEq name='SN' value='{sn}'/>")).Elements());
        AssertError(await Set(alice, $"<mine xmlns='{IoT}'><str name='SN' value='{sn}'/></mine>"), "item-not-found"); // its tags are gone
        Assert.False((await Ok(again, $"<register xmlns='{IoT}'>{Tags(sn, "new")}</register>")).HasChildren); // unclaimed: it registers anew
    }

    [Fact]
    public async Task Xep0347_3_10_a_thing_unregisters_and_3_6_tags_that_break_the_rules_are_bad_request()
    {
        await using var thing = await NewThing("x");
        await using var alice = await Server.LoginAsync("alice");
        var sn = Unique();
        await Ok(thing, $"<register xmlns='{IoT}'>{Tags(sn, "k")}</register>");
        await Ok(thing, $"<unregister xmlns='{IoT}'/>");
        await Ok(thing, $"<unregister xmlns='{IoT}'/>"); // always an empty result
        AssertError(await Set(alice, $"<mine xmlns='{IoT}'>{Tags(sn, "k")}</mine>"), "item-not-found");

        AssertError(await Set(thing, $"<register xmlns='{IoT}'><str name='A:B' value='x'/></register>"), "bad-request");
        AssertError(await Set(thing, $"<register xmlns='{IoT}'><str name='{new string('N', 33)}' value='x'/></register>"), "bad-request");
        AssertError(await Set(thing, $"<register xmlns='{IoT}'><str name='N' value='{new string('v', 129)}'/></register>"), "bad-request");
        AssertError(await Set(thing, $"<register xmlns='{IoT}'><num name='N' value='twelve'/></register>"), "bad-request");
    }
}
