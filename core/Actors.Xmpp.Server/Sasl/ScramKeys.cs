using System.Security.Cryptography;
using System.Text;

namespace Actors.Xmpp.Server.Sasl;

/// <summary>SCRAM key derivation (RFC 5802 §3) for SHA-1, SHA-256 (RFC 7677) and SHA-512.</summary>
public static class ScramKeys
{
    public const string Sha1 = "SHA-1";
    public const string Sha256 = "SHA-256";
    public const string Sha512 = "SHA-512";

    /// <summary>The hashes this server supports, strongest first.</summary>
    public static IReadOnlyList<string> Hashes { get; } = [Sha512, Sha256, Sha1];

    public static bool IsSupported(string hash) => hash is Sha1 or Sha256 or Sha512;

    /// <summary>Derives the verifier for <paramref name="password"/> (prepared with PRECIS OpaqueString).</summary>
    /// <exception cref="ArgumentException">unknown hash, invalid password, iterations &lt; 1.</exception>
    public static ScramCredential Derive(string hash, string password, byte[] salt, int iterations)
    {
        ArgumentNullException.ThrowIfNull(password);
        ArgumentNullException.ThrowIfNull(salt);
        var prepared = Precis.OpaqueString(password) ?? throw new ArgumentException("Password is not a valid OpaqueString.", nameof(password));
        return DerivePrepared(hash, Encoding.UTF8.GetBytes(prepared), salt, iterations);
    }

    /// <summary>Creates credentials with a fresh random 16-byte salt per hash.</summary>
    public static UserCredentials Create(string username, string password, int iterations = 4096)
    {
        ArgumentNullException.ThrowIfNull(username);
        var user = Jid.NormalizeLocal(username) ?? throw new ArgumentException("Username is not a valid JID localpart.", nameof(username));
        var list = new List<ScramCredential>(Hashes.Count);
        foreach (var h in Hashes) list.Add(Derive(h, password, RandomNumberGenerator.GetBytes(16), iterations));
        return new UserCredentials(user, list);
    }

    internal static ScramCredential DerivePrepared(string hash, byte[] password, byte[] salt, int iterations)
    {
        if (iterations < 1) throw new ArgumentOutOfRangeException(nameof(iterations));
        var name = HashName(hash);
        var salted = Rfc2898DeriveBytes.Pbkdf2(password, salt, iterations, name, HashLength(hash));
        var clientKey = Hmac(hash, salted, "Client Key"u8);
        var storedKey = H(hash, clientKey);
        var serverKey = Hmac(hash, salted, "Server Key"u8);
        CryptographicOperations.ZeroMemory(salted);
        CryptographicOperations.ZeroMemory(clientKey);
        return new ScramCredential(hash, (byte[])salt.Clone(), iterations, storedKey, serverKey);
    }

    internal static HashAlgorithmName HashName(string hash) => hash switch
    {
        Sha1 => HashAlgorithmName.SHA1,
        Sha256 => HashAlgorithmName.SHA256,
        Sha512 => HashAlgorithmName.SHA512,
        _ => throw new ArgumentException($"Unsupported hash '{hash}'.", nameof(hash)),
    };

    internal static int HashLength(string hash) => hash switch
    {
        Sha1 => 20,
        Sha256 => 32,
        Sha512 => 64,
        _ => throw new ArgumentException($"Unsupported hash '{hash}'.", nameof(hash)),
    };

    internal static byte[] Hmac(string hash, byte[] key, ReadOnlySpan<byte> data) => hash switch
    {
        Sha1 => HMACSHA1.HashData(key, data),
        Sha256 => HMACSHA256.HashData(key, data),
        Sha512 => HMACSHA512.HashData(key, data),
        _ => throw new ArgumentException($"Unsupported hash '{hash}'.", nameof(hash)),
    };

    internal static byte[] H(string hash, ReadOnlySpan<byte> data) => hash switch
    {
        Sha1 => SHA1.HashData(data),
        Sha256 => SHA256.HashData(data),
        Sha512 => SHA512.HashData(data),
        _ => throw new ArgumentException($"Unsupported hash '{hash}'.", nameof(hash)),
    };

    /// <summary>Deterministic fake salt for an unknown user, so repeated attempts see the same salt.</summary>
    internal static byte[] FakeSalt(byte[] serverSecret, string hash, string username) =>
        HMACSHA256.HashData(serverSecret, Encoding.UTF8.GetBytes("scram-fake-salt\0" + hash + "\0" + username))[..16];
}
