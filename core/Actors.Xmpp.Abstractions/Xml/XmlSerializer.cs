using System.Buffers;
using System.Text;

namespace Actors.Xmpp.Xml;

/// <summary>
/// Allocation-light UTF-8 serializer for <see cref="Element"/> trees. What it writes is namespace-well-formed and
/// parses back (with <c>XmppFramer</c> or any conforming parser) to the same tree, whatever the names and namespace
/// names (Namespaces in XML 1.0 §3): the default namespace is declared only where it changes; an element in the
/// XML namespace is written with the <c>xml</c> prefix (that namespace must not be declared as the default one);
/// each attribute in another namespace gets a prefix declared on its own element.
/// <para>
/// Output stays proportional to the parsed input: a client can bind a long namespace name to a prefix once and use
/// the prefix on thousands of elements (<c>&lt;x xmlns:p='…'&gt;&lt;p:a/&gt;&lt;p:a/&gt;…</c>), which declarations
/// per element would turn into gigabytes. When the declarations would exceed <see cref="DeclarationBudget"/>
/// characters, each namespace name used more than once (other than the content namespaces) is bound once, on the
/// outermost element, to a prefix <c>nK</c> used by every element and attribute in it.
/// </para>
/// </summary>
public static class XmlSerializer
{
    /// <summary>Characters of namespace names the per-element declarations may write before prefixes are used.</summary>
    public const int DeclarationBudget = 4096;

    /// <param name="contextNs">The default namespace in scope where the element is written (the stream's content
    /// namespace for a stanza), or null when none is known; an xmlns is written only where it differs.</param>
    public static void Write(IBufferWriter<byte> o, Element e, string? contextNs)
    {
        var declared = 0;
        if (!WithinDeclarationBudget(e, contextNs, ref declared))
        {
            Write(o, e, contextNs, SharedPrefixes(e, contextNs), outermost: true);
            return;
        }
        Write(o, e, contextNs, null, outermost: false);
    }

    /// <summary>Adds what the per-element declarations of the subtree would write; false once over the budget.</summary>
    private static bool WithinDeclarationBudget(Element e, string? inScope, ref int declared)
    {
        if (e.Namespace != Ns.Xml && e.Namespace != inScope)
        {
            declared += e.Namespace.Length;
            inScope = e.Namespace;
        }
        var attrs = e.Attributes;
        for (var i = 0; i < attrs.Count; i++)
            if (attrs[i].Namespace is { Length: > 0 } ns && ns != Ns.Xml) declared += ns.Length;
        if (declared > DeclarationBudget) return false;
        var nodes = e.Nodes;
        for (var i = 0; i < nodes.Count; i++)
            if (nodes[i] is Element child && !WithinDeclarationBudget(child, inScope, ref declared)) return false;
        return true;
    }

