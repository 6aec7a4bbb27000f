using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Transport.Framing;

/// <summary>Limits enforced by <see cref="XmppFramer"/>.</summary>
/// <param name="MaxStanzaBytes">Maximum bytes of one depth-1 element (from its '&lt;' to the end of its end tag), of the
/// root start tag, and of the XML declaration. Exceeding it is a policy-violation, reported as soon as the limit is crossed.</param>
/// <param name="MaxDepth">Maximum element nesting depth; the stream root is depth 0, stanzas are depth 1.</param>
/// <param name="MaxAttributes">Maximum attributes on one element, namespace declarations included.</param>
/// <param name="MaxChildren">Maximum child elements of one element.</param>
/// <param name="MaxElements">Maximum elements in one stanza, the stanza itself included: a stanza of empty elements
/// costs many times its bytes in objects, so the byte limit alone does not bound its memory.</param>
public sealed record FramerLimits(int MaxStanzaBytes = 256 * 1024, int MaxDepth = 64, int MaxAttributes = 64,
    int MaxChildren = 1024, int MaxElements = 4096)
{
    /// <summary>No bound but bytes and depth: for text the server wrote itself (journal, stored stanzas).</summary>
    public static FramerLimits Trusted(int maxBytes, int maxDepth) => new(maxBytes, maxDepth, int.MaxValue, int.MaxValue, int.MaxValue);
}

/// <summary>Receives framing events. Callbacks run synchronously inside <see cref="XmppFramer.Feed"/>; a sink may call
/// <see cref="XmppFramer.Reset"/> from <see cref="OnStanza"/> (e.g. after SASL success) and the rest of the fed chunk is then
/// parsed as the start of a new stream. Calling <see cref="XmppFramer.Feed"/> re-entrantly is not supported.</summary>
public interface IFramerSink
{
    /// <summary>The root start tag is complete.</summary>
    void OnStreamOpen(StreamHeader header);

    /// <summary>A complete depth-1 element (a stanza, or &lt;starttls/&gt;, &lt;auth/&gt;, ...).</summary>
    void OnStanza(Element stanza);

    /// <summary>The root end tag (&lt;/stream:stream&gt;) arrived (also right after <see cref="OnStreamOpen"/> for a self-closing root).</summary>
    void OnStreamClose();

    /// <summary>Fatal: the framer ignores all further input until <see cref="XmppFramer.Reset"/>.</summary>
    void OnError(FramerErrorCondition condition, string text);
}

/// <summary>The stream root's start tag. <see cref="Name"/>/<see cref="Namespace"/> are the root element's local name and
/// resolved namespace; <see cref="DefaultNamespace"/> is the default namespace (xmlns='...') declared on the root, or null.
/// <see cref="Attributes"/> excludes namespace declarations and follows the <see cref="XAttr"/> naming convention.</summary>
public sealed record StreamHeader(string Name, string Namespace, string? DefaultNamespace, IReadOnlyList<XAttr> Attributes)
{
    public string? Attr(string name)
    {
        for (var i = 0; i < Attributes.Count; i++)
            if (Attributes[i].Is(name, null)) return Attributes[i].Value;
        return null;
    }
}

/// <summary>Fatal framing errors; they map 1:1 to the RFC 6120 §4.9.3 stream error conditions.</summary>
public enum FramerErrorCondition
{
    /// <summary>not-well-formed: syntax errors, invalid UTF-8, characters outside XML 1.0 Char (literal or via a character
    /// reference), undeclared entities, mismatched tags, duplicate attributes.</summary>
    NotWellFormed,
    /// <summary>restricted-xml: comments, processing instructions, DTDs and other markup declarations (RFC 6120 §11.1).</summary>
    RestrictedXml,
    /// <summary>policy-violation: <see cref="FramerLimits"/> exceeded.</summary>
    PolicyViolation,
    /// <summary>bad-namespace-prefix: undeclared prefix, or an illegal namespace declaration (xmlns:p='', rebinding xml/xmlns).</summary>
    BadNamespacePrefix,
    /// <summary>unsupported-encoding: the XML declaration names an encoding other than UTF-8, or the input starts with a UTF-16/32 signature.</summary>
    UnsupportedEncoding,
    /// <summary>invalid-xml: never raised by the framer (it does not validate); reserved for callers that validate stanzas.</summary>
    InvalidXml,
}
