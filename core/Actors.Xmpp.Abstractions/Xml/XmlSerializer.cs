using System.Buffers;
using System.Text;

namespace Actors.Xmpp.Xml;

/// <summary>
/// Allocation-light UTF-8 serializer for <see cref="Element"/> trees. What it writes is namespace-well-formed and
/// parses back (with <c>XmppFramer</c> or any conforming parser) to the same tree, whatever the names and namespace
/// names (Namespaces in XML 1.0 §3): the default namespace is declared only where it changes; an element in the
/// XML namespace is written with the <c>xml</c> prefix (that namespace must not be declared as the default one);
/// each attribute in another namespace gets a prefix declared on its own element.
/// </summary>
public static class XmlSerializer
{
    /// <param name="contextNs">The default namespace in scope where the element is written (the stream's content
    /// namespace for a stanza), or null when none is known; an xmlns is written only where it differs.</param>
    public static void Write(IBufferWriter<byte> o, Element e, string? contextNs)
    {
        var xmlPrefixed = e.Namespace == Ns.Xml;
        Raw(o, "<"u8);
        if (xmlPrefixed) Raw(o, "xml:"u8);
        Utf8(o, e.Name);
        var inScope = contextNs;
        if (!xmlPrefixed && e.Namespace != contextNs)
        {
            Raw(o, " xmlns='"u8);
            Escaped(o, e.Namespace, attribute: true);
            Raw(o, "'"u8);
            inScope = e.Namespace;
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
            if (nodes[i] is Element child) Write(o, child, inScope);
            else Escaped(o, (string)nodes[i], attribute: false);
        }
        Raw(o, "</"u8);
        if (xmlPrefixed) Raw(o, "xml:"u8);
        Utf8(o, e.Name);
        Raw(o, ">"u8);
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
