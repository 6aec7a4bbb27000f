using System.CommandLine;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Actors.Xmpp.Persistence;
using Actors.Xmpp.Server;
using Actors.Xmpp.Server.Hosting;
using Actors.Xmpp.Server.Tls;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace Actors.Host.Server;

/// <summary>
/// `actors-server check`: what a new operator would get wrong, before starting. Errors are what would stop the server
/// from working (an unknown key, an invalid value, a certificate that does not load, has expired or names none of the
/// domains, a database that cannot be reached): exit code 1. Warnings are advice for a public deployment (a
/// self-signed certificate, a chain that does not verify against the system's roots, expiry within 14 days): exit 0.
/// </summary>
internal static class CheckCommand
{
    private static readonly TimeSpan ExpirySoon = TimeSpan.FromDays(14);

    public static Command Create()
    {
        var check = new Command("check", "Check the configuration, certificates and database; exit code 1 when something would stop the server.");
        check.SetAction((p, ct) => RunAsync(ConfigOverrides.For(p), ct));
        return check;
    }

    private sealed class Findings
    {
        public int Errors { get; private set; }
        public int Warnings { get; private set; }
        public void Error(string text) { Errors++; Console.WriteLine("error: " + text); }
        public void Warning(string text) { Warnings++; Console.WriteLine("warning: " + text); }
        public static void Ok(string text) => Console.WriteLine("ok: " + text);
    }

    private static async Task<int> RunAsync(string[] overrides, CancellationToken ct)
    {
        var findings = new Findings();
        var configuration = ServerRunner.CreateBuilder(overrides).Configuration;
        var keys = ConfigurationKeys.Check(configuration);
        foreach (var key in keys.Unknown) findings.Error($"unknown configuration key {key}");
        foreach (var section in keys.PluginSections)
            Findings.Ok($"{section}: not a server setting, left to the plugin that declares it (its options are validated when it loads: `plugin list`)");

        var options = new XmppServerOptions();
        var persistence = new XmppPersistenceOptions();
        try
        {
            configuration.GetSection(XmppServerOptions.Section).Bind(options);
            configuration.GetSection(XmppPersistenceOptions.Section).Bind(persistence);
        }
        catch (InvalidOperationException ex)
        {
            // the binder names the key and the type: "Failed to convert configuration value at 'Xmpp:C2sPort' to type 'System.Int32'."
            findings.Error(ex.Message);
            return Summary(findings);
        }
        try
        {
            options.Validate();
        }
        catch (InvalidOperationException ex)
        {
            findings.Error(ex.Message);
        }
        CheckPort(findings, "Xmpp:C2sPort", options.C2sPort, allowOff: false);
        CheckPort(findings, "Xmpp:DirectTlsPort", options.DirectTlsPort, allowOff: true);
        CheckPort(findings, "Xmpp:Http:Port", options.Http.Port, allowOff: true);
        CheckPort(findings, "Xmpp:Http:TlsPort", options.Http.TlsPort, allowOff: true);
        if (findings.Errors == 0) Findings.Ok("configuration keys and values");
        if (Actors.Xmpp.Precis.IcuRequirement is { } icu) findings.Error(icu);
        else Findings.Ok("ICU for PRECIS normalization (RFC 8264)");

        IReadOnlyList<string> domains;
        try
        {
            domains = options.AllDomains();
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            findings.Error(ex.Message);
            return Summary(findings);
        }
        CheckCertificates(findings, options, domains);
        await CheckDatabaseAsync(findings, options, persistence, ct);
        return Summary(findings);
    }

    private static int Summary(Findings findings)
    {
        Console.WriteLine($"{findings.Errors} error(s), {findings.Warnings} warning(s)");
        return findings.Errors > 0 ? 1 : 0;
    }

    private static void CheckPort(Findings findings, string key, int port, bool allowOff)
    {
        if (port > 65535 || port < (allowOff ? -1 : 0))
            findings.Error($"{key} = {port}: a port is 0..65535{(allowOff ? " (or -1: off)" : "")}");
    }

