using Actors.Xmpp.Plugins;
using Actors.Xmpp.Server.PluginStores;
using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Xml;
using Microsoft.Extensions.DependencyInjection;

namespace Actors.Xmpp.IntegrationTests;

/// <summary>XEP-0198 stream management over TCP: the feature, enable, acknowledgements, resumption after the
/// connection died, and what becomes of unacknowledged stanzas when a session ends.</summary>
public sealed class StreamManagementTests
{
    private const string Sm = "urn:xmpp:sm:3";

    private static TestServer Server(params (string Key, string Value)[] extra)
    {
        var d = new Dictionary<string, string?>
        {
            ["Xmpp:Tls:Required"] = "false",
            ["Xmpp:Auth:AllowPlainWithoutTls"] = "true",
        };
        foreach (var (k, v) in extra) d[k] = v;
        return new TestServer(d);
    }

    private static async Task<(XmppTestClient Client, Element Enabled)> LoginWithSmAsync(TestServer server, string user,
        string resume = " resume='true'", string resource = "phone", bool available = true)
    {
        var c = await XmppTestClient.LoginAsync(server, user, resource);
        await c.SendAsync($"<enable xmlns='{Sm}'{resume}/>");
        var enabled = await c.NextAsync();
        Assert.True(enabled.Is("enabled", Sm), $"expected <enabled/>, got {enabled}");
        if (available)
        {
            await c.SendAsync("<presence/>");
            await c.NextMatchingAsync(e => e.Name == "presence" && e.From == c.Jid.ToString());
        }
        return (c, enabled);
    }

    /// <summary>The next element that is not an &lt;r/&gt; (the server asks for acknowledgements as it sends).</summary>
    private static Task<Element> NextStanzaAsync(XmppTestClient c) => c.NextMatchingAsync(e => !e.Is("r", Sm));

    private static Task<Element> NextMessageAsync(XmppTestClient c) => c.NextMatchingAsync(e => e.Name == "message");

