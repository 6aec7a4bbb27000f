using System.Net;
using Actors.Xmpp.Server.Security;
using Actors.Xmpp.Transport.Admission;

namespace Actors.Xmpp.Tests.Security;

/// <summary>Per-address caps (XEP-0205 §3) and login throttling (RFC 6120 §6.5.11), with IPv6 grouped by /64.</summary>
public class AdmissionSpec
{
    private static IPEndPoint At(string address) => new(IPAddress.Parse(address), 40000);

    [Fact]
    public void Ipv6_addresses_are_grouped_by_their_64_bit_prefix_and_ipv4_mapped_by_their_ipv4_address()
    {
        Assert.Equal(AddressGroup.Of(IPAddress.Parse("2001:db8:1:2::1")), AddressGroup.Of(IPAddress.Parse("2001:db8:1:2:ffff:ffff:ffff:fffe")));
        Assert.NotEqual(AddressGroup.Of(IPAddress.Parse("2001:db8:1:2::1")), AddressGroup.Of(IPAddress.Parse("2001:db8:1:3::1")));
        Assert.Equal(AddressGroup.Of(IPAddress.Parse("192.0.2.7")), AddressGroup.Of(IPAddress.Parse("::ffff:192.0.2.7")));
        Assert.NotEqual(AddressGroup.Of(IPAddress.Parse("192.0.2.7")), AddressGroup.Of(IPAddress.Parse("192.0.2.8")));
        Assert.Equal("2001:db8:1:2::/64", AddressGroup.Of(IPAddress.Parse("2001:db8:1:2::1")).ToString());
        Assert.Equal("192.0.2.7", AddressGroup.Of(IPAddress.Parse("192.0.2.7")).ToString());
    }

    [Fact]
    public void Xep0205_one_address_at_its_cap_does_not_stop_another()
    {
        var admission = new ConnectionAdmission(new AdmissionLimits(MaxConnectionsPerAddress: 2, NewConnectionsPerSecond: 0));
        var a = IPAddress.Parse("2001:db8::1");
        Assert.Null(admission.TryAdmit(a));
        Assert.Null(admission.TryAdmit(IPAddress.Parse("2001:db8::2"))); // the same /64
        Assert.Equal(ConnectionAdmission.TooManyConnections, admission.TryAdmit(IPAddress.Parse("2001:db8::3")));
        Assert.Null(admission.TryAdmit(IPAddress.Parse("2001:db8:0:1::1")));   // another /64
        Assert.Null(admission.TryAdmit(IPAddress.Parse("198.51.100.1")));
        admission.Release(a);
        Assert.Null(admission.TryAdmit(IPAddress.Parse("2001:db8::4")));
    }

    [Fact]
    public void Xep0205_connection_rate_allows_a_burst_then_refuses()
    {
        var admission = new ConnectionAdmission(new AdmissionLimits(MaxConnectionsPerAddress: 0, NewConnectionsPerSecond: 0.001, NewConnectionsBurst: 3));
        var a = IPAddress.Parse("203.0.113.9");
        for (var i = 0; i < 3; i++)
        {
            Assert.Null(admission.TryAdmit(a));
            admission.Release(a); // closing does not give back the rate
        }
        Assert.Equal(ConnectionAdmission.TooFast, admission.TryAdmit(a));
        Assert.Null(admission.TryAdmit(IPAddress.Parse("203.0.113.10")));
    }

    [Fact]
    public void Loopback_is_exempt_only_when_configured()
    {
        var exempt = new ConnectionAdmission(new AdmissionLimits(MaxConnectionsPerAddress: 1));
        Assert.Null(exempt.TryAdmit(IPAddress.Loopback));
        Assert.Null(exempt.TryAdmit(IPAddress.Loopback));
        var strict = new ConnectionAdmission(new AdmissionLimits(MaxConnectionsPerAddress: 1, ExemptLoopback: false));
        Assert.Null(strict.TryAdmit(IPAddress.Loopback));
        Assert.NotNull(strict.TryAdmit(IPAddress.Loopback));
    }

    [Fact]
    public void Rfc6120_6_5_11_attempts_count_at_auth_and_success_gives_them_back()
    {
        var limiter = new LoginRateLimiter(new LoginLimits(MaxFailuresPerMinute: 2, BanSeconds: 60, MaxConcurrentExchanges: 0, ExemptLoopback: false));
        var a = At("2001:db8::1");
        Assert.True(limiter.Begin(a).Allowed);
        Assert.True(limiter.Begin(At("2001:db8::2")).Allowed); // same /64, both under way
        Assert.False(limiter.Begin(At("2001:db8::3")).Allowed); // a third parallel guess is refused at once
        Assert.False(limiter.Banned(a));
        limiter.End(a, failedCheck: false); // one succeeded
        Assert.True(limiter.Begin(a).Allowed);
        limiter.End(a, failedCheck: true);
        Assert.False(limiter.Banned(a));
        limiter.End(a, failedCheck: true); // the second failure reaches the limit: banned
        Assert.True(limiter.Banned(At("2001:db8::ffff")));
        var refused = limiter.Begin(a);
        Assert.False(refused.Allowed);
        Assert.Matches("try again in [0-9]+ seconds", refused.Refusal);
        Assert.True(limiter.Begin(At("2001:db8:0:1::1")).Allowed); // another /64
    }

