using Actors.Xmpp.Security;
using Actors.Xmpp.Server.Sasl;

namespace Actors.Xmpp.Tests.Sasl;

public class SaslMechanismsSpec
{
    private sealed class Cb(params string[] types) : IChannelBinding
    {
        public byte[]? Get(string type) => new byte[32];
        public IReadOnlyList<string> SupportedTypes => types;
    }

    [Fact]
    public void Advertisement_order_and_conditions()
    {
        var m = new SaslMechanisms(new SaslOptions());
        Assert.Equal(["SCRAM-SHA-512-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"],
            m.Advertise(true, new Cb("tls-exporter")));
        Assert.Equal(["SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"], m.Advertise(true, null));
        Assert.Equal(["SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"], m.Advertise(true, new Cb()));
        Assert.Equal(["SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1"], m.Advertise(false, new Cb("tls-exporter")));
        var lax = new SaslMechanisms(new SaslOptions { AllowPlainWithoutTls = true });
        Assert.Contains("PLAIN", lax.Advertise(false, null));
        var restricted = new SaslMechanisms(new SaslOptions { AllowedMechanisms = ["SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"] });
        Assert.Equal(["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"], restricted.Advertise(true, new Cb("tls-exporter")));
    }

    [Fact]
    public void Create_only_what_is_advertised()
    {
        var m = new SaslMechanisms(new SaslOptions());
        Assert.Null(m.Create("PLAIN", false, null, "example.com"));
        Assert.Null(m.Create("SCRAM-SHA-256-PLUS", true, null, "example.com"));
        Assert.Null(m.Create("DIGEST-MD5", true, null, "example.com"));
        Assert.Null(m.Create("scram-sha-256", true, null, "example.com"));
        Assert.Equal("PLAIN", m.Create("PLAIN", true, null, "example.com")!.Name);
        Assert.Equal("SCRAM-SHA-1-PLUS", m.Create("SCRAM-SHA-1-PLUS", true, new Cb("tls-exporter"), "example.com")!.Name);
        Assert.Equal("SCRAM-SHA-512", m.Create("SCRAM-SHA-512", false, null, "example.com")!.Name);
    }

    [Fact]
    public void Xep0440_feature()
    {
        Assert.Null(SaslMechanisms.ChannelBindingFeature(true, null));
        Assert.Null(SaslMechanisms.ChannelBindingFeature(false, new Cb("tls-exporter")));
        var el = SaslMechanisms.ChannelBindingFeature(true, new Cb("tls-exporter", "tls-server-end-point"))!;
        Assert.Equal("<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-exporter'/><channel-binding type='tls-server-end-point'/></sasl-channel-binding>",
            el.ToString());
    }
}