    /// <summary>Asks for the server's count and returns it (other elements before the answer are skipped).</summary>
    private static async Task<uint> HandledAsync(XmppTestClient c)
    {
        await c.SendAsync($"<r xmlns='{Sm}'/>");
        var a = await c.NextMatchingAsync(e => e.Is("a", Sm));
        return uint.Parse(a.Attr("h")!, System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task<IReadOnlyList<ArchiveItem>> StoredOfflineAsync(TestServer server, string user) =>
        (await PluginStores.Of(server.Services.GetRequiredService<Akka.Actor.ActorSystem>()).For("offline").Archive("messages")
            .ReadAsync(Jid.Create(user, TestServer.Domain), 0, int.MaxValue)).Items;

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, int seconds = 15)
    {
        var until = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > until) throw new Xunit.Sdk.XunitException("timed out waiting until " + what);
            await Task.Delay(100);
        }
    }

    private static Task WaitForSessionGoneAsync(TestServer server, Jid jid) =>
        WaitUntilAsync(() => Task.FromResult(server.Services.GetRequiredService<ISessionRegistry>().Find(jid) is null), $"{jid} is gone");

    /// <summary>Authenticates on a new connection and sends &lt;resume/&gt;; returns the client and the answer.</summary>
    private static async Task<(XmppTestClient Client, Element Answer)> ResumeAsync(TestServer server, string user, string previd, uint h)
    {
        var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        c.Name = user + "-resumed";
        await c.OpenStreamAsync();
        var features = await c.AuthPlainAsync(user);
        Assert.NotNull(features.Child("sm", Sm));
        await c.SendAsync($"<resume xmlns='{Sm}' previd='{previd}' h='{h}'/>");
        return (c, await c.NextAsync());
    }

    [Fact]
    public async Task Xep0198_2_the_sm_feature_is_offered_with_bind_after_authentication_only()
    {
        await using var server = Server();
        await server.AddUserAsync("sm-feature");
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        var before = await c.OpenStreamAsync();
        Assert.Null(before.Child("sm", Sm));
        var after = await c.AuthPlainAsync("sm-feature");
        Assert.NotNull(after.Child("bind", Ns.Bind));
        Assert.NotNull(after.Child("sm", Sm));
    }

    [Fact]
    public async Task Xep0198_3_enable_before_binding_is_refused_with_failed_unexpected_request_and_binding_still_works()
    {
        await using var server = Server();
        await server.AddUserAsync("sm-early");
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        await c.AuthPlainAsync("sm-early");
        await c.SendAsync($"<enable xmlns='{Sm}'/>");
        var failed = await c.NextAsync();
        Assert.True(failed.Is("failed", Sm), failed.ToString());
        Assert.NotNull(failed.Child("unexpected-request", Ns.StanzaErrors));
        await c.BindAsync("x");
        await c.PingServerAsync();
    }

    [Fact]
    public async Task Xep0198_3_enabled_carries_id_resume_max_and_location_and_a_second_enable_fails()
    {
        await using var server = Server(("Xmpp:Sessions:StreamResumptionSeconds", "120"), ("Xmpp:Sessions:ResumeLocation", "127.0.0.1:5222"));
        await server.AddUserAsync("sm-enable");
        var (c, enabled) = await LoginWithSmAsync(server, "sm-enable", " resume='true' max='600'", available: false);
        await using var _ = c;
        Assert.Matches("^[0-9a-f]{32}$", enabled.Attr("id"));
        Assert.Equal("true", enabled.Attr("resume"));
        Assert.Equal("120", enabled.Attr("max")); // the server's maximum wins over a longer preference
        Assert.Equal("127.0.0.1:5222", enabled.Attr("location"));
        await c.SendAsync($"<enable xmlns='{Sm}' resume='true'/>");
        var failed = await c.NextAsync();
        Assert.True(failed.Is("failed", Sm), failed.ToString());
        Assert.NotNull(failed.Child("unexpected-request", Ns.StanzaErrors));

        // a shorter 'max' from the client is taken; without 'resume' there is no id to resume with
        var (c2, enabled2) = await LoginWithSmAsync(server, "sm-enable", " resume='1' max='30'", resource: "two", available: false);
        await using var __ = c2;
        Assert.Equal("30", enabled2.Attr("max"));
        var (c3, enabled3) = await LoginWithSmAsync(server, "sm-enable", "", resource: "three", available: false);
        await using var ___ = c3;
        Assert.Null(enabled3.Attr("id"));
        Assert.Null(enabled3.Attr("resume"));
    }

    [Fact]
    public async Task Xep0198_4_r_is_answered_with_the_number_of_stanzas_handled_since_enable()
    {
        await using var server = Server();
        await server.AddUserAsync("sm-count");
        var (c, _) = await LoginWithSmAsync(server, "sm-count", "", available: false);
        await using var __ = c;
        Assert.Equal(0u, await HandledAsync(c));
        await c.PingServerAsync();
        await c.PingServerAsync();
        // a stanza the server answers with an error counts too (it was received and handled)
        await c.SendAsync("<iq type='get' id='bad'/>");
        await c.NextMatchingAsync(e => e.Name == "iq" && e.Id == "bad");
        Assert.Equal(3u, await HandledAsync(c));
    }

    [Fact]
    public async Task Xep0198_4_the_server_requests_acks_for_what_it_sends_and_an_ack_too_high_ends_the_stream()
    {
        await using var server = Server();
        await server.AddUserAsync("sm-acks");
        var (c, _) = await LoginWithSmAsync(server, "sm-acks", "", available: false);
        await using var __ = c;
        var id = c.NextId();
        await c.SendAsync($"<iq type='get' id='{id}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
        var result = await c.NextAsync();
        Assert.Equal(id, result.Id);
        var r = await c.NextAsync();
        Assert.True(r.Is("r", Sm), $"expected <r/> after a stanza, got {r}");
        await c.SendAsync($"<a xmlns='{Sm}' h='1'/>");
        await c.PingServerAsync(); // the second stanza sent; acknowledging 3 is more than was sent
        await c.SendAsync($"<a xmlns='{Sm}' h='3'/>");
        var error = await c.ExpectStreamErrorAsync("undefined-condition", skipStanzas: true);
        var tooHigh = error.Child("handled-count-too-high", Sm);
        Assert.NotNull(tooHigh);
        Assert.Equal("3", tooHigh!.Attr("h"));
        Assert.Equal("2", tooHigh.Attr("send-count"));
    }

    [Fact]
    public async Task Xep0198_5_after_the_connection_died_resume_retransmits_what_the_client_did_not_acknowledge()
    {
        await using var server = Server();
        await server.AddUserAsync("sm-res-a");
        await server.AddUserAsync("sm-res-b");
        var (a, enabled) = await LoginWithSmAsync(server, "sm-res-a");
        var fullJid = a.Jid;
        await using var b = await XmppTestClient.LoginAsync(server, "sm-res-b");
        await b.SendAsync($"<message to='{fullJid}' type='chat' id='m1'><body>one</body></message>");
        await b.SendAsync($"<message to='{fullJid}' type='chat' id='m2'><body>two</body></message>");
        Assert.Equal("m1", (await NextMessageAsync(a)).Id);
        Assert.Equal("m2", (await NextMessageAsync(a)).Id);
        var handledBefore = await HandledAsync(a); // enable is not counted; the presence is
        Assert.Equal(1u, handledBefore);
        // the client processed the presence reflection and m1 only, then its connection dies
        await a.SendAsync($"<a xmlns='{Sm}' h='2'/>");
        a.Abort();
        await a.DisposeAsync();

        // the session is detached, still registered; a message meanwhile waits in it
        await Task.Delay(300);
        Assert.NotNull(server.Services.GetRequiredService<ISessionRegistry>().Find(fullJid));
        await b.SendAsync($"<message to='{fullJid}' type='chat' id='m3'><body>three</body></message>");
        await b.PingServerAsync();

        var (c, resumed) = await ResumeAsync(server, "sm-res-a", enabled.Attr("id")!, 2);
        await using var _ = c;
        Assert.True(resumed.Is("resumed", Sm), $"expected <resumed/>, got {resumed}");
        Assert.Equal(enabled.Attr("id"), resumed.Attr("previd"));
        Assert.Equal("1", resumed.Attr("h")); // the server handled the initial presence (not enable, r or a)
        Assert.Equal("m2", (await NextMessageAsync(c)).Id);
        Assert.Equal("m3", (await NextMessageAsync(c)).Id);
        // the stream is bound to the same full JID, and counts on
        await b.SendAsync($"<message to='{fullJid}' type='chat' id='m4'><body>four</body></message>");
        Assert.Equal("m4", (await NextMessageAsync(c)).Id);
        Assert.Equal(1u, await HandledAsync(c));
        await c.PingServerAsync();
        Assert.Equal(2u, await HandledAsync(c));
    }

    [Fact]
    public async Task Xep0198_5_resume_with_an_unknown_previd_fails_item_not_found_and_the_client_binds_instead()
    {
        await using var server = Server();
        await server.AddUserAsync("sm-unknown");
        await server.AddUserAsync("sm-other");
        var (c, failed) = await ResumeAsync(server, "sm-unknown", new string('a', 32), 0);
        await using var _ = c;
        Assert.True(failed.Is("failed", Sm), failed.ToString());
        Assert.NotNull(failed.Child("item-not-found", Ns.StanzaErrors));
        await c.BindAsync("bound");
        await c.PingServerAsync();

        // another account's session cannot be resumed
        var (other, enabled) = await LoginWithSmAsync(server, "sm-other");
        other.Abort();
        await other.DisposeAsync();
        var (thief, answer) = await ResumeAsync(server, "sm-unknown", enabled.Attr("id")!, 0);
        await using var __ = thief;
        Assert.True(answer.Is("failed", Sm), answer.ToString());
        Assert.NotNull(answer.Child("item-not-found", Ns.StanzaErrors));
    }

    [Fact]
    public async Task Xep0198_5_resume_with_h_above_what_was_sent_ends_the_stream_with_handled_count_too_high()
    {
        await using var server = Server();
        await server.AddUserAsync("sm-high");
        var (a, enabled) = await LoginWithSmAsync(server, "sm-high", available: false);
        a.Abort();
        await a.DisposeAsync();
        var (c, error) = await ResumeAsync(server, "sm-high", enabled.Attr("id")!, 5);
        await using var __ = c;
        Assert.True(error.Is("error", Ns.Streams), error.ToString());
        Assert.NotNull(error.Child("undefined-condition", Ns.StreamErrors));
        var tooHigh = error.Child("handled-count-too-high", Sm);
        Assert.Equal("5", tooHigh?.Attr("h"));
        Assert.Equal("0", tooHigh?.Attr("send-count"));
        Assert.IsType<XmppTestClient.StreamCloseEvent>(await c.NextEventAsync());
        await c.ExpectClosedAsync();
    }

    [Fact]
    public async Task Xep0198_5_when_the_resumption_window_elapses_unacknowledged_messages_go_to_offline_storage_once()
    {
        await using var server = Server();
        await server.AddUserAsync("sm-exp-a");
        await server.AddUserAsync("sm-exp-b");
        var (a, _) = await LoginWithSmAsync(server, "sm-exp-a", " resume='true' max='1'");
        var fullJid = a.Jid;
        await using var b = await XmppTestClient.LoginAsync(server, "sm-exp-b");
        await b.SendAsync($"<message to='{fullJid}' type='chat' id='lost'><body>unacknowledged</body></message>");
        Assert.Equal("lost", (await NextMessageAsync(a)).Id);
        a.Abort(); // never acknowledged
        await a.DisposeAsync();
        await WaitForSessionGoneAsync(server, fullJid);
        await WaitUntilAsync(async () => (await StoredOfflineAsync(server, "sm-exp-a")).Count == 1, "the message is stored offline");
        await b.ExpectNoBounceAsync(); // stored, not bounced

        // the next login gets it once, with its delay stamp
        await using var again = await XmppTestClient.LoginAsync(server, "sm-exp-a", "desk", available: true);
        var offline = await NextMessageAsync(again);
        Assert.Equal("lost", offline.Id);
        Assert.NotNull(offline.Child("delay", Ns.Delay));
        await again.ExpectNoBounceAsync();
        await WaitUntilAsync(async () => (await StoredOfflineAsync(server, "sm-exp-a")).Count == 0, "the mailbox is empty");
    }

    [Fact]
    public async Task Xep0198_4_an_unacknowledged_iq_request_is_answered_with_an_error_when_the_session_ends()
    {
        await using var server = Server();
        await server.AddUserAsync("sm-iq-a");
        await server.AddUserAsync("sm-iq-b");
        var (a, _) = await LoginWithSmAsync(server, "sm-iq-a", "");
        var fullJid = a.Jid;
        await using var b = await XmppTestClient.LoginAsync(server, "sm-iq-b");
        await b.SendAsync($"<iq type='get' id='q1' to='{fullJid}'><query xmlns='jabber:iq:version'/></iq>");
        Assert.Equal("q1", (await a.NextMatchingAsync(e => e.Name == "iq")).Id);
        a.Abort();
        await a.DisposeAsync();
        var error = await b.NextMatchingAsync(e => e.Name == "iq" && e.Id == "q1", TimeSpan.FromSeconds(10));
        Assert.Equal("error", error.Type);
        Assert.NotNull(error.Child("error", Ns.Client)?.Child("service-unavailable", Ns.StanzaErrors));
    }

    [Fact]
    public async Task Xep0198_offline_messages_are_deleted_only_once_the_client_acknowledged_them()
    {
        await using var server = Server();
        await server.AddUserAsync("sm-off-a");
        await server.AddUserAsync("sm-off-b");
        await using (var b = await XmppTestClient.LoginAsync(server, "sm-off-b"))
        {
            await b.SendAsync("<message to='sm-off-a@localhost' type='chat' id='o1'><body>while away</body></message>");
            await b.ExpectNoBounceAsync();
        }
        await WaitUntilAsync(async () => (await StoredOfflineAsync(server, "sm-off-a")).Count == 1, "the message is stored");

        // delivered (written out to the socket) but not acknowledged: the connection dies, the message stays stored
        var (a, _) = await LoginWithSmAsync(server, "sm-off-a", "");
        Assert.Equal("o1", (await NextMessageAsync(a)).Id);
        await Task.Delay(500);
        Assert.Single(await StoredOfflineAsync(server, "sm-off-a"));
        var jid = a.Jid;
        a.Abort();
        await a.DisposeAsync();
        await WaitForSessionGoneAsync(server, jid);
        Assert.Single(await StoredOfflineAsync(server, "sm-off-a"));

        // delivered again, acknowledged: deleted
        var (again, _) = await LoginWithSmAsync(server, "sm-off-a", "");
        await using var __ = again;
        Assert.Equal("o1", (await NextMessageAsync(again)).Id);
        await again.SendAsync($"<a xmlns='{Sm}' h='2'/>"); // the presence reflection and the message
        await WaitUntilAsync(async () => (await StoredOfflineAsync(server, "sm-off-a")).Count == 0, "the acknowledged message is deleted");
    }

    [Fact]
    public async Task Xep0198_a_mailbox_of_several_pages_is_written_out_whole_before_the_client_acknowledges_and_deleted_at_its_ack()
    {
        // pages of about 1 KiB (a quarter of the outbound limit): two of these messages each
        await using var server = Server(("Xmpp:Limits:MaxOutboundBytes", "4096"));
        await server.AddUserAsync("sm-pages-a");
        await server.AddUserAsync("sm-pages-b");
        const int messages = 6;
        var body = new string('x', 600);
        await using (var b = await XmppTestClient.LoginAsync(server, "sm-pages-b"))
        {
            for (var i = 0; i < messages; i++)
                await b.SendAsync($"<message to='sm-pages-a@localhost' type='chat' id='p{i}'><body>{body}</body></message>");
            await b.ExpectNoBounceAsync();
        }
        await WaitUntilAsync(async () => (await StoredOfflineAsync(server, "sm-pages-a")).Count == messages, "the messages are stored");

        // a client that acknowledges only once it has everything (it answers no <r/> meanwhile) still gets every page
        var (a, _) = await LoginWithSmAsync(server, "sm-pages-a", "");
        await using var __ = a;
        for (var i = 0; i < messages; i++) Assert.Equal("p" + i, (await NextMessageAsync(a)).Id);
        Assert.Equal(messages, (await StoredOfflineAsync(server, "sm-pages-a")).Count); // written out is not acknowledged
        await a.SendAsync($"<a xmlns='{Sm}' h='{messages + 1}'/>"); // the presence reflection and the messages
        await WaitUntilAsync(async () => (await StoredOfflineAsync(server, "sm-pages-a")).Count == 0, "the acknowledged pages are deleted");
    }
}
