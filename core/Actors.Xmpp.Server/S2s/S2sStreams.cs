using System.Buffers;
using Actors.Xmpp.Server.Stanzas;
using Actors.Xmpp.Transport.Connections;
using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Server.S2s;

/// <summary>The text of server-to-server streams (RFC 6120 §4.7, XEP-0220) both link directions write.</summary>
internal static class S2sStreams
{
    public const string Result = "result";
    public const string Verify = "verify";
    public const string Valid = "valid";
    public const string Invalid = "invalid";
    public const string Error = "error";
    public const string Features = "features";
    public const string StartTls = "starttls";
    public const string Required = "required";
    public const string Proceed = "proceed";
    public const string Failure = "failure";
    // RFC 6120 §6 SASL on s2s streams: EXTERNAL only (XEP-0178)
    public const string Mechanisms = "mechanisms";
    public const string Mechanism = "mechanism";
    public const string External = "EXTERNAL";
    public const string Auth = "auth";
    public const string Challenge = "challenge";
    public const string Response = "response";
    public const string Success = "success";
    public const string Abort = "abort";
    public const string Iq = "iq";
    public const string Get = "get";
    public const string Ping = "ping";
    /// <summary>XEP-0288: &lt;bidi xmlns='urn:xmpp:features:bidi'/&gt; (the feature) and &lt;bidi xmlns='urn:xmpp:bidi'/&gt;
    /// (the request).</summary>
    public const string Bidi = "bidi";
    /// <summary>The id prefix of this server's XEP-0199 pings on outbound links; answers with it to a hosted domain
    /// from the peer's domain end on the link that pinged.</summary>
    public const string PingIdPrefix = "s2s-ping-";

    /// <summary>XEP-0199 §4.2: &lt;iq type='get' from='local' to='remote' id='…'&gt;&lt;ping/&gt;&lt;/iq&gt;.</summary>
    public static Element PingRequest(string from, string to, string id) =>
        new Element(Iq, Ns.Server).SetAttr("type", Get).SetAttr("from", from).SetAttr("to", to).SetAttr("id", id)
            .Add(new Element(Ping, Ns.Ping));

    /// <summary>The answer (result or error, XEP-0199 §4.2) to one of this server's pings: an IQ from a domain to a
    /// domain with <see cref="PingIdPrefix"/>.</summary>
    public static bool IsPingAnswer(Element stanza, Jid from, Jid to) =>
        stanza.Name == Iq && (stanza.Type == Result || stanza.Type == Error) && from.IsDomain && to.IsDomain
        && stanza.Id is { } id && id.StartsWith(PingIdPrefix, StringComparison.Ordinal);

    /// <summary>A jabber:server stream header declaring the dialback prefix (XEP-0220 §2.1: the initiating entity
    /// declares it to show that it supports dialback). <paramref name="id"/> only on the responding side (RFC 6120
    /// §4.7.3: the initiating entity MUST NOT send one).</summary>
    public static byte[] Header(string from, string? to, string? id)
    {
        var output = new ArrayBufferWriter<byte>(320);
        TcpStreamFraming.WriteHeader(output, new StreamOpening(Ns.Server, from, id, to, "1.0", "en") { DeclaresDialback = true });
        return output.WrittenSpan.ToArray();
    }

