using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Actors.Xmpp.Plugins;

namespace Actors.Plugins.Turn;

/// <summary>
/// RFC 8489 §9.2 long-term credentials over TURN REST usernames: the password of "expiry:user" is
/// base64(HMAC-SHA1(secret, username)) (<see cref="TurnRestCredentials"/>, the same code extdisco hands them out
/// with), valid until the expiry; the key is MD5(username ":" realm ":" password). Nonces are stateless: the expiry
/// and an HMAC over it and the client's address under a key of this server run.
/// </summary>
internal sealed class LongTermCredentials
{
    private readonly string _secret;
    private readonly byte[] _nonceKey = RandomNumberGenerator.GetBytes(32);
    private readonly TimeSpan _nonceLifetime;

    public LongTermCredentials(string secret, string realm, TimeSpan nonceLifetime)
    {
        _secret = secret;
        Realm = realm;
        _nonceLifetime = nonceLifetime;
    }

    public string Realm { get; }

    /// <summary>The key of <paramref name="username"/>, or null when it is not a TURN REST username of this secret that
    /// is still valid (then the request gets 401).</summary>
    public byte[]? KeyOf(string username, DateTimeOffset now, out string user)
    {
        if (!TurnRestCredentials.TryParse(username, out var expires, out user) || expires < now || user.Length == 0) return null;
        var password = TurnRestCredentials.Password(_secret, username);
        // §9.2.2: MD5(username ":" OpaqueString(realm) ":" OpaqueString(password)); the password is base64 and the realm
        // a domain name: both ASCII, which OpaqueString (RFC 8265) leaves as they are
        return MD5.HashData(Encoding.UTF8.GetBytes(username + ":" + Realm + ":" + password));
    }

    /// <summary>A fresh nonce for <paramref name="client"/>: 16 hex digits of expiry, 24 of HMAC.</summary>
    public string NewNonce(IPAddress client, DateTimeOffset now)
    {
        var expires = (now + _nonceLifetime).ToUnixTimeSeconds();
        return expires.ToString("x16", CultureInfo.InvariantCulture) + Convert.ToHexStringLower(Mac(expires, client));
    }

    /// <summary>True when <paramref name="nonce"/> is one this server run made for <paramref name="client"/> and it has
    /// not expired (otherwise: 438 Stale Nonce).</summary>
    public bool IsValid(string nonce, IPAddress client, DateTimeOffset now)
    {
        if (nonce.Length != 40 || !long.TryParse(nonce.AsSpan(0, 16), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var expires))
            return false;
        Span<byte> given = stackalloc byte[12];
        if (Convert.FromHexString(nonce.AsSpan(16), given, out _, out var written) != System.Buffers.OperationStatus.Done || written != 12)
            return false;
        return CryptographicOperations.FixedTimeEquals(given, Mac(expires, client)) && expires >= now.ToUnixTimeSeconds();
    }

    private byte[] Mac(long expires, IPAddress client)
    {
        Span<byte> data = stackalloc byte[8 + 16];
        BinaryPrimitives.WriteInt64BigEndian(data, expires);
        client.TryWriteBytes(data[8..], out var n);
        return HMACSHA256.HashData(_nonceKey, data[..(8 + n)])[..12];
    }
}

/// <summary>RFC 8656 §21.1: which peers a client may relay to. Loopback, private, shared, link-local, unspecified,
/// multicast and broadcast addresses are refused (403) unless the options allow the first ones.</summary>
internal static class PeerPolicy
{
    public static bool Allowed(IPAddress address, TurnOptions options)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (IPAddress.IsLoopback(address)) return options.AllowLoopbackPeers;
        if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
        {
            Span<byte> b = stackalloc byte[4];
            address.TryWriteBytes(b, out _);
            if (b[0] == 0 || b[0] >= 224) return false;                             // this network; multicast, reserved, broadcast
            var isPrivate = b[0] == 10 || (b[0] == 172 && (b[1] & 0xF0) == 16) || (b[0] == 192 && b[1] == 168)
                || (b[0] == 100 && (b[1] & 0xC0) == 64) || (b[0] == 169 && b[1] == 254);
            return !isPrivate || options.AllowPrivatePeers;
        }
        if (address.Equals(IPAddress.IPv6Any) || address.IsIPv6Multicast) return false;
        Span<byte> v6 = stackalloc byte[16];
        address.TryWriteBytes(v6, out _);
        var isPrivate6 = (v6[0] & 0xFE) == 0xFC || address.IsIPv6LinkLocal || address.IsIPv6SiteLocal;
        return !isPrivate6 || options.AllowPrivatePeers;
    }
}
