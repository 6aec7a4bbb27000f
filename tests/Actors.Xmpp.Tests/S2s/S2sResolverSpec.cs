using Actors.Xmpp.Server.S2s;
using DnsClient;
using DnsClient.Protocol;
using Xunit;

namespace Actors.Xmpp.Tests.S2s;

/// <summary>RFC 6120 §3.2 resolution order (static routes, SRV ordered per RFC 2782) and XEP-0185 keys.</summary>
public sealed class S2sResolverSpec
{
    private static SrvRecord Srv(ushort priority, ushort weight, ushort port, string target) =>
        new(new ResourceRecordInfo(DnsString.Parse("_xmpp-server._tcp.example.org."), ResourceRecordType.SRV, QueryClass.IN, 300, 0),
            priority, weight, port, DnsString.Parse(target));

    [Fact]
    public void Routes_parse_host_port_and_default_to_5269()
    {
        var routes = S2sResolver.ParseRoutes(new Dictionary<string, string>
        {
            ["B.Example"] = "127.0.0.2:5270",
            ["c.example"] = "xmpp.c.example",
            ["d.example"] = "[::1]:5300",
        });
        Assert.Equal(new S2sTarget("127.0.0.2", 5270), routes["b.example"]); // the domain is normalized
        Assert.Equal(new S2sTarget("xmpp.c.example", S2sResolver.DefaultPort), routes["c.example"]);
        Assert.Equal(new S2sTarget("::1", 5300), routes["d.example"]);
        Assert.Throws<InvalidOperationException>(() => S2sResolver.ParseRoutes(new Dictionary<string, string> { ["e.example"] = "host:notaport" }));
    }

    [Fact]
    public async Task Rfc6120_3_2_static_route_is_asked_before_dns_and_without_dns_nothing_else_resolves()
    {
        var resolver = new S2sResolver(new Dictionary<string, S2sTarget> { ["b.example"] = new("127.0.0.1", 5999) }, dns: null);
        Assert.Equal([new S2sTarget("127.0.0.1", 5999)], await resolver.ResolveAsync("b.example", CancellationToken.None));
        Assert.Empty(await resolver.ResolveAsync("elsewhere.example", CancellationToken.None));
        await Assert.ThrowsAsync<S2sUnreachableException>(() => resolver.ConnectAsync("elsewhere.example", CancellationToken.None));
    }

    [Fact]
    public void Rfc2782_srv_targets_are_tried_by_priority_then_weight()
    {
        for (var run = 0; run < 20; run++)
        {
            var ordered = S2sResolver.OrderSrv([Srv(20, 0, 5269, "late.example.org."), Srv(10, 60, 5270, "a.example.org."), Srv(10, 40, 5271, "b.example.org."), Srv(5, 0, 5272, "first.example.org.")]);
            Assert.Equal(4, ordered.Count);
            Assert.Equal(new S2sTarget("first.example.org", 5272), ordered[0]);
            Assert.Equal(["a.example.org", "b.example.org"], ordered.Skip(1).Take(2).Select(t => t.Host).Order());
            Assert.Equal(new S2sTarget("late.example.org", 5269), ordered[3]);
        }
    }

    [Fact]
    public void Xep0368_direct_tls_records_merge_with_starttls_ones_by_priority_and_keep_their_kind()
    {
        for (var run = 0; run < 20; run++)
        {
            var ordered = S2sResolver.OrderSrv([(Srv(10, 0, 5269, "plain.example.org."), false), (Srv(5, 0, 5270, "tls.example.org."), true), (Srv(20, 0, 443, "late-tls.example.org."), true)]);
            Assert.Equal([new S2sTarget("tls.example.org", 5270, DirectTls: true), new S2sTarget("plain.example.org", 5269), new S2sTarget("late-tls.example.org", 443, DirectTls: true)], ordered);
        }
    }

    [Fact]
    public void Xep0368_a_static_route_with_the_tls_prefix_is_a_direct_tls_target()
    {
        var routes = S2sResolver.ParseRoutes(new Dictionary<string, string> { ["b.example"] = "tls:127.0.0.2:5270", ["c.example"] = "TLS:xmpp.c.example" });
        Assert.Equal(new S2sTarget("127.0.0.2", 5270, DirectTls: true), routes["b.example"]);
        Assert.Equal(new S2sTarget("xmpp.c.example", S2sResolver.DefaultPort, DirectTls: true), routes["c.example"]);
    }

    [Fact]
    public void Xep0185_keys_verify_only_for_the_same_receiving_originating_and_stream_id()
    {
        var keys = new DialbackKeys("s3cr3tf0rd14lb4ck"u8.ToArray());
        var key = keys.Generate("example.net", "example.com", "D60000229F");
        Assert.Equal(64, key.Length); // hex HMAC-SHA256
        Assert.True(keys.Verify("example.net", "example.com", "D60000229F", key));
        Assert.True(keys.Verify("example.net", "example.com", "D60000229F", key.ToUpperInvariant()));
        Assert.False(keys.Verify("example.net", "example.com", "D60000229G", key));
        Assert.False(keys.Verify("example.com", "example.net", "D60000229F", key));
        Assert.False(new DialbackKeys("another secret"u8.ToArray()).Verify("example.net", "example.com", "D60000229F", key));
    }
}
