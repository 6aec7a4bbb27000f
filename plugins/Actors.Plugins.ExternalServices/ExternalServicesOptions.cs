using System.ComponentModel.DataAnnotations;

namespace Actors.Plugins.ExternalServices;

/// <summary>Options (section <c>Xmpp:Plugins:extdisco</c>): the STUN and TURN services clients are told of.</summary>
public sealed class ExternalServicesOptions : IValidatableObject
{
    public List<ExternalService> Services { get; set; } = new();

    /// <summary>How long credentials made from a shared secret stay valid.</summary>
    [Range(60, 7 * 86400)]
    public int CredentialSeconds { get; set; } = 86400;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        for (var i = 0; i < Services.Count; i++)
        {
            var s = Services[i];
            if (string.IsNullOrWhiteSpace(s.Host)) yield return new ValidationResult("a service needs a Host", [$"Services:{i}:Host"]);
            if (string.IsNullOrWhiteSpace(s.Type)) yield return new ValidationResult("a service needs a Type (stun, turn, stuns, turns)", [$"Services:{i}:Type"]);
            if (s.Port is < 0 or > 65535) yield return new ValidationResult("Port is 1-65535 (0: not given)", [$"Services:{i}:Port"]);
            if (s.Transport is not (null or "" or "udp" or "tcp")) yield return new ValidationResult("Transport is udp or tcp", [$"Services:{i}:Transport"]);
            if (!string.IsNullOrEmpty(s.Secret) && !string.IsNullOrEmpty(s.Password))
                yield return new ValidationResult("a service has a shared Secret (credentials made per request) or a static Username/Password, not both", [$"Services:{i}:Secret"]);
        }
    }
}

/// <summary>One service (XEP-0215 §3 attributes).</summary>
public sealed class ExternalService
{
    /// <summary>stun, turn, stuns, turns (or another XEP-0215 registered type).</summary>
    public string Type { get; set; } = "";
    public string Host { get; set; } = "";
    public int Port { get; set; }
    /// <summary>udp or tcp; empty: not given.</summary>
    public string? Transport { get; set; }
    public string? Name { get; set; }
    /// <summary>The TURN REST shared secret (coturn's static-auth-secret, ejabberd's and Prosody's turn secret):
    /// each request gets a username "expiry:user" and the password base64(HMAC-SHA1(secret, username)).</summary>
    public string? Secret { get; set; }
    /// <summary>Static credentials, given as they are (when no Secret).</summary>
    public string? Username { get; set; }
    public string? Password { get; set; }
}
