using System.Security.Cryptography;
using System.Text;
using Actors.Xmpp.Security;

namespace Actors.Xmpp.Server.Sasl;

/// <summary>
/// Server side of SCRAM-SHA-1/256/512[-PLUS] (RFC 5802, RFC 7677; channel bindings RFC 5929 / RFC 9266).
/// Unknown users get a deterministic fake salt and the same sequence of answers, failing with not-authorized
/// only at the final step.
/// </summary>
public sealed class ScramServerMechanism : ISaslMechanism
{
    private enum State { Initial, AwaitClientFirst, AwaitCredentials, AwaitClientFinal, Done }

    private readonly string _hash;
    private readonly bool _plus;
    private readonly bool _plusAdvertised;
    private readonly IChannelBinding? _cb;
    private readonly string _domain;
    private readonly SaslOptions _options;
    private readonly Func<string> _nonce;

    private State _state;
    private string _gs2Header = "";
    private char _cbFlag;
    private string? _cbName;
    private string? _authzid;
    private string _username = "";
    private string _clientFirstBare = "";
    private string _clientNonce = "";
    private string _serverFirst = "";
    private string _nonceCombined = "";
    private ScramCredential? _cred;
    private bool _fake;

    /// <param name="hash">"SHA-1", "SHA-256" or "SHA-512".</param>
    /// <param name="plus">the -PLUS variant (channel binding required).</param>
    /// <param name="cb">channel-binding data of the connection (needed for -PLUS).</param>
    /// <param name="plusAdvertised">whether the server offered any -PLUS mechanism (RFC 5802 §6 downgrade check for "y").</param>
    /// <param name="domain">the server domain, for the authzid check.</param>
    /// <param name="options">server secret for fake salts, nonce generator.</param>
    /// <param name="nonceGenerator">overrides <see cref="SaslOptions.NonceGenerator"/> (tests).</param>
    public ScramServerMechanism(string hash, bool plus, IChannelBinding? cb, bool plusAdvertised, string domain,
        SaslOptions options, Func<string>? nonceGenerator = null)
    {
        if (!ScramKeys.IsSupported(hash)) throw new ArgumentException($"Unsupported hash '{hash}'.", nameof(hash));
        if (plus && cb is null) throw new ArgumentException("-PLUS needs channel-binding data.", nameof(cb));
        _hash = hash;
        _plus = plus;
        _cb = cb;
        _plusAdvertised = plusAdvertised;
        _domain = domain ?? throw new ArgumentNullException(nameof(domain));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _nonce = nonceGenerator ?? options.NonceGenerator ?? DefaultNonce;
        Name = "SCRAM-" + hash + (plus ? "-PLUS" : "");
    }

    public string Name { get; }

