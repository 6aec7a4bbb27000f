namespace Actors.Xmpp.Server.Portability;

/// <summary>XEP-0227 (Portable Import/Export Format, 1.1) names.</summary>
public static class PortableFormat
{
    /// <summary>The file's namespace (XEP-0227 1.0 and later).</summary>
    public const string Ns = "urn:xmpp:pie:0";
    /// <summary>The namespace of files written before 1.0 (ejabberd's export_piefxis of older releases).</summary>
    public const string LegacyNs = "http://www.xmpp.org/extensions/xep-0227.html#ns";
    /// <summary>§4.2.1: SCRAM credentials of an account.</summary>
    public const string ScramNs = "urn:xmpp:pie:0#scram";
    public const string XIncludeNs = "http://www.w3.org/2001/XInclude";

    public const string ServerData = "server-data";
    public const string Host = "host";
    public const string User = "user";
    public const string ScramCredentials = "scram-credentials";
    public const string IterationCount = "iter-count";
    public const string Salt = "salt";
    public const string ServerKey = "server-key";
    public const string StoredKey = "stored-key";
    public const string OfflineMessages = "offline-messages";
    public const string Include = "include";

    /// <summary>"SCRAM-" + the hash name the account store uses ("SHA-1" → "SCRAM-SHA-1").</summary>
    public static string Mechanism(string hash) => "SCRAM-" + hash;

    /// <summary>The store's hash name of a SCRAM mechanism, or null for one it does not keep.</summary>
    public static string? HashOf(string? mechanism) => mechanism switch
    {
        "SCRAM-SHA-1" => Sasl.ScramKeys.Sha1,
        "SCRAM-SHA-256" => Sasl.ScramKeys.Sha256,
        "SCRAM-SHA-512" => Sasl.ScramKeys.Sha512,
        _ => null,
    };

    public static bool IsFileNamespace(string? ns) => ns is Ns or LegacyNs;
}
