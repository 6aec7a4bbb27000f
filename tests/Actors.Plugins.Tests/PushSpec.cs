using Actors.Xmpp;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Tests;

/// <summary>XEP-0357 push notifications (the 'push' plugin), over TCP. The app server's push service is played by a
/// test client (its full JID is the registration's 'jid').</summary>
public sealed class PushSpec : IAsyncLifetime
{
    private const string PushNs = "urn:xmpp:push:0";
    private const string PubSubNs = "http://jabber.org/protocol/pubsub";
    private const string DataNs = "jabber:x:data";
    private const string Sm = "urn:xmpp:sm:3";
    private TestServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await TestServer.StartAsync(TestServer.RepositoryPlugins);
        foreach (var u in new[] { "push-user", "push-sender", "push-app" }) await _server.AddUserAsync(u);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static string PublishOptions(string secret) =>
        $"<x xmlns='{DataNs}' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>" +
        $"<field var='secret'><value>{secret}</value></field></x>";

    private static string? Field(Element form, string var) =>
        form.Elements("field", DataNs).FirstOrDefault(f => f.Attr("var") == var)?.ChildText("value", DataNs);

    private static bool IsNotification(Element e) => e.Name == "iq" && e.Type == "set" && e.Child("pubsub", PubSubNs) is not null;

    /// <summary>The notification's summary form, after checking the §7 shape.</summary>
    private static Element Summary(Element iq, string node)
    {
        Assert.Equal("push-user@localhost", iq.From); // from the user's bare JID
        var publish = iq.Child("pubsub", PubSubNs)!.Child("publish", PubSubNs)!;
        Assert.Equal(node, publish.Attr("node"));
        var form = publish.Child("item", PubSubNs)!.Child("notification", PushNs)!.Child("x", DataNs)!;
        Assert.Equal("urn:xmpp:push:summary", Field(form, "FORM_TYPE"));
        return form;
    }

    [Fact]
    public async Task Xep0357_5_the_account_advertises_push_and_enable_needs_a_jid_and_a_node()
    {
        await using var c = await _server.LoginAsync("push-user", "p5");
        Assert.True(await c.IsFeatureAdvertised(PushNs, "push-user@localhost"));
        var noNode = await c.Query($"<iq type='set' id='e0'><enable xmlns='{PushNs}' jid='push.example'/></iq>");
        Assert.Equal("error", noNode.Type);
        Assert.NotNull(noNode.Child("error", Ns.Client)?.Child("bad-request", Ns.StanzaErrors));
        var badForm = await c.Query($"<iq type='set' id='e1'><enable xmlns='{PushNs}' jid='push.example' node='n'><x xmlns='{DataNs}' type='submit'/></enable></iq>");
        Assert.Equal("error", badForm.Type);
        Assert.Equal("result", (await c.Query($"<iq type='set' id='e2'><enable xmlns='{PushNs}' jid='push.example' node='n'/></iq>")).Type);
        Assert.Equal("result", (await c.Query($"<iq type='set' id='d1'><disable xmlns='{PushNs}' jid='push.example'/></iq>")).Type);
    }

    [Fact]
    public async Task Xep0357_7_a_message_to_an_offline_account_publishes_a_summary_to_the_push_service_and_a_cancel_error_disables_it()
    {
        await using var app = await _server.LoginAsync("push-app", "service");
        await using (var user = await _server.LoginAsync("push-user", "phone"))
        {
            var enable = await user.Query(
                $"<iq type='set' id='en'><enable xmlns='{PushNs}' jid='{app.Jid}' node='node-7'>{PublishOptions("s3cret")}</enable></iq>");
            Assert.Equal("result", enable.Type);
        }
        await using var sender = await _server.LoginAsync("push-sender", "desk");
        await sender.Sends("<message to='push-user@localhost' type='chat' id='o1'><body>are you there?</body></message>");

        var first = await app.Receives(IsNotification, "a push notification");
        var form = Summary(first, "node-7");
        Assert.Equal("1", Field(form, "message-count"));
        Assert.Null(Field(form, "last-message-body")); // not by default: the push network would read it
        var options = first.Child("pubsub", PubSubNs)!.Child("publish-options", PubSubNs)!.Child("x", DataNs)!;
        Assert.Equal("s3cret", Field(options, "secret")); // §5: the client's publish-options go with each publish
        await app.Sends($"<iq type='result' id='{first.Id}' to='{first.From}'/>");

        // a chat state alone wakes nobody; the next message counts two
        await sender.Sends("<message to='push-user@localhost' type='chat' id='cs'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>");
        await sender.Sends("<message to='push-user@localhost' type='chat' id='o2'><body>hello?</body></message>");
        var second = await app.Receives(IsNotification, "a second push notification");
        Assert.Equal("2", Field(Summary(second, "node-7"), "message-count"));

        // the app server no longer knows the node: the registration goes, and no more notifications come
        await app.Sends($"<iq type='error' id='{second.Id}' to='{second.From}'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
        await Task.Delay(1000);
        await sender.Sends("<message to='push-user@localhost' type='chat' id='o3'><body>still?</body></message>");
        await sender.PingServerAsync();
        await Assert.ThrowsAsync<TimeoutException>(async () =>
        {
            app.Timeout = TimeSpan.FromSeconds(2);
            await app.Receives(IsNotification, "no notification");
        });
    }

    [Fact]
    public async Task Xep0357_a_session_waiting_for_a_xep0198_resumption_wakes_its_device_for_a_message()
    {
        await using var app = await _server.LoginAsync("push-app", "service2");
        var user = await XmppTestClient.LoginAsync(_server, "push-user", "sm-phone");
        await user.SendAsync($"<enable xmlns='{Sm}' resume='true'/>");
        Assert.True((await user.NextAsync()).Is("enabled", Sm));
        await user.SendAsync("<presence/>");
        Assert.Equal("result", (await user.Query($"<iq type='set' id='en'><enable xmlns='{PushNs}' jid='{app.Jid}' node='node-sm'/></iq>")).Type);
        user.Abort(); // the connection dies: the session waits detached for a resumption
        await user.DisposeAsync();
        await Task.Delay(500);

        await using var sender = await _server.LoginAsync("push-sender", "desk2");
        await sender.Sends("<message to='push-user@localhost/sm-phone' type='chat' id='h1'><body>wake up</body></message>");
        var notification = await app.Receives(IsNotification, "a push notification for the detached session");
        Assert.Equal("1", Field(Summary(notification, "node-sm"), "message-count"));
        await app.Sends($"<iq type='result' id='{notification.Id}' to='{notification.From}'/>");
    }
}
