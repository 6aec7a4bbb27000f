using System.Buffers;
using System.Text;

namespace Actors.Xmpp.Xml;

/// <summary>
/// A small mutable XML element, the unit every stanza travels in (like Prosody's util.stanza). Names are local
/// names with a resolved namespace name, kept apart (never packed into one string); prefixes from the wire are
/// not kept: <see cref="XmlSerializer"/> writes the same tree with its own declarations. Children are <see cref="Element"/>s
/// or strings (text, already unescaped). Not thread-safe: an element belongs to one actor at a time; use
/// <see cref="Clone"/> before handing the same stanza to several recipients that may change it.
/// </summary>
public sealed class Element
{
    private List<XAttr>? _attrs;
    private List<object>? _children;

    public Element(string name, string ns)
    {
        Name = name;
        Namespace = ns;
    }

    public Element(string name, string ns, params object[] content) : this(name, ns)
    {
        foreach (var c in content) AddContent(c);
    }

    public string Name { get; }
    public string Namespace { get; }

    public IReadOnlyList<XAttr> Attributes => (IReadOnlyList<XAttr>?)_attrs ?? Array.Empty<XAttr>();
    public IReadOnlyList<object> Nodes => (IReadOnlyList<object>?)_children ?? Array.Empty<object>();
    public bool HasChildren => _children is { Count: > 0 };

    public bool Is(string name, string ns) => Name == name && Namespace == ns;

    // ---- attributes -------------------------------------------------------------------------
    /// <summary>The value of an attribute in no namespace (or an <c>xml:</c> one, by its qualified name such as
    /// <c>xml:lang</c>); null if absent.</summary>
    public string? Attr(string name) => Attr(name, null);

    /// <summary>The value of the attribute with this local name and namespace name; null if absent.</summary>
    public string? Attr(string name, string? ns)
    {
        if (_attrs is null) return null;
        for (var i = 0; i < _attrs.Count; i++)
            if (_attrs[i].Is(name, ns)) return _attrs[i].Value;
        return null;
    }

    /// <summary>Sets (or, with a null value, removes) an attribute in no namespace. Returns this element.</summary>
    public Element SetAttr(string name, string? value) => SetAttr(name, null, value);

    /// <summary>Sets (or, with a null value, removes) the attribute with this local name and namespace name.</summary>
    public Element SetAttr(string name, string? ns, string? value)
    {
        if (ns is { Length: 0 }) ns = null; // no namespace is one value
        if (_attrs is not null)
        {
            for (var i = 0; i < _attrs.Count; i++)
            {
                if (!_attrs[i].Is(name, ns)) continue;
                if (value is null) _attrs.RemoveAt(i);
                else _attrs[i] = new XAttr(name, value, ns);
                return this;
            }
        }
        if (value is not null) (_attrs ??= new List<XAttr>(4)).Add(new XAttr(name, value, ns));
        return this;
    }

    /// <summary>Adds an attribute without checking for duplicates (for parsers, which check duplicates themselves).</summary>
    public void AddAttrUnchecked(string name, string value, string? ns = null) => (_attrs ??= new List<XAttr>(4)).Add(new XAttr(name, value, ns));

    public string? To { get => Attr("to"); set => SetAttr("to", value); }
    public string? From { get => Attr("from"); set => SetAttr("from", value); }
    public string? Id { get => Attr("id"); set => SetAttr("id", value); }
    public string? Type { get => Attr("type"); set => SetAttr("type", value); }
    public string? Lang { get => Attr("xml:lang"); set => SetAttr("xml:lang", value); }

    // ---- children ----------------------------------------------------------------------------
    public Element Add(Element child)
    {
        (_children ??= new List<object>(2)).Add(child);
        return this;
    }

    /// <summary>Adds a child and returns the child (for building nested trees).</summary>
    public Element AddChild(string name, string? ns = null)
    {
        var child = new Element(name, ns ?? Namespace);
        Add(child);
        return child;
    }

    public Element AddText(string text)
    {
        if (text.Length == 0) return this;
        var list = _children ??= new List<object>(1);
        if (list.Count > 0 && list[^1] is string last) list[^1] = last + text;
        else list.Add(text);
        return this;
    }

    private void AddContent(object c)
    {
        switch (c)
        {
            case Element e: Add(e); break;
            case string s: AddText(s); break;
            case XAttr a: SetAttr(a.Name, a.Namespace, a.Value); break;
            case IEnumerable<Element> many: foreach (var e in many) Add(e); break;
            case null: break;
            default: throw new ArgumentException($"unsupported content {c.GetType()}");
        }
    }