    private static void CheckCertificates(Findings findings, XmppServerOptions options, IReadOnlyList<string> domains)
    {
        if (string.IsNullOrEmpty(options.Tls.CertificatePath) && options.Tls.Certificates.Count == 0)
        {
            findings.Warning("no Xmpp:Tls:CertificatePath: a self-signed certificate is generated in the data folder; clients will not " +
                             "verify it (for a public server, configure a certificate, e.g. certbot's fullchain.pem and privkey.pem)");
            return;
        }
        IReadOnlyList<Actors.Xmpp.Transport.Tls.ServerCertificates.ServerCertificate> certificates;
        try
        {
            certificates = CertificateReload.Load(options, domains);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException
                                       or InvalidOperationException or ArgumentException)
        {
            findings.Error("certificate: " + ex.Message);
            return;
        }
        var now = DateTime.UtcNow;
        foreach (var c in certificates)
        {
            var what = $"certificate {c.Source} ({string.Join(' ', c.DnsNames)})";
            var notAfter = c.Leaf.NotAfter.ToUniversalTime();
            if (notAfter < now) findings.Error($"{what} expired on {notAfter:yyyy-MM-dd}");
            else if (c.Leaf.NotBefore.ToUniversalTime() > now) findings.Error($"{what} is not valid before {c.Leaf.NotBefore.ToUniversalTime():yyyy-MM-dd}");
            else if (notAfter - now < ExpirySoon) findings.Warning($"{what} expires on {notAfter:yyyy-MM-dd}");
            using var chain = new X509Chain();
            chain.ChainPolicy.ExtraStore.AddRange(c.Intermediates);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.DisableCertificateDownloads = true; // what a client that does not fetch intermediates sees
            if (!chain.Build(c.Leaf))
            {
                var status = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Distinct());
                findings.Warning($"{what}: the chain in the file does not verify against this system's trusted roots ({status}); " +
                                 "clients need the intermediates in the file (fullchain.pem) and a root they trust");
            }
            else
            {
                Findings.Ok($"{what}: chain of {c.Intermediates.Count + 1} verifies, expires {notAfter:yyyy-MM-dd}");
            }
        }
        foreach (var domain in domains)
            if (!certificates.Any(c => c.Leaf.MatchesHostname(domain)))
                findings.Error($"no certificate names the domain {domain} (clients verifying it would refuse the connection)");
    }

    private static async Task CheckDatabaseAsync(Findings findings, XmppServerOptions options, XmppPersistenceOptions persistence, CancellationToken ct)
    {
        if (string.Equals(persistence.Provider, "PostgreSQL", StringComparison.OrdinalIgnoreCase))
        {
            if (string.IsNullOrEmpty(persistence.ConnectionString))
            {
                findings.Error("Xmpp:Persistence:Provider is PostgreSQL but Xmpp:Persistence:ConnectionString is empty");
                return;
            }
            try
            {
                var builder = new NpgsqlConnectionStringBuilder(persistence.ConnectionString) { Timeout = 5 };
                await using var connection = new NpgsqlConnection(builder.ConnectionString);
                await connection.OpenAsync(ct);
                await using var command = new NpgsqlCommand("SELECT 1", connection);
                await command.ExecuteScalarAsync(ct);
                Findings.Ok($"PostgreSQL database {builder.Database} on {builder.Host} reachable");
            }
            catch (Exception ex) when (ex is NpgsqlException or ArgumentException or InvalidOperationException or TimeoutException)
            {
                findings.Error("PostgreSQL database not reachable: " + ex.Message);
            }
            return;
        }
        if (!string.Equals(persistence.Provider, "Sqlite", StringComparison.OrdinalIgnoreCase))
        {
            findings.Error($"Xmpp:Persistence:Provider '{persistence.Provider}': Sqlite or PostgreSQL");
            return;
        }
        // SQLite: the data folder must be (made) writable by the server's user
        var dir = Path.GetFullPath(options.DataDir);
        try
        {
            Directory.CreateDirectory(dir);
            var probe = Path.Combine(dir, ".check-" + Guid.NewGuid().ToString("N"));
            await File.WriteAllTextAsync(probe, "", ct);
            File.Delete(probe);
            Findings.Ok($"data folder {dir} writable (SQLite journal {Path.Combine(dir, "actors.db")})");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            findings.Error($"data folder {dir} is not writable: {ex.Message}");
        }
    }
}
