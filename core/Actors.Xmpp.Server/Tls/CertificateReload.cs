using System.Globalization;
using System.Text.Json.Nodes;
using Actors.Xmpp.Transport.Tls;

namespace Actors.Xmpp.Server.Tls;

/// <summary>The configured certificates: how they are read (at start and at each reload) and the admin command
/// `cert reload` / `cert list` of the running server.</summary>
public static class CertificateReload
{
    public const string ReloadCommand = "cert-reload";
    public const string ListCommand = "cert-list";

    /// <summary>The certificate files of the configuration (default first); empty when a self-signed one is used.</summary>
    public static IReadOnlyList<string> Files(XmppServerOptions options)
    {
        var files = new List<string>();
        if (!string.IsNullOrEmpty(options.Tls.CertificatePath))
        {
            files.Add(options.Tls.CertificatePath);
            if (!string.IsNullOrEmpty(options.Tls.KeyPath)) files.Add(options.Tls.KeyPath);
        }
        foreach (var c in options.Tls.Certificates)
        {
            if (!string.IsNullOrEmpty(c.CertificatePath)) files.Add(c.CertificatePath);
            if (!string.IsNullOrEmpty(c.KeyPath)) files.Add(c.KeyPath);
        }
        return files;
    }

    /// <summary>Reads the configured certificates: Xmpp:Tls:CertificatePath (else a self-signed certificate for the
    /// domains, kept in the data folder), then each of Xmpp:Tls:Certificates.</summary>
    public static IReadOnlyList<ServerCertificates.ServerCertificate> Load(XmppServerOptions options, IReadOnlyList<string> domains)
    {
        var tls = options.Tls;
        var list = new List<ServerCertificates.ServerCertificate>();
        if (!string.IsNullOrEmpty(tls.CertificatePath))
            list.Add(CertificateLoader.LoadPemChain(tls.CertificatePath, tls.KeyPath));
        else if (!string.IsNullOrEmpty(tls.KeyPath))
            throw new InvalidOperationException("Xmpp:Tls:KeyPath is set but Xmpp:Tls:CertificatePath is not");
        else
            list.Add(new ServerCertificates.ServerCertificate(
                CertificateLoader.LoadOrCreateSelfSigned(Path.Combine(options.DataDir, "tls"), domains), new()));
        for (var i = 0; i < tls.Certificates.Count; i++)
        {
            var c = tls.Certificates[i];
            if (string.IsNullOrEmpty(c.CertificatePath))
                throw new InvalidOperationException($"Xmpp:Tls:Certificates:{i}:CertificatePath is not set");
            list.Add(CertificateLoader.LoadPemChain(c.CertificatePath, c.KeyPath));
        }
        return list;
    }

    public static string Describe(IReadOnlyList<ServerCertificates.ServerCertificate> certificates)
    {
        var parts = new string[certificates.Count];
        for (var i = 0; i < certificates.Count; i++)
        {
            var c = certificates[i];
            parts[i] = string.Join(' ', c.DnsNames) + " (expires " +
                       c.Leaf.NotAfter.ToUniversalTime().ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) + ", " +
                       (c.Intermediates.Count + 1).ToString(CultureInfo.InvariantCulture) + " in chain)";
        }
        return string.Join("; ", parts);
    }

    public static JsonArray ToJson(IReadOnlyList<ServerCertificates.ServerCertificate> certificates)
    {
        var array = new JsonArray();
        foreach (var c in certificates)
        {
            var names = new JsonArray();
            foreach (var n in c.DnsNames) names.Add(n);
            var chain = new JsonArray();
            foreach (var i in c.Intermediates) chain.Add(i.Subject);
            array.Add(new JsonObject
            {
                ["subject"] = c.Leaf.Subject,
                ["names"] = names,
                ["notAfter"] = c.Leaf.NotAfter.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
                ["intermediates"] = chain,
                ["file"] = c.Source,
            });
        }
        return array;
    }
}

/// <summary>Admin channel commands: {"cmd":"cert-reload"} reads the certificate files again (connections stay up),
/// {"cmd":"cert-list"} lists the certificates in use.</summary>
public sealed class CertificateAdminCommands(ServerCertificates certificates) : Hosting.IAdminCommandExtension
{
    public Task<JsonObject?> TryExecuteAsync(JsonObject request)
    {
        switch ((string?)request["cmd"])
        {
            case CertificateReload.ReloadCommand:
                try
                {
                    var loaded = certificates.Reload();
                    return Task.FromResult<JsonObject?>(new JsonObject
                    {
                        ["ok"] = true, ["message"] = "certificates reloaded: " + CertificateReload.Describe(loaded),
                        ["certificates"] = CertificateReload.ToJson(loaded),
                    });
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException
                                               or System.Security.Cryptography.CryptographicException or InvalidOperationException or ArgumentException)
                {
                    return Task.FromResult<JsonObject?>(new JsonObject
                    {
                        ["ok"] = false, ["error"] = "certificates not reloaded (the current ones stay): " + ex.Message,
                    });
                }
            case CertificateReload.ListCommand:
                return Task.FromResult<JsonObject?>(new JsonObject
                {
                    ["ok"] = true, ["certificates"] = CertificateReload.ToJson(certificates.All),
                });
            default:
                return Task.FromResult<JsonObject?>(null);
        }
    }
}