    public bool Remove(Element child) => _children?.Remove(child) ?? false;

    public void RemoveAll(string name, string ns) =>
        _children?.RemoveAll(o => o is Element e && e.Name == name && e.Namespace == ns);

    public void ClearChildren() => _children?.Clear();

    public IEnumerable<Element> Elements()
    {
        if (_children is null) yield break;
        foreach (var c in _children)
            if (c is Element e) yield return e;
    }

    public IEnumerable<Element> Elements(string name, string ns)
    {
        if (_children is null) yield break;
        foreach (var c in _children)
            if (c is Element e && e.Name == name && e.Namespace == ns) yield return e;
    }

    /// <summary>The first child element with this name and namespace (namespace defaults to this element's).</summary>
    public Element? Child(string name, string? ns = null)
    {
        if (_children is null) return null;
        ns ??= Namespace;
        for (var i = 0; i < _children.Count; i++)
            if (_children[i] is Element e && e.Name == name && e.Namespace == ns) return e;
        return null;
    }

    /// <summary>The first child element, whatever its name.</summary>
    public Element? FirstChild()
    {
        if (_children is null) return null;
        for (var i = 0; i < _children.Count; i++)
            if (_children[i] is Element e) return e;
        return null;
    }

    public int ElementCount
    {
        get
        {
            if (_children is null) return 0;
            var n = 0;
            for (var i = 0; i < _children.Count; i++) if (_children[i] is Element) n++;
            return n;
        }
    }

    /// <summary>Concatenated text of the direct text children.</summary>
    public string Text
    {
        get
        {
            if (_children is null) return string.Empty;
            string? single = null;
            StringBuilder? sb = null;
            foreach (var c in _children)
            {
                if (c is not string s) continue;
                if (single is null) single = s;
                else (sb ??= new StringBuilder(single)).Append(s);
            }
            return sb?.ToString() ?? single ?? string.Empty;
        }
    }

    public string? ChildText(string name, string? ns = null) => Child(name, ns)?.Text;

    public Element Clone()
    {
        var copy = new Element(Name, Namespace);
        if (_attrs is not null) copy._attrs = new List<XAttr>(_attrs);
        if (_children is not null)
        {
            copy._children = new List<object>(_children.Count);
            foreach (var c in _children) copy._children.Add(c is Element e ? e.Clone() : c);
        }
        return copy;
    }

    /// <summary>A copy of this element with its own attributes and its own list of children, whose child elements are
    /// this one's, shared: cheap where one stanza goes to many recipients with a different 'to' each (a fan-out).
    /// Neither this element's nor the copy's descendants may be changed afterwards; the copy's attributes and its own
    /// children (adding or removing one) may.</summary>
    public Element CopySharingChildren()
    {
        var copy = new Element(Name, Namespace);
        if (_attrs is not null) copy._attrs = new List<XAttr>(_attrs);
        if (_children is not null) copy._children = new List<object>(_children);
        return copy;
    }

    /// <summary>A deep copy in which every element in <paramref name="fromNs"/> is in <paramref name="toNs"/> (a stanza
    /// moved between streams of different content namespaces: jabber:client, jabber:server, jabber:component:accept).</summary>
    public Element CloneIn(string fromNs, string toNs)
    {
        var copy = new Element(Name, Namespace == fromNs ? toNs : Namespace);
        if (_attrs is not null) copy._attrs = new List<XAttr>(_attrs);
        if (_children is not null)
        {
            copy._children = new List<object>(_children.Count);
            foreach (var c in _children) copy._children.Add(c is Element e ? e.CloneIn(fromNs, toNs) : c);
        }
        return copy;
    }

    // ---- serialization -----------------------------------------------------------------------
    /// <summary>Writes UTF-8 XML. <paramref name="contextNamespace"/> is the default namespace in scope
    /// (the stream's content namespace for top-level stanzas); an xmlns is written only where it differs.</summary>
    public void WriteTo(IBufferWriter<byte> output, string? contextNamespace) => XmlSerializer.Write(output, this, contextNamespace);

    public byte[] ToUtf8(string? contextNamespace = null)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        WriteTo(buffer, contextNamespace);
        return buffer.WrittenSpan.ToArray();
    }

    public override string ToString() => Encoding.UTF8.GetString(ToUtf8(null));
}