    /// <summary>An optional stream error (§4.9), then the closing tag (§4.4).</summary>
    public static byte[] Close(string? condition, string? text)
    {
        var output = new ArrayBufferWriter<byte>(256);
        if (condition is not null) TcpStreamFraming.WriteStreamElement(output, StreamErrors.Create(condition, text), Ns.Server);
        XmlSerializer.Raw(output, TcpStreamFraming.Close);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>&lt;stream:features&gt; of a receiving server: STARTTLS (RFC 6120 §5.4.1, &lt;required/&gt; when it is
    /// mandatory-to-negotiate, and then alone), SASL EXTERNAL (XEP-0178, for a peer whose certificate verified), and
    /// dialback with dialback errors (XEP-0220 §2.4) unless TLS must come first, and bidirectional streams (XEP-0288
    /// §2.1, with <paramref name="offerBidi"/>) under the same condition.</summary>
    public static byte[] StreamFeatures(bool offerTls, bool tlsRequired, bool offerExternal, bool offerBidi)
    {
        var features = new Element(Features, Ns.Streams);
        if (offerTls)
        {
            var tls = new Element(StartTls, Ns.Tls);
            if (tlsRequired) tls.Add(new Element(Required, Ns.Tls));
            features.Add(tls);
        }
        if (offerExternal)
            features.Add(new Element(Mechanisms, Ns.Sasl).Add(new Element(Mechanism, Ns.Sasl).AddText(External)));
        if (!(offerTls && tlsRequired))
        {
            features.Add(new Element("dialback", Ns.DialbackFeature).Add(new Element("errors", Ns.DialbackFeature)));
            if (offerBidi) features.Add(new Element(Bidi, Ns.BidiFeature));
        }
        var output = new ArrayBufferWriter<byte>(256);
        TcpStreamFraming.WriteStreamElement(output, features, Ns.Server);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>A SASL &lt;failure/&gt; with its condition (RFC 6120 §6.5).</summary>
    public static Element SaslFailure(string condition) => new Element(Failure, Ns.Sasl).Add(new Element(condition, Ns.Sasl));

    /// <summary>Whether <paramref name="features"/> offer SASL EXTERNAL.</summary>
    public static bool OffersExternal(Element features)
    {
        if (features.Child(Mechanisms, Ns.Sasl) is not { } mechanisms) return false;
        foreach (var node in mechanisms.Nodes)
            if (node is Element m && m.Is(Mechanism, Ns.Sasl) && m.Text.Trim() == External) return true;
        return false;
    }

    public static Element Dialback(string name, string from, string to, string? type = null, string? id = null, string? key = null)
    {
        var e = new Element(name, Ns.Dialback).SetAttr("from", from).SetAttr("to", to).SetAttr("id", id).SetAttr("type", type);
        if (key is not null) e.AddText(key);
        return e;
    }

    /// <summary>XEP-0220 §2.4 (dialback errors): type='error' with a stanza error condition.</summary>
    public static Element DialbackError(string name, string from, string to, string condition, string? id = null)
    {
        var e = Dialback(name, from, to, Error, id);
        // XEP-0220 §2.4: <error/> is unprefixed inside <db:result/>, so in the stream's default namespace
        var error = new Element("error", Ns.Server).SetAttr("type", Actors.Xmpp.Stanzas.StanzaErrors.DefaultType(condition));
        error.Add(new Element(condition, Ns.StanzaErrors));
        e.Add(error);
        return e;
    }

    /// <summary>A dialback element as XEP-0220 writes it: with the db: prefix the stream header declares, its children
    /// in jabber:server. Equivalent XML to a default namespace declaration, but some servers (ejabberd's parser keeps
    /// qualified names) recognise dialback only by the prefixed name "db:result" / "db:verify".</summary>
    public static byte[] Prefixed(Element dialback)
    {
        var output = new ArrayBufferWriter<byte>(256);
        XmlSerializer.Raw(output, "<db:"u8);
        XmlSerializer.Utf8(output, dialback.Name);
        foreach (var name in DialbackAttributes)
        {
            if (dialback.Attr(name) is not { } value) continue;
            XmlSerializer.Raw(output, " "u8);
            XmlSerializer.Utf8(output, name);
            XmlSerializer.Raw(output, "='"u8);
            XmlSerializer.Escaped(output, value, attribute: true);
            XmlSerializer.Raw(output, "'"u8);
        }
        XmlSerializer.Raw(output, ">"u8);
        foreach (var node in dialback.Nodes)
        {
            if (node is Element child) child.WriteTo(output, Ns.Server);
            else if (node is string text) XmlSerializer.Escaped(output, text, attribute: false);
        }
        XmlSerializer.Raw(output, "</db:"u8);
        XmlSerializer.Utf8(output, dialback.Name);
        XmlSerializer.Raw(output, ">"u8);
        return output.WrittenSpan.ToArray();
    }

    private static readonly string[] DialbackAttributes = ["from", "to", "id", "type"];

    /// <summary>The stanza condition inside a dialback error (XEP-0220 §2.4), or null.</summary>
    public static string? ErrorCondition(Element dialback)
    {
        var error = dialback.Child("error", Ns.Dialback) ?? dialback.Child("error", Ns.Server);
        if (error is null) return null;
        foreach (var node in error.Nodes)
            if (node is Element c && c.Namespace == Ns.StanzaErrors && c.Name != "text") return c.Name;
        return null;
    }

    public static bool IsStanza(Element e) => e.Namespace == Ns.Server && e.Name is "message" or "presence" or "iq";

    public static bool IsStreamFeatures(Element e) => e.Is(Features, Ns.Streams);

    public static bool IsStreamError(Element e) => e.Is("error", Ns.Streams);

    /// <summary>RFC 6120 §4.7.5: a version 1.0 header (or later) announces stream features.</summary>
    public static bool SupportsFeatures(StreamHeader header) =>
        header.Attr("version") is { } v && Version.TryParse(v.Contains('.') ? v : v + ".0", out var parsed) && parsed.Major >= 1;
}
