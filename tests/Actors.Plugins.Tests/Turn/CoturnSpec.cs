using System.Globalization;
using Actors.Xmpp.Testing;
using Xunit.Abstractions;

namespace Actors.Plugins.Tests.Turn;

/// <summary>
/// coturn's own clients (Debian package coturn: turnutils_stunclient, turnutils_uclient) against the built-in
/// STUN/TURN server on loopback: a Binding over UDP, and uclient's client-to-client relaying (-y) through allocations,
/// permissions and channels, over UDP and TCP, with TURN REST credentials from the same shared secret (-W).
/// </summary>
public sealed class CoturnSpec(TurnServerFixture fixture, ITestOutputHelper output) : IClassFixture<TurnServerFixture>
{
    private string Port => fixture.Port.ToString(CultureInfo.InvariantCulture);

    [Fact]
    public async Task Rfc8489_turnutils_stunclient_gets_its_reflexive_address()
    {
        var r = await RunAsync("turnutils_stunclient", ["-p", Port, "-L", "127.0.0.1", "127.0.0.1"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("UDP reflexive addr: 127.0.0.1:", r.Stdout + r.Stderr);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public async Task Rfc8656_turnutils_uclient_relays_to_itself_without_loss(bool tcp, bool sendIndications)
    {
        // -y: the clients are each other's peers through their relayed addresses; -c: no RTCP allocations; -n 50
        // messages of -l 120 bytes each; -W: the TURN REST secret (uclient makes "expiry:user" and the HMAC itself)
        List<string> args = ["-y", "-c", "-n", "50", "-l", "120", "-m", "2", "-z", "5", "-p", Port, "-L", "127.0.0.1",
            "-u", "uclient-" + Guid.NewGuid().ToString("N")[..6] + "@localhost", "-W", TurnServerFixture.Secret, "-e", "127.0.0.1"];
        if (tcp) args.Insert(0, "-t");
        if (sendIndications) args.Insert(0, "-s"); // Send/Data indications instead of channels
        args.Add("127.0.0.1");
        var r = await RunAsync("turnutils_uclient", args);
        var all = r.Stdout + r.Stderr;
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("tot_send_msgs=100, tot_recv_msgs=100", all); // 2 clients x 50 messages, each came back
        Assert.Contains("Total lost packets 0 (0.000000%)", all);
        Assert.DoesNotContain("error", all, StringComparison.OrdinalIgnoreCase);
    }

    private async Task<ExternalProgram.Outcome> RunAsync(string program, List<string> args)
    {
        var outcome = await ExternalProgram.RunAsync(program, args, TimeSpan.FromSeconds(90));
        output.WriteLine(outcome.ToString());
        return outcome;
    }
}