    private static string DefaultNonce() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(24));

    public SaslResult Start(byte[]? initialResponse)
    {
        if (_state != State.Initial) return Fail(SaslConditions.MalformedRequest, "Exchange already started.");
        if (initialResponse is null)
        {
            _state = State.AwaitClientFirst;
            return new SaslResult.Challenge([]);
        }
        return ClientFirst(initialResponse);
    }

    public SaslResult Step(byte[] response)
    {
        ArgumentNullException.ThrowIfNull(response);
        return _state switch
        {
            State.AwaitClientFirst => ClientFirst(response),
            State.AwaitClientFinal => ClientFinal(response),
            _ => Fail(SaslConditions.MalformedRequest, "Unexpected response."),
        };
    }

    public SaslResult Continue(UserCredentials? creds)
    {
        if (_state != State.AwaitCredentials) return Fail(SaslConditions.MalformedRequest, "Unexpected credentials.");
        ScramCredential? cred = null;
        if (creds is not null)
            foreach (var c in creds.Scram)
                if (c.Hash == _hash) { cred = c; break; }
        if (cred is null)
        {
            // Unknown user (or no verifier for this hash): answer exactly like for a real one.
            _fake = true;
            int len = ScramKeys.HashLength(_hash);
            cred = new ScramCredential(_hash, ScramKeys.FakeSalt(_options.ServerSecret, _hash, _username),
                _options.FakeIterations, RandomNumberGenerator.GetBytes(len), RandomNumberGenerator.GetBytes(len));
        }
        _cred = cred;
        var serverNonce = _nonce();
        if (serverNonce.Length == 0 || serverNonce.Any(ch => ch is < (char)0x21 or > (char)0x7E or ','))
            throw new InvalidOperationException("Server nonce must be printable ASCII without ','.");
        _nonceCombined = _clientNonce + serverNonce;
        _serverFirst = $"r={_nonceCombined},s={Convert.ToBase64String(cred.Salt)},i={cred.Iterations}";
        _state = State.AwaitClientFinal;
        return new SaslResult.Challenge(Encoding.UTF8.GetBytes(_serverFirst));
    }

    // client-first-message = gs2-header client-first-message-bare
    private SaslResult ClientFirst(byte[] data)
    {
        if (data.Length == 0 || data.Length > 4096) return Fail(SaslConditions.MalformedRequest, "Bad client-first-message.");
        if (!SaslText.TryDecode(data, out var msg)) return Fail(SaslConditions.MalformedRequest, "Invalid UTF-8.");

        // gs2-cbind-flag
        int pos;
        if (msg.StartsWith("n,", StringComparison.Ordinal)) { _cbFlag = 'n'; pos = 2; }
        else if (msg.StartsWith("y,", StringComparison.Ordinal)) { _cbFlag = 'y'; pos = 2; }
        else if (msg.StartsWith("p=", StringComparison.Ordinal))
        {
            int comma = msg.IndexOf(',', 2);
            if (comma < 0) return Fail(SaslConditions.MalformedRequest, "Bad GS2 header.");
            _cbName = msg[2..comma];
            if (_cbName.Length == 0 || !_cbName.All(ch => char.IsAsciiLetterOrDigit(ch) || ch is '.' or '-'))
                return Fail(SaslConditions.MalformedRequest, "Bad channel-binding name.");
            _cbFlag = 'p';
            pos = comma + 1;
        }
        else return Fail(SaslConditions.MalformedRequest, "Bad GS2 header.");

        // [authzid] ","
        if (msg.AsSpan(pos).StartsWith("a="))
        {
            int comma = msg.IndexOf(',', pos);
            if (comma < 0) return Fail(SaslConditions.MalformedRequest, "Bad GS2 header.");
            var a = SaslText.UnescapeSaslName(msg[(pos + 2)..comma]);
            if (a is null || a.Length == 0) return Fail(SaslConditions.MalformedRequest, "Bad authzid encoding.");
            _authzid = a;
            pos = comma + 1;
        }
        else
        {
            if (pos >= msg.Length || msg[pos] != ',') return Fail(SaslConditions.MalformedRequest, "Bad GS2 header.");
            pos++;
        }
        _gs2Header = msg[..pos];
        _clientFirstBare = msg[pos..];

        // Channel-binding negotiation (RFC 5802 §6, §7).
        switch (_cbFlag)
        {
            case 'p':
                if (!_plus) return Fail(SaslConditions.MalformedRequest, "Channel binding requested with a non-PLUS mechanism.");
                if (_cb is null || !_cb.SupportedTypes.Contains(_cbName!, StringComparer.Ordinal))
                    return Fail(SaslConditions.NotAuthorized, "Unsupported channel-binding type.");
                break;
            case 'y':
                if (_plus || _plusAdvertised) return Fail(SaslConditions.NotAuthorized, "Channel-binding downgrade detected.");
                break;
            default:
                if (_plus) return Fail(SaslConditions.NotAuthorized, "-PLUS mechanism requires channel binding.");
                break;
        }

        // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
        var attrs = _clientFirstBare.Split(',');
        if (attrs.Length < 2) return Fail(SaslConditions.MalformedRequest, "Bad client-first-message.");
        if (attrs[0].StartsWith("m=", StringComparison.Ordinal)) return Fail(SaslConditions.MalformedRequest, "Mandatory extensions are not supported.");
        if (!attrs[0].StartsWith("n=", StringComparison.Ordinal)) return Fail(SaslConditions.MalformedRequest, "Missing username.");
        if (!attrs[1].StartsWith("r=", StringComparison.Ordinal) || attrs[1].Length < 3) return Fail(SaslConditions.MalformedRequest, "Missing nonce.");
        for (int i = 2; i < attrs.Length; i++)
            if (!IsExtension(attrs[i])) return Fail(SaslConditions.MalformedRequest, "Bad extension.");

        var rawUser = SaslText.UnescapeSaslName(attrs[0][2..]);
        if (rawUser is null) return Fail(SaslConditions.MalformedRequest, "Bad username encoding.");
        _clientNonce = attrs[1][2..];
        foreach (char ch in _clientNonce)
            if (ch is < (char)0x21 or > (char)0x7E) return Fail(SaslConditions.MalformedRequest, "Bad nonce.");

        var user = rawUser.Length == 0 ? null : Jid.NormalizeLocal(rawUser);
        if (user is null) return Fail(SaslConditions.NotAuthorized, null);
        _username = user;
        _state = State.AwaitCredentials;
        return new SaslResult.NeedCredentials(user);
    }

    private static bool IsExtension(string a) => a.Length >= 2 && char.IsAsciiLetter(a[0]) && a[1] == '=';

    // client-final-message = channel-binding "," nonce ["," extensions] "," proof
    private SaslResult ClientFinal(byte[] data)
    {
        if (data.Length > 8192 || !SaslText.TryDecode(data, out var msg)) return Fail(SaslConditions.MalformedRequest, "Bad client-final-message.");
        int p = msg.LastIndexOf(",p=", StringComparison.Ordinal);
        if (p < 0) return Fail(SaslConditions.MalformedRequest, "Missing proof.");
        var withoutProof = msg[..p];
        var attrs = withoutProof.Split(',');
        if (attrs.Length < 2 || !attrs[0].StartsWith("c=", StringComparison.Ordinal) || !attrs[1].StartsWith("r=", StringComparison.Ordinal))
            return Fail(SaslConditions.MalformedRequest, "Bad client-final-message.");
        for (int i = 2; i < attrs.Length; i++)
            if (!IsExtension(attrs[i])) return Fail(SaslConditions.MalformedRequest, "Bad extension.");

        byte[] cbind, proof;
        // RFC 5802 §7: attribute values are RFC 4648 base64. Convert is lenient (it skips whitespace and ignores the
        // pad bits of the last character), so a value is taken only in its one canonical spelling: the proof accepted is
        // then byte for byte the one sent (RFC 4648 §3.5 lets a decoder refuse the others)
        var cbindText = attrs[0][2..];
        var proofText = msg[(p + 3)..];
        try
        {
            cbind = Convert.FromBase64String(cbindText);
            proof = Convert.FromBase64String(proofText);
        }
        catch (FormatException) { return Fail(SaslConditions.MalformedRequest, "Bad base64."); }
        if (Convert.ToBase64String(cbind) != cbindText || Convert.ToBase64String(proof) != proofText)
            return Fail(SaslConditions.MalformedRequest, "Bad base64.");
        if (proof.Length != ScramKeys.HashLength(_hash)) return Fail(SaslConditions.MalformedRequest, "Bad proof.");

        // channel binding: c = base64(gs2-header [cbind-data])
        var gs2 = Encoding.UTF8.GetBytes(_gs2Header);
        byte[] expected = gs2;
        if (_cbFlag == 'p')
        {
            var cbData = _cb?.Get(_cbName!);
            if (cbData is null) return Fail(SaslConditions.NotAuthorized, "Channel binding unavailable.");
            expected = [.. gs2, .. cbData];
        }
        bool cbOk = CryptographicOperations.FixedTimeEquals(cbind, expected);
        bool nonceOk = string.Equals(attrs[1][2..], _nonceCombined, StringComparison.Ordinal);

        var cred = _cred!;
        var authMessage = Encoding.UTF8.GetBytes(_clientFirstBare + "," + _serverFirst + "," + withoutProof);
        var clientSignature = ScramKeys.Hmac(_hash, cred.StoredKey, authMessage);
        var clientKey = new byte[proof.Length];
        for (int i = 0; i < proof.Length; i++) clientKey[i] = (byte)(proof[i] ^ clientSignature[i]);
        bool proofOk = CryptographicOperations.FixedTimeEquals(ScramKeys.H(_hash, clientKey), cred.StoredKey);
        CryptographicOperations.ZeroMemory(clientKey);

        if (!cbOk) return Fail(SaslConditions.NotAuthorized, "Channel bindings don't match.");
        if (!nonceOk) return Fail(SaslConditions.NotAuthorized, "Nonce mismatch.");
        if (!proofOk || _fake) return Fail(SaslConditions.NotAuthorized, null);

        var authz = SaslText.CheckAuthzid(_authzid, _username, _domain, out var authzOk);
        if (!authzOk) return Fail(SaslConditions.InvalidAuthzid, null);

        var serverSignature = ScramKeys.Hmac(_hash, cred.ServerKey, authMessage);
        _state = State.Done;
        return new SaslResult.Success(Encoding.UTF8.GetBytes("v=" + Convert.ToBase64String(serverSignature)), _username, authz);
    }

    private SaslResult Fail(string condition, string? text)
    {
        _state = State.Done;
        return new SaslResult.Failure(condition, text);
    }
}
