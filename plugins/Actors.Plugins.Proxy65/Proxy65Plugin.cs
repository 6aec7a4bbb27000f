using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Proxy65;

/// <summary>
/// XEP-0065 SOCKS5 bytestreams proxy at proxy.&lt;domain&gt; (Prosody's mod_proxy65, ejabberd's mod_proxy65): the XMPP
/// side. §4: the service is discovered by its proxy/bytestreams identity and tells its network address (&lt;streamhost
/// jid host port/&gt;); §6.3.5: the Requester activates a bytestream by its SID and the Target's JID. The TCP side (the
/// SOCKS5 listener, the pairing of the two connections by hash, the relay with its bandwidth limit) is the host's
/// <see cref="IByteStreamRelay"/>.
/// </summary>
[Xep(65, "1.8.2")]
public sealed class Proxy65Plugin : IXmppPlugin
{
    public const string Ns = "http://jabber.org/protocol/bytestreams";

    public PluginDescriptor Descriptor { get; } = new("proxy65", "1.0.0", [PluginDependency.Soft("disco")]);

    public void Configure(IPluginContext ctx)
    {
        var options = ctx.Options<Proxy65Options>();
        if (!options.Enabled) return;
        var listener = ctx.Track(ctx.Require<IByteStreamRelay>().Listen(new ByteStreamListenerOptions(options.BindAddress, options.Port)
        {
            BytesPerSecond = options.BytesPerSecond,
            ActivationTimeout = TimeSpan.FromSeconds(options.ActivationSeconds),
            HandshakeTimeout = TimeSpan.FromSeconds(options.HandshakeSeconds),
            MaxConnections = options.MaxConnections,
        }));
        var port = listener.Port.ToString(CultureInfo.InvariantCulture);
        var domains = ctx.Domains;
        bool Allowed(Jid from) => options.AllowRemoteUsers || (from.Local is not null && domains.Contains(from.Domain));

        // §4: identity proxy/bytestreams and the bytestreams feature
        var info = new DiscoInfo([new DiscoIdentity("proxy", "bytestreams", options.Name)], [Ns], []);
        ctx.OwnService(options.Subdomain, info, async s =>
        {
            var stanza = s.Stanza;
            if (stanza.Name != "iq")
            {
                // RFC 6120 §8.3.3.19 for messages; presence to the service is ignored
                if (stanza.Name == "message" && s.Error(Conditions.ServiceUnavailable) is { } refused) ctx.SendStanza(refused);
                return;
            }
            if (stanza.Type is not ("get" or "set")) return; // results and errors are not answered
            if (s.To.Local is not null || s.To.Resource is not null || s.Payload is not { } query || !query.Is("query", Ns))
            {
                if (s.Error(Conditions.ServiceUnavailable) is { } unknown) ctx.SendStanza(unknown);
                return;
            }
            if (!Allowed(s.From))
            {
                // §4: "the Proxy MUST return a <forbidden/> error" to whom it does not serve
                ctx.SendStanza(s.Error(Conditions.Forbidden, "This proxy serves the accounts of its server")!);
                return;
            }
            if (stanza.Type == "get")
            {
                // §4: the network address; host and port MUST be present
                var host = string.IsNullOrEmpty(options.Host) ? s.To.ToString() : options.Host;
                var answer = new Element("query", Ns, new Element("streamhost", Ns)
                    .SetAttr("jid", s.To.ToString()).SetAttr("host", host).SetAttr("port", port));
                ctx.SendStanza(s.Result(answer));
                return;
            }
            ctx.SendStanza(await ActivateAsync(s, query, listener, options));
        });
    }

    /// <summary>§6.3.5: the Requester (the IQ's sender, a full JID) asks the proxy to relay the bytestream it opened with
    /// the Target named in &lt;activate/&gt;.</summary>
    private static async Task<Element> ActivateAsync(AddressedStanza s, Element query, IByteStreamListener listener, Proxy65Options options)
    {
        var sid = query.Attr("sid");
        var activate = query.Child("activate", Ns);
        // §9.1: 'sid' is REQUIRED; <activate/> MUST be present in the activation request
        if (string.IsNullOrEmpty(sid) || activate is null) return s.Error(Conditions.BadRequest, "An activation names the 'sid' and the <activate/> Target")!;
        // §6.3.2: the JIDs are hashed in their canonical form (PRECIS now, stringprep then): 'from' is stamped so already
        if (!Jid.TryParse(activate.Text.Trim(), out var target) || target is null)
            return s.Error(Conditions.JidMalformed, "<activate/> holds the Target's JID")!;
        var hash = Hash(sid, s.From.ToString(), target.ToString());
        var outcome = await listener.ActivateAsync(hash, s.From.Bare.ToString(), options.MaxStreamsPerUser);
        return outcome switch
        {
            ByteStreamActivation.Activated => s.Result(),
            // §6.3.5: <item-not-found/> when the 'from' is not the Requester's full JID: then its hash names no connection
            ByteStreamActivation.NoConnection => s.Error(Conditions.ItemNotFound, "No connection is waiting for this bytestream")!,
            // §6.3.5: <not-allowed/> when only one party is connected
            ByteStreamActivation.OneConnection => s.Error(Conditions.NotAllowed, "Only one party is connected to the proxy")!,
            ByteStreamActivation.AlreadyActive => s.Error(Conditions.Conflict, "This bytestream is active already")!,
            ByteStreamActivation.OwnerLimit => s.Error(Conditions.ResourceConstraint,
                $"Too many active bytestreams: at most {options.MaxStreamsPerUser} per account")!,
            _ => s.Error(Conditions.InternalServerError)!,
        };
    }

    /// <summary>XEP-0065 §5.3.2: SHA1(SID + Requester JID + Target JID), hex-encoded.</summary>
    public static string Hash(string sid, string requester, string target) =>
        Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(sid + requester + target)));
}

/// <summary>RFC 6120 §8.3.3 conditions this plugin answers with.</summary>
internal static class Conditions
{
    public const string BadRequest = "bad-request";
    public const string Conflict = "conflict";
    public const string Forbidden = "forbidden";
    public const string InternalServerError = "internal-server-error";
    public const string ItemNotFound = "item-not-found";
    public const string JidMalformed = "jid-malformed";
    public const string NotAllowed = "not-allowed";
    public const string ResourceConstraint = "resource-constraint";
    public const string ServiceUnavailable = "service-unavailable";
}
