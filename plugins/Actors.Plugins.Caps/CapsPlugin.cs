using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Text;
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
    public static string Ver(DiscoInfo info)
    {
        var s = new StringBuilder();
        foreach (var i in info.Identities.OrderBy(i => i.Category, StringComparer.Ordinal).ThenBy(i => i.Type, StringComparer.Ordinal))
            s.Append(i.Category).Append('/').Append(i.Type).Append('/').Append("").Append('/').Append(i.Name ?? "").Append('<');
        foreach (var f in info.Features.Distinct().OrderBy(f => f, StringComparer.Ordinal)) s.Append(f).Append('<');
        foreach (var (formType, form) in info.Forms.Select(f => (FormType(f), f)).Where(f => f.Item1 is not null).OrderBy(f => f.Item1, StringComparer.Ordinal))
        {
            s.Append(formType).Append('<');
            foreach (var field in form.Elements("field", AdHoc.DataNs).Where(f => f.Attr("var") != "FORM_TYPE")
                         .OrderBy(f => f.Attr("var"), StringComparer.Ordinal))
            {
                s.Append(field.Attr("var")).Append('<');
                foreach (var v in field.Elements("value", AdHoc.DataNs).Select(v => v.Text).OrderBy(v => v, StringComparer.Ordinal))
                    s.Append(v).Append('<');
            }
        }
        return Convert.ToBase64String(SHA1.HashData(Encoding.UTF8.GetBytes(s.ToString())));
    }

    private static string? FormType(Element form) =>
        form.Elements("field", AdHoc.DataNs).FirstOrDefault(f => f.Attr("var") == "FORM_TYPE")?.ChildText("value", AdHoc.DataNs);
}
