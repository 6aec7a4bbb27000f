using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Actors.Xmpp;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Tests;

/// <summary>XEP-0215 external service discovery (the 'extdisco' plugin) with TURN REST credentials, over TCP.</summary>
public sealed class ExternalServicesSpec : IAsyncLifetime
{
    private const string Ns = "urn:xmpp:extdisco:2";
    private const string Secret = "turn-shared-secret";
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(["disco", "extdisco"], new Dictionary<string, string?>
    {
        ["Xmpp:Plugins:extdisco:Services:0:Type"] = "stun",
        ["Xmpp:Plugins:extdisco:Services:0:Host"] = "turn.example.org",
        ["Xmpp:Plugins:extdisco:Services:0:Port"] = "3478",
        ["Xmpp:Plugins:extdisco:Services:0:Transport"] = "udp",
        ["Xmpp:Plugins:extdisco:Services:1:Type"] = "turn",
        ["Xmpp:Plugins:extdisco:Services:1:Host"] = "turn.example.org",
        ["Xmpp:Plugins:extdisco:Services:1:Port"] = "3478",
        ["Xmpp:Plugins:extdisco:Services:1:Transport"] = "udp",
        ["Xmpp:Plugins:extdisco:Services:1:Secret"] = Secret,
        ["Xmpp:Plugins:extdisco:CredentialSeconds"] = "3600",
    });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static Element[] Services(Element reply, string name = "services") =>
        reply.Child(name, Ns)!.Elements("service", Ns).ToArray();

    [Fact]
    public async Task Xep0215_3_2_services_are_listed_and_turn_gets_time_limited_rest_credentials()
    {
        await using var c = await _server.LoginAsync("alice", "x215");
        Assert.True(await c.IsFeatureAdvertised(Ns));
        var all = Services(await c.Query($"<iq type='get' id='s1' to='localhost'><services xmlns='{Ns}'/></iq>"));
        Assert.Equal(["stun", "turn"], all.Select(s => s.Attr("type")).ToArray());
        var stun = all[0];
        Assert.Equal("turn.example.org", stun.Attr("host"));
        Assert.Equal("3478", stun.Attr("port"));
        Assert.Equal("udp", stun.Attr("transport"));
        Assert.Null(stun.Attr("password"));

        var turn = all[1];
        Assert.Equal("1", turn.Attr("restricted"));
        var username = turn.Attr("username")!;
        var expiry = long.Parse(username[..username.IndexOf(':')], CultureInfo.InvariantCulture);
        Assert.Equal("alice@localhost", username[(username.IndexOf(':') + 1)..]);
        var expires = DateTimeOffset.Parse(turn.Attr("expires")!, CultureInfo.InvariantCulture);
        Assert.Equal(expiry, expires.ToUnixTimeSeconds());
        Assert.InRange(expires - DateTimeOffset.UtcNow, TimeSpan.FromMinutes(55), TimeSpan.FromMinutes(61));
        // what coturn's use-auth-secret checks: base64(HMAC-SHA1(secret, username))
        var expected = Convert.ToBase64String(HMACSHA1.HashData(Encoding.UTF8.GetBytes(Secret), Encoding.UTF8.GetBytes(username)));
        Assert.Equal(expected, turn.Attr("password"));

        var onlyTurn = Services(await c.Query($"<iq type='get' id='s2' to='localhost'><services xmlns='{Ns}' type='turn'/></iq>"));
        Assert.Equal("turn", Assert.Single(onlyTurn).Attr("type"));
    }

    [Fact]
    public async Task Xep0215_3_3_credentials_for_one_service_and_item_not_found_for_an_unknown_one()
    {
        await using var c = await _server.LoginAsync("bob", "x215c");
        var credentials = await c.Query($"<iq type='get' id='c1' to='localhost'><credentials xmlns='{Ns}'><service type='turn' host='turn.example.org'/></credentials></iq>");
        var service = Assert.Single(Services(credentials, "credentials"));
        Assert.StartsWith(DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)[..5], service.Attr("username"));
        Assert.NotNull(service.Attr("password"));
        var unknown = await c.Query($"<iq type='get' id='c2' to='localhost'><credentials xmlns='{Ns}'><service type='turn' host='other.example.org'/></credentials></iq>");
        Assert.Equal("error", unknown.Type);
        Assert.NotNull(unknown.Child("error", Actors.Xmpp.Ns.Client)?.Child("item-not-found", Actors.Xmpp.Ns.StanzaErrors));
        var unnamed = await c.Query($"<iq type='get' id='c3' to='localhost'><credentials xmlns='{Ns}'/></iq>");
        Assert.NotNull(unnamed.Child("error", Actors.Xmpp.Ns.Client)?.Child("bad-request", Actors.Xmpp.Ns.StanzaErrors));
    }
}
