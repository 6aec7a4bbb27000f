using System.Text;
using Actors.Xmpp.Server.Sasl;

namespace Actors.Xmpp.Tests.Sasl;

public class PlainSpec
{
    private static readonly SaslOptions Options = new() { ServerSecret = Encoding.UTF8.GetBytes("secret") };
    private static readonly UserCredentials Juliet = ScramKeys.Create("juliet", "r0m30", 50);

    private static byte[] Msg(string authz, string authc, string pass) => Encoding.UTF8.GetBytes(authz + "\0" + authc + "\0" + pass);

    private static SaslResult Run(byte[]? initial, UserCredentials? creds, byte[]? response = null)
    {
        var m = new PlainServerMechanism("example.com", Options);
        var r = m.Start(initial);
        if (initial is null)
        {
            Assert.Empty(Assert.IsType<SaslResult.Challenge>(r).Data);
            r = m.Step(response!);
        }
        return r is SaslResult.NeedCredentials ? m.Continue(creds) : r;
    }

    [Fact]
    public void Good_password_succeeds()
    {
        var ok = Assert.IsType<SaslResult.Success>(Run(Msg("", "Juliet", "r0m30"), Juliet));
        Assert.Equal("juliet", ok.Username);
        Assert.Null(ok.AuthzId);
        Assert.Null(ok.AdditionalData);
        Assert.IsType<SaslResult.Success>(Run(null, Juliet, Msg("", "juliet", "r0m30")));
    }

    [Fact]
    public void Works_with_any_stored_hash()
    {
        foreach (var h in ScramKeys.Hashes)
        {
            var creds = new UserCredentials("juliet", [ScramKeys.Derive(h, "pw", new byte[] { 1, 2, 3, 4 }, 10)]);
            Assert.IsType<SaslResult.Success>(Run(Msg("", "juliet", "pw"), creds));
            Assert.IsType<SaslResult.Failure>(Run(Msg("", "juliet", "pW"), creds));
        }
    }

    [Fact]
    public void Bad_password_and_unknown_user_fail_alike()
    {
        var bad = Assert.IsType<SaslResult.Failure>(Run(Msg("", "juliet", "wrong"), Juliet));
        var unknown = Assert.IsType<SaslResult.Failure>(Run(Msg("", "nobody", "r0m30"), null));
        Assert.Equal("not-authorized", bad.Condition);
        Assert.Equal(bad, unknown);
    }

    [Fact]
    public void Authzid_must_match()
    {
        Assert.Equal("juliet@example.com", Assert.IsType<SaslResult.Success>(Run(Msg("juliet@example.com", "juliet", "r0m30"), Juliet)).AuthzId);
        Assert.Equal("invalid-authzid", Assert.IsType<SaslResult.Failure>(Run(Msg("romeo@example.com", "juliet", "r0m30"), Juliet)).Condition);
    }

    [Fact]
    public void Malformed_messages()
    {
        foreach (var m in new[]
        {
            Msg("", "", "pw"), Msg("", "juliet", ""), Encoding.UTF8.GetBytes("juliet\0pw"), Encoding.UTF8.GetBytes("a\0b\0c\0d"),
            Msg("", new string('a', 1025), "pw"), Msg("", "juliet", new string('p', 1025)), Msg(new string('z', 1025), "juliet", "pw"),
            [0, 0xFF, 0, (byte)'p'], [], Encoding.UTF8.GetBytes("nonul"),
        })
            Assert.Equal("malformed-request", Assert.IsType<SaslResult.Failure>(Run(m, Juliet)).Condition);
    }
}
