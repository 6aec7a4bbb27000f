using System.Text;
using Actors.Xmpp.Server.Sasl;

namespace Actors.Xmpp.Tests.Sasl;

/// <summary>SASL EXTERNAL on client streams (RFC 4422 Appendix A, XEP-0178 §3, RFC 6120 §6.4).</summary>
public class ExternalSpec
{
    private static readonly Jid Sensor = Jid.Parse("sensor@localhost"), Other = Jid.Parse("other@localhost");
    private static UserCredentials Exists(string user) => new(user, []);
    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public void Rfc4422_a_no_initial_response_gets_an_empty_challenge_then_the_empty_authzid_names_the_one_account()
    {
        var m = new ExternalServerMechanism("localhost", [Sensor]);
        Assert.Empty(Assert.IsType<SaslResult.Challenge>(m.Start(null)).Data);
        Assert.Equal("sensor", Assert.IsType<SaslResult.NeedCredentials>(m.Step([])).Username);
        Assert.Equal("sensor", Assert.IsType<SaslResult.Success>(m.Continue(Exists("sensor"))).Username);
    }

    [Fact]
    public void Rfc6120_6_5_6_an_authzid_the_certificate_does_not_name_is_invalid_authzid()
    {
        var m = new ExternalServerMechanism("localhost", [Sensor]);
        Assert.Equal(SaslConditions.InvalidAuthzid, Assert.IsType<SaslResult.Failure>(m.Start(Utf8("other@localhost"))).Condition);
        Assert.Equal(SaslConditions.InvalidAuthzid, Assert.IsType<SaslResult.Failure>(new ExternalServerMechanism("localhost", [Sensor]).Start(Utf8("sensor@elsewhere"))).Condition);
        Assert.Equal(SaslConditions.InvalidAuthzid, Assert.IsType<SaslResult.Failure>(new ExternalServerMechanism("localhost", [Sensor]).Start(Utf8("sensor@localhost/r"))).Condition);
    }

    [Fact]
    public void Xep0178_several_accounts_need_an_authzid_naming_one()
    {
        Assert.Equal(SaslConditions.InvalidAuthzid,
            Assert.IsType<SaslResult.Failure>(new ExternalServerMechanism("localhost", [Sensor, Other]).Start([])).Condition);
        var m = new ExternalServerMechanism("localhost", [Sensor, Other]);
        Assert.Equal("other", Assert.IsType<SaslResult.NeedCredentials>(m.Start(Utf8("other@localhost"))).Username);
    }

    [Fact]
    public void Rfc6120_6_5_10_an_account_that_does_not_exist_is_not_authorized()
    {
        var m = new ExternalServerMechanism("localhost", [Sensor]);
        m.Start([]);
        Assert.Equal(SaslConditions.NotAuthorized, Assert.IsType<SaslResult.Failure>(m.Continue(null)).Condition);
    }

    [Fact]
    public void External_is_offered_only_over_tls_with_a_certificate_naming_an_account()
    {
        var mechanisms = new SaslMechanisms(new SaslOptions());
        Assert.Equal("EXTERNAL", mechanisms.Advertise(true, null, [Sensor])[0]);
        Assert.DoesNotContain("EXTERNAL", mechanisms.Advertise(true, null));
        Assert.DoesNotContain("EXTERNAL", mechanisms.Advertise(true, null, []));
        Assert.DoesNotContain("EXTERNAL", mechanisms.Advertise(false, null, [Sensor]));
        Assert.Null(mechanisms.Create("EXTERNAL", true, null, "localhost"));
        Assert.IsType<ExternalServerMechanism>(mechanisms.Create("EXTERNAL", true, null, "localhost", certificateJids: [Sensor]));
    }
}
