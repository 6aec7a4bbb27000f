using Actors.Xmpp.Xml;

namespace Actors.Plugins.Things;

/// <summary>XEP-0347 §3.9 search operators: every operator must hold (AND). An operator on KEY, or on a tag a thing
/// does not have (of that type), finds nothing.</summary>
internal static class Search
{
    /// <summary>The operators of a &lt;search/&gt;, or null when one is unknown or malformed (bad-request).</summary>
    public static List<Func<Element, bool>>? Operators(Element search)
    {
        var ops = new List<Func<Element, bool>>();
        foreach (var op in search.Elements())
        {
            if (op.Namespace != MetaTags.Ns || MetaTags.Name(op.Attr("name")) is not { } name) return null;
            Func<Element, bool>? test = op.Name.StartsWith("str", StringComparison.Ordinal) ? Str(op, name) : op.Name.StartsWith("num", StringComparison.Ordinal) ? Num(op, name) : null;
            if (test is null) return null;
            ops.Add(name == MetaTags.Key ? _ => false : test);
        }
        return ops;
    }

    private static Func<Element, bool>? Str(Element op, string name)
    {
        var value = op.Attr("value");
        Func<string, bool>? compare = op.Name switch
        {
            "strEq" when value is not null => v => string.CompareOrdinal(v, value) == 0,
            "strNEq" when value is not null => v => string.CompareOrdinal(v, value) != 0,
            "strGt" when value is not null => v => string.CompareOrdinal(v, value) > 0,
            "strGtEq" when value is not null => v => string.CompareOrdinal(v, value) >= 0,
            "strLt" when value is not null => v => string.CompareOrdinal(v, value) < 0,
            "strLtEq" when value is not null => v => string.CompareOrdinal(v, value) <= 0,
            "strRange" or "strNRange" when op.Attr("min") is { } min && op.Attr("max") is { } max && Bool(op.Attr("minIncluded")) is { } minIn && Bool(op.Attr("maxIncluded")) is { } maxIn =>
                InRange<string>(op.Name == "strRange", v => string.CompareOrdinal(v, min), v => string.CompareOrdinal(v, max), minIn, maxIn),
            "strMask" when value is not null && op.Attr("wildcard") is { Length: > 0 } wildcard => v => Like(v, value, wildcard),
            _ => null,
        };
        return compare is null ? null : thing => Tag(thing, MetaTags.Str, name) is { } v && compare(v);
    }

    private static Func<Element, bool>? Num(Element op, string name)
    {
        var hasValue = MetaTags.TryNumber(op.Attr("value"), out var value);
        Func<double, bool>? compare = op.Name switch
        {
            "numEq" when hasValue => v => v == value,
            "numNEq" when hasValue => v => v != value,
            "numGt" when hasValue => v => v > value,
            "numGtEq" when hasValue => v => v >= value,
            "numLt" when hasValue => v => v < value,
            "numLtEq" when hasValue => v => v <= value,
            "numRange" or "numNRange" when MetaTags.TryNumber(op.Attr("min"), out var min) && MetaTags.TryNumber(op.Attr("max"), out var max)
                && Bool(op.Attr("minIncluded")) is { } minIn && Bool(op.Attr("maxIncluded")) is { } maxIn =>
                InRange<double>(op.Name == "numRange", v => v.CompareTo(min), v => v.CompareTo(max), minIn, maxIn),
            _ => null,
        };
        return compare is null ? null : thing => Tag(thing, MetaTags.Num, name) is { } text && MetaTags.TryNumber(text, out var v) && compare(v);
    }

    /// <summary>min &lt;(=) tag &lt;(=) max; the N-range is its complement (§3.9: endpoints included in the range are
    /// excluded from the search).</summary>
    private static Func<T, bool> InRange<T>(bool inside, Func<T, int> toMin, Func<T, int> toMax, bool minIncluded, bool maxIncluded) => v =>
    {
        var a = toMin(v);
        var b = toMax(v);
        var within = (minIncluded ? a >= 0 : a > 0) && (maxIncluded ? b <= 0 : b < 0);
        return within == inside;
    };

    /// <summary>xs:boolean with the schema's default true when absent; null when malformed.</summary>
    private static bool? Bool(string? text) => text switch
    {
        null or "true" or "1" => true,
        "false" or "0" => false,
        _ => null,
    };

    private static string? Tag(Element thing, string type, string name)
    {
        foreach (var t in thing.Elements(type, MetaTags.Ns))
            if (t.Attr("name") == name) return t.Attr("value");
        return null;
    }

    /// <summary>strMask: <paramref name="wildcard"/> matches any run of characters, everything else itself.</summary>
    public static bool Like(string value, string mask, string wildcard)
    {
        var parts = mask.Split(wildcard);
        if (parts.Length == 1) return value == mask;
        if (!value.StartsWith(parts[0], StringComparison.Ordinal)) return false;
        var at = parts[0].Length;
        for (var i = 1; i < parts.Length - 1; i++)
        {
            var found = value.IndexOf(parts[i], at, StringComparison.Ordinal);
            if (found < 0) return false;
            at = found + parts[i].Length;
        }
        var last = parts[^1];
        return value.Length - at >= last.Length && value.EndsWith(last, StringComparison.Ordinal);
    }
}
