using System.ComponentModel.DataAnnotations;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Caps;

/// <summary>XEP-0115 entity capabilities of the server: a &lt;c/&gt; stream feature whose 'ver' hashes the server's
/// disco#info (§5), and disco#info answered at node#ver.</summary>
[Xep(115, "1.6.0")]
public sealed class CapsPlugin : IXmppPlugin
{
    public const string Ns = "http://jabber.org/protocol/caps";

    public PluginDescriptor Descriptor { get; } = new("caps", "1.0.0", [PluginDependency.Hard("disco")]);

    public sealed class Options
    {
        /// <summary>XEP-0115 §4: a URI identifying the software.</summary>
        [Required, Url]
        public string Node { get; set; } = "https://github.com/actors-xmpp/actors";
    }

    public void Configure(IPluginContext ctx)
    {
        var node = ctx.Options<Options>().Node;
        var disco = ctx.Require<IDisco>();
        ctx.AddFeature(Ns);
        ctx.AddStreamFeature(() => new Element("c", Ns).SetAttr("hash", "sha-1").SetAttr("node", node)
            .SetAttr("ver", Ver(disco.Info(IqScope.Server))));
        ctx.Track(disco.AddNode(IqScope.Server, node + "#*", r => disco.Info(IqScope.Server)));
    }

    /// <summary>The verification string of XEP-0115 §5.1 (SHA-1, base64).</summary>
    public static string Ver(DiscoInfo info) => EntityCapabilities.Ver(info);
}
