namespace Actors.Xmpp.Xml;

/// <summary>
/// One attribute. <see cref="Name"/> is the local name for unqualified attributes, "xml:lang" style for the
/// xml prefix, and "{namespace-uri}local" for any other namespace-qualified attribute.
/// </summary>
public readonly record struct XAttr(string Name, string Value);
