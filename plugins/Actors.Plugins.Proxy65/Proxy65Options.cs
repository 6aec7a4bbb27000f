using System.ComponentModel.DataAnnotations;
using System.Net;

namespace Actors.Plugins.Proxy65;

/// <summary>Options (section <c>Xmpp:Plugins:proxy65</c>).</summary>
public sealed class Proxy65Options : IValidatableObject
{
    /// <summary>Off unless set: the proxy opens a TCP port, so an operator turns it on.</summary>
    public bool Enabled { get; set; }

    /// <summary>The service is &lt;Subdomain&gt;.&lt;domain&gt;.</summary>
    [Required, RegularExpression("^[a-z0-9][a-z0-9-]*$")]
    public string Subdomain { get; set; } = "proxy";

    /// <summary>The service's name in disco (its proxy/bytestreams identity).</summary>
    public string Name { get; set; } = "SOCKS5 Bytestreams Service";

    /// <summary>The address the SOCKS5 listener binds.</summary>
    [Required]
    public string BindAddress { get; set; } = "0.0.0.0";

    /// <summary>The SOCKS5 port (0: any free port, announced as bound).</summary>
    [Range(0, 65535)]
    public int Port { get; set; } = 7777;

    /// <summary>The host announced in &lt;streamhost host/&gt; (an address or a name clients resolve); empty: the service's
    /// own JID (proxy.&lt;domain&gt;), as Prosody announces it.</summary>
    public string? Host { get; set; }

    /// <summary>The most bytes per second each direction of one bytestream carries; 0: no limit.</summary>
    [Range(0, int.MaxValue)]
    public int BytesPerSecond { get; set; }

    /// <summary>How long a connection may wait for its bytestream to be activated before it is closed.</summary>
    [Range(1, 3600)]
    public int ActivationSeconds { get; set; } = 60;

    /// <summary>How long a connection may take for its SOCKS5 handshake.</summary>
    [Range(1, 300)]
    public int HandshakeSeconds { get; set; } = 10;

    /// <summary>The most SOCKS5 connections open at once (waiting or relaying).</summary>
    [Range(2, 1_000_000)]
    public int MaxConnections { get; set; } = 1000;

    /// <summary>The most bytestreams one account may have relaying at once; 0: no limit.</summary>
    [Range(0, 100_000)]
    public int MaxStreamsPerUser { get; set; } = 5;

    /// <summary>Whether accounts of other servers may use the proxy (default: this server's accounts only).</summary>
    public bool AllowRemoteUsers { get; set; }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!IPAddress.TryParse(BindAddress, out _))
            yield return new ValidationResult("must be an IP address", [nameof(BindAddress)]);
    }
}
