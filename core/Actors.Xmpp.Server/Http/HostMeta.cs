using System.Text.Json;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Server.Http;

/// <summary>
/// XEP-0156 §3 discovery of the alternative connection methods over HTTP: /.well-known/host-meta (an XRD document,
/// RFC 6415) and /.well-known/host-meta.json (its JSON form), each a link per method with the XEP's link relations.
/// </summary>
public static class HostMeta
{
    public const string Path = "/.well-known/host-meta";
    public const string JsonPath = "/.well-known/host-meta.json";
    public const string XrdNamespace = "http://docs.oasis-open.org/ns/xri/xrd-1.0";
    public const string XrdContentType = "application/xrd+xml; charset=utf-8";
    public const string JsonContentType = "application/json; charset=utf-8";
    /// <summary>XEP-0156 §3.1 link relation of BOSH (XEP-0206).</summary>
    public const string BoshRel = "urn:xmpp:alt-connections:xbosh";
    /// <summary>XEP-0156 §3.1 link relation of XMPP over WebSocket (RFC 7395).</summary>
    public const string WebSocketRel = "urn:xmpp:alt-connections:websocket";

    /// <summary>&lt;XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'&gt;&lt;Link rel=... href=.../&gt;...&lt;/XRD&gt;</summary>
    public static byte[] Xrd(string websocketUrl, string boshUrl)
    {
        var xrd = new Element("XRD", XrdNamespace);
        xrd.AddChild("Link").SetAttr("rel", BoshRel).SetAttr("href", boshUrl);
        xrd.AddChild("Link").SetAttr("rel", WebSocketRel).SetAttr("href", websocketUrl);
        var declaration = "<?xml version='1.0' encoding='utf-8'?>\n"u8;
        var body = xrd.ToUtf8(null);
        var document = new byte[declaration.Length + body.Length];
        declaration.CopyTo(document);
        body.CopyTo(document.AsSpan(declaration.Length));
        return document;
    }

    /// <summary>{"links":[{"rel":...,"href":...},...]} (XEP-0156 §3.2).</summary>
    public static byte[] Json(string websocketUrl, string boshUrl)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartArray("links");
            Link(json, BoshRel, boshUrl);
            Link(json, WebSocketRel, websocketUrl);
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }

    private static void Link(Utf8JsonWriter json, string rel, string href)
    {
        json.WriteStartObject();
        json.WriteString("rel", rel);
        json.WriteString("href", href);
        json.WriteEndObject();
    }
}
