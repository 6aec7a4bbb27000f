using System.Globalization;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Things;

/// <summary>XEP-0347 meta tags (§3.6 Meta Tags): &lt;str/&gt; and &lt;num/&gt; with a name (at most 32 characters,
/// no colon, hash sign or white space, case insensitive: kept upper case) and a value (a string of at most 128
/// characters, or a double).</summary>
internal static class MetaTags
{
    public const string Ns = "urn:xmpp:iot:discovery";
    public const string Str = "str";
    public const string Num = "num";
    /// <summary>The reserved tag shared only by a thing and its owner: never searched, never shown (§3.5, §5.4).</summary>
    public const string Key = "KEY";
    public const int MaxNameLength = 32;
    public const int MaxValueLength = 128;

    public static bool IsTag(Element e) => e.Namespace == Ns && e.Name is Str or Num;

    /// <summary>The tags of <paramref name="request"/>, names upper case, or null when one breaks §3.6 (or a name comes
    /// twice, or there are more than <paramref name="max"/>).</summary>
    public static List<Element>? Read(Element request, int max, bool allowEmpty)
    {
        var tags = new List<Element>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var e in request.Elements())
        {
            if (!IsTag(e)) return null;
            var name = Name(e.Attr("name"));
            var value = e.Attr("value");
            if (name is null || value is null || !names.Add(name)) return null;
            if (e.Name == Str ? value.Length > MaxValueLength || value.Length == 0 && !allowEmpty : !TryNumber(value, out _)) return null;
            tags.Add(new Element(e.Name, Ns).SetAttr("name", name).SetAttr("value", value));
        }
        return tags.Count > max ? null : tags;
    }

    /// <summary>A tag name as kept (upper case), or null when §3.6 forbids it.</summary>
    public static string? Name(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > MaxNameLength) return null;
        foreach (var c in name)
            if (c is ':' or '#' || char.IsWhiteSpace(c) || char.IsControl(c)) return null;
        return name.ToUpperInvariant();
    }

    public static bool TryNumber(string? text, out double value) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);

    /// <summary>Whether two tag sets are exactly the same (names, types and values; order aside): §3.4's claim rule.</summary>
    public static bool SameSet(IReadOnlyList<Element> a, IReadOnlyList<Element> b)
    {
        if (a.Count != b.Count) return false;
        foreach (var x in a)
        {
            var found = false;
            foreach (var y in b)
                if (x.Name == y.Name && x.Attr("name") == y.Attr("name") && SameValue(x, y)) { found = true; break; }
            if (!found) return false;
        }
        return true;
    }

    private static bool SameValue(Element x, Element y) =>
        x.Name == Num && TryNumber(x.Attr("value"), out var a) && TryNumber(y.Attr("value"), out var b) ? a == b : x.Attr("value") == y.Attr("value");

    /// <summary>A random KEY value no one guesses (§3.12: what a disowned thing gets).</summary>
    public static string RandomKey() => Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
}
