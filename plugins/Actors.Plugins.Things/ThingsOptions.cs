using System.ComponentModel.DataAnnotations;

namespace Actors.Plugins.Things;

/// <summary>Options (section Xmpp:Plugins:things).</summary>
public sealed class ThingsOptions
{
    /// <summary>The registry is &lt;Subdomain&gt;.&lt;domain&gt; for every served domain.</summary>
    [Required, RegularExpression("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")]
    public string Subdomain { get; set; } = "discovery";

    /// <summary>The registry's name in disco.</summary>
    [Required, StringLength(100)] public string Name { get; set; } = "Thing Registry";

    /// <summary>Meta tags one thing may have (XEP-0347 §3.6, "tag name spam"); more: bad-request.</summary>
    [Range(8, 1000)] public int MaxTags { get; set; } = 64;

    /// <summary>Things one search returns at most (a smaller maxCount wins; 'more' says when others follow).</summary>
    [Range(1, 10_000)] public int MaxSearchResults { get; set; } = 100;

    /// <summary>How long the registry waits for a thing to acknowledge &lt;claimed/&gt;, &lt;removed/&gt; or &lt;disowned/&gt;.</summary>
    [Range(0.5, 600)] public double ThingTimeoutSeconds { get; set; } = 10;

    /// <summary>How long the server waits for a device to answer a read-out or control request sent to its bare JID
    /// (then &lt;remote-server-timeout/&gt;), and for the device's twin.</summary>
    [Range(0.5, 600)] public double DeviceTimeoutSeconds { get; set; } = 30;

    /// <summary>Fields a device's twin keeps at most (the last value of each node, field name and field type); what a
    /// device reports beyond is not kept.</summary>
    [Range(1, 100_000)] public int TwinMaxFields { get; set; } = 1000;

    /// <summary>A twin that was neither reported to nor read for this long leaves memory (its values stay in the journal).</summary>
    [Range(1, 86400)] public double TwinIdleSeconds { get; set; } = 60;
}
