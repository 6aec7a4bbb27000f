using System.Security.Cryptography;

namespace Actors.Xmpp.Server.Sasl;

/// <summary>Stored SCRAM verifier for one hash (RFC 5802 §3): never the password itself.</summary>
public sealed record ScramCredential(string Hash, byte[] Salt, int Iterations, byte[] StoredKey, byte[] ServerKey);

/// <summary>What the account store knows about a user: the (normalized) username and one verifier per hash.</summary>
public sealed record UserCredentials(string Username, IReadOnlyList<ScramCredential> Scram);

/// <summary>What a mechanism says next.</summary>
public abstract record SaslResult
{
    private SaslResult() { }

    /// <summary>Send &lt;challenge/&gt; with these bytes (the caller base64-encodes them).</summary>
    public sealed record Challenge(byte[] Data) : SaslResult;

    /// <summary>Look the user up and call <see cref="ISaslMechanism.Continue"/> (null when unknown).</summary>
    public sealed record NeedCredentials(string Username) : SaslResult;

    /// <summary>Authenticated; send &lt;success/&gt; with <see cref="AdditionalData"/> if not null.</summary>
    public sealed record Success(byte[]? AdditionalData, string Username, string? AuthzId) : SaslResult;

    /// <summary>Send &lt;failure/&gt; with the RFC 6120 §6.5 condition element and optional text.</summary>
    public sealed record Failure(string Condition, string? Text) : SaslResult;
}

/// <summary>RFC 6120 §6.5 failure conditions.</summary>
public static class SaslConditions
{
    public const string Aborted = "aborted";
    public const string AccountDisabled = "account-disabled";
    public const string CredentialsExpired = "credentials-expired";
    public const string EncryptionRequired = "encryption-required";
    public const string IncorrectEncoding = "incorrect-encoding";
    public const string InvalidAuthzid = "invalid-authzid";
    public const string InvalidMechanism = "invalid-mechanism";
    public const string MalformedRequest = "malformed-request";
    public const string MechanismTooWeak = "mechanism-too-weak";
    public const string NotAuthorized = "not-authorized";
    public const string TemporaryAuthFailure = "temporary-auth-failure";
}

/// <summary>A server-side SASL mechanism instance: one per authentication attempt, not thread-safe.</summary>
public interface ISaslMechanism
{
    string Name { get; }

    /// <summary>The &lt;auth/&gt; element: already base64-decoded initial response; empty for "=", null when absent.</summary>
    SaslResult Start(byte[]? initialResponse);

    /// <summary>After <see cref="SaslResult.NeedCredentials"/>: the user's credentials, or null if the user is unknown.</summary>
    SaslResult Continue(UserCredentials? creds);

    /// <summary>A &lt;response/&gt; element, base64-decoded.</summary>
    SaslResult Step(byte[] response);
}

public sealed class SaslOptions
{
    /// <summary>Mechanism names that may be offered; null = all supported.</summary>
    public IReadOnlyCollection<string>? AllowedMechanisms { get; init; }

    /// <summary>Offer PLAIN on unencrypted connections (default false).</summary>
    public bool AllowPlainWithoutTls { get; init; }

    /// <summary>Secret used to derive fake salts for unknown users; random per process by default.
    /// Set a stable value in a cluster so every node answers the same for the same unknown user.</summary>
    public byte[] ServerSecret { get; init; } = RandomNumberGenerator.GetBytes(32);

    /// <summary>Iteration count shown for unknown users (should match what <see cref="ScramKeys.Create"/> uses).</summary>
    public int FakeIterations { get; init; } = 4096;

    /// <summary>Server nonce generator (test hook); default: 24 random bytes, base64.</summary>
    public Func<string>? NonceGenerator { get; init; }
}
