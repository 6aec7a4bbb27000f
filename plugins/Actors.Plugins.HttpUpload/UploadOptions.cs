using System.ComponentModel.DataAnnotations;

namespace Actors.Plugins.HttpUpload;

/// <summary>Options (section <c>Xmpp:Plugins:upload</c>).</summary>
public sealed class UploadOptions : IValidatableObject
{
    /// <summary>The service is &lt;Subdomain&gt;.&lt;domain&gt;.</summary>
    [Required, RegularExpression("^[a-z0-9][a-z0-9-]*$")]
    public string Subdomain { get; set; } = "upload";

    /// <summary>The service's name in disco.</summary>
    public string Name { get; set; } = "HTTP File Upload";

    /// <summary>The HTTP path files are put to and served from.</summary>
    [Required, RegularExpression("^/[A-Za-z0-9._~-]+$")]
    public string PathPrefix { get; set; } = "/upload";

    /// <summary>The public base URL of the slots' URLs (https://files.example.org); empty: the HTTP host's
    /// (Xmpp:Http:PublicUrl, else its listener).</summary>
    public string? PublicUrl { get; set; }

    /// <summary>Largest file, in bytes (announced as max-file-size, XEP-0363 §3).</summary>
    [Range(1, long.MaxValue)]
    public long MaxFileSize { get; set; } = 10 * 1024 * 1024;

    /// <summary>Bytes one account may have stored (and reserved by open slots) at once; 0: no quota.</summary>
    [Range(0, long.MaxValue)]
    public long QuotaBytes { get; set; } = 100 * 1024 * 1024;

    /// <summary>How long a slot's PUT URL is valid (XEP-0363 §7 recommends about 60 s).</summary>
    [Range(1, 86400)]
    public int SlotSeconds { get; set; } = 120;

    /// <summary>Files older than this are deleted; 0 keeps them.</summary>
    [Range(0, 100000)]
    public int FileLifetimeHours { get; set; } = 24 * 30;

    /// <summary>How often expired slots and old files are cleaned up.</summary>
    [Range(1, 86400)]
    public int CleanupSeconds { get; set; } = 600;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!string.IsNullOrEmpty(PublicUrl) && (!Uri.TryCreate(PublicUrl, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)))
            yield return new ValidationResult("not an http(s) URL", [nameof(PublicUrl)]);
    }
}
