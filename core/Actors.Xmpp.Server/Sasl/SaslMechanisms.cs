using Actors.Xmpp.Security;

namespace Actors.Xmpp.Server.Sasl;

/// <summary>Which mechanisms to offer on a connection, and the factory for one authentication attempt.</summary>
public sealed class SaslMechanisms
{
    private static readonly string[] Order =
    [
        ExternalServerMechanism.MechanismName, // only with a verified client certificate naming an account (XEP-0178)
        "SCRAM-SHA-512-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS",
        "SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1",
        "PLAIN",
    ];

    private readonly HashSet<string>? _allowed;

    public SaslMechanisms(SaslOptions options)
    {
        Options = options ?? throw new ArgumentNullException(nameof(options));
        if (options.AllowedMechanisms is not null) _allowed = new HashSet<string>(options.AllowedMechanisms, StringComparer.Ordinal);
    }

    public SaslOptions Options { get; }

    /// <summary>All mechanism names this implementation knows, in preference order.</summary>
    public static IReadOnlyList<string> Supported => Order;

    /// <param name="certificateJids">The accounts the client's verified TLS certificate names (EXTERNAL is offered
    /// only when there is one).</param>
    public IReadOnlyList<string> Advertise(bool isTls, IChannelBinding? cb, IReadOnlyList<Jid>? certificateJids = null)
    {
        bool cbAvailable = isTls && cb is not null && cb.SupportedTypes.Count > 0;
        var list = new List<string>(Order.Length);
        foreach (var name in Order)
        {
            if (_allowed is not null && !_allowed.Contains(name)) continue;
            if (name.EndsWith("-PLUS", StringComparison.Ordinal) && !cbAvailable) continue;
            if (name == ExternalServerMechanism.MechanismName && (!isTls || certificateJids is not { Count: > 0 })) continue;
            if (name == "PLAIN" && !isTls && !Options.AllowPlainWithoutTls) continue;
            list.Add(name);
        }
        return list;
    }

    /// <summary>XEP-0440: the channel-binding types to list in &lt;sasl-channel-binding/&gt;.</summary>
    public static IReadOnlyList<string> ChannelBindingTypes(bool isTls, IChannelBinding? cb) =>
        isTls && cb is not null ? cb.SupportedTypes : [];

    /// <summary>XEP-0440 stream feature, or null when there is nothing to advertise.</summary>
    public static Xml.Element? ChannelBindingFeature(bool isTls, IChannelBinding? cb)
    {
        var types = ChannelBindingTypes(isTls, cb);
        if (types.Count == 0) return null;
        var el = new Xml.Element("sasl-channel-binding", Ns.SaslChannelBinding);
        foreach (var t in types) el.AddChild("channel-binding").SetAttr("type", t);
        return el;
    }

    /// <summary>A fresh mechanism instance, or null if <paramref name="name"/> is not offered on this connection.</summary>
    public ISaslMechanism? Create(string name, bool isTls, IChannelBinding? cb, string domain, Func<string>? nonceGenerator = null,
        IReadOnlyList<Jid>? certificateJids = null)
    {
        var advertised = Advertise(isTls, cb, certificateJids);
        if (!advertised.Contains(name, StringComparer.Ordinal)) return null;
        if (name == "PLAIN") return new PlainServerMechanism(domain, Options);
        if (name == ExternalServerMechanism.MechanismName) return new ExternalServerMechanism(domain, certificateJids!);
        bool plus = name.EndsWith("-PLUS", StringComparison.Ordinal);
        var hash = name["SCRAM-".Length..(plus ? name.Length - 5 : name.Length)];
        bool plusAdvertised = advertised.Any(n => n.EndsWith("-PLUS", StringComparison.Ordinal));
        return new ScramServerMechanism(hash, plus, plus || plusAdvertised ? cb : null, plusAdvertised, domain, Options, nonceGenerator);
    }
}
