using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Actors.Xmpp.Server.Hosting;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.IntegrationTests;

/// <summary>
/// Account removal (XEP-0077 §3.2 cancellation, <c>user remove</c> through the admin socket) and password change over
/// TCP: the account's sessions close, its contacts are told (RFC 6121 §2.5.2 for each roster item), and an account
/// created later under the same name starts empty.
/// </summary>
public sealed class AccountRemovalTests(PlainServer server) : IClassFixture<PlainServer>
{
    private const string Register = "jabber:iq:register";

    [Fact]
    public async Task Xep0077_3_2_cancellation_result_then_not_authorized_on_every_session_and_contacts_are_unsubscribed()
    {
        await server.AddUserAsync("rm-a");
        await server.AddUserAsync("rm-b");
        await using var a1 = await XmppTestClient.LoginAsync(server, "rm-a", "one", available: true);
        await using var a2 = await XmppTestClient.LoginAsync(server, "rm-a", "two", available: true);
        await using var b = await XmppTestClient.LoginAsync(server, "rm-b", "b", available: true);
        await SubscribeAsync(a1, "rm-a@localhost", b, "rm-b@localhost");
        await SubscribeAsync(b, "rm-b@localhost", a1, "rm-a@localhost");

        var reply = await a1.IqAsync("set", $"<query xmlns='{Register}'><remove/></query>");
        Assert.Equal("result", reply.Type); // §3.2: the result reaches the requester before its stream error
        await a1.ExpectStreamErrorAsync("not-authorized", skipStanzas: true);
        await a2.ExpectStreamErrorAsync("not-authorized", skipStanzas: true); // §3.2: all active sessions end

        // RFC 6121 §2.5.2 (as for a removed roster item): unsubscribe and unsubscribed from the bare JID, and the
        // unavailable presence of each resource that sent presence
        var expected = new HashSet<string> { "unsubscribe", "unsubscribed", "unavailable rm-a@localhost/one", "unavailable rm-a@localhost/two" };
        while (expected.Count > 0)
        {
            var e = await b.NextAsync();
            if (e.Name != "presence") continue;
            if (e.Type is "unsubscribe" or "unsubscribed" && e.From == "rm-a@localhost") expected.Remove(e.Type);
            else if (e.Type == "unavailable") expected.Remove("unavailable " + e.From);
        }
        var roster = await b.IqAsync("get", "<query xmlns='jabber:iq:roster'/>");
        var item = roster.Child("query", Ns.Roster)!.Elements().Single(i => i.Attr("jid") == "rm-a@localhost");
        Assert.Equal("none", item.Attr("subscription"));
        Assert.False(server.Accounts.Exists(Jid.Parse("rm-a@localhost")));
    }

    [Fact]
    public async Task Xep0077_3_2_remove_with_other_children_is_bad_request()
    {
        await server.AddUserAsync("rm-bad");
        await using var c = await XmppTestClient.LoginAsync(server, "rm-bad");
        var reply = await c.IqAsync("set", $"<query xmlns='{Register}'><remove/><username>rm-bad</username></query>");
        StanzaAssert.Error(reply, "bad-request");
        Assert.True(server.Accounts.Exists(Jid.Parse("rm-bad@localhost")));
        await c.PingServerAsync();
    }

