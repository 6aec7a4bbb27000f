using System.Security.Cryptography;
using System.Text;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Plugins;

/// <summary>XEP-0115 entity capabilities: the verification string of a disco#info result (§5.1, SHA-1), shared by the
/// server's own caps (the caps plugin) and the checking of clients' caps before caching them (§5.4, the pubsub plugin).</summary>
public static class EntityCapabilities
{
    public const string Ns = "http://jabber.org/protocol/caps";
    public const string Sha1 = "sha-1";

    /// <summary>The verification string of <paramref name="info"/> (§5.1).</summary>
    public static string Ver(DiscoInfo info)
    {
        var query = new Element("query", Xmpp.Ns.DiscoInfo);
        foreach (var i in info.Identities)
            query.Add(new Element("identity", Xmpp.Ns.DiscoInfo).SetAttr("category", i.Category).SetAttr("type", i.Type).SetAttr("name", i.Name));
        foreach (var f in info.Features.Distinct()) query.Add(new Element("feature", Xmpp.Ns.DiscoInfo).SetAttr("var", f));
        foreach (var form in info.Forms) query.Add(form);
        return Ver(query)!;
    }

    /// <summary>The verification string of a disco#info &lt;query/&gt; (§5.1), or null when §5.4 says the result is
    /// invalid (an identity or a feature twice, or two forms with the same FORM_TYPE).</summary>
    public static string? Ver(Element query)
    {
        var s = new StringBuilder();
        var identities = query.Elements("identity", Xmpp.Ns.DiscoInfo)
            .Select(i => (Category: i.Attr("category") ?? "", Type: i.Attr("type") ?? "", Lang: i.Attr("xml:lang") ?? "", Name: i.Attr("name") ?? ""))
            .OrderBy(i => i.Category, StringComparer.Ordinal).ThenBy(i => i.Type, StringComparer.Ordinal)
            .ThenBy(i => i.Lang, StringComparer.Ordinal).ThenBy(i => i.Name, StringComparer.Ordinal).ToList();
        for (var i = 1; i < identities.Count; i++)
            if (identities[i] == identities[i - 1]) return null;
        foreach (var i in identities) s.Append(i.Category).Append('/').Append(i.Type).Append('/').Append(i.Lang).Append('/').Append(i.Name).Append('<');
        var features = new List<string>();
        foreach (var f in query.Elements("feature", Xmpp.Ns.DiscoInfo))
            if (f.Attr("var") is { } var) features.Add(var);
        features.Sort(StringComparer.Ordinal);
        for (var i = 1; i < features.Count; i++)
            if (features[i] == features[i - 1]) return null;
        foreach (var f in features) s.Append(f).Append('<');
        var forms = new SortedDictionary<string, Element>(StringComparer.Ordinal);
        foreach (var form in query.Elements("x", AdHoc.DataNs))
        {
            var formType = form.Elements("field", AdHoc.DataNs).FirstOrDefault(f => f.Attr("var") == "FORM_TYPE")?.ChildText("value", AdHoc.DataNs);
            if (formType is null) continue; // §5.4: forms without FORM_TYPE are ignored
            if (!forms.TryAdd(formType, form)) return null;
        }
        foreach (var (formType, form) in forms)
        {
            s.Append(formType).Append('<');
            foreach (var field in form.Elements("field", AdHoc.DataNs).Where(f => f.Attr("var") != "FORM_TYPE").OrderBy(f => f.Attr("var"), StringComparer.Ordinal))
            {
                s.Append(field.Attr("var")).Append('<');
                foreach (var v in field.Elements("value", AdHoc.DataNs).Select(v => v.Text).OrderBy(v => v, StringComparer.Ordinal))
                    s.Append(v).Append('<');
            }
        }
        return Convert.ToBase64String(SHA1.HashData(Encoding.UTF8.GetBytes(s.ToString())));
    }
}
