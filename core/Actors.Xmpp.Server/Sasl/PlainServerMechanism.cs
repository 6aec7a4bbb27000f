using System.Security.Cryptography;
using System.Text;

namespace Actors.Xmpp.Server.Sasl;

/// <summary>
/// PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd. The password is checked against the stored SCRAM
/// verifier (re-derived with the stored salt and iteration count, constant-time comparison).
/// </summary>
public sealed class PlainServerMechanism : ISaslMechanism
{
    public const int MaxFieldBytes = 1024;

    private enum State { Initial, AwaitResponse, AwaitCredentials, Done }

    private readonly string _domain;
    private readonly SaslOptions _options;
    private State _state;
    private string _username = "";
    private string? _authzid;
    private byte[] _password = [];

    public PlainServerMechanism(string domain, SaslOptions options)
    {
        _domain = domain ?? throw new ArgumentNullException(nameof(domain));
        _options = options ?? throw new ArgumentNullException(nameof(options));
    }

    public string Name => "PLAIN";

    public SaslResult Start(byte[]? initialResponse)
    {
        if (_state != State.Initial) return Fail(SaslConditions.MalformedRequest, "Exchange already started.");
        if (initialResponse is null)
        {
            _state = State.AwaitResponse;
            return new SaslResult.Challenge([]);
        }
        return Handle(initialResponse);
    }

    public SaslResult Step(byte[] response)
    {
        ArgumentNullException.ThrowIfNull(response);
        return _state == State.AwaitResponse ? Handle(response) : Fail(SaslConditions.MalformedRequest, "Unexpected response.");
    }

    private SaslResult Handle(byte[] msg)
    {
        if (msg.Length > 3 * MaxFieldBytes + 2) return Fail(SaslConditions.MalformedRequest, "Message too long.");
        int nul1 = Array.IndexOf(msg, (byte)0);
        int nul2 = nul1 < 0 ? -1 : Array.IndexOf(msg, (byte)0, nul1 + 1);
        if (nul1 < 0 || nul2 < 0 || Array.IndexOf(msg, (byte)0, nul2 + 1) >= 0)
            return Fail(SaslConditions.MalformedRequest, "Expected authzid NUL authcid NUL passwd.");
        int authzLen = nul1, authcLen = nul2 - nul1 - 1, passLen = msg.Length - nul2 - 1;
        if (authcLen == 0 || passLen == 0) return Fail(SaslConditions.MalformedRequest, "Empty authcid or password.");
        if (authzLen > MaxFieldBytes || authcLen > MaxFieldBytes || passLen > MaxFieldBytes)
            return Fail(SaslConditions.MalformedRequest, "Field too long.");
        string authz, authc, pass;
        try
        {
            authz = SaslText.StrictUtf8.GetString(msg, 0, authzLen);
            authc = SaslText.StrictUtf8.GetString(msg, nul1 + 1, authcLen);
            pass = SaslText.StrictUtf8.GetString(msg, nul2 + 1, passLen);
        }
        catch (DecoderFallbackException) { return Fail(SaslConditions.MalformedRequest, "Invalid UTF-8."); }

        var user = Jid.NormalizeLocal(authc);
        var preparedPass = Precis.OpaqueString(pass);
        if (user is null || preparedPass is null) return Fail(SaslConditions.NotAuthorized, null);
        _username = user;
        _authzid = authz.Length == 0 ? null : authz;
        _password = Encoding.UTF8.GetBytes(preparedPass);
        _state = State.AwaitCredentials;
        return new SaslResult.NeedCredentials(user);
    }

    public SaslResult Continue(UserCredentials? creds)
    {
        if (_state != State.AwaitCredentials) return Fail(SaslConditions.MalformedRequest, "Unexpected credentials.");
        ScramCredential? cred = null;
        if (creds is not null)
            foreach (var h in new[] { ScramKeys.Sha256, ScramKeys.Sha512, ScramKeys.Sha1 })
            {
                cred = creds.Scram.FirstOrDefault(c => c.Hash == h);
                if (cred is not null) break;
            }
        bool fake = cred is null;
        // Same work for unknown users as for real ones.
        var salt = cred?.Salt ?? ScramKeys.FakeSalt(_options.ServerSecret, ScramKeys.Sha256, _username);
        var derived = ScramKeys.DerivePrepared(cred?.Hash ?? ScramKeys.Sha256, _password, salt, cred?.Iterations ?? _options.FakeIterations);
        var stored = cred?.StoredKey ?? RandomNumberGenerator.GetBytes(derived.StoredKey.Length);
        bool ok = CryptographicOperations.FixedTimeEquals(derived.StoredKey, stored) && !fake;
        CryptographicOperations.ZeroMemory(_password);
        if (!ok) return Fail(SaslConditions.NotAuthorized, null);

        var authz = SaslText.CheckAuthzid(_authzid, _username, _domain, out var authzOk);
        if (!authzOk) return Fail(SaslConditions.InvalidAuthzid, null);
        _state = State.Done;
        return new SaslResult.Success(null, _username, authz);
    }

    private SaslResult Fail(string condition, string? text)
    {
        _state = State.Done;
        CryptographicOperations.ZeroMemory(_password);
        return new SaslResult.Failure(condition, text);
    }
}
