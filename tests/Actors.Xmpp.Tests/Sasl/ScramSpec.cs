using System.Text;
using Actors.Xmpp.Security;
using Actors.Xmpp.Server.Sasl;

namespace Actors.Xmpp.Tests.Sasl;

public class ScramSpec
{
    private static readonly SaslOptions Options = new() { ServerSecret = Encoding.UTF8.GetBytes("test-secret") };

    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);
    private static string S(byte[] b) => Encoding.UTF8.GetString(b);

    private sealed class FakeCb(byte[] data, params string[] types) : IChannelBinding
    {
        public byte[]? Get(string type) => SupportedTypes.Contains(type) ? data : null;
        public IReadOnlyList<string> SupportedTypes { get; } = types.Length == 0 ? ["tls-exporter"] : types;
    }

    private static UserCredentials Creds(string hash, string user, string password, byte[] salt, int iterations = 4096) =>
        new(user, [ScramKeys.Derive(hash, password, salt, iterations)]);

    [Fact]
    public void Rfc5802_scram_sha1_test_vector()
    {
        var m = new ScramServerMechanism("SHA-1", false, null, false, "example.com", Options, () => "3rfcNHYJY1ZVvWVs7j");
        var r1 = m.Start(B("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"));
        Assert.Equal("user", Assert.IsType<SaslResult.NeedCredentials>(r1).Username);
        var r2 = m.Continue(Creds("SHA-1", "user", "pencil", Convert.FromBase64String("QSXCR+Q6sek8bf92")));
        Assert.Equal("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
            S(Assert.IsType<SaslResult.Challenge>(r2).Data));
        var r3 = m.Step(B("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="));
        var ok = Assert.IsType<SaslResult.Success>(r3);
        Assert.Equal("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=", S(ok.AdditionalData!));
        Assert.Equal("user", ok.Username);
        Assert.Null(ok.AuthzId);
    }

    [Fact]
    public void Rfc7677_scram_sha256_test_vector()
    {
        var m = new ScramServerMechanism("SHA-256", false, null, false, "example.com", Options, () => "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
        Assert.IsType<SaslResult.NeedCredentials>(m.Start(B("n,,n=user,r=rOprNGfwEbeRWgbNEkqO")));
        var r2 = m.Continue(Creds("SHA-256", "user", "pencil", Convert.FromBase64String("W22ZaJ0SNY7soEsUEjb6gQ==")));
        Assert.Equal("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            S(Assert.IsType<SaslResult.Challenge>(r2).Data));
        var r3 = m.Step(B("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="));
        Assert.Equal("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", S(Assert.IsType<SaslResult.Success>(r3).AdditionalData!));
    }

    private static SaslResult RunFull(ISaslMechanism m, ScramTestClient client, UserCredentials? creds, bool initialResponse = true,
        Func<ScramTestClient, byte[], byte[]>? final = null)
    {
        SaslResult r;
        if (initialResponse) r = m.Start(client.ClientFirst());
        else
        {
            var c = Assert.IsType<SaslResult.Challenge>(m.Start(null));
            Assert.Empty(c.Data);
            r = m.Step(client.ClientFirst());
        }
        if (r is not SaslResult.NeedCredentials) return r;
        r = m.Continue(creds);
        if (r is not SaslResult.Challenge ch) return r;
        return m.Step(final is null ? client.ClientFinal(ch.Data) : final(client, ch.Data));
    }

    [Theory]
    [InlineData("SHA-512")]
    [InlineData("SHA-256")]
    [InlineData("SHA-1")]
    public void Round_trip_with_created_credentials(string hash)
    {
        var creds = ScramKeys.Create("Juliet", "r0m30 myr0m30", iterations: 1000);
        Assert.Equal("juliet", creds.Username);
        var mechs = new SaslMechanisms(Options);
        var m = mechs.Create("SCRAM-" + hash, isTls: true, cb: null, "example.com")!;
        var client = new ScramTestClient(hash, "juliet", "r0m30 myr0m30", "abcdefghijklmnop");
        var r = Assert.IsType<SaslResult.Success>(RunFull(m, client, creds, initialResponse: hash != "SHA-1"));
        Assert.True(client.VerifyServerFinal(r.AdditionalData!));
        Assert.Equal("juliet", r.Username);
    }

    [Fact]
    public void Username_is_saslprepped_and_escapes_are_decoded()
    {
        var m = new ScramServerMechanism("SHA-256", false, null, false, "example.com", Options);
        Assert.Equal("juliet", Assert.IsType<SaslResult.NeedCredentials>(m.Start(B("n,,n=ＪＵＬＩＥＴ,r=abc"))).Username);

        // "=2C" decodes to ',' which is fine for SASL but ',' is allowed in a localpart? (it is: ASCII7)
        var m2 = new ScramServerMechanism("SHA-256", false, null, false, "example.com", Options);
        Assert.Equal("a,b=c", Assert.IsType<SaslResult.NeedCredentials>(m2.Start(B("n,,n=a=2Cb=3Dc,r=abc"))).Username);
    }

    [Theory]
    [InlineData("n,,n=us=41er,r=abc", "malformed-request")]  // bad escape
    [InlineData("n,,n=user=,r=abc", "malformed-request")]   // truncated escape
    [InlineData("n,,n=us er,r=abc", "not-authorized")]      // space: not a localpart
    [InlineData("n,,n=us@er,r=abc", "not-authorized")]      // '@' not allowed in a localpart
    [InlineData("n,,n=,r=abc", "not-authorized")]
    [InlineData("n,,m=ext,n=user,r=abc", "malformed-request")]
    [InlineData("n,,r=abc,n=user", "malformed-request")]
    [InlineData("n,,n=user", "malformed-request")]
    [InlineData("n,,n=user,r=", "malformed-request")]
    [InlineData("x,,n=user,r=abc", "malformed-request")]
    [InlineData("n,n=user,r=abc", "malformed-request")]
    [InlineData("n,a=b=ZZ,n=user,r=abc", "malformed-request")]
    [InlineData("p=tls-exporter,,n=user,r=abc", "malformed-request")] // p with a non-PLUS mechanism
    [InlineData("", "malformed-request")]
    public void Bad_client_first(string message, string condition)
    {
        var m = new ScramServerMechanism("SHA-256", false, null, false, "example.com", Options);
        var f = Assert.IsType<SaslResult.Failure>(m.Start(B(message)));
        Assert.Equal(condition, f.Condition);
    }

    [Fact]
    public void Invalid_utf8_is_malformed()
    {
        var m = new ScramServerMechanism("SHA-256", false, null, false, "example.com", Options);
        Assert.Equal("malformed-request", Assert.IsType<SaslResult.Failure>(m.Start([(byte)'n', (byte)',', (byte)',', 0xFF])).Condition);
    }

    [Fact]
    public void Wrong_password_fails_not_authorized()
    {
        var creds = ScramKeys.Create("juliet", "right", iterations: 100);
        var m = new ScramServerMechanism("SHA-256", false, null, false, "example.com", Options);
        var client = new ScramTestClient("SHA-256", "juliet", "wrong", "nonce1");
        var f = Assert.IsType<SaslResult.Failure>(RunFull(m, client, creds));
        Assert.Equal("not-authorized", f.Condition);
    }

    [Fact]
    public void Unknown_user_gets_the_same_shape_of_answers()
    {
        var opts = new SaslOptions { ServerSecret = B("secret"), FakeIterations = 4096 };
        string FirstChallenge(string user, UserCredentials? creds)
        {
            var m = new ScramServerMechanism("SHA-256", false, null, false, "example.com", opts, () => "SERVERNONCE");
            Assert.IsType<SaslResult.NeedCredentials>(m.Start(B($"n,,n={user},r=abc")));
            return S(Assert.IsType<SaslResult.Challenge>(m.Continue(creds)).Data);
        }
        var known = FirstChallenge("romeo", ScramKeys.Create("romeo", "pw"));
        var unknown1 = FirstChallenge("nobody", null);
        var unknown2 = FirstChallenge("nobody", null);
        var unknown3 = FirstChallenge("someone", null);
        var shape = new System.Text.RegularExpressions.Regex(@"^r=abcSERVERNONCE,s=[A-Za-z0-9+/]{22}==,i=4096$");
        Assert.Matches(shape, known);
        Assert.Matches(shape, unknown1);
        Assert.Equal(unknown1, unknown2); // deterministic fake salt
        Assert.NotEqual(unknown1, unknown3);

        // and the final step fails exactly like a wrong password
        var m2 = new ScramServerMechanism("SHA-256", false, null, false, "example.com", opts);
        var f = Assert.IsType<SaslResult.Failure>(RunFull(m2, new ScramTestClient("SHA-256", "nobody", "pw", "abc"), null));
        var m3 = new ScramServerMechanism("SHA-256", false, null, false, "example.com", opts);
        var f2 = Assert.IsType<SaslResult.Failure>(RunFull(m3, new ScramTestClient("SHA-256", "romeo", "bad", "abc"), ScramKeys.Create("romeo", "pw", 10)));
        Assert.Equal(f2, f);
        Assert.Equal("not-authorized", f.Condition);
    }

    [Fact]
    public void User_without_a_verifier_for_this_hash_is_treated_as_unknown()
    {
        var sha1Only = new UserCredentials("romeo", [ScramKeys.Derive("SHA-1", "pw", new byte[16], 10)]);
        var m = new ScramServerMechanism("SHA-256", false, null, false, "example.com", Options);
        var f = Assert.IsType<SaslResult.Failure>(RunFull(m, new ScramTestClient("SHA-256", "romeo", "pw", "abc"), sha1Only));
        Assert.Equal("not-authorized", f.Condition);
    }

    [Fact]
    public void Nonce_must_match()
    {
        var creds = ScramKeys.Create("juliet", "pw", 10);
        var m = new ScramServerMechanism("SHA-256", false, null, false, "example.com", Options);
        var f = Assert.IsType<SaslResult.Failure>(RunFull(m, new ScramTestClient("SHA-256", "juliet", "pw", "abc"), creds,
            final: (c, sf) => c.ClientFinal(sf, overrideNonce: "abcTAMPERED")));
        Assert.Equal("not-authorized", f.Condition);
    }

    [Fact]
    public void Bad_client_final_is_malformed()
    {
        var creds = ScramKeys.Create("juliet", "pw", 10);
        foreach (var final in new[] { "c=biws,r=x", "c=biws,r=x,p=!!!", "c=biws,r=x,p=AAAA", "garbage" })
        {
            var m = new ScramServerMechanism("SHA-256", false, null, false, "example.com", Options);
            var f = Assert.IsType<SaslResult.Failure>(RunFull(m, new ScramTestClient("SHA-256", "juliet", "pw", "abc"), creds,
                final: (_, _) => B(final)));
            Assert.Equal("malformed-request", f.Condition);
        }
    }

    [Fact]
    public void Authzid_must_be_the_users_bare_jid()
    {
        var creds = ScramKeys.Create("juliet", "pw", 10);
        SaslResult Run(string gs2)
        {
            var m = new ScramServerMechanism("SHA-256", false, null, false, "example.com", Options);
            return RunFull(m, new ScramTestClient("SHA-256", "juliet", "pw", "abc", gs2), creds);
        }
        Assert.Equal("juliet@example.com", Assert.IsType<SaslResult.Success>(Run("n,a=Juliet@Example.com,")).AzId());
        Assert.Equal("invalid-authzid", Assert.IsType<SaslResult.Failure>(Run("n,a=romeo@example.com,")).Condition);
        Assert.Equal("invalid-authzid", Assert.IsType<SaslResult.Failure>(Run("n,a=juliet@example.com/res,")).Condition);
        Assert.Equal("invalid-authzid", Assert.IsType<SaslResult.Failure>(Run("n,a=not a jid,")).Condition);
    }

    [Fact]
    public void Plus_with_correct_channel_binding_succeeds()
    {
        var cbData = new byte[32];
        Random.Shared.NextBytes(cbData);
        var cb = new FakeCb(cbData, "tls-exporter", "tls-server-end-point");
        var mechs = new SaslMechanisms(Options);
        var creds = ScramKeys.Create("juliet", "pw", 10);
        foreach (var type in cb.SupportedTypes)
        {
            var m = mechs.Create("SCRAM-SHA-256-PLUS", true, cb, "example.com")!;
            var client = new ScramTestClient("SHA-256", "juliet", "pw", "abc", $"p={type},,", cbData);
            var ok = Assert.IsType<SaslResult.Success>(RunFull(m, client, creds));
            Assert.True(client.VerifyServerFinal(ok.AdditionalData!));
        }
    }

    [Fact]
    public void Plus_with_wrong_channel_binding_data_fails()
    {
        var cb = new FakeCb(new byte[32]);
        var creds = ScramKeys.Create("juliet", "pw", 10);
        var m = new SaslMechanisms(Options).Create("SCRAM-SHA-512-PLUS", true, cb, "example.com")!;
        var client = new ScramTestClient("SHA-512", "juliet", "pw", "abc", "p=tls-exporter,,", Enumerable.Repeat((byte)1, 32).ToArray());
        var f = Assert.IsType<SaslResult.Failure>(RunFull(m, client, creds));
        Assert.Equal("not-authorized", f.Condition);

        // c= that does not even carry the gs2 header
        var m2 = new SaslMechanisms(Options).Create("SCRAM-SHA-512-PLUS", true, cb, "example.com")!;
        var f2 = Assert.IsType<SaslResult.Failure>(RunFull(m2, new ScramTestClient("SHA-512", "juliet", "pw", "abc", "p=tls-exporter,,", new byte[32]), creds,
            final: (c, sf) => c.ClientFinal(sf, overrideCb: B("n,,"))));
        Assert.Equal("not-authorized", f2.Condition);
    }

    [Fact]
    public void Plus_with_unsupported_type_or_without_binding_fails()
    {
        var cb = new FakeCb(new byte[32], "tls-exporter");
        var mechs = new SaslMechanisms(Options);
        var m = mechs.Create("SCRAM-SHA-256-PLUS", true, cb, "example.com")!;
        Assert.Equal("not-authorized", Assert.IsType<SaslResult.Failure>(m.Start(B("p=tls-unique,,n=juliet,r=abc"))).Condition);
        var m2 = mechs.Create("SCRAM-SHA-256-PLUS", true, cb, "example.com")!;
        Assert.Equal("not-authorized", Assert.IsType<SaslResult.Failure>(m2.Start(B("n,,n=juliet,r=abc"))).Condition);
    }

    [Fact]
    public void Y_flag_when_plus_was_advertised_is_a_downgrade()
    {
        var cb = new FakeCb(new byte[32]);
        var mechs = new SaslMechanisms(Options);
        var m = mechs.Create("SCRAM-SHA-256", true, cb, "example.com")!;
        var f = Assert.IsType<SaslResult.Failure>(m.Start(B("y,,n=juliet,r=abc")));
        Assert.Equal("not-authorized", f.Condition);

        // without channel binding on offer, "y" is fine (and c= must then be "y,,")
        var creds = ScramKeys.Create("juliet", "pw", 10);
        var m2 = mechs.Create("SCRAM-SHA-256", true, null, "example.com")!;
        Assert.IsType<SaslResult.Success>(RunFull(m2, new ScramTestClient("SHA-256", "juliet", "pw", "abc", "y,,"), creds));
        // the c= of a "y" exchange cannot be swapped for "n,,"
        var m3 = mechs.Create("SCRAM-SHA-256", true, null, "example.com")!;
        Assert.IsType<SaslResult.Failure>(RunFull(m3, new ScramTestClient("SHA-256", "juliet", "pw", "abc", "y,,"), creds,
            final: (c, sf) => c.ClientFinal(sf, overrideCb: B("n,,"))));
    }

    [Fact]
    public void Steps_after_completion_fail()
    {
        var m = new ScramServerMechanism("SHA-256", false, null, false, "example.com", Options);
        Assert.IsType<SaslResult.Failure>(m.Start(B("garbage")));
        Assert.IsType<SaslResult.Failure>(m.Step(B("n,,n=user,r=abc")));
        Assert.IsType<SaslResult.Failure>(m.Continue(null));
    }

    [Fact]
    public void ScramKeys_rejects_bad_input()
    {
        Assert.Throws<ArgumentException>(() => ScramKeys.Derive("MD5", "pw", new byte[16], 1));
        Assert.Throws<ArgumentException>(() => ScramKeys.Create("a b", "pw"));
        Assert.Throws<ArgumentException>(() => ScramKeys.Create("user", ""));
        Assert.Throws<ArgumentException>(() => ScramKeys.Create("user", "pw\u0000"));
        var c = ScramKeys.Create("user", "pw", 1);
        Assert.Equal(["SHA-512", "SHA-256", "SHA-1"], c.Scram.Select(s => s.Hash));
        Assert.All(c.Scram, s => Assert.Equal(16, s.Salt.Length));
        Assert.NotEqual(c.Scram[0].Salt, c.Scram[1].Salt);
        // SASLprep: a non-ASCII space in the password maps to U+0020
        Assert.Equal(ScramKeys.Derive("SHA-256", "a b", new byte[16], 1).StoredKey, ScramKeys.Derive("SHA-256", "a\u00A0b", new byte[16], 1).StoredKey);
    }
}

internal static class SaslResultExtensions
{
    public static string? AzId(this SaslResult.Success s) => s.AuthzId;
}
