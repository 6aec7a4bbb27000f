namespace Actors.Xmpp.Server.Http.Bosh;

/// <summary>XEP-0124 (BOSH) and XEP-0206 (XMPP over BOSH) names and values.</summary>
public static class BoshProtocol
{
    public const string Namespace = "http://jabber.org/protocol/httpbind";
    /// <summary>XEP-0206's namespace of xmpp:version, xmpp:restart, xmpp:restartlogic.</summary>
    public const string XmppNamespace = "urn:xmpp:xbosh";
    /// <summary>The protocol version this connection manager speaks (XEP-0124 1.11).</summary>
    public const string Version = "1.11";
    public const string ContentType = "text/xml; charset=utf-8";
    /// <summary>The largest rid a client may use (XEP-0124 §14: 2^53 - 1).</summary>
    public const long MaxRid = 9007199254740991;

    public const string Terminate = "terminate";

    /// <summary>XEP-0124 §17.2 terminal binding conditions (and XEP-0206 §8's remote-stream-error).</summary>
    public static class Conditions
    {
        public const string BadRequest = "bad-request";
        public const string HostUnknown = "host-unknown";
        public const string ItemNotFound = "item-not-found";
        public const string PolicyViolation = "policy-violation";
        public const string RemoteConnectionFailed = "remote-connection-failed";
        public const string RemoteStreamError = "remote-stream-error";
        public const string SystemShutdown = "system-shutdown";
        public const string ImproperAddressing = "improper-addressing";
        public const string InternalServerError = "internal-server-error";
    }

    /// <summary>XEP-0124 §17.1: a client older than version 1.6 (or that gave none) gets HTTP error codes instead of
    /// terminal binding conditions.</summary>
    public static int LegacyStatus(string condition) => condition switch
    {
        Conditions.BadRequest => 400,
        Conditions.PolicyViolation => 403,
        _ => 404,
    };

    /// <summary>Whether a 'ver' attribute ("major.minor") is at least 1.6.</summary>
    public static bool AtLeast16(string? ver)
    {
        if (ver is null) return false;
        var dot = ver.IndexOf('.');
        if (dot <= 0 || !int.TryParse(ver.AsSpan(0, dot), out var major) || !int.TryParse(ver.AsSpan(dot + 1), out var minor)) return false;
        return major > 1 || (major == 1 && minor >= 6);
    }

    /// <summary>The lower of the client's 'ver' and ours (XEP-0124 §7.1).</summary>
    public static string Negotiate(string? ver)
    {
        if (ver is null) return Version;
        var dot = ver.IndexOf('.');
        if (dot <= 0 || !int.TryParse(ver.AsSpan(0, dot), out var major) || !int.TryParse(ver.AsSpan(dot + 1), out var minor)) return Version;
        return major < 1 || (major == 1 && minor < 11) ? $"{major}.{minor}" : Version;
    }
}
