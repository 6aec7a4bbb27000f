using System.ComponentModel.DataAnnotations;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Disco;

/// <summary>Options (Xmpp:Plugins:disco).</summary>
public sealed class DiscoOptions : IValidatableObject
{
    /// <summary>The address kinds XEP-0157 §2 registers (the field vars are these + "-addresses").</summary>
    public static readonly string[] ContactKinds = ["abuse", "admin", "feedback", "sales", "security", "status", "support"];

    /// <summary>The name of the server's identity.</summary>
    [Required, StringLength(100)]
    public string Name { get; set; } = "Actors";

    /// <summary>XEP-0157 contact addresses by kind (abuse, admin, feedback, sales, security, status, support), each a
    /// list of URIs such as mailto:admin@example.org or xmpp:admin@example.org. Published as an XEP-0128 form.</summary>
    public Dictionary<string, List<string>> ContactAddresses { get; set; } = new();

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var (kind, uris) in ContactAddresses)
        {
            var bare = kind.EndsWith("-addresses", StringComparison.Ordinal) ? kind[..^"-addresses".Length] : kind;
            if (!ContactKinds.Contains(bare))
                yield return new ValidationResult($"'{kind}' is not an XEP-0157 address kind ({string.Join(", ", ContactKinds)})",
                    [$"{nameof(ContactAddresses)}:{kind}"]);
            for (var i = 0; i < uris.Count; i++)
                if (!Uri.TryCreate(uris[i], UriKind.Absolute, out _))
                    yield return new ValidationResult($"'{uris[i]}' is not an absolute URI (such as mailto:… or xmpp:…)",
                        [$"{nameof(ContactAddresses)}:{kind}:{i}"]);
        }
    }

    public Element? ContactForm()
    {
        if (ContactAddresses.Count == 0) return null;
        var form = AdHoc.Form("result", formType: "http://jabber.org/network/serverinfo");
        foreach (var (kind, uris) in ContactAddresses.OrderBy(k => k.Key, StringComparer.Ordinal))
            form.Add(AdHoc.Field(kind.EndsWith("-addresses", StringComparison.Ordinal) ? kind : kind + "-addresses", "list-multi", uris.ToArray()));
        return form;
    }
}