    [Fact]
    public void Rfc6120_6_5_11_concurrent_exchanges_are_capped_per_address()
    {
        var limiter = new LoginRateLimiter(new LoginLimits(MaxFailuresPerMinute: 0, MaxConcurrentExchanges: 2, ExemptLoopback: false));
        var a = At("192.0.2.1");
        Assert.True(limiter.Begin(a).Allowed);
        Assert.True(limiter.Begin(a).Allowed);
        Assert.False(limiter.Begin(a).Allowed);
        Assert.True(limiter.Begin(At("192.0.2.2")).Allowed);
        limiter.End(a, failedCheck: false);
        Assert.True(limiter.Begin(a).Allowed);
    }
}

public sealed class ReadShaperSpec
{
    [Fact]
    public void Reads_within_the_burst_never_wait_and_past_it_wait_for_the_rate()
    {
        var shaper = new Actors.Xmpp.Transport.Admission.ReadShaper(new(BytesPerSecond: 1000, BurstBytes: 2000), now: 10_000);
        Assert.Equal(TimeSpan.Zero, shaper.Consume(2000, now: 10_000));
        // 500 bytes over: half a second at 1,000 B/s
        Assert.Equal(TimeSpan.FromMilliseconds(500), shaper.Consume(500, now: 10_000));
        // a second later the debt is paid and 500 more bytes are in the bucket
        Assert.Equal(TimeSpan.Zero, shaper.Consume(500, now: 11_000));
        // the bucket never holds more than the burst, however long the connection idled
        Assert.Equal(TimeSpan.Zero, shaper.Consume(2000, now: 1_000_000));
        Assert.Equal(TimeSpan.FromMilliseconds(1), shaper.Consume(1, now: 1_000_000));
    }

    [Fact]
    public void Loopback_is_not_shaped_unless_asked_and_zero_is_off()
    {
        var loopback = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 1);
        var remote = new System.Net.IPEndPoint(System.Net.IPAddress.Parse("203.0.113.7"), 1);
        Assert.Null(new Actors.Xmpp.Transport.Admission.ShaperLimits(1000).For(loopback));
        Assert.NotNull(new Actors.Xmpp.Transport.Admission.ShaperLimits(1000).For(remote));
        Assert.NotNull(new Actors.Xmpp.Transport.Admission.ShaperLimits(1000, ExemptLoopback: false).For(loopback));
        Assert.Null(new Actors.Xmpp.Transport.Admission.ShaperLimits(0).For(remote));
        Assert.NotNull(new Actors.Xmpp.Transport.Admission.ShaperLimits(0, StanzasPerSecond: 10).For(remote));
    }

    [Fact]
    public void Stanzas_are_a_second_bucket_and_the_longer_wait_wins()
    {
        var shaper = new Actors.Xmpp.Transport.Admission.ReadShaper(
            new(BytesPerSecond: 1_000_000, BurstBytes: 1_000_000, StanzasPerSecond: 100, BurstStanzas: 200), now: 0);
        Assert.Equal(TimeSpan.Zero, shaper.Consume(100, 200, now: 0));
        // 50 stanzas over at 100/s: half a second, though the bytes are far inside their rate
        Assert.Equal(TimeSpan.FromMilliseconds(500), shaper.Consume(100, 50, now: 0));
        Assert.Equal(TimeSpan.Zero, shaper.Consume(100, 10, now: 600));
        // bytes over their rate while the stanzas are not: the bytes' wait
        Assert.Equal(TimeSpan.FromMilliseconds(1000), shaper.Consume(1_999_900, 0, now: 600)); // 999,900 left: a million short
    }

    [Fact]
    public void An_account_class_is_found_by_bare_jid_before_domain_and_bad_members_are_refused()
    {
        var client = new Actors.Xmpp.Transport.Admission.ShaperLimits(32_768, ExemptLoopback: false);
        var classes = new Dictionary<string, Actors.Xmpp.Server.XmppServerOptions.AccountClassOptions>
        {
            ["bots"] = new() { BytesPerSecond = 1000, StanzasPerSecond = 5, Members = ["sensors.example.com"] },
            ["trusted"] = new() { Members = ["gateway@sensors.example.com", "ops@example.com"] },
        };
        var shapers = new Actors.Xmpp.Server.Security.AccountShapers(classes, client);
        Assert.Equal(5, shapers.For(Jid.Parse("t1@sensors.example.com/r"))!.StanzasPerSecond);
        var trusted = shapers.For(Jid.Parse("gateway@sensors.example.com"))!;
        Assert.False(trusted.Shapes); // a class with no rates: not shaped at all
        Assert.False(trusted.ExemptLoopback); // the loopback rule is the server's, not the class's
        Assert.Null(shapers.For(Jid.Parse("alice@example.com"))); // in no class: the client rates stay
        Assert.Throws<ArgumentException>(() => new Actors.Xmpp.Server.Security.AccountShapers(
            new Dictionary<string, Actors.Xmpp.Server.XmppServerOptions.AccountClassOptions> { ["x"] = new() { Members = ["a@b/c"] } }, client));
        Assert.Throws<ArgumentException>(() => new Actors.Xmpp.Server.Security.AccountShapers(
            new Dictionary<string, Actors.Xmpp.Server.XmppServerOptions.AccountClassOptions>
            {
                ["x"] = new() { Members = ["a@b"] },
                ["y"] = new() { Members = ["a@b"] },
            }, client));
    }
}
