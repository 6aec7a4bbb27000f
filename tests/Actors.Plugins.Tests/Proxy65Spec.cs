using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Tests;

/// <summary>XEP-0065 SOCKS5 bytestreams proxy over TCP: discovery and activation over XMPP, the RFC 1928 handshake as
/// bytes, the relay, and the errors and limits (section numbers in the names).</summary>
public sealed class Proxy65Spec : IAsyncLifetime
{
    private const string Service = "proxy.localhost";
    private const string Ns = "http://jabber.org/protocol/bytestreams";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private TestServer _server = null!;
    private int _port;

    public Task InitializeAsync() => StartAsync(new Dictionary<string, string?>());

    private async Task StartAsync(Dictionary<string, string?> extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Xmpp:Plugins:proxy65:Enabled"] = "true",
            ["Xmpp:Plugins:proxy65:Port"] = "0",
            ["Xmpp:Plugins:proxy65:BindAddress"] = "127.0.0.1",
            ["Xmpp:Plugins:proxy65:Host"] = "127.0.0.1",
        };
        foreach (var (k, v) in extra) settings[k] = v;
        if (_server is not null) await _server.DisposeAsync();
        _server = await TestServer.StartAsync(["disco", "proxy65"], settings);
        await using var probe = await _server.LoginAsync("admin");
        var host = (await probe.Query($"<iq type='get' id='sh' to='{Service}'><query xmlns='{Ns}'/></iq>")).Child("query", Ns)!.Child("streamhost", Ns)!;
        _port = int.Parse(host.Attr("port")!, CultureInfo.InvariantCulture);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static string Hash(string sid, string requester, string target) =>
        Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(sid + requester + target)));

    private static string Activate(string id, string sid, string target) =>
        $"<iq type='set' id='{id}' to='{Service}'><query xmlns='{Ns}' sid='{sid}'><activate>{target}</activate></query></iq>";

    private static async Task<byte[]> ReadAsync(Socket socket, int count)
    {
        var buffer = new byte[count];
        using var cts = new CancellationTokenSource(Wait);
        await new NetworkStream(socket, ownsSocket: false).ReadExactlyAsync(buffer, cts.Token); // EndOfStreamException if it closes first
        return buffer;
    }

    private async Task<Socket> OpenAsync()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, _port));
        return socket;
    }

    /// <summary>RFC 1928 §3 and §4 as XEP-0065 §5.3.2 uses them: no authentication, CONNECT to DOMAINNAME = hash, port 0;
    /// returns the connected socket after checking the success reply byte for byte.</summary>
    private async Task<Socket> ConnectAsync(string hash)
    {
        var socket = await OpenAsync();
        await socket.SendAsync(new byte[] { 5, 1, 0 });
        Assert.Equal(new byte[] { 5, 0 }, await ReadAsync(socket, 2));
        var request = Request(1, hash);
        await socket.SendAsync(request);
        var reply = await ReadAsync(socket, request.Length);
        // §6: VER 5, REP 0 (succeeded), RSV 0, then BND.ADDR/BND.PORT = DST.ADDR/DST.PORT (XEP-0065 §6.3.2 MUST)
        var expected = (byte[])request.Clone();
        expected[1] = 0;
        Assert.Equal(expected, reply);
        return socket;
    }

    private static byte[] Request(byte command, string hash)
    {
        var name = Encoding.ASCII.GetBytes(hash);
        var request = new byte[5 + name.Length + 2];
        request[0] = 5;
        request[1] = command;
        request[3] = 3; // DOMAINNAME
        request[4] = (byte)name.Length;
        name.CopyTo(request, 5);
        return request; // DST.PORT 0
    }

    private static async Task AssertClosedAsync(Socket socket)
    {
        var buffer = new byte[16];
        using var cts = new CancellationTokenSource(Wait);
        try
        {
            while (true)
            {
                var n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
                if (n == 0) return;
            }
        }
        catch (SocketException)
        {
            // reset by the proxy: closed as well
        }
    }

    [Fact]
    public async Task Xep0065_4_proxy_is_discovered_by_its_proxy_bytestreams_identity()
    {
        await using var alice = await _server.LoginAsync("alice");
        var items = await alice.Query("<iq type='get' id='i1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>");
        Assert.Contains(items.Child("query", "http://jabber.org/protocol/disco#items")!.Elements(), i => i.Attr("jid") == Service);
        var info = await alice.Query($"<iq type='get' id='i2' to='{Service}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
        var query = info.Child("query", "http://jabber.org/protocol/disco#info")!;
        Assert.Contains(query.Elements(), e => e.Name == "identity" && e.Attr("category") == "proxy" && e.Attr("type") == "bytestreams");
        Assert.Contains(query.Elements(), e => e.Name == "feature" && e.Attr("var") == Ns);
    }

    [Fact]
    public async Task Xep0065_4_address_query_answers_a_streamhost_with_jid_host_and_port()
    {
        await using var alice = await _server.LoginAsync("alice");
        var reply = await alice.Query($"<iq type='get' id='a1' to='{Service}'><query xmlns='{Ns}'/></iq>");
        Assert.Equal("result", reply.Type);
        var host = reply.Child("query", Ns)!.Child("streamhost", Ns)!;
        Assert.Equal(Service, host.Attr("jid"));
        Assert.Equal("127.0.0.1", host.Attr("host"));
        Assert.Equal(_port.ToString(CultureInfo.InvariantCulture), host.Attr("port"));
        Assert.NotEqual(0, _port);
    }

    [Fact]
    public async Task Rfc1928_3_a_client_without_the_no_authentication_method_gets_FF_and_is_closed()
    {
        using var socket = await OpenAsync();
        await socket.SendAsync(new byte[] { 5, 1, 2 }); // username/password only
        Assert.Equal(new byte[] { 5, 0xFF }, await ReadAsync(socket, 2));
        await AssertClosedAsync(socket);
    }

    [Fact]
    public async Task Rfc1928_6_a_command_other_than_connect_is_refused_with_07_and_closed()
    {
        using var socket = await OpenAsync();
        await socket.SendAsync(new byte[] { 5, 1, 0 });
        Assert.Equal(new byte[] { 5, 0 }, await ReadAsync(socket, 2));
        await socket.SendAsync(Request(2, Hash("s", "a@localhost/r", "b@localhost/r"))); // BIND
        var reply = await ReadAsync(socket, 10);
        Assert.Equal(5, reply[0]);
        Assert.Equal(7, reply[1]); // command not supported
        await AssertClosedAsync(socket);
    }

    [Fact]
    public async Task Rfc1928_6_an_ipv4_destination_is_refused_with_08_and_closed()
    {
        using var socket = await OpenAsync();
        await socket.SendAsync(new byte[] { 5, 1, 0 });
        Assert.Equal(new byte[] { 5, 0 }, await ReadAsync(socket, 2));
        await socket.SendAsync(new byte[] { 5, 1, 0, 1, 127, 0, 0, 1, 0, 80 });
        var reply = await ReadAsync(socket, 10);
        Assert.Equal(8, reply[1]); // address type not supported
        await AssertClosedAsync(socket);
    }

    [Fact]
    public async Task Xep0065_5_3_2_a_domainname_that_is_not_a_sha1_hash_is_refused()
    {
        using var socket = await OpenAsync();
        await socket.SendAsync(new byte[] { 5, 1, 0 });
        Assert.Equal(new byte[] { 5, 0 }, await ReadAsync(socket, 2));
        await socket.SendAsync(Request(1, "example.org"));
        var reply = await ReadAsync(socket, 10);
        Assert.Equal(2, reply[1]); // not allowed by ruleset
        await AssertClosedAsync(socket);
    }

    [Fact]
    public async Task Xep0065_6_3_5_activation_relays_10_MB_each_way_between_target_and_requester()
    {
        await using var alice = await _server.LoginAsync("alice", "desk");
        await using var bob = await _server.LoginAsync("bob", "phone");
        var hash = Hash("s1", "alice@localhost/desk", "bob@localhost/phone");
        using var target = await ConnectAsync(hash);    // §6.3.2: the Target connects first
        using var requester = await ConnectAsync(hash); // §6.3.4: then the Requester, with the same DST.ADDR
        await alice.Sends(Activate("act1", "s1", "bob@localhost/phone"));
        await alice.Receives($"<iq type='result' id='act1' from='{Service}'/>");

        const int size = 10 * 1024 * 1024;
        var up = RandomNumberGenerator.GetBytes(size);
        var down = RandomNumberGenerator.GetBytes(size);
        var sendUp = requester.SendAsync(up);
        var sendDown = target.SendAsync(down);
        var receivedByTarget = ReadAsync(target, size);
        var receivedByRequester = ReadAsync(requester, size);
        await Task.WhenAll(sendUp, sendDown, receivedByTarget, receivedByRequester);
        var atTarget = await receivedByTarget;
        var atRequester = await receivedByRequester;
        Assert.True(up.SequenceEqual(atTarget), "the Target got the Requester's bytes");
        Assert.True(down.SequenceEqual(atRequester), "the Requester got the Target's bytes");

        // one side closing ends the relay: the other side sees the end of the stream
        requester.Shutdown(SocketShutdown.Both);
        requester.Close();
        await AssertClosedAsync(target);
    }

    [Fact]
    public async Task Xep0065_6_3_5_activation_with_no_connection_is_item_not_found()
    {
        await using var alice = await _server.LoginAsync("alice", "desk");
        await alice.Sends(Activate("n1", "nothing", "bob@localhost/phone"));
        await alice.Receives($"<iq type='error' id='n1' from='{Service}'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    }

    [Fact]
    public async Task Xep0065_6_3_5_activation_from_another_jid_than_the_requesters_is_item_not_found()
    {
        await using var alice = await _server.LoginAsync("alice", "desk");
        await using var mallory = await _server.LoginAsync("bob", "other");
        var hash = Hash("s2", "alice@localhost/desk", "bob@localhost/phone");
        using var target = await ConnectAsync(hash);
        using var requester = await ConnectAsync(hash);
        // the 'from' is not the Requester's full JID: the hash it makes names no bytestream
        await mallory.Sends(Activate("m1", "s2", "bob@localhost/phone"));
        await mallory.Receives($"<iq type='error' id='m1'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
        // the Requester itself still can
        await alice.Sends(Activate("m2", "s2", "bob@localhost/phone"));
        await alice.Receives("<iq type='result' id='m2'/>");
    }

    [Fact]
    public async Task Xep0065_6_3_5_activation_with_only_one_party_connected_is_not_allowed()
    {
        await using var alice = await _server.LoginAsync("alice", "desk");
        using var target = await ConnectAsync(Hash("s3", "alice@localhost/desk", "bob@localhost/phone"));
        await alice.Sends(Activate("o1", "s3", "bob@localhost/phone"));
        await alice.Receives("<iq type='error' id='o1'><error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    }

    [Fact]
    public async Task Xep0065_6_3_5_a_second_activation_is_a_conflict()
    {
        await using var alice = await _server.LoginAsync("alice", "desk");
        var hash = Hash("s4", "alice@localhost/desk", "bob@localhost/phone");
        using var target = await ConnectAsync(hash);
        using var requester = await ConnectAsync(hash);
        await alice.Sends(Activate("c1", "s4", "bob@localhost/phone"));
        await alice.Receives("<iq type='result' id='c1'/>");
        await alice.Sends(Activate("c2", "s4", "bob@localhost/phone"));
        await alice.Receives("<iq type='error' id='c2'><error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    }

    [Fact]
    public async Task Xep0065_9_1_activation_without_sid_is_bad_request_and_a_bad_target_jid_malformed()
    {
        await using var alice = await _server.LoginAsync("alice", "desk");
        await alice.Sends($"<iq type='set' id='b1' to='{Service}'><query xmlns='{Ns}'><activate>bob@localhost/phone</activate></query></iq>");
        await alice.Receives("<iq type='error' id='b1'><error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
        await alice.Sends(Activate("b2", "s", "@@bad@@"));
        await alice.Receives("<iq type='error' id='b2'><error type='modify'><jid-malformed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    }

    [Fact]
    public async Task Xep0065_10_1_a_third_connection_for_the_same_bytestream_is_refused()
    {
        var hash = Hash("s5", "alice@localhost/desk", "bob@localhost/phone");
        using var target = await ConnectAsync(hash);
        using var requester = await ConnectAsync(hash);
        using var third = await OpenAsync();
        await third.SendAsync(new byte[] { 5, 1, 0 });
        Assert.Equal(new byte[] { 5, 0 }, await ReadAsync(third, 2));
        await third.SendAsync(Request(1, hash));
        var reply = await ReadAsync(third, 10);
        Assert.Equal(2, reply[1]); // connection not allowed by ruleset
        await AssertClosedAsync(third);
    }

    [Fact]
    public async Task Xep0065_11_3_a_connection_never_activated_is_closed_after_the_activation_timeout()
    {
        await StartAsync(new() { ["Xmpp:Plugins:proxy65:ActivationSeconds"] = "1" });
        using var target = await ConnectAsync(Hash("s6", "alice@localhost/desk", "bob@localhost/phone"));
        var clock = Stopwatch.StartNew();
        await AssertClosedAsync(target);
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(0.5), $"closed after {clock.Elapsed}");
    }

    [Fact]
    public async Task Xep0065_11_3_an_account_over_its_limit_of_bytestreams_gets_resource_constraint()
    {
        await StartAsync(new() { ["Xmpp:Plugins:proxy65:MaxStreamsPerUser"] = "1" });
        await using var alice = await _server.LoginAsync("alice", "desk");
        var first = Hash("l1", "alice@localhost/desk", "bob@localhost/phone");
        using var t1 = await ConnectAsync(first);
        using var r1 = await ConnectAsync(first);
        await alice.Sends(Activate("l1", "l1", "bob@localhost/phone"));
        await alice.Receives("<iq type='result' id='l1'/>");
        var second = Hash("l2", "alice@localhost/desk", "bob@localhost/phone");
        using var t2 = await ConnectAsync(second);
        using var r2 = await ConnectAsync(second);
        await alice.Sends(Activate("l2", "l2", "bob@localhost/phone"));
        await alice.Receives("<iq type='error' id='l2'><error type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
        await AssertClosedAsync(t2);
        // once the first bytestream ends, the account may activate another
        r1.Close();
        await AssertClosedAsync(t1);
        var third = Hash("l3", "alice@localhost/desk", "bob@localhost/phone");
        using var t3 = await ConnectAsync(third);
        using var r3 = await ConnectAsync(third);
        var deadline = DateTime.UtcNow + Wait;
        while (true)
        {
            var reply = await alice.Query(Activate(alice.NextId(), "l3", "bob@localhost/phone"));
            if (reply.Type == "result") break;
            Assert.True(DateTime.UtcNow < deadline, $"the ended relay was never counted off; the last answer: {reply}");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Rfc1928_a_client_that_does_not_finish_its_handshake_in_time_is_closed()
    {
        await StartAsync(new() { ["Xmpp:Plugins:proxy65:HandshakeSeconds"] = "1" });
        using var socket = await OpenAsync();
        await socket.SendAsync(new byte[] { 5, 1 }); // a greeting that never ends
        await AssertClosedAsync(socket);
    }

    [Fact]
    public async Task Xep0065_4_an_entity_of_another_server_is_forbidden_unless_allowed()
    {
        const string component = "elsewhere.example", secret = "s3cret";
        await StartAsync(new() { ["Xmpp:Components:Port"] = "0", [$"Xmpp:Components:{component}:Secret"] = secret });
        await using var c = await XmppTestClient.ConnectAsync(_server.ComponentEndPoint);
        await c.SendAsync($"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='{component}'>");
        var header = await c.ExpectStreamHeaderAsync();
        var proof = Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(header.Attr("id") + secret)));
        await c.SendAsync($"<handshake>{proof}</handshake>");
        await c.NextAsync(); // <handshake/>
        await c.SendAsync($"<iq type='get' id='f1' from='someone@{component}/x' to='{Service}'><query xmlns='{Ns}'/></iq>");
        var reply = await c.NextMatchingAsync(e => e.Id == "f1");
        Assert.Equal("error", reply.Type);
        Assert.NotNull(reply.Child("error", "jabber:component:accept")!.Child("forbidden", "urn:ietf:params:xml:ns:xmpp-stanzas"));
    }

    [Fact]
    public async Task Relay_is_throttled_to_the_configured_bytes_per_second()
    {
        await StartAsync(new() { ["Xmpp:Plugins:proxy65:BytesPerSecond"] = "200000" });
        await using var alice = await _server.LoginAsync("alice", "desk");
        var hash = Hash("t1", "alice@localhost/desk", "bob@localhost/phone");
        using var target = await ConnectAsync(hash);
        using var requester = await ConnectAsync(hash);
        await alice.Sends(Activate("t1", "t1", "bob@localhost/phone"));
        await alice.Receives("<iq type='result' id='t1'/>");
        const int size = 600_000; // a burst of one second's worth, then 400 kB at 200 kB/s: at least 2 s
        var clock = Stopwatch.StartNew();
        var send = requester.SendAsync(RandomNumberGenerator.GetBytes(size));
        await ReadAsync(target, size);
        await send;
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.5), $"600 kB relayed in {clock.Elapsed} at 200 kB/s");
    }

    [Fact]
    public async Task Xep0065_4_an_unloaded_proxy_stops_listening_and_a_reloaded_one_listens_again()
    {
        await using var alice = await _server.LoginAsync("alice", "desk");
        // a relay running across the reload: it belongs to the host, not to the plugin's load context
        var running = Hash("run", "alice@localhost/desk", "bob@localhost/phone");
        using var t0 = await ConnectAsync(running);
        using var r0 = await ConnectAsync(running);
        await alice.Sends(Activate("run", "run", "bob@localhost/phone"));
        await alice.Receives("<iq type='result' id='run'/>");
        var reload = await _server.Plugins.ReloadAsync("proxy65");
        Assert.True(reload.Ok, reload.Message);
        Assert.True(TestServer.AllCollected(reload.Released), "the old proxy65 context is still alive");
        await r0.SendAsync(new byte[] { 1, 2, 3 });
        Assert.Equal(new byte[] { 1, 2, 3 }, await ReadAsync(t0, 3));
        var host = (await alice.Query($"<iq type='get' id='r1' to='{Service}'><query xmlns='{Ns}'/></iq>")).Child("query", Ns)!.Child("streamhost", Ns)!;
        _port = int.Parse(host.Attr("port")!, CultureInfo.InvariantCulture);
        using var socket = await ConnectAsync(Hash("r", "alice@localhost/desk", "bob@localhost/phone"));
        var unload = await _server.Plugins.UnloadAsync("proxy65");
        Assert.True(unload.Ok, unload.Message);
        Assert.True(TestServer.AllCollected(unload.Released), "the proxy65 context is still alive after unload");
        await AssertClosedAsync(socket); // waiting connections go with the listener
        await Assert.ThrowsAsync<SocketException>(async () => { using var s = await OpenAsync(); });
    }
}
