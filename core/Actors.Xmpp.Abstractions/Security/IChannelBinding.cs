namespace Actors.Xmpp.Security;

/// <summary>Channel-binding data of the (TLS) connection a SASL exchange runs over (RFC 5056).</summary>
public interface IChannelBinding
{
    /// <summary>The channel-binding data for <paramref name="type"/> ("tls-exporter", "tls-server-end-point"), or null.</summary>
    byte[]? Get(string type);

    /// <summary>The types <see cref="Get"/> can answer, most preferred first (advertised per XEP-0440).</summary>
    IReadOnlyList<string> SupportedTypes { get; }
}

public static class ChannelBindingTypes
{
    public const string TlsExporter = "tls-exporter";
    public const string TlsServerEndPoint = "tls-server-end-point";
}
