using System.Buffers;
using System.Text;

namespace Actors.Xmpp.Xml;

/// <summary>Allocation-light UTF-8 serializer for <see cref="Element"/> trees.</summary>
public static class XmlSerializer
{
    public static void Write(IBufferWriter<byte> o, Element e, string? contextNs)
    {
        Raw(o, "<"u8);
        Utf8(o, e.Name);
        if (e.Namespace != contextNs)
        {
            Raw(o, " xmlns='"u8);
            Escaped(o, e.Namespace, attribute: true);
            Raw(o, "'"u8);
        }
        var attrs = e.Attributes;
        var prefixCounter = 0;
        for (var i = 0; i < attrs.Count; i++)
        {
            var a = attrs[i];
            if (a.Name.Length > 0 && a.Name[0] == '{')
            {
                // namespace-qualified attribute: declare a prefix for it on this element
                var close = a.Name.IndexOf('}');
                var uri = a.Name.AsSpan(1, close - 1);
                var local = a.Name.AsSpan(close + 1);
                prefixCounter++;
                Raw(o, " xmlns:a"u8); Int(o, prefixCounter); Raw(o, "='"u8); Escaped(o, uri, true); Raw(o, "'"u8);
                Raw(o, " a"u8); Int(o, prefixCounter); Raw(o, ":"u8); Utf8(o, local);
            }
            else
            {
                Raw(o, " "u8);
                Utf8(o, a.Name);
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
            if (nodes[i] is Element child) Write(o, child, e.Namespace);
            else Escaped(o, (string)nodes[i], attribute: false);
        }
        Raw(o, "</"u8);
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
