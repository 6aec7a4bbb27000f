using Actors.Xmpp.Stanzas;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Plugins;

/// <summary>Where in a client stream's negotiation (RFC 6120 §4.3) a plugin's stream feature is offered.</summary>
public enum StreamStage
{
    /// <summary>Before SASL, next to &lt;mechanisms/&gt; (XEP-0077's &lt;register/&gt;). Offered only where the stream may go
    /// on to authenticate: on a secure stream, or on any stream when the server does not require TLS.</summary>
    BeforeAuthentication,
    /// <summary>After SASL, next to &lt;bind/&gt; (XEP-0115 caps, later XEP-0198's &lt;sm/&gt;).</summary>
    AfterAuthentication,
}

/// <summary>What a stream-feature provider or a pre-authentication IQ handler knows of the client's stream.</summary>
/// <param name="Domain">The served domain the client asked for in its stream header.</param>
/// <param name="IsSecure">TLS is established on the stream (STARTTLS or direct TLS).</param>
/// <param name="RemoteAddress">The client's IP address (no port), or null where the transport has none.</param>
/// <param name="RemoteAddressGroup">What per-address limits count by: the IPv4 address, or the /64 of an IPv6 address
/// ("2001:db8:1:2::/64": a client picks any address in its /64); null where the transport has no address.</param>
/// <param name="AddressLimitsExempt">The server's per-address limits do not apply to this client: a loopback client
/// (a local load test, a reverse proxy on the host) while Xmpp:Limits:ExemptLoopback is on. A plugin's own per-address
/// limits should not apply either.</param>
public sealed record StreamInfo(string Domain, bool IsSecure, string? RemoteAddress, string? RemoteAddressGroup = null,
    bool AddressLimitsExempt = false);

/// <summary>
/// An IQ get/set received on a client stream before authentication (no 'from': the client has no JID yet). The
/// answer goes back on that stream only. The connection keeps RFC 6120's rules around it: an IQ nobody handles
/// before authentication ends the stream with &lt;not-authorized/&gt; (§4.9.3.12), and where the server requires TLS
/// the handler is not called before TLS (the IQ gets a &lt;not-authorized/&gt; stanza error).
/// </summary>
public sealed record PreAuthIqRequest(Element Iq, Element Payload, StreamInfo Stream)
{
    public bool IsSet => Iq.Type == "set";
    public Element Result(Element? payload = null) => StanzaErrors.IqResult(Iq, payload);
    public Element Error(string condition, string? text = null, string? type = null) => StanzaErrors.Reply(Iq, condition, text, type)!;
}

/// <summary>Answers one pre-authentication IQ: a result or an error stanza.</summary>
public delegate ValueTask<Element> PreAuthIqHandler(PreAuthIqRequest request);

public partial interface IPluginContext
{
    /// <summary>An element added to the stream features at <paramref name="stage"/>; the provider sees the stream and
    /// returns null where it offers nothing (its own condition: a secure stream, a domain...).</summary>
    IDisposable AddStreamFeature(StreamStage stage, Func<StreamInfo, Element?> provider);

    /// <summary>Answers IQs of this type ("get"/"set") whose payload is &lt;name xmlns=ns/&gt;, received on a client stream
    /// before authentication (Prosody's stanza/iq/ns:name on an unauthenticated session); see <see cref="PreAuthIqRequest"/>.</summary>
    IDisposable HandlePreAuthIq(string type, string ns, string name, PreAuthIqHandler handler);
}
