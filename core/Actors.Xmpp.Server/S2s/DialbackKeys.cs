using System.Security.Cryptography;
using System.Text;

namespace Actors.Xmpp.Server.S2s;

/// <summary>
/// XEP-0185 dialback keys: HEX(HMAC-SHA256(HEX(SHA256(secret)), receiving + ' ' + originating + ' ' + stream id)).
/// The server checks only keys it generated itself (as the Authoritative Server of its domains), so the secret never
/// leaves it. The secret is kept in the data folder (dialback.secret), so that keys stay valid across restarts and are
/// the same on every node sharing that folder.
/// </summary>
public sealed class DialbackKeys
{
    public const string FileName = "dialback.secret";
    private readonly byte[] _hmacKey;

    public DialbackKeys(byte[] secret) =>
        _hmacKey = Encoding.ASCII.GetBytes(Convert.ToHexStringLower(SHA256.HashData(secret)));

    /// <summary>The secret of <paramref name="dataDir"/>, made (32 random bytes) when it does not exist yet.</summary>
    public static DialbackKeys Load(string dataDir)
    {
        var path = Path.Combine(dataDir, FileName);
        if (File.Exists(path)) return new DialbackKeys(File.ReadAllBytes(path));
        Directory.CreateDirectory(dataDir);
        var secret = RandomNumberGenerator.GetBytes(32);
        File.WriteAllBytes(path, secret);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return new DialbackKeys(secret);
    }

    /// <summary>The key the Originating Server <paramref name="originating"/> sends to <paramref name="receiving"/>
    /// on the stream the Receiving Server identified with <paramref name="streamId"/> (XEP-0185 §3).</summary>
    public string Generate(string receiving, string originating, string streamId)
    {
        var data = Encoding.UTF8.GetBytes(receiving + " " + originating + " " + streamId);
        return Convert.ToHexStringLower(HMACSHA256.HashData(_hmacKey, data));
    }

    /// <summary>True when <paramref name="key"/> is the key this server generated for those three values.</summary>
    public bool Verify(string receiving, string originating, string streamId, string key)
    {
        var expected = Encoding.ASCII.GetBytes(Generate(receiving, originating, streamId));
        var given = Encoding.ASCII.GetBytes(key.Trim().ToLowerInvariant());
        return CryptographicOperations.FixedTimeEquals(expected, given);
    }
}
