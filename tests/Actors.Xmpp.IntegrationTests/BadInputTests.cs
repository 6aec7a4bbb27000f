using System.Text;

namespace Actors.Xmpp.IntegrationTests;

/// <summary>
/// Hostile and broken input (RFC 6120 §4.9.3, §11): each closes only the offending stream with the named stream
/// error; another client on the same server keeps working (it pings the server afterwards).
/// </summary>
public sealed class BadInputTests(PlainServer server) : IClassFixture<PlainServer>
{
    private async Task<(XmppTestClient Observer, XmppTestClient Bad)> PairAsync(string name, bool bind)
    {
        await server.AddUserAsync(name + "-obs");
        var observer = await XmppTestClient.LoginAsync(server, name + "-obs");
        var bad = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await bad.OpenStreamAsync();
        if (bind)
        {
            await server.AddUserAsync(name);
            await bad.AuthPlainAsync(name);
            await bad.BindAsync("bad");
        }
        return (observer, bad);
    }

    private async Task RunAsync(string name, string condition, byte[] input, bool bind = true)
    {
        var (observer, bad) = await PairAsync(name, bind);
        await using (observer)
        await using (bad)
        {
            var send = bad.TrySendBytesAsync(input);
            await bad.ExpectStreamErrorAsync(condition, timeout: TimeSpan.FromSeconds(10));
            await send.WaitAsync(TimeSpan.FromSeconds(30));
            await observer.PingServerAsync();
        }
    }

    private static byte[] U(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public Task Rfc6120_4_9_3_13_not_well_formed() =>
        RunAsync("bad-nwf", "not-well-formed", U("<message to='x@localhost'><body>hi</message>"));

    [Fact]
    public Task Rfc6120_11_1_comment_is_restricted_xml() =>
        RunAsync("bad-comment", "restricted-xml", U("<!-- a comment -->"));

    [Fact]
    public Task Rfc6120_11_1_processing_instruction_is_restricted_xml() =>
        RunAsync("bad-pi", "restricted-xml", U("<?evil instruction?>"));

    [Fact]
    public async Task Rfc6120_11_1_doctype_billion_laughs_is_restricted_xml()
    {
        await server.AddUserAsync("bad-dtd-obs");
        await using var observer = await XmppTestClient.LoginAsync(server, "bad-dtd-obs");
        await using var bad = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        var dtd = new StringBuilder("<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>");
        for (var i = 1; i <= 9; i++)
            dtd.Append($"<!ENTITY lol{i} '{string.Concat(Enumerable.Repeat(i == 1 ? "&lol;" : $"&lol{i - 1};", 10))}'>");
        dtd.Append("]>").Append(XmppTestClient.Header()[21..]).Append("<message><body>&lol9;</body></message>");
        await bad.SendAsync(dtd.ToString());
        await bad.ExpectStreamErrorAsync("restricted-xml"); // a header first (skipped), then the error
        await observer.PingServerAsync();
    }

    [Fact]
    public Task Rfc6120_13_12_huge_stanza_is_policy_violation()
    {
        var sb = new StringBuilder("<message to='x@localhost'><body>");
        sb.Append('a', 10 * 1024 * 1024);
        sb.Append("</body></message>");
        return RunAsync("bad-huge", "policy-violation", U(sb.ToString()));
    }

    [Fact]
    public Task Rfc6120_13_12_deep_nesting_is_policy_violation()
    {
        var sb = new StringBuilder("<message to='x@localhost'>");
        for (var i = 0; i < 10_000; i++) sb.Append("<a>");
        for (var i = 0; i < 10_000; i++) sb.Append("</a>");
        sb.Append("</message>");
        return RunAsync("bad-deep", "policy-violation", U(sb.ToString()));
    }

    [Fact]
    public Task Rfc6120_11_6_invalid_utf8_is_not_well_formed() =>
        RunAsync("bad-utf8", "not-well-formed", [.. U("<message to='x@localhost'><body>"), 0xC3, 0x28, 0xFF, .. U("</body></message>")]);

    [Fact]
    public Task Rfc6120_11_1_bad_input_before_auth_is_handled_too() =>
        RunAsync("bad-preauth", "not-well-formed", U("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'></stream>"), bind: false);

    [Fact]
    public async Task Rfc6120_8_3_3_8_overlong_jid_is_stanza_error_jid_malformed()
    {
        var (observer, bad) = await PairAsync("bad-longjid", bind: true);
        await using (observer)
        await using (bad)
        {
            var to = new string('a', 3000) + "@localhost";
            await bad.SendAsync($"<message to='{to}' id='long1' type='chat'><body>x</body></message>");
            var reply = await bad.NextAsync();
            Assert.Equal("long1", reply.Id);
            StanzaAssert.Error(reply, "jid-malformed");
            await bad.PingServerAsync(); // not a stream error: the stream goes on
            await observer.PingServerAsync();
        }
    }

    [Fact]
    public Task Rfc6120_4_9_3_22_unknown_top_level_element_is_unsupported_stanza_type() =>
        RunAsync("bad-toplevel", "unsupported-stanza-type", U("<foo xmlns='urn:example:foo'/>"));

    [Fact]
    public async Task Rfc6120_4_9_3_9_spoofed_from_is_invalid_from()
    {
        await server.AddUserAsync("spoof-victim");
        await RunAsync("bad-spoof", "invalid-from", U("<message from='spoof-victim@localhost/x' to='spoof-victim@localhost'><body>x</body></message>"));
    }
}
