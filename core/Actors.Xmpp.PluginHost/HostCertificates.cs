using System.Security.Cryptography.X509Certificates;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Transport.Tls;

namespace Actors.Xmpp.PluginHost;

/// <summary><see cref="IServerCertificates"/>: the leaf the XMPP listeners present for a name (what a reload made current).</summary>
internal sealed class HostCertificates(ServerCertificates certificates) : IServerCertificates
{
    public X509Certificate2 For(string? serverName) => certificates.Select(serverName).Leaf;
}