    [Fact]
    public async Task User_remove_through_the_admin_socket_closes_sessions_and_a_recreated_account_starts_empty()
    {
        await server.AddUserAsync("rm-data");
        await server.AddUserAsync("rm-sender");
        await using (var sender = await XmppTestClient.LoginAsync(server, "rm-sender", "s", available: true))
        {
            // a message stored offline for the account
            await sender.SendAsync("<message to='rm-data@localhost' type='chat'><body>stored before removal</body></message>");
            await sender.PingServerAsync();
        }
        await using var old = await XmppTestClient.LoginAsync(server, "rm-data"); // no presence: the mailbox stays
        Assert.Equal("result", (await old.IqAsync("set", "<query xmlns='jabber:iq:roster'><item jid='friend@localhost' name='Friend'/></query>")).Type);
        Assert.Equal("result", (await old.IqAsync("set", "<vCard xmlns='vcard-temp'><FN>Old Owner</FN></vCard>")).Type);
        Assert.Equal("result", (await old.IqAsync("set", "<query xmlns='jabber:iq:private'><notes xmlns='urn:test:notes'>secret</notes></query>")).Type);

        var removed = await AdminAsync(new JsonObject { ["cmd"] = "remove", ["user"] = "rm-data" });
        Assert.True((bool?)removed["ok"], removed.ToJsonString());
        await old.ExpectStreamErrorAsync("not-authorized", skipStanzas: true);

        var added = await AdminAsync(new JsonObject { ["cmd"] = "add", ["user"] = "rm-data", ["password"] = TestServer.Password });
        Assert.True((bool?)added["ok"], added.ToJsonString());
        await using var fresh = await XmppTestClient.LoginAsync(server, "rm-data");
        var roster = await fresh.IqAsync("get", "<query xmlns='jabber:iq:roster'/>");
        Assert.Empty(roster.Child("query", Ns.Roster)!.Elements());
        var card = await fresh.IqAsync("get", "<vCard xmlns='vcard-temp'/>");
        Assert.Empty(card.Child("vCard", "vcard-temp")!.Elements());
        var notes = await fresh.IqAsync("get", "<query xmlns='jabber:iq:private'><notes xmlns='urn:test:notes'/></query>");
        Assert.Equal("", notes.Child("query", "jabber:iq:private")!.Child("notes", "urn:test:notes")!.Text);
        // initial presence would hand over the offline mailbox: nothing arrives before the ping's answer
        await fresh.SendAsync("<presence/>");
        var ping = fresh.NextId();
        await fresh.SendAsync($"<iq type='get' id='{ping}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
        while (true)
        {
            var e = await fresh.NextAsync();
            Assert.NotEqual("message", e.Name);
            if (e.Name == "iq" && e.Id == ping) break;
        }
    }

    [Fact]
    public async Task Xep0077_3_3_password_change_closes_the_other_sessions_with_reset_and_keeps_the_changing_one()
    {
        await server.AddUserAsync("rm-pw");
        await using var changer = await XmppTestClient.LoginAsync(server, "rm-pw", "changer");
        await using var other = await XmppTestClient.LoginAsync(server, "rm-pw", "other");
        var change = await changer.IqAsync("set", $"<query xmlns='{Register}'><username>rm-pw</username><password>a-new-password</password></query>");
        Assert.Equal("result", change.Type);
        await other.ExpectStreamErrorAsync("reset", skipStanzas: true);
        await changer.PingServerAsync(); // the session that changed the password goes on
    }

    [Fact]
    public async Task User_passwd_through_the_admin_socket_closes_every_session_with_reset()
    {
        await server.AddUserAsync("rm-pw2");
        await using var c = await XmppTestClient.LoginAsync(server, "rm-pw2");
        var changed = await AdminAsync(new JsonObject { ["cmd"] = "passwd", ["user"] = "rm-pw2", ["password"] = "another-password" });
        Assert.True((bool?)changed["ok"], changed.ToJsonString());
        await c.ExpectStreamErrorAsync("reset", skipStanzas: true);
    }

    /// <summary><paramref name="from"/> subscribes to <paramref name="toBare"/>, whose client approves (RFC 6121 §3.1).</summary>
    private static async Task SubscribeAsync(XmppTestClient from, string fromBare, XmppTestClient to, string toBare)
    {
        await from.SendAsync($"<presence to='{toBare}' type='subscribe'/>");
        await to.NextMatchingAsync(e => e.Name == "presence" && e.Type == "subscribe" && e.From == fromBare);
        await to.SendAsync($"<presence to='{fromBare}' type='subscribed'/>");
        await from.NextMatchingAsync(e => e.Name == "presence" && e.Type == "subscribed" && e.From == toBare);
    }

    /// <summary>One request on the running server's admin socket (what <c>actors-server user ...</c> sends).</summary>
    private async Task<JsonObject> AdminAsync(JsonObject request)
    {
        var path = AdminChannel.SocketPath(server.DataDir);
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path));
                break;
            }
            catch (SocketException) when (attempt < 50)
            {
                await Task.Delay(100); // the admin channel starts in the background
            }
        }
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Encoding.UTF8.GetBytes(request.ToJsonString() + "\n"));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var line = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)) ?? throw new IOException("the admin socket closed");
        return JsonNode.Parse(line)!.AsObject();
    }
}
