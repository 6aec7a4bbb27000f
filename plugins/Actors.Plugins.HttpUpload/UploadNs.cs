namespace Actors.Plugins.HttpUpload;

/// <summary>XEP-0363 names.</summary>
internal static class UploadNs
{
    public const string Upload = "urn:xmpp:http:upload:0";
    public const string Request = "request";
    public const string Slot = "slot";
    public const string FileTooLarge = "file-too-large";
    public const string MaxFileSize = "max-file-size";
    public const string Retry = "retry";
    public const string DefaultContentType = "application/octet-stream";
}

/// <summary>RFC 6120 §8.3.3 conditions this plugin answers with.</summary>
internal static class Conditions
{
    public const string BadRequest = "bad-request";
    public const string NotAcceptable = "not-acceptable";
    public const string NotAllowed = "not-allowed";
    public const string ResourceConstraint = "resource-constraint";
    public const string ServiceUnavailable = "service-unavailable";
    public const string FeatureNotImplemented = "feature-not-implemented";
}
