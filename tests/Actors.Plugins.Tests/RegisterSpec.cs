using Actors.Xmpp;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Tests;

/// <summary>XEP-0077 in-band registration (the 'register' plugin), over TCP: what the plugin adds to what
/// tests/Actors.Xmpp.IntegrationTests/RegistrationTests covers (the data form, the per-address limit, the server-addressed
/// forms, unload and reload, its options section).</summary>
public sealed class RegisterSpec : IAsyncLifetime
{
    private const string DataNs = "jabber:x:data";
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    /// <param name="exemptLoopback">Xmpp:Limits:ExemptLoopback: the test clients are loopback clients, so the throttle
    /// applies to them only without the exemption (by default, only when there is a throttle).</param>
    /// <param name="throttleKey">the Xmpp:Registration key that sets the throttle (the earlier per-minute key too)</param>
    private static Task<TestServer> StartAsync(int maxPerAddress = 0, bool? exemptLoopback = null, string throttleKey = "MaxPerAddress") =>
        TestServer.StartAsync(TestServer.RepositoryPlugins, new Dictionary<string, string?>
        {
            ["Xmpp:Registration:Enabled"] = "true",
            ["Xmpp:Registration:" + throttleKey] = maxPerAddress.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Xmpp:Limits:ExemptLoopback"] = exemptLoopback ?? maxPerAddress == 0 ? "true" : "false",
        });

