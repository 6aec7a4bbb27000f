using System.Text;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Server.Stanzas;

/// <summary>RFC 6120 §4.9 stream errors.</summary>
public static class StreamErrors
{
    public const string BadFormat = "bad-format";
    public const string BadNamespacePrefix = "bad-namespace-prefix";
    public const string Conflict = "conflict";
    public const string ConnectionTimeout = "connection-timeout";
    public const string HostUnknown = "host-unknown";
    public const string ImproperAddressing = "improper-addressing";
    public const string InternalServerError = "internal-server-error";
    public const string InvalidFrom = "invalid-from";
    public const string InvalidNamespace = "invalid-namespace";
    public const string InvalidXml = "invalid-xml";
    public const string NotAuthorized = "not-authorized";
    public const string NotWellFormed = "not-well-formed";
    public const string PolicyViolation = "policy-violation";
    public const string Reset = "reset";
    public const string ResourceConstraint = "resource-constraint";
    public const string RestrictedXml = "restricted-xml";
    public const string SystemShutdown = "system-shutdown";
    public const string UnsupportedEncoding = "unsupported-encoding";
    public const string UnsupportedFeature = "unsupported-feature";
    public const string UnsupportedStanzaType = "unsupported-stanza-type";
    public const string UnsupportedVersion = "unsupported-version";
    public const string UndefinedCondition = "undefined-condition";

    /// <summary>Whether <paramref name="condition"/> is a defined RFC 6120 §4.9.3 condition an operator may close a stream
    /// with (see-other-host is left out: it needs a host to name).</summary>
    public static bool IsDefined(string condition) => Defined.Contains(condition);

    private static readonly System.Collections.Frozen.FrozenSet<string> Defined = System.Collections.Frozen.FrozenSet.ToFrozenSet(
    [
        BadFormat, BadNamespacePrefix, Conflict, ConnectionTimeout, "host-gone", HostUnknown, ImproperAddressing, InternalServerError,
        InvalidFrom, InvalidNamespace, InvalidXml, NotAuthorized, NotWellFormed, PolicyViolation, "remote-connection-failed", Reset,
        ResourceConstraint, RestrictedXml, SystemShutdown, UndefinedCondition, UnsupportedEncoding, UnsupportedFeature,
        UnsupportedStanzaType, UnsupportedVersion,
    ], StringComparer.Ordinal);

    /// <summary>The stream error condition of a framing error (RFC 6120 §4.9.3, one to one).</summary>
    public static string ForFraming(Actors.Xmpp.Transport.Framing.FramerErrorCondition c) => c switch
    {
        Actors.Xmpp.Transport.Framing.FramerErrorCondition.RestrictedXml => RestrictedXml,
        Actors.Xmpp.Transport.Framing.FramerErrorCondition.PolicyViolation => PolicyViolation,
        Actors.Xmpp.Transport.Framing.FramerErrorCondition.BadNamespacePrefix => BadNamespacePrefix,
        Actors.Xmpp.Transport.Framing.FramerErrorCondition.UnsupportedEncoding => UnsupportedEncoding,
        Actors.Xmpp.Transport.Framing.FramerErrorCondition.InvalidXml => InvalidXml,
        _ => NotWellFormed,
    };


    /// <param name="applicationSpecific">§4.9.4: an application-specific condition (in its own namespace), after the text.</param>
    public static Element Create(string condition, string? text = null, Element? applicationSpecific = null)
    {
        var error = new Element("error", Ns.Streams);
        error.Add(new Element(condition, Ns.StreamErrors));
        if (text is not null) error.Add(new Element("text", Ns.StreamErrors).SetAttr("xml:lang", "en").AddText(text));
        if (applicationSpecific is not null) error.Add(applicationSpecific);
        return error;
    }

    public static readonly byte[] StreamClose = Encoding.UTF8.GetBytes("</stream:stream>");
}
