using Actors.Xmpp.Testing;
using Actors.Xmpp;
using Actors.Xmpp.Plugins;

namespace Actors.Plugins.Tests;

/// <summary>Each XEP's behaviour over TCP against a server with every plugin of the repository; disco first.</summary>
public sealed class XepSpec : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(TestServer.RepositoryPlugins, new Dictionary<string, string?>
    {
        ["Xmpp:Plugins:disco:ContactAddresses:admin:0"] = "xmpp:admin@localhost",
        ["Xmpp:Plugins:disco:ContactAddresses:abuse:0"] = "mailto:abuse@localhost",
    });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Xep0030_disco_info_lists_identity_and_every_plugin_feature()
    {
        await using var alice = await _server.LoginAsync("alice");
        var info = await alice.Query("<iq type='get' id='i1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
        Assert.True(XmppTestClient.Matches(XmppTestClient.Parse(
            "<iq type='result' id='i1' from='localhost'><query xmlns='http://jabber.org/protocol/disco#info'>" +
            "<identity category='server' type='im'/>" +
            "<feature var='http://jabber.org/protocol/disco#info'/><feature var='http://jabber.org/protocol/disco#items'/>" +
            "<feature var='urn:xmpp:ping'/><feature var='jabber:iq:version'/><feature var='urn:xmpp:time'/>" +
            "<feature var='http://jabber.org/protocol/caps'/><feature var='http://jabber.org/protocol/commands'/>" +
            "</query></iq>"), info), info.ToString());
        // on a bare JID: the account identity and ping, not the server-only features
        var account = await alice.Query("<iq type='get' id='i2' to='bob@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
        Assert.True(XmppTestClient.Matches(XmppTestClient.Parse(
            "<iq type='result' id='i2'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='account' type='registered'/>" +
            "<feature var='urn:xmpp:ping'/></query></iq>"), account), account.ToString());
        Assert.DoesNotContain("jabber:iq:version", account.ToString());
        var items = await alice.Query("<iq type='get' id='i3' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>");
        Assert.Equal("result", items.Type);
    }

    [Fact]
    public async Task Xep0128_contact_addresses_are_an_extended_info_form()
    {
        await using var alice = await _server.LoginAsync("alice");
        var info = await alice.Query("<iq type='get' id='i1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
        Assert.True(XmppTestClient.Matches(XmppTestClient.Parse(
            "<iq type='result'><query xmlns='http://jabber.org/protocol/disco#info'><x xmlns='jabber:x:data' type='result'>" +
            "<field var='FORM_TYPE'><value>http://jabber.org/network/serverinfo</value></field>" +
            "<field var='admin-addresses'><value>xmpp:admin@localhost</value></field>" +
            "<field var='abuse-addresses'><value>mailto:abuse@localhost</value></field></x></query></iq>"), info), info.ToString());
    }

    [Fact]
    public async Task Xep0199_ping_server_and_account()
    {
        await using var alice = await _server.LoginAsync("alice");
        Assert.True(await alice.IsFeatureAdvertised("urn:xmpp:ping"));
        await alice.Sends("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
        await alice.Receives("<iq type='result' id='p1' from='localhost'/>");
        await alice.Sends("<iq type='get' id='p2' to='bob@localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
        await alice.Receives("<iq type='result' id='p2' from='bob@localhost'/>");
    }

    [Fact]
    public async Task Xep0092_version()
    {
        await using var alice = await _server.LoginAsync("alice");
        Assert.True(await alice.IsFeatureAdvertised("jabber:iq:version"));
        await alice.Sends("<iq type='get' id='v1' to='localhost'><query xmlns='jabber:iq:version'/></iq>");
        await alice.Receives("<iq type='result' id='v1'><query xmlns='jabber:iq:version'><name>Actors</name><version/></query></iq>");
        await alice.Sends("<iq type='set' id='v2' to='localhost'><query xmlns='jabber:iq:version'/></iq>");
        await alice.Receives("<iq type='error' id='v2'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    }

    [Fact]
    public async Task Xep0202_time()
    {
        await using var alice = await _server.LoginAsync("alice");
        Assert.True(await alice.IsFeatureAdvertised("urn:xmpp:time"));
        var reply = await alice.Query("<iq type='get' id='t1' to='localhost'><time xmlns='urn:xmpp:time'/></iq>");
        var utc = reply.Child("time", "urn:xmpp:time")!.ChildText("utc", "urn:xmpp:time")!;
        Assert.True(DateTimeOffset.UtcNow - DateTimeOffset.Parse(utc, System.Globalization.CultureInfo.InvariantCulture) < TimeSpan.FromMinutes(1));
        Assert.Equal("+00:00", reply.Child("time", "urn:xmpp:time")!.ChildText("tzo", "urn:xmpp:time"));
    }

    [Fact]
    public async Task Xep0012_server_uptime()
    {
        await using var alice = await _server.LoginAsync("alice");
        Assert.True(await alice.IsFeatureAdvertised("jabber:iq:last"));
        var reply = await alice.Query("<iq type='get' id='l1' to='localhost'><query xmlns='jabber:iq:last'/></iq>");
        Assert.True(long.Parse(reply.Child("query", "jabber:iq:last")!.Attr("seconds")!, System.Globalization.CultureInfo.InvariantCulture) >= 0);
    }

    [Fact]
    public async Task Xep0115_caps_in_stream_features_hash_the_disco_info()
    {
        await using var alice = await _server.LoginAsync("alice");
        Assert.True(await alice.IsFeatureAdvertised("http://jabber.org/protocol/caps"));
        var c = alice.Features!.Child("c", "http://jabber.org/protocol/caps");
        Assert.NotNull(c);
        Assert.Equal("sha-1", c.Attr("hash"));
        var info = (await alice.Query("<iq type='get' id='i1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"))
            .Child("query", Ns.DiscoInfo)!;
        var disco = new DiscoInfo(
            info.Elements("identity", Ns.DiscoInfo).Select(i => new DiscoIdentity(i.Attr("category")!, i.Attr("type")!, i.Attr("name"))).ToList(),
            info.Elements("feature", Ns.DiscoInfo).Select(f => f.Attr("var")!).ToList(),
            info.Elements("x", "jabber:x:data").ToList());
        Assert.Equal(Ver(disco), c.Attr("ver"));
        // §6.2: disco#info at node#ver answers the same
        var atNode = await alice.Query($"<iq type='get' id='i2' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='{c.Attr("node")}#{c.Attr("ver")}'/></iq>");
        Assert.Equal("result", atNode.Type);
    }

    [Fact]
    public void Xep0115_ver_matches_the_example_of_section_5_2()
    {
        var info = new DiscoInfo([new DiscoIdentity("client", "pc", "Exodus 0.9.1")],
            ["http://jabber.org/protocol/caps", "http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items", "http://jabber.org/protocol/muc"], []);
        Assert.Equal("QgayPKawpkPSDYmwT/WM94uAlu0=", Ver(info));
    }

    /// <summary>An independent implementation of XEP-0115 §5.1 (checked against the XEP's own example).</summary>
    private static string Ver(DiscoInfo info)
    {
        var s = new System.Text.StringBuilder();
        foreach (var i in info.Identities.OrderBy(i => i.Category, StringComparer.Ordinal).ThenBy(i => i.Type, StringComparer.Ordinal))
            s.Append($"{i.Category}/{i.Type}//{i.Name}<");
        foreach (var f in info.Features.Order(StringComparer.Ordinal)) s.Append(f).Append('<');
        string? FormType(Actors.Xmpp.Xml.Element x) =>
            x.Elements("field", "jabber:x:data").FirstOrDefault(f => f.Attr("var") == "FORM_TYPE")?.ChildText("value", "jabber:x:data");
        foreach (var form in info.Forms.OrderBy(FormType, StringComparer.Ordinal))
        {
            s.Append(FormType(form)).Append('<');
            foreach (var field in form.Elements("field", "jabber:x:data").Where(f => f.Attr("var") != "FORM_TYPE").OrderBy(f => f.Attr("var"), StringComparer.Ordinal))
            {
                s.Append(field.Attr("var")).Append('<');
                foreach (var v in field.Elements("value", "jabber:x:data").Select(v => v.Text).Order(StringComparer.Ordinal)) s.Append(v).Append('<');
            }
        }
        return Convert.ToBase64String(System.Security.Cryptography.SHA1.HashData(System.Text.Encoding.UTF8.GetBytes(s.ToString())));
    }

    [Fact]
    public async Task Xep0050_commands_are_listed_for_admins_only()
    {
        await using var admin = await _server.LoginAsync("admin");
        await using var alice = await _server.LoginAsync("alice");
        Assert.True(await admin.IsFeatureAdvertised("http://jabber.org/protocol/commands"));
        var adminItems = await admin.Query("<iq type='get' id='c1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'/></iq>");
        Assert.True(XmppTestClient.Matches(XmppTestClient.Parse(
            "<iq type='result'><query xmlns='http://jabber.org/protocol/disco#items'>" +
            "<item node='http://jabber.org/protocol/admin#add-user'/><item node='http://jabber.org/protocol/admin#delete-user'/>" +
            "<item node='http://jabber.org/protocol/admin#get-online-users-list'/><item node='http://jabber.org/protocol/admin#announce'/>" +
            "</query></iq>"), adminItems), adminItems.ToString());
        var aliceItems = await alice.Query("<iq type='get' id='c2' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'/></iq>");
        Assert.Empty(aliceItems.Child("query", Ns.DiscoItems)!.Elements());
        await alice.Sends("<iq type='set' id='c3' to='localhost'><command xmlns='http://jabber.org/protocol/commands' node='http://jabber.org/protocol/admin#announce' action='execute'/></iq>");
        await alice.Receives("<iq type='error' id='c3'><error><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    }

    [Fact]
    public async Task Xep0133_add_user_in_two_stages_then_the_user_logs_in()
    {
        await using var admin = await _server.LoginAsync("admin");
        const string node = "http://jabber.org/protocol/admin#add-user";
        var form = await admin.Query($"<iq type='set' id='a1' to='localhost'><command xmlns='http://jabber.org/protocol/commands' node='{node}' action='execute'/></iq>");
        Assert.True(XmppTestClient.Matches(XmppTestClient.Parse(
            "<iq type='result'><command xmlns='http://jabber.org/protocol/commands' status='executing'><x xmlns='jabber:x:data' type='form'>" +
            "<field var='accountjid'/><field var='password'/></x></command></iq>"), form), form.ToString());
        var session = form.Child("command", AdHoc.Ns)!.Attr("sessionid");
        await admin.Sends($"<iq type='set' id='a2' to='localhost'><command xmlns='http://jabber.org/protocol/commands' node='{node}' sessionid='{session}'>" +
                          "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/admin</value></field>" +
                          "<field var='accountjid'><value>carol@localhost</value></field><field var='password'><value>pw</value></field>" +
                          "<field var='password-verify'><value>pw</value></field></x></command></iq>");
        await admin.Receives("<iq type='result' id='a2'><command xmlns='http://jabber.org/protocol/commands' status='completed'/></iq>");
        await using var carol = await _server.LoginAsync("carol");
        Assert.Equal("carol@localhost/test", carol.Jid.ToString());
    }

    [Fact]
    public async Task Xep0133_delete_user_closes_its_sessions_and_a_recreated_account_starts_empty()
    {
        await using var admin = await _server.LoginAsync("admin");
        await using var bob = await _server.LoginAsync("bob");
        await bob.Sends("<iq type='set' id='r1'><query xmlns='jabber:iq:roster'><item jid='alice@localhost' name='Alice'/></query></iq>");
        await bob.Receives("<iq type='result' id='r1'/>");
        await bob.Sends("<iq type='set' id='v1'><vCard xmlns='vcard-temp'><FN>Bob</FN></vCard></iq>");
        await bob.Receives("<iq type='result' id='v1'/>");

        const string node = "http://jabber.org/protocol/admin#delete-user";
        var form = await admin.Query($"<iq type='set' id='d1' to='localhost'><command xmlns='http://jabber.org/protocol/commands' node='{node}' action='execute'/></iq>");
        var session = form.Child("command", AdHoc.Ns)!.Attr("sessionid");
        await admin.Sends($"<iq type='set' id='d2' to='localhost'><command xmlns='http://jabber.org/protocol/commands' node='{node}' sessionid='{session}'>" +
                          "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/admin</value></field>" +
                          "<field var='accountjids'><value>bob@localhost</value></field></x></command></iq>");
        await admin.Receives("<iq type='result' id='d2'><command xmlns='http://jabber.org/protocol/commands' status='completed'/></iq>");
        await bob.Closed.WaitAsync(TimeSpan.FromSeconds(10)); // the deleted account's stream ends

        var accounts = (Actors.Xmpp.Server.Accounts.IAccountStore)_server.Services.GetService(typeof(Actors.Xmpp.Server.Accounts.IAccountStore))!;
        Assert.True(await accounts.AddAsync(Jid.Parse("bob@localhost"), "pw"));
        await using var fresh = await _server.LoginAsync("bob");
        await fresh.Sends("<iq type='get' id='r2'><query xmlns='jabber:iq:roster'/></iq>");
        var roster = await fresh.Receives("<iq type='result' id='r2'/>");
        Assert.Empty(roster.Child("query", "jabber:iq:roster")!.Elements());
        await fresh.Sends("<iq type='get' id='v2'><vCard xmlns='vcard-temp'/></iq>");
        var card = await fresh.Receives("<iq type='result' id='v2'/>");
        Assert.Empty(card.Child("vCard", "vcard-temp")!.Elements());
    }

    [Fact]
    public async Task Xep0133_online_users_and_announce()
    {
        await using var admin = await _server.LoginAsync("admin");
        await using var bob = await _server.LoginAsync("bob");
        var list = await admin.Query("<iq type='set' id='o1' to='localhost'><command xmlns='http://jabber.org/protocol/commands' node='http://jabber.org/protocol/admin#get-online-users-list' action='execute'/></iq>");
        Assert.True(XmppTestClient.Matches(XmppTestClient.Parse(
            "<iq type='result'><command xmlns='http://jabber.org/protocol/commands' status='completed'><x xmlns='jabber:x:data' type='result'>" +
            "<field var='onlineuserjids'><value>bob@localhost</value></field></x></command></iq>"), list), list.ToString());
        await admin.Sends("<iq type='set' id='o2' to='localhost'><command xmlns='http://jabber.org/protocol/commands' node='http://jabber.org/protocol/admin#announce'>" +
                          "<x xmlns='jabber:x:data' type='submit'><field var='announcement'><value>maintenance at noon</value></field></x></command></iq>");
        await admin.Receives("<iq type='result' id='o2'><command xmlns='http://jabber.org/protocol/commands' status='completed'/></iq>");
        await bob.Receives("<message type='headline' from='localhost'><body>maintenance at noon</body></message>");
    }
}

/// <summary>XEP-0199 server-initiated pings: a client that answers stays, a silent one is disconnected.</summary>
public sealed class ServerPingSpec
{
    [Fact]
    public async Task Idle_client_that_answers_stays_and_silent_one_is_disconnected()
    {
        await using var server = await TestServer.StartAsync(["ping"], new Dictionary<string, string?>
        {
            ["Xmpp:Plugins:ping:IdleSeconds"] = "1",
            ["Xmpp:Plugins:ping:TimeoutSeconds"] = "1",
        });
        await using var alice = await server.LoginAsync("alice");
        await using var bob = await server.LoginAsync("bob");
        var ping = await alice.Receives("<iq type='get' from='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
        await alice.Sends($"<iq type='result' id='{ping.Id}' to='localhost'/>");
        // alice is not silent while bob is being dropped (silent for the idle second again, she would be pinged again
        // and dropped for not answering while the test waits for bob)
        using var stopTalking = new CancellationTokenSource();
        var talking = Task.Run(async () =>
        {
            for (var n = 0; !stopTalking.IsCancellationRequested; n++)
            {
                await alice.Sends($"<iq type='get' id='talk{n}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
                await Task.Delay(250);
            }
        });
        await bob.Receives("<iq type='get' from='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"); // and never answers
        await bob.Receives("<error xmlns='http://etherx.jabber.org/streams'><connection-timeout xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></error>");
        await bob.Closed.WaitAsync(TimeSpan.FromSeconds(10));
        await stopTalking.CancelAsync();
        await talking;
        Assert.False(alice.Closed.IsCompleted);
        await alice.Sends("<iq type='get' id='still' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
        await alice.Receives("<iq type='result' id='still'/>");
        // the plugin's status command, through the admin socket
        var status = await Operator.SocketAsync(server, new System.Text.Json.Nodes.JsonObject { ["cmd"] = "plugin-command", ["plugin"] = "ping", ["command"] = "status" });
        Assert.Equal("server pings after 1 s of silence", (string?)status["message"]);
        Assert.Equal("1", (string?)status["fields"]!["timeout-seconds"]![0]);
    }
}
