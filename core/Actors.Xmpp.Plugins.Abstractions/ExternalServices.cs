using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Actors.Xmpp.Plugins;

/// <summary>XEP-0215 external services (provided by the "extdisco" plugin): a plugin that runs such a service itself
/// (the built-in STUN/TURN server, plugin "turn") lists it next to the configured ones for as long as it is loaded.</summary>
public interface IExternalServices
{
    /// <summary>Lists <paramref name="service"/> in &lt;services/&gt; and answers &lt;credentials/&gt; for it; disposing the
    /// registration (or unloading the plugin that made it, through <see cref="IPluginContext.Track"/>) removes it.</summary>
    IDisposable Add(ExternalServiceEntry service);
}

/// <summary>One XEP-0215 §3 service. <paramref name="Secret"/>: the TURN REST shared secret its credentials are made
/// from (see <see cref="TurnRestCredentials"/>); null: no credentials.</summary>
public sealed record ExternalServiceEntry(string Type, string Host, int Port, string? Transport, string? Name = null, string? Secret = null);

/// <summary>The TURN REST credential scheme (draft-uberti-behave-turn-rest, coturn's use-auth-secret): the username is
/// the expiry in Unix seconds, ':', the user; the password is base64(HMAC-SHA1(secret, username)). The one place both
/// the party that hands credentials out (extdisco) and the one that checks them (the TURN server) compute it.</summary>
public static class TurnRestCredentials
{
    /// <summary>Credentials for <paramref name="user"/> valid until <paramref name="expires"/>.</summary>
    public static (string Username, string Password) Make(string secret, string user, DateTimeOffset expires)
    {
        var username = expires.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture) + ":" + user;
        return (username, Password(secret, username));
    }

    /// <summary>The password of <paramref name="username"/> under <paramref name="secret"/>.</summary>
    public static string Password(string secret, string username) =>
        Convert.ToBase64String(HMACSHA1.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(username)));

    /// <summary>Splits a username into its expiry and user ("1700000000:alice@example.com"); false when it is not of
    /// that form.</summary>
    public static bool TryParse(string username, out DateTimeOffset expires, out string user)
    {
        expires = default;
        user = "";
        var colon = username.IndexOf(':');
        if (colon <= 0 || !long.TryParse(username.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            || seconds > 253402300799) return false; // past 9999-12-31: not a time
        expires = DateTimeOffset.FromUnixTimeSeconds(seconds);
        user = username[(colon + 1)..];
        return true;
    }
}
