using System.Security.Cryptography.X509Certificates;
using System.Text;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.IntegrationTests;

/// <summary>A server whose devices log in with certificates of a private CA (XEP-0178 on client streams).</summary>
public sealed class ClientCertificateServer : IAsyncLifetime
{
    private readonly string _caFile = Path.Combine(Path.GetTempPath(), "client-ca-" + Guid.NewGuid().ToString("N") + ".pem");
    public X509Certificate2 Ca { get; } = TestCertificates.Make("Devices CA", null, isCa: true);
    public TestServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await File.WriteAllTextAsync(_caFile, Ca.ExportCertificatePem());
        Server = new TestServer(new Dictionary<string, string?>
        {
            ["Xmpp:Tls:ClientCertificateAuthorities:0"] = _caFile,
            ["Xmpp:DirectTlsPort"] = "-1",
        });
        foreach (var user in new[] { "sensor1", "sensor2" }) await Server.AddUserAsync(user);
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        File.Delete(_caFile);
    }
}

/// <summary>XEP-0178 §3 (RFC 6120 §6.3.4 and §6.4): SASL EXTERNAL with the client's TLS certificate, its JIDs from
/// id-on-xmppAddr, the certificate verified against the configured authorities only.</summary>
public sealed class ClientCertificateTests(ClientCertificateServer fixture) : IClassFixture<ClientCertificateServer>
{
    private static bool OffersExternal(Element features) =>
        features.Child("mechanisms", Ns.Sasl)?.Elements().Any(m => m.Text == "EXTERNAL") == true;

    private async Task<(XmppTestClient Client, Element Features)> SecureAsync(X509Certificate2? certificate)
    {
        var c = await XmppTestClient.ConnectAsync(fixture.Server.C2sEndPoint);
        await c.OpenStreamAsync();
        if (certificate is null) return (c, await c.StartTlsAsync());
        await c.StartTlsWithCertificateAsync(certificate);
        return (c, await c.OpenStreamAsync());
    }

    private static async Task<Element> AuthExternalAsync(XmppTestClient c, string? authzid)
    {
        var payload = authzid is null ? "=" : Convert.ToBase64String(Encoding.UTF8.GetBytes(authzid));
        await c.SendAsync($"<auth xmlns='{Ns.Sasl}' mechanism='EXTERNAL'>{payload}</auth>");
        return await c.NextAsync();
    }

    [Fact]
    public async Task Xep0178_3_a_certificate_naming_one_account_logs_in_with_an_empty_authzid()
    {
        using var certificate = TestCertificates.Make("sensor1", fixture.Ca, xmppAddrs: "sensor1@localhost");
        var (c, features) = await SecureAsync(certificate);
        await using var _ = c;
        Assert.True(OffersExternal(features));
        var answer = await AuthExternalAsync(c, null);
        Assert.True(answer.Is("success", Ns.Sasl), answer.ToString());
        await c.OpenStreamAsync();
        Assert.Equal("sensor1@localhost/device", await c.BindAsync("device"));
    }

    [Fact]
    public async Task Xep0178_3_several_accounts_need_the_authzid_and_only_one_the_certificate_names()
    {
        using var certificate = TestCertificates.Make("pair", fixture.Ca, xmppAddrs: ["sensor1@localhost", "sensor2@localhost"]);
        var (c, _) = await SecureAsync(certificate);
        await using var client = c;
        var ambiguous = await AuthExternalAsync(c, null);
        Assert.NotNull(ambiguous.Child("invalid-authzid", Ns.Sasl)); // RFC 6120 §6.5.6
        var other = await AuthExternalAsync(c, "root@localhost");
        Assert.NotNull(other.Child("invalid-authzid", Ns.Sasl));
        var chosen = await AuthExternalAsync(c, "sensor2@localhost");
        Assert.True(chosen.Is("success", Ns.Sasl), chosen.ToString());
        await c.OpenStreamAsync();
        Assert.Equal("sensor2@localhost/d", await c.BindAsync("d"));
    }

    [Fact]
    public async Task Rfc6120_6_5_10_a_certificate_for_an_account_that_does_not_exist_is_not_authorized()
    {
        using var certificate = TestCertificates.Make("ghost", fixture.Ca, xmppAddrs: "ghost@localhost");
        var (c, features) = await SecureAsync(certificate);
        await using var _ = c;
        Assert.True(OffersExternal(features));
        Assert.NotNull((await AuthExternalAsync(c, null)).Child("not-authorized", Ns.Sasl));
    }

    [Fact]
    public async Task Xep0178_a_certificate_of_another_authority_gets_no_external()
    {
        using var stranger = TestCertificates.Make("Other CA", null, isCa: true);
        using var certificate = TestCertificates.Make("sensor1", stranger, xmppAddrs: "sensor1@localhost");
        var (c, features) = await SecureAsync(certificate);
        await using var _ = c;
        Assert.False(OffersExternal(features));
        Assert.NotNull((await AuthExternalAsync(c, null)).Child("invalid-mechanism", Ns.Sasl)); // RFC 6120 §6.5.7
    }

    [Fact]
    public async Task Xep0178_a_client_without_a_certificate_logs_in_with_a_password_as_before()
    {
        var (c, features) = await SecureAsync(null);
        await using var _ = c;
        Assert.False(OffersExternal(features));
        await c.AuthPlainAsync("sensor1");
        Assert.Equal("sensor1@localhost/p", await c.BindAsync("p"));
    }
}
