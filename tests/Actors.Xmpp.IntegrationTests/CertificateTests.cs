using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Actors.Xmpp.Server.Hosting;
using Actors.Xmpp.Server.Tls;
using Actors.Xmpp.Transport.Tls;
using Microsoft.Extensions.DependencyInjection;

namespace Actors.Xmpp.IntegrationTests;

/// <summary>
/// An operator's certificates: a PEM chain (leaf and intermediate of a private CA made by openssl here) served whole on
/// STARTTLS, direct TLS and HTTPS, so that a client that does not fetch intermediates and trusts only the root verifies
/// it (openssl s_client -verify_return_error); several certificates selected by SNI; reload on `cert reload` and on a
/// file change without dropping established connections.
/// </summary>
public sealed class CertificateTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "actors-certs-" + Guid.NewGuid().ToString("N")[..12]);

    public CertificateTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    // ------------------------------------------------------------------ a private CA made with openssl

    private string P(string name) => Path.Combine(_dir, name);

    private void OpenSsl(string arguments)
    {
        using var process = Process.Start(new ProcessStartInfo("openssl", arguments)
        {
            WorkingDirectory = _dir, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true,
        })!;
        process.StandardInput.Close();
        var stderr = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"openssl {arguments}: {stderr.Result}");
    }

    /// <summary>root.pem (self-signed CA) and int.pem (intermediate CA signed by the root), with their keys.</summary>
    private void MakeCa()
    {
        File.WriteAllText(P("ca.ext"), "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n");
        OpenSsl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout root.key -out root.pem -days 30 " +
                "-subj /CN=Actors-Test-Root -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign");
        OpenSsl("req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout int.key -out int.csr -subj /CN=Actors-Test-Intermediate");
        OpenSsl("x509 -req -in int.csr -CA root.pem -CAkey root.key -CAcreateserial -out int.pem -days 30 -extfile ca.ext");
    }

    /// <summary>A leaf for <paramref name="names"/> signed by the intermediate: NAME.key and NAME-fullchain.pem (leaf then
    /// intermediate, like certbot's fullchain.pem) and NAME-leaf.pem (the leaf alone).</summary>
    private (string Chain, string Key, string Leaf) MakeLeaf(string file, params string[] names)
    {
        File.WriteAllText(P(file + ".ext"), "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n" +
                                            "subjectAltName=" + string.Join(',', names.Select(n => "DNS:" + n)) + "\n");
        OpenSsl($"req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {file}.key -out {file}.csr -subj /CN={names[0]}");
        OpenSsl($"x509 -req -in {file}.csr -CA int.pem -CAkey int.key -CAcreateserial -out {file}-leaf.pem -days 30 -extfile {file}.ext");
        File.WriteAllText(P(file + "-fullchain.pem"), File.ReadAllText(P(file + "-leaf.pem")) + File.ReadAllText(P("int.pem")));
        return (P(file + "-fullchain.pem"), P(file + ".key"), P(file + "-leaf.pem"));
    }

    private TestServer Start(string certificate, string key, IDictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Xmpp:Tls:CertificatePath"] = certificate,
            ["Xmpp:Tls:KeyPath"] = key,
            ["Xmpp:Http:TlsPort"] = "0",
            ["Xmpp:Tls:WatchFiles"] = "false",
        };
        if (more is not null)
            foreach (var (k, v) in more) settings[k] = v;
        return new TestServer(settings);
    }

    /// <summary>openssl s_client trusting only root.pem, failing on any verification error; its exit code and output.</summary>
    private static async Task<(int ExitCode, string Output)> SClientAsync(string dir, IPEndPoint endPoint, string extra)
    {
        using var process = Process.Start(new ProcessStartInfo("openssl",
            $"s_client -connect {endPoint} -servername localhost -verify_hostname localhost -CAfile root.pem -verify_return_error {extra}")
        {
            WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true,
        })!;
        process.StandardInput.Close(); // end of input: s_client closes the connection after the handshake
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(cts.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>A TLS handshake on a direct TLS port asking for <paramref name="serverName"/> (SNI): the certificate
    /// the server presented.</summary>
    private static async Task<X509Certificate2> PresentedAsync(IPEndPoint endPoint, string serverName)
    {
        using var tcp = new TcpClient(AddressFamily.InterNetwork);
        await tcp.ConnectAsync(endPoint);
        await using var ssl = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false, (_, _, _, _) => true);
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = serverName, EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            ApplicationProtocols = [new SslApplicationProtocol("xmpp-client")],
        });
        return X509CertificateLoader.LoadCertificate(ssl.RemoteCertificate!.GetRawCertData());
    }

    // ------------------------------------------------------------------ chains

    [Fact]
    public async Task Pem_chain_is_sent_whole_on_direct_tls_starttls_and_https_verified_with_only_the_root()
    {
        MakeCa();
        var (chain, key, _) = MakeLeaf("localhost", "localhost");
        await using var server = Start(chain, key);

        var direct = await SClientAsync(_dir, server.DirectTlsEndPoint, "-alpn xmpp-client");
        Assert.True(direct.ExitCode == 0, direct.Output);
        Assert.Contains("Verify return code: 0 (ok)", direct.Output);
        Assert.Contains("CN = Actors-Test-Intermediate", direct.Output); // the intermediate is in the server's chain

        var starttls = await SClientAsync(_dir, server.C2sEndPoint, "-starttls xmpp -xmpphost localhost");
        Assert.True(starttls.ExitCode == 0, starttls.Output);
        Assert.Contains("Verify return code: 0 (ok)", starttls.Output);

        var https = await SClientAsync(_dir, server.Service.Http!.HttpsEndPoint!, "-alpn http/1.1");
        Assert.True(https.ExitCode == 0, https.Output);
        Assert.Contains("Verify return code: 0 (ok)", https.Output);
    }

    [Fact]
    public async Task Leaf_without_its_intermediate_fails_the_same_verification()
    {
        // the control of the test above: the client really does not fetch intermediates
        MakeCa();
        var (_, key, leaf) = MakeLeaf("localhost", "localhost");
        await using var server = Start(leaf, key);
        var direct = await SClientAsync(_dir, server.DirectTlsEndPoint, "-alpn xmpp-client");
        Assert.NotEqual(0, direct.ExitCode);
        Assert.DoesNotContain("Verify return code: 0 (ok)", direct.Output);
    }

    [Fact]
    public async Task Key_in_the_certificate_file_when_no_key_path()
    {
        MakeCa();
        var (chain, key, _) = MakeLeaf("localhost", "localhost");
        var combined = P("combined.pem");
        File.WriteAllText(combined, File.ReadAllText(chain) + File.ReadAllText(key));
        await using var server = Start(combined, "");
        var direct = await SClientAsync(_dir, server.DirectTlsEndPoint, "-alpn xmpp-client");
        Assert.True(direct.ExitCode == 0, direct.Output);
    }

    // ------------------------------------------------------------------ SNI (RFC 6066 §3)

    [Fact]
    public async Task Rfc6066_3_certificate_selected_by_server_name_default_for_unknown_names()
    {
        MakeCa();
        var (chain, key, _) = MakeLeaf("localhost", "localhost");
        var (otherChain, otherKey, _) = MakeLeaf("other", "other.test", "*.wild.test");
        await using var server = Start(chain, key, new Dictionary<string, string?>
        {
            ["Xmpp:Tls:Certificates:0:CertificatePath"] = otherChain,
            ["Xmpp:Tls:Certificates:0:KeyPath"] = otherKey,
        });
        Assert.Equal("CN=localhost", (await PresentedAsync(server.DirectTlsEndPoint, "localhost")).Subject);
        Assert.Equal("CN=other.test", (await PresentedAsync(server.DirectTlsEndPoint, "other.test")).Subject);
        Assert.Equal("CN=other.test", (await PresentedAsync(server.DirectTlsEndPoint, "muc.wild.test")).Subject);
        Assert.Equal("CN=localhost", (await PresentedAsync(server.DirectTlsEndPoint, "unknown.example")).Subject);
    }

    // ------------------------------------------------------------------ reload

    [Fact]
    public async Task Cert_reload_serves_the_new_certificate_and_keeps_established_connections()
    {
        MakeCa();
        var (chain, key, _) = MakeLeaf("localhost", "localhost");
        await using var server = Start(chain, key);
        await server.AddUserAsync("cert-reload");
        await using var established = await XmppTestClient.LoginAsync(server, "cert-reload", "r1", tls: true);
        var before = await PresentedAsync(server.DirectTlsEndPoint, "localhost");

        var (renewed, renewedKey, _) = MakeLeaf("renewed", "localhost");
        File.Copy(renewed, chain, overwrite: true);
        File.Copy(renewedKey, key, overwrite: true);
        var answer = await AdminCommandAsync(server, CertificateReload.ReloadCommand);
        Assert.True((bool?)answer["ok"], answer.ToJsonString());

        var after = await PresentedAsync(server.DirectTlsEndPoint, "localhost");
        Assert.NotEqual(before.Thumbprint, after.Thumbprint);
        Assert.Equal(X509CertificateLoader.LoadCertificateFromFile(renewed).Thumbprint, after.Thumbprint);
        await established.PingServerAsync(); // the connection made before the reload is still up
        var verified = await SClientAsync(_dir, server.DirectTlsEndPoint, "-alpn xmpp-client");
        Assert.True(verified.ExitCode == 0, verified.Output);
    }

    [Fact]
    public async Task Cert_reload_of_an_unreadable_file_fails_and_keeps_the_current_certificate()
    {
        MakeCa();
        var (chain, key, _) = MakeLeaf("localhost", "localhost");
        await using var server = Start(chain, key);
        var before = await PresentedAsync(server.DirectTlsEndPoint, "localhost");
        var (_, otherKey, _) = MakeLeaf("mismatch", "localhost");
        File.Copy(otherKey, key, overwrite: true); // a key that is not the certificate's
        var answer = await AdminCommandAsync(server, CertificateReload.ReloadCommand);
        Assert.False((bool?)answer["ok"]);
        Assert.Contains("current ones stay", (string?)answer["error"]);
        Assert.Equal(before.Thumbprint, (await PresentedAsync(server.DirectTlsEndPoint, "localhost")).Thumbprint);
    }

    [Fact]
    public async Task Changed_certificate_files_are_reloaded_without_a_command()
    {
        MakeCa();
        var (chain, key, _) = MakeLeaf("localhost", "localhost");
        await using var server = Start(chain, key, new Dictionary<string, string?> { ["Xmpp:Tls:WatchFiles"] = "true" });
        await server.AddUserAsync("cert-watch");
        await using var established = await XmppTestClient.LoginAsync(server, "cert-watch", "r1", tls: true);
        var (renewed, renewedKey, _) = MakeLeaf("renewed", "localhost");
        var expected = X509CertificateLoader.LoadCertificateFromFile(renewed).Thumbprint;
        // as certbot does: new files moved into place
        File.Copy(renewedKey, key + ".new");
        File.Move(key + ".new", key, overwrite: true);
        File.Copy(renewed, chain + ".new");
        File.Move(chain + ".new", chain, overwrite: true);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        string presented;
        do
        {
            await Task.Delay(250);
            presented = (await PresentedAsync(server.DirectTlsEndPoint, "localhost")).Thumbprint;
        } while (presented != expected && DateTime.UtcNow < deadline);
        Assert.Equal(expected, presented);
        await established.PingServerAsync();
    }

    [Fact]
    public async Task Cert_list_names_each_certificate_with_its_chain()
    {
        MakeCa();
        var (chain, key, _) = MakeLeaf("localhost", "localhost");
        await using var server = Start(chain, key);
        var answer = await AdminCommandAsync(server, CertificateReload.ListCommand);
        var first = answer["certificates"]![0]!;
        Assert.Equal("localhost", (string?)first["names"]![0]);
        Assert.Equal("CN=Actors-Test-Intermediate", (string?)first["intermediates"]![0]);
    }

    private static async Task<JsonObject> AdminCommandAsync(TestServer server, string command)
    {
        var extensions = server.Services.GetServices<IAdminCommandExtension>();
        foreach (var e in extensions)
            if (await e.TryExecuteAsync(new JsonObject { ["cmd"] = command }) is { } answer)
                return answer;
        throw new InvalidOperationException("no admin command " + command);
    }
}
