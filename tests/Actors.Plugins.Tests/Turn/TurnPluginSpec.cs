using System.Net;
using Actors.Plugins.Turn;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Tests.Turn;

/// <summary>The turn plugin with the rest of the server: XEP-0215 hands out its services and credentials, the
/// relay port range and the peer policy come from Xmpp:Turn, and unloading the plugin closes its sockets.</summary>
public sealed class TurnPluginSpec
{
    private const string ExtDisco = "urn:xmpp:extdisco:2";

    [Fact]
    public async Task Xep0215_the_built_in_server_is_listed_and_its_credentials_allocate()
    {
        var port = TurnServerFixture.FreePort();
        await using var server = await TestServer.StartAsync(["disco", "extdisco", "turn"], TurnServerFixture.Settings(port));
        await using var alice = await server.LoginAsync("alice", "x215");
        var services = (await alice.Query($"<iq type='get' id='s1' to='localhost'><services xmlns='{ExtDisco}'/></iq>"))
            .Child("services", ExtDisco)!.Elements("service", ExtDisco).ToArray();
        Assert.Equal(["stun/udp", "turn/udp", "stun/tcp", "turn/tcp"], services.Select(s => s.Attr("type") + "/" + s.Attr("transport")).ToArray());
        Assert.All(services, s => Assert.Equal("127.0.0.1", s.Attr("host")));
        Assert.All(services, s => Assert.Equal(port.ToString(System.Globalization.CultureInfo.InvariantCulture), s.Attr("port")));
        Assert.All(services.Where(s => s.Attr("type") == "stun"), s => Assert.Null(s.Attr("password")));

        foreach (var turn in services.Where(s => s.Attr("type") == "turn"))
        {
            Assert.EndsWith(":alice@localhost", turn.Attr("username"));
            await using var c = await TurnTestClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), turn.Attr("transport") == "tcp");
            c.Username = turn.Attr("username");
            c.Password = turn.Attr("password");
            var response = await c.AllocateAsync();
            Assert.Equal(StunClass.SuccessResponse, response.Class);
        }

        // §3.3: credentials for one of them, by host and type
        var credentials = await alice.Query($"<iq type='get' id='c1' to='localhost'><credentials xmlns='{ExtDisco}'><service host='127.0.0.1' type='turn'/></credentials></iq>");
        Assert.NotNull(credentials.Child("credentials", ExtDisco)?.Child("service", ExtDisco)?.Attr("password"));

        // unloaded, the turn plugin is no longer listed
        Assert.True((await server.Plugins.UnloadAsync("turn")).Ok);
        var after = (await alice.Query($"<iq type='get' id='s2' to='localhost'><services xmlns='{ExtDisco}'/></iq>"))
            .Child("services", ExtDisco)!.Elements("service", ExtDisco);
        Assert.Empty(after);
    }

    [Fact]
    public async Task Xep0215_with_a_tls_port_the_server_is_listed_as_turns_over_tcp_with_credentials()
    {
        var port = TurnServerFixture.FreePort();
        var tlsPort = TurnServerFixture.FreePort();
        await using var server = await TestServer.StartAsync(["disco", "extdisco", "turn"], TurnServerFixture.Settings(port,
            new Dictionary<string, string?> { ["Xmpp:Turn:TlsPort"] = tlsPort.ToString(System.Globalization.CultureInfo.InvariantCulture) }));
        await using var alice = await server.LoginAsync("alice", "turns");
        var services = (await alice.Query($"<iq type='get' id='s1' to='localhost'><services xmlns='{ExtDisco}'/></iq>"))
            .Child("services", ExtDisco)!.Elements("service", ExtDisco).ToArray();
        var turns = Assert.Single(services, s => s.Attr("type") == "turns");
        Assert.Equal("tcp", turns.Attr("transport")); // RFC 7065: turns is TURN over TLS over TCP
        Assert.Equal(tlsPort.ToString(System.Globalization.CultureInfo.InvariantCulture), turns.Attr("port"));
        Assert.EndsWith(":alice@localhost", turns.Attr("username"));
        Assert.NotNull(turns.Attr("password"));
    }

    [Fact]
    public async Task Xep0215_extdisco_loaded_after_the_turn_plugin_lists_it_too()
    {
        var port = TurnServerFixture.FreePort();
        await using var server = await TestServer.StartAsync(["disco", "extdisco", "turn"], TurnServerFixture.Settings(port));
        await using var alice = await server.LoginAsync("alice", "late");
        // unloading extdisco unloads turn first and loads it again (a soft dependant): now without extdisco
        Assert.True((await server.Plugins.UnloadAsync("extdisco")).Ok);
        Assert.True(server.Plugins.IsLoaded("turn"));
        Assert.True((await server.Plugins.LoadAsync("extdisco")).Ok);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        int listed;
        do
        {
            await Task.Delay(200);
            listed = (await alice.Query($"<iq type='get' id='{alice.NextId()}' to='localhost'><services xmlns='{ExtDisco}'/></iq>"))
                .Child("services", ExtDisco)!.Elements("service", ExtDisco).Count();
        } while (listed == 0 && DateTime.UtcNow < deadline);
        Assert.Equal(4, listed);
    }

    [Fact]
    public async Task Rfc8656_7_2_no_free_relay_port_in_the_range_gets_508_and_loopback_peers_are_refused_403()
    {
        var port = TurnServerFixture.FreePort();
        var relayPort = TurnServerFixture.FreePort();
        await using var server = await TestServer.StartAsync(["turn"], TurnServerFixture.Settings(port, new Dictionary<string, string?>
        {
            ["Xmpp:Turn:RelayPorts"] = $"{relayPort}-{relayPort}", // one port
        }));
        var endPoint = new IPEndPoint(IPAddress.Loopback, port);
        await using var first = await TurnTestClient.ConnectAsync(endPoint, tcp: false);
        (first.Username, first.Password) = TurnServerFixture.Credentials("first@localhost");
        var allocated = await first.AllocateAsync();
        Assert.Equal(StunClass.SuccessResponse, allocated.Class);
        Assert.Equal(relayPort, TurnTestClient.Address(allocated, StunAttr.XorRelayedAddress).Port);

        await using var second = await TurnTestClient.ConnectAsync(endPoint, tcp: false);
        (second.Username, second.Password) = TurnServerFixture.Credentials("second@localhost");
        Assert.Equal(StunError.InsufficientCapacity, TurnTestClient.ErrorCode(await second.AllocateAsync()));

        // RFC 8656 §21.1: without Xmpp:Turn:AllowLoopbackPeers a loopback peer is refused
        var refused = await first.AuthenticatedAsync(StunMethod.CreatePermission,
            b => b.XorAddress(StunAttr.XorPeerAddress, new IPEndPoint(IPAddress.Loopback, 4000)));
        Assert.Equal(StunError.Forbidden, TurnTestClient.ErrorCode(refused));
        var channel = await first.AuthenticatedAsync(StunMethod.ChannelBind, b => b
            .Bytes(StunAttr.ChannelNumber, [0x40, 0x00, 0, 0]).XorAddress(StunAttr.XorPeerAddress, new IPEndPoint(IPAddress.Loopback, 4000)));
        Assert.Equal(StunError.Forbidden, TurnTestClient.ErrorCode(channel));

        // the allocation deleted, its port serves the next one
        await first.AuthenticatedAsync(StunMethod.Refresh, b => b.UInt32(StunAttr.Lifetime, 0));
        Assert.Equal(StunClass.SuccessResponse, (await second.AllocateAsync()).Class);
    }

    [Fact]
    public async Task Unloading_the_plugin_closes_its_ports_and_releases_its_context()
    {
        var port = TurnServerFixture.FreePort();
        await using var server = await TestServer.StartAsync(["turn"], TurnServerFixture.Settings(port));
        var endPoint = new IPEndPoint(IPAddress.Loopback, port);
        IPEndPoint relayed;
        await using (var c = await TurnTestClient.ConnectAsync(endPoint, tcp: false))
        {
            (c.Username, c.Password) = TurnServerFixture.Credentials("unload@localhost");
            relayed = TurnTestClient.Address(await c.AllocateAsync(), StunAttr.XorRelayedAddress);
        }
        var result = await server.Plugins.ReloadAsync("turn"); // the new version binds the same port: the old one closed it
        Assert.True(result.Ok, result.Message);
        Assert.True(TestServer.AllCollected(result.Released));
        await using (var c = await TurnTestClient.ConnectAsync(endPoint, tcp: true))
            Assert.Equal(StunClass.SuccessResponse, (await c.RequestAsync(c.Build(StunMethod.Binding, authenticate: false))).Class);

        var unload = await server.Plugins.UnloadAsync("turn");
        Assert.True(unload.Ok, unload.Message);
        Assert.True(TestServer.AllCollected(unload.Released));
        using var udp = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        udp.Bind(endPoint); // free again
        using var relay = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        relay.Bind(relayed); // the allocation's relay socket closed with it
    }
}
