using Actors.Xmpp.Testing;
using static Actors.Plugins.Tests.Muc.Muc;

namespace Actors.Plugins.Tests.Muc;

/// <summary>The limits an operator sets on the MUC service (Xmpp:Muc): who may create rooms, occupants per room, history
/// size (rooms per user: <see cref="MucSpec.Room_creation_follows_the_service_limit_on_rooms_per_user"/>).</summary>
public sealed class MucLimitsSpec : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(["disco", "muc"], new Dictionary<string, string?>
    {
        ["Xmpp:Muc:Create"] = "admins",
        ["Xmpp:Muc:Admins:0"] = "alice@localhost",
        ["Xmpp:Muc:MaxOccupants"] = "2",
        ["Xmpp:Muc:HistorySize"] = "2",
    });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private Task<XmppTestClient> Login(string user, string resource = "r") => _server.LoginAsync(user, resource);

    [Fact]
    public async Task Only_the_services_admins_create_rooms_when_Create_is_admins_7_2_17_10_1_1()
    {
        await using var bob = await Login("bob");
        await Error(bob, $"<presence to='{Room("bobs")}/bob'><x xmlns='{Ns}'/></presence>", "not-allowed"); // §7.2.17: creation restricted
        await using var alice = await Login("alice");
        await CreateInstant(alice, "alices", "alice");
        await Enter(bob, "alices", "bob"); // entering an existing room needs no creation right
    }

    [Fact]
    public async Task The_service_caps_occupants_per_room_7_2_9_and_a_room_may_not_raise_it_10_2()
    {
        await using var alice = await Login("alice");
        await using var bob = await Login("bob");
        await using var admin = await Login("admin");
        await CreateInstant(alice, "small", "alice");
        await Enter(bob, "small", "bob");
        await Error(admin, $"<presence to='{Room("small")}/admin'><x xmlns='{Ns}'/></presence>", "service-unavailable"); // §7.2.9
        var raise = await alice.Query($"<iq type='set' id='c1' to='{Room("small")}'><query xmlns='{Owner}'><x xmlns='jabber:x:data' type='submit'>{Form(Field("muc#roomconfig_maxusers", "10"))}</x></query></iq>");
        StanzaAssert.Error(raise, "not-acceptable");
        // another resource of an occupant is no new occupant (§7.2.8)
        await using var bob2 = await Login("bob", "r2");
        await Enter(bob2, "small", "bob");
    }

    [Fact]
    public async Task A_room_keeps_HistorySize_messages_of_history_7_2_13()
    {
        await using var alice = await Login("alice");
        await CreateInstant(alice, "brief", "alice");
        for (var i = 1; i <= 3; i++)
        {
            await alice.Sends($"<message type='groupchat' to='{Room("brief")}' id='h{i}'><body>h{i}</body></message>");
            await alice.Receives($"<message type='groupchat' id='h{i}'/>");
        }
        await using var bob = await Login("bob");
        await bob.Sends($"<presence to='{Room("brief")}/bob'><x xmlns='{Ns}'><history maxstanzas='10'/></x></presence>");
        await bob.Receives($"<presence from='{Room("brief")}/bob'><x xmlns='{User}'><status code='110'/></x></presence>");
        var bodies = new List<string?>();
        while (true)
        {
            var m = await bob.NextMatchingAsync(e => e.Name == "message");
            if (m.Child("subject", "jabber:client") is not null) break;
            bodies.Add(m.ChildText("body", "jabber:client"));
        }
        Assert.Equal(["h2", "h3"], bodies);
    }
}
