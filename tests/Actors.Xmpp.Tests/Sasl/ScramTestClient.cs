using System.Security.Cryptography;
using System.Text;

namespace Actors.Xmpp.Tests.Sasl;

/// <summary>Minimal SCRAM client (RFC 5802) for the tests.</summary>
internal sealed class ScramTestClient(string hash, string user, string password, string clientNonce, string gs2Header = "n,,", byte[]? cbData = null)
{
    private string _clientFirstBare = "";
    private byte[] _saltedPassword = [];
    private string _authMessage = "";

    public string Gs2Header { get; } = gs2Header;

    public byte[] ClientFirst()
    {
        _clientFirstBare = "n=" + user.Replace("=", "=3D").Replace(",", "=2C") + ",r=" + clientNonce;
        return Encoding.UTF8.GetBytes(Gs2Header + _clientFirstBare);
    }

    public byte[] ClientFinal(byte[] serverFirst, string? overrideNonce = null, byte[]? overrideCb = null)
    {
        var sf = Encoding.UTF8.GetString(serverFirst);
        var parts = sf.Split(',').ToDictionary(p => p[..1], p => p[2..]);
        var nonce = parts["r"];
        Assert.StartsWith(clientNonce, nonce);
        var salt = Convert.FromBase64String(parts["s"]);
        var iterations = int.Parse(parts["i"]);
        var name = hash switch { "SHA-1" => HashAlgorithmName.SHA1, "SHA-256" => HashAlgorithmName.SHA256, _ => HashAlgorithmName.SHA512 };
        int len = hash switch { "SHA-1" => 20, "SHA-256" => 32, _ => 64 };
        _saltedPassword = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, name, len);
        var cbind = overrideCb ?? [.. Encoding.UTF8.GetBytes(Gs2Header), .. cbData ?? []];
        var withoutProof = "c=" + Convert.ToBase64String(cbind) + ",r=" + (overrideNonce ?? nonce);
        _authMessage = _clientFirstBare + "," + sf + "," + withoutProof;
        var clientKey = Hmac(_saltedPassword, "Client Key");
        var storedKey = H(clientKey);
        var sig = Hmac(storedKey, _authMessage);
        var proof = new byte[len];
        for (int i = 0; i < len; i++) proof[i] = (byte)(clientKey[i] ^ sig[i]);
        return Encoding.UTF8.GetBytes(withoutProof + ",p=" + Convert.ToBase64String(proof));
    }

    public bool VerifyServerFinal(byte[] serverFinal)
    {
        var expected = "v=" + Convert.ToBase64String(Hmac(Hmac(_saltedPassword, "Server Key"), _authMessage));
        return expected == Encoding.UTF8.GetString(serverFinal);
    }

    private byte[] Hmac(byte[] key, string data) => hash switch
    {
        "SHA-1" => HMACSHA1.HashData(key, Encoding.UTF8.GetBytes(data)),
        "SHA-256" => HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(data)),
        _ => HMACSHA512.HashData(key, Encoding.UTF8.GetBytes(data)),
    };

    private byte[] H(byte[] data) => hash switch
    {
        "SHA-1" => SHA1.HashData(data),
        "SHA-256" => SHA256.HashData(data),
        _ => SHA512.HashData(data),
    };
}