    /// <summary>The namespace names declared more than once below the outermost element, numbered (only for
    /// hostile or unusual trees: see <see cref="DeclarationBudget"/>).</summary>
    private static Dictionary<string, int> SharedPrefixes(Element root, string? contextNs)
    {
        var uses = new Dictionary<string, int>(StringComparer.Ordinal);
        var inScope = root.Namespace == Ns.Xml ? contextNs : root.Namespace;
        CountUses(root, inScope, uses, isRoot: true);
        var prefixes = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (ns, count) in uses)
            if (count > 1 && ns != Ns.Client && ns != Ns.Server && ns != contextNs) prefixes[ns] = prefixes.Count + 1;
        return prefixes;
    }

    private static void CountUses(Element e, string? inScope, Dictionary<string, int> uses, bool isRoot)
    {
        if (!isRoot && e.Namespace != Ns.Xml && e.Namespace != inScope && e.Namespace.Length > 0)
            uses[e.Namespace] = uses.GetValueOrDefault(e.Namespace) + 1;
        var attrs = e.Attributes;
        for (var i = 0; i < attrs.Count; i++)
            if (attrs[i].Namespace is { Length: > 0 } ns && ns != Ns.Xml) uses[ns] = uses.GetValueOrDefault(ns) + 1;
        var nodes = e.Nodes;
        for (var i = 0; i < nodes.Count; i++)
            if (nodes[i] is Element child) CountUses(child, inScope, uses, isRoot: false);
    }

    /// <param name="prefixes">Shared prefixes (bounded mode), declared on the outermost element; null otherwise.</param>
    private static void Write(IBufferWriter<byte> o, Element e, string? contextNs, Dictionary<string, int>? prefixes, bool outermost)
    {
        var xmlPrefixed = e.Namespace == Ns.Xml;
        var prefix = 0;
        if (!outermost && !xmlPrefixed && e.Namespace != contextNs && prefixes is not null) prefixes.TryGetValue(e.Namespace, out prefix);
        Raw(o, "<"u8);
        if (xmlPrefixed) Raw(o, "xml:"u8);
        else if (prefix > 0) SharedPrefix(o, prefix);
        Utf8(o, e.Name);
        var inScope = contextNs;
        if (!xmlPrefixed && prefix == 0 && e.Namespace != contextNs)
        {
            Raw(o, " xmlns='"u8);
            Escaped(o, e.Namespace, attribute: true);
            Raw(o, "'"u8);
            inScope = e.Namespace;
        }
        if (outermost && prefixes is not null)
        {
            foreach (var (ns, n) in prefixes)
            {
                Raw(o, " xmlns:n"u8); Int(o, n); Raw(o, "='"u8); Escaped(o, ns, attribute: true); Raw(o, "'"u8);
            }
        }
        var attrs = e.Attributes;
        var prefixCounter = 0;
        for (var i = 0; i < attrs.Count; i++)
        {
            var a = attrs[i];
            if (string.IsNullOrEmpty(a.Namespace))
            {
                Raw(o, " "u8);
                Utf8(o, a.Name);
            }
            else if (a.Namespace == Ns.Xml)
            {
                Raw(o, " xml:"u8);
                Utf8(o, a.Name);
            }
            else if (prefixes is not null && prefixes.TryGetValue(a.Namespace, out var shared))
            {
                Raw(o, " "u8);
                SharedPrefix(o, shared);
                Utf8(o, a.Name);
            }
            else
            {
                // namespace-qualified attribute: declare a prefix for it on this element (in scope for its children
                // too, which never use it: their own attributes declare their own)
                prefixCounter++;
                Raw(o, " xmlns:a"u8); Int(o, prefixCounter); Raw(o, "='"u8); Escaped(o, a.Namespace, true); Raw(o, "'"u8);
                Raw(o, " a"u8); Int(o, prefixCounter); Raw(o, ":"u8); Utf8(o, a.Name);
            }
            Raw(o, "='"u8);
            Escaped(o, a.Value, attribute: true);
            Raw(o, "'"u8);
        }
        var nodes = e.Nodes;
        if (nodes.Count == 0)
        {
            Raw(o, "/>"u8);
            return;
        }
        Raw(o, ">"u8);
        for (var i = 0; i < nodes.Count; i++)
        {
            if (nodes[i] is Element child) Write(o, child, inScope, prefixes, outermost: false);
            else Escaped(o, (string)nodes[i], attribute: false);
        }
        Raw(o, "</"u8);
        if (xmlPrefixed) Raw(o, "xml:"u8);
        else if (prefix > 0) SharedPrefix(o, prefix);
        Utf8(o, e.Name);
        Raw(o, ">"u8);
    }

    /// <summary>Writes "nK:".</summary>
    private static void SharedPrefix(IBufferWriter<byte> o, int n)
    {
        Raw(o, "n"u8);
        Int(o, n);
        Raw(o, ":"u8);
    }

    public static void Raw(IBufferWriter<byte> o, ReadOnlySpan<byte> bytes)
    {
        var span = o.GetSpan(bytes.Length);
        bytes.CopyTo(span);
        o.Advance(bytes.Length);
    }

    public static void Utf8(IBufferWriter<byte> o, ReadOnlySpan<char> s)
    {
        var max = Encoding.UTF8.GetMaxByteCount(s.Length);
        var span = o.GetSpan(max);
        var n = Encoding.UTF8.GetBytes(s, span);
        o.Advance(n);
    }

    private static void Int(IBufferWriter<byte> o, int value)
    {
        var span = o.GetSpan(11);
        value.TryFormat(span, out var n);
        o.Advance(n);
    }

    /// <summary>Writes text escaped for element content or a single-quoted attribute value.</summary>
    public static void Escaped(IBufferWriter<byte> o, ReadOnlySpan<char> s, bool attribute)
    {
        var start = 0;
        for (var i = 0; i < s.Length; i++)
        {
            ReadOnlySpan<byte> rep;
            switch (s[i])
            {
                case '<': rep = "&lt;"u8; break;
                case '>': rep = "&gt;"u8; break;
                case '&': rep = "&amp;"u8; break;
                case '\'' when attribute: rep = "&apos;"u8; break;
                case '"' when attribute: rep = "&quot;"u8; break;
                case '\r': rep = "&#xD;"u8; break;
                case '\t' when attribute: rep = "&#x9;"u8; break;
                case '\n' when attribute: rep = "&#xA;"u8; break;
                default: continue;
            }
            if (i > start) Utf8(o, s[start..i]);
            Raw(o, rep);
            start = i + 1;
        }
        if (start < s.Length) Utf8(o, s[start..]);
    }
}
