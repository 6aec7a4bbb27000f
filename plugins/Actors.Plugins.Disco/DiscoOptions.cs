using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Disco;

/// <summary>Options (Xmpp:Plugins:disco).</summary>
public sealed class DiscoOptions
{
    /// <summary>The name of the server's identity.</summary>
    public string Name { get; set; } = "Actors";

    /// <summary>XEP-0157 contact addresses by kind (abuse, admin, feedback, sales, security, status, support), each a
    /// list of URIs such as mailto:admin@example.org or xmpp:admin@example.org. Published as an XEP-0128 form.</summary>
    public Dictionary<string, List<string>> ContactAddresses { get; set; } = new();

    public Element? ContactForm()
    {
        if (ContactAddresses.Count == 0) return null;
        var form = AdHoc.Form("result", formType: "http://jabber.org/network/serverinfo");
        foreach (var (kind, uris) in ContactAddresses.OrderBy(k => k.Key, StringComparer.Ordinal))
            form.Add(AdHoc.Field(kind.EndsWith("-addresses", StringComparison.Ordinal) ? kind : kind + "-addresses", "list-multi", uris.ToArray()));
        return form;
    }
}