    /// <summary>The seconds a throttled registration is told to wait ("try again in N s").</summary>
    private static int RetryAfterSeconds(Element error)
    {
        var text = error.Child("error", Ns.Client)?.ChildText("text", Ns.StanzaErrors) ?? "";
        var match = System.Text.RegularExpressions.Regex.Match(text, @"try again in (\d+) s");
        Assert.True(match.Success, $"no retry time in '{text}'");
        return int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    private static string Condition(Element error) =>
        error.Child("error", Ns.Client)?.Elements().FirstOrDefault(e => e.Namespace == Ns.StanzaErrors)?.Name ?? "(none)";

    private static string Form(string username, string password, string formType = Ns.Register) =>
        $"<x xmlns='{DataNs}' type='submit'><field var='FORM_TYPE' type='hidden'><value>{formType}</value></field>" +
        $"<field var='username'><value>{username}</value></field><field var='password'><value>{password}</value></field></x>";

    private static async Task<XmppTestClient> UnauthenticatedAsync(TestServer server)
    {
        var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        return c;
    }

    private static async Task<Element> RegisterAsync(TestServer server, string user, string password = "long-enough")
    {
        await using var c = await UnauthenticatedAsync(server);
        return await c.IqAsync("set", $"<query xmlns='{Ns.Register}'><username>{user}</username><password>{password}</password></query>");
    }

    [Fact]
    public async Task Xep0077_4_the_fields_come_also_as_a_data_form_and_a_submitted_form_registers()
    {
        await using (var c = await UnauthenticatedAsync(_server))
        {
            var query = (await c.IqAsync("get", $"<query xmlns='{Ns.Register}'/>")).Child("query", Ns.Register)!;
            Assert.NotNull(query.Child("instructions", Ns.Register)); // §3.1
            Assert.NotNull(query.Child("username", Ns.Register));
            Assert.NotNull(query.Child("password", Ns.Register));
            // §4: FORM_TYPE jabber:iq:register, a field for each iq:register field
            var form = query.Child("x", DataNs)!;
            Assert.Equal("form", form.Attr("type"));
            var fields = form.Elements("field", DataNs).ToDictionary(f => f.Attr("var")!);
            Assert.Equal("hidden", fields["FORM_TYPE"].Attr("type"));
            Assert.Equal(Ns.Register, fields["FORM_TYPE"].ChildText("value"));
            Assert.Equal("text-single", fields["username"].Attr("type"));
            Assert.Equal("text-private", fields["password"].Attr("type"));
            Assert.NotNull(fields["username"].Child("required", DataNs));
            Assert.NotNull(fields["password"].Child("required", DataNs));

            Assert.Equal("result", (await c.IqAsync("set", $"<query xmlns='{Ns.Register}'>{Form("by-form", "form-password")}</query>")).Type);
        }
        await using var login = await XmppTestClient.LoginAsync(_server.C2sEndPoint, "by-form", "form-password");
        Assert.Equal("by-form@localhost", login.Jid.Bare.ToString());
    }

    [Fact]
    public async Task Xep0077_4_a_form_with_the_fields_beside_it_or_of_another_FORM_TYPE_is_bad_request_and_creates_nothing()
    {
        await using var c = await UnauthenticatedAsync(_server);
        var both = await c.IqAsync("set", $"<query xmlns='{Ns.Register}'><username>mixed</username><password>long-enough</password>{Form("mixed", "long-enough")}</query>");
        Assert.Equal("bad-request", Condition(both));
        var other = await c.IqAsync("set", $"<query xmlns='{Ns.Register}'>{Form("other", "long-enough", "urn:example:other")}</query>");
        Assert.Equal("bad-request", Condition(other));
        // §3.1: a form without every required field is not-acceptable, as the plain fields are
        var partial = await c.IqAsync("set", $"<query xmlns='{Ns.Register}'><x xmlns='{DataNs}' type='submit'>" +
            $"<field var='FORM_TYPE'><value>{Ns.Register}</value></field><field var='username'><value>partial</value></field></x></query>");
        Assert.Equal("not-acceptable", Condition(partial));
        Assert.False(_server.Accounts.Exists(Jid.Create("mixed", TestServer.Domain)));
        Assert.False(_server.Accounts.Exists(Jid.Create("other", TestServer.Domain)));
        Assert.False(_server.Accounts.Exists(Jid.Create("partial", TestServer.Domain)));
    }

    [Fact]
    public async Task Xep0077_3_1_1_accounts_per_address_are_limited_with_not_acceptable_of_type_wait_and_refusals_do_not_count()
    {
        await using var server = await StartAsync(maxPerAddress: 2);
        Assert.Equal("conflict", Condition(await RegisterAsync(server, "alice"))); // not created: not counted
        Assert.Equal("result", (await RegisterAsync(server, "quota-1")).Type);
        Assert.Equal("result", (await RegisterAsync(server, "quota-2")).Type);
        var third = await RegisterAsync(server, "quota-3");
        Assert.Equal("not-acceptable", Condition(third));
        Assert.Equal("wait", third.Child("error", Ns.Client)!.Attr("type"));
        Assert.False(server.Accounts.Exists(Jid.Create("quota-3", TestServer.Domain)));
        // the default window is ejabberd's registration_timeout, 600 s, counted from the first of the two
        Assert.InRange(RetryAfterSeconds(third), 540, 600);
    }

    [Fact]
    public async Task Xep0077_3_1_1_the_earlier_per_minute_setting_still_throttles_within_a_minute()
    {
        await using var server = await StartAsync(maxPerAddress: 1, throttleKey: "MaxPerAddressPerMinute");
        Assert.Equal("result", (await RegisterAsync(server, "minute-1")).Type);
        var second = await RegisterAsync(server, "minute-2");
        Assert.Equal("not-acceptable", Condition(second));
        Assert.InRange(RetryAfterSeconds(second), 1, 60);
    }

    [Fact]
    public async Task Xep0077_3_1_1_loopback_clients_are_not_limited_while_the_servers_per_address_limits_exempt_them()
    {
        await using var server = await StartAsync(maxPerAddress: 1, exemptLoopback: true);
        for (var i = 0; i < 3; i++) Assert.Equal("result", (await RegisterAsync(server, "local-" + i)).Type);
    }

    [Fact]
    public async Task Xep0077_3_1_and_3_3_the_account_may_address_the_server_for_its_registration_and_password_change()
    {
        await _server.AddUserAsync("to-server");
        await using (var c = await _server.LoginAsync("to-server"))
        {
            var info = await c.IqAsync("get", $"<query xmlns='{Ns.Register}'/>", to: TestServer.Domain);
            Assert.NotNull(info.Child("query", Ns.Register)?.Child("registered", Ns.Register));
            Assert.Equal("to-server", info.Child("query", Ns.Register)?.ChildText("username"));
            var change = await c.IqAsync("set", $"<query xmlns='{Ns.Register}'><username>to-server</username><password>changed-pw</password></query>", to: TestServer.Domain);
            Assert.Equal("result", change.Type);
            // another account's bare JID is not the requester's registration
            var other = await c.IqAsync("get", $"<query xmlns='{Ns.Register}'/>", to: "bob@localhost");
            Assert.Equal("forbidden", Condition(other));
        }
        await using var login = await XmppTestClient.LoginAsync(_server.C2sEndPoint, "to-server", "changed-pw");
        Assert.Equal("to-server@localhost", login.Jid.Bare.ToString());
    }

    [Fact]
    public async Task Xep0077_3_3_a_refused_password_change_keeps_the_password_and_its_error_does_not_carry_the_request_back()
    {
        await _server.AddUserAsync("keeps-pw", "original-pw");
        await using (var c = await XmppTestClient.LoginAsync(_server.C2sEndPoint, "keeps-pw", "original-pw"))
        {
            var empty = await c.IqAsync("set", $"<query xmlns='{Ns.Register}'><username>keeps-pw</username><password/></query>");
            Assert.Equal("bad-request", Condition(empty)); // §3.3: an empty password never replaces the one on file
            Assert.Null(empty.Child("query", Ns.Register));
            var tooShort = await c.IqAsync("set", $"<query xmlns='{Ns.Register}'><username>keeps-pw</username><password>abc</password></query>");
            Assert.Equal("not-acceptable", Condition(tooShort));
            Assert.Null(tooShort.Child("query", Ns.Register));
            Assert.DoesNotContain("abc", tooShort.ToString());
        }
        await using var login = await XmppTestClient.LoginAsync(_server.C2sEndPoint, "keeps-pw", "original-pw");
        Assert.Equal("keeps-pw@localhost", login.Jid.Bare.ToString());
    }

    [Fact]
    public async Task Xep0077_8_unloading_withdraws_the_feature_and_registration_is_service_unavailable_until_the_plugin_is_loaded_again()
    {
        await using (var c = await XmppTestClient.ConnectAsync(_server.C2sEndPoint))
        {
            Assert.NotNull((await c.OpenStreamAsync()).Child("register", Ns.RegisterFeature));
            Assert.Equal("result", (await c.IqAsync("get", $"<query xmlns='{Ns.Register}'/>")).Type);
        }
        await using (var alice = await _server.LoginAsync("alice"))
            Assert.True(await alice.IsFeatureAdvertised(Ns.Register));

        var unload = await _server.Plugins.UnloadAsync("register");
        Assert.True(unload.Ok, unload.Message);
        Assert.True(TestServer.AllCollected(unload.Released), "the register plugin's load context is still alive after unload");
        await using (var c = await XmppTestClient.ConnectAsync(_server.C2sEndPoint))
        {
            Assert.Null((await c.OpenStreamAsync()).Child("register", Ns.RegisterFeature));
            Assert.Equal("service-unavailable", Condition(await c.IqAsync("get", $"<query xmlns='{Ns.Register}'/>"))); // §3.1
            Assert.Equal("service-unavailable", Condition(await c.IqAsync("set",
                $"<query xmlns='{Ns.Register}'><username>while-unloaded</username><password>long-enough</password></query>")));
        }
        Assert.False(_server.Accounts.Exists(Jid.Create("while-unloaded", TestServer.Domain)));
        await using (var alice = await _server.LoginAsync("alice"))
        {
            Assert.False(await alice.IsFeatureAdvertised(Ns.Register));
            Assert.Equal("service-unavailable", Condition(await alice.IqAsync("get", $"<query xmlns='{Ns.Register}'/>")));
        }

        var load = await _server.Plugins.LoadAsync("register");
        Assert.True(load.Ok, load.Message);
        await using (var c = await XmppTestClient.ConnectAsync(_server.C2sEndPoint))
        {
            Assert.NotNull((await c.OpenStreamAsync()).Child("register", Ns.RegisterFeature));
            Assert.Equal("result", (await c.IqAsync("set",
                $"<query xmlns='{Ns.Register}'><username>after-reload</username><password>long-enough</password></query>")).Type);
        }
        Assert.True(_server.Accounts.Exists(Jid.Create("after-reload", TestServer.Domain)));
    }

    [Fact]
    public async Task Its_options_stay_under_Xmpp_Registration_and_are_validated_at_load()
    {
        await using var server = await TestServer.StartAsync(["register"], new Dictionary<string, string?>
        {
            ["Xmpp:Registration:Enabled"] = "true",
            ["Xmpp:Registration:MinPasswordLength"] = "-1",
        });
        var plugin = Assert.Single(server.Plugins.List(), p => p.Id == "register");
        Assert.Equal("failed", plugin.State);
        Assert.Equal("plugin 'register' 1.0.0: invalid options: Xmpp:Registration:MinPasswordLength: The field MinPasswordLength must be between 0 and 1024.", plugin.Error);
    }

    [Fact]
    public async Task Xep0077_3_1_MinPasswordLength_from_Xmpp_Registration_refuses_a_shorter_password_with_not_acceptable()
    {
        await using var server = await TestServer.StartAsync(["register"], new Dictionary<string, string?>
        {
            ["Xmpp:Registration:Enabled"] = "true",
            ["Xmpp:Registration:MinPasswordLength"] = "12",
        });
        Assert.Equal("not-acceptable", Condition(await RegisterAsync(server, "short-pw", "eleven-char")));
        Assert.Equal("result", (await RegisterAsync(server, "long-pw", "twelve-chars")).Type);
    }
}
