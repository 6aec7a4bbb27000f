using Actors.Xmpp.Server.Sessions;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.IntegrationTests;

/// <summary>XEP-0352 client state indication over TCP: while a client is inactive its session holds presence updates
/// and chat states, and lets them out on &lt;active/&gt;, with an important stanza, or when too many wait.</summary>
public sealed class ClientStateIndicationTests : IAsyncLifetime
{
    private const string Csi = "urn:xmpp:csi:0";
    private TestServer _server = null!;

    public Task InitializeAsync()
    {
        _server = new TestServer(new Dictionary<string, string?>
        {
            ["Xmpp:Tls:Required"] = "false",
            ["Xmpp:Auth:AllowPlainWithoutTls"] = "true",
        });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    /// <summary>Nothing arrives within <paramref name="ms"/> milliseconds.</summary>
    private static async Task ExpectNothingAsync(XmppTestClient c, int ms = 700)
    {
        try
        {
            var e = await c.NextEventAsync(TimeSpan.FromMilliseconds(ms));
            throw new Xunit.Sdk.XunitException($"expected nothing while inactive, got {e}");
        }
        catch (TimeoutException)
        {
        }
    }

    /// <summary>alice/phone (inactive once this returns), alice/desk and bob, all available.</summary>
    private async Task<(XmppTestClient Phone, XmppTestClient Desk, XmppTestClient Bob)> ThreeAsync(string prefix)
    {
        await _server.AddUserAsync(prefix);
        await _server.AddUserAsync(prefix + "-bob");
        var phone = await XmppTestClient.LoginAsync(_server, prefix, "phone", available: true);
        var desk = await XmppTestClient.LoginAsync(_server, prefix, "desk", available: true);
        await phone.NextMatchingAsync(e => e.Name == "presence" && e.From == desk.Jid.ToString()); // desk's initial presence
        var bob = await XmppTestClient.LoginAsync(_server, prefix + "-bob", "x", available: true);
        await phone.SendAsync($"<inactive xmlns='{Csi}'/>");
        await phone.PingServerAsync(); // the state is set (the session handles the client's input in order)
        return (phone, desk, bob);
    }

    [Fact]
    public async Task Xep0352_3_the_csi_feature_is_offered_after_authentication()
    {
        await _server.AddUserAsync("csi-feature");
        await using var c = await XmppTestClient.ConnectAsync(_server.C2sEndPoint);
        Assert.Null((await c.OpenStreamAsync()).Child("csi", Csi));
        Assert.NotNull((await c.AuthPlainAsync("csi-feature")).Child("csi", Csi));
    }

    [Fact]
    public async Task Xep0352_4_presence_updates_wait_while_inactive_and_come_on_active_only_the_latest_per_sender()
    {
        var (phone, desk, bob) = await ThreeAsync("csi-active");
        await using var _ = phone;
        await using var __ = desk;
        await using var ___ = bob;
        await desk.SendAsync("<presence><show>away</show></presence>");
        await desk.SendAsync("<presence><show>xa</show></presence>");
        await ExpectNothingAsync(phone);
        await phone.SendAsync($"<active xmlns='{Csi}'/>");
        var presence = await phone.NextAsync();
        Assert.Equal("presence", presence.Name);
        Assert.Equal(desk.Jid.ToString(), presence.From);
        Assert.Equal("xa", presence.ChildText("show", Ns.Client)); // the 'away' before it was superseded
        await phone.PingServerAsync(); // and nothing else was held: the next stanza is the ping's answer
    }

    [Fact]
    public async Task Xep0352_4_an_important_message_lets_out_what_waited_first_in_order()
    {
        var (phone, desk, bob) = await ThreeAsync("csi-important");
        await using var _ = phone;
        await using var __ = desk;
        await using var ___ = bob;
        await desk.SendAsync("<presence><show>dnd</show></presence>");
        await Task.Delay(300);
        await bob.SendAsync($"<message to='{phone.Jid}' type='chat' id='cs'><composing xmlns='{Ns.ChatStates}'/></message>");
        await ExpectNothingAsync(phone);
        await bob.SendAsync($"<message to='{phone.Jid}' type='chat' id='body'><body>wake up</body><active xmlns='{Ns.ChatStates}'/></message>");
        var first = await phone.NextAsync();
        Assert.Equal("presence", first.Name);
        Assert.Equal("dnd", first.ChildText("show", Ns.Client));
        Assert.Equal("cs", (await phone.NextAsync()).Id);
        Assert.Equal("body", (await phone.NextAsync()).Id);
        // still inactive: the next chat state waits again
        await bob.SendAsync($"<message to='{phone.Jid}' type='chat' id='cs2'><paused xmlns='{Ns.ChatStates}'/></message>");
        await ExpectNothingAsync(phone);
    }

    [Fact]
    public async Task Xep0352_4_subscription_requests_and_iq_are_not_held()
    {
        var (phone, desk, bob) = await ThreeAsync("csi-sub");
        await using var _ = phone;
        await using var __ = desk;
        await using var ___ = bob;
        await bob.SendAsync($"<presence to='{phone.Jid.Bare}' type='subscribe'/>");
        var request = await phone.NextMatchingAsync(e => e.Name == "presence");
        Assert.Equal("subscribe", request.Type);
        await bob.SendAsync($"<iq to='{phone.Jid}' type='get' id='v1'><query xmlns='jabber:iq:version'/></iq>");
        Assert.Equal("v1", (await phone.NextAsync()).Id);
    }

    [Fact]
    public async Task Xep0352_held_stanzas_are_bounded_one_more_than_the_bound_lets_all_out()
    {
        var (phone, desk, bob) = await ThreeAsync("csi-bound");
        await using var _ = phone;
        await using var __ = desk;
        await using var ___ = bob;
        var n = SessionActor.MaxHeldWhileInactive;
        var states = string.Concat(Enumerable.Range(0, n).Select(i =>
            $"<message to='{phone.Jid}' type='chat' id='s{i}'><composing xmlns='{Ns.ChatStates}'/></message>"));
        await bob.SendAsync(states);
        await ExpectNothingAsync(phone);
        await bob.SendAsync($"<message to='{phone.Jid}' type='chat' id='s{n}'><paused xmlns='{Ns.ChatStates}'/></message>");
        for (var i = 0; i <= n; i++) Assert.Equal("s" + i, (await phone.NextAsync()).Id);
    }
}
