namespace Actors.Xmpp.Xml;

/// <summary>
/// One attribute. <see cref="Namespace"/> is null for an attribute in no namespace (unprefixed) and for the
/// attributes of the <c>xml</c> prefix, which Namespaces in XML §3 binds once and for all and which are therefore
/// kept by their qualified name (<c>xml:lang</c>). Any other namespace-qualified attribute has its local name in
/// <see cref="Name"/> and its namespace name in <see cref="Namespace"/>: the two are never packed into one string,
/// so a namespace name may hold any character (a '}' included).
/// </summary>
public readonly record struct XAttr(string Name, string Value, string? Namespace = null)
{
    /// <summary>True if this attribute has this name and namespace (null: no namespace, or an xml: attribute).</summary>
    public bool Is(string name, string? ns) => Name == name && Namespace == ns;
}
