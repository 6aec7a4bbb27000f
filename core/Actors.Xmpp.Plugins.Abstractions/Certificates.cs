using System.Security.Cryptography.X509Certificates;

namespace Actors.Xmpp.Plugins;

/// <summary>
/// The server's own TLS certificates (host-provided: ctx.Require&lt;IServerCertificates&gt;()), for a plugin that runs a
/// TLS listener of its own (the 'mqtt' plugin's MQTT over TLS): the certificate the server presents on its XMPP streams
/// for a name, with its private key, as configured (Xmpp:Tls) or self-signed, and the current one after a reload.
/// </summary>
public interface IServerCertificates
{
    /// <summary>The certificate for <paramref name="serverName"/> (a served domain or a name a certificate covers; the
    /// default certificate for null or an unknown name). Ask again per connection: a reload replaces it.</summary>
    X509Certificate2 For(string? serverName);
}
