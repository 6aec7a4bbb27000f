using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Net;

namespace Actors.Plugins.Turn;

/// <summary>Options (section <c>Xmpp:Turn</c>): the built-in STUN/TURN server. Off unless <see cref="Enabled"/>.</summary>
public sealed class TurnOptions : IValidatableObject
{
    public bool Enabled { get; set; }

    /// <summary>The address the UDP and TCP listeners bind (both on <see cref="Port"/>).</summary>
    public string BindAddress { get; set; } = "0.0.0.0";

    [Range(1, 65535)]
    public int Port { get; set; } = 3478;

    /// <summary>TURN over TLS (RFC 8656 §3.1, the <c>turns:</c> scheme of RFC 7065) on this port of
    /// <see cref="BindAddress"/>, with the server's own certificate (Xmpp:Tls); 0: off.</summary>
    [Range(0, 65535)]
    public int TlsPort { get; set; }

    /// <summary>The host name or address XEP-0215 hands out (extdisco); empty: <see cref="BindAddress"/> when it is a
    /// specific address, else the first served domain.</summary>
    public string? PublicHost { get; set; }

    /// <summary>The address relayed transport addresses are made on (RFC 8656 §7.2 XOR-RELAYED-ADDRESS); empty: the
    /// server address the client's request arrived on.</summary>
    public string? RelayAddress { get; set; }

    /// <summary>The UDP ports relayed transport addresses use, "min-max" (e.g. 49152-65535); empty: ephemeral ports
    /// chosen by the system.</summary>
    public string? RelayPorts { get; set; }

    /// <summary>The TURN REST shared secret (coturn's static-auth-secret): the same one extdisco makes credentials
    /// from; required when enabled.</summary>
    public string? Secret { get; set; }

    /// <summary>The REALM of the long-term credentials (RFC 8489 §9.2); empty: the first served domain.</summary>
    public string? Realm { get; set; }

    /// <summary>Allocations one user (the part of the TURN REST username after the expiry) may hold at once; one more
    /// gets 486 (RFC 8656 §7.2).</summary>
    [Range(1, 10000)]
    public int MaxAllocationsPerUser { get; set; } = 10;

    /// <summary>Allocations the server holds at once, all users together; one more gets 508.</summary>
    [Range(1, 1_000_000)]
    public int MaxAllocations { get; set; } = 10000;

    /// <summary>The longest lifetime an allocation is given (RFC 8656 §3.8 recommends 3600 s).</summary>
    [Range(600, 86400)]
    public int MaxLifetimeSeconds { get; set; } = 3600;

    /// <summary>How long a NONCE is good for before a request with it gets 438 (RFC 8489 §9.2).</summary>
    [Range(30, 86400)]
    public int NonceSeconds { get; set; } = 600;

    /// <summary>Permit peers on loopback addresses (127.0.0.0/8, ::1). Off: refused with 403 (RFC 8656 §21.1).</summary>
    public bool AllowLoopbackPeers { get; set; }

    /// <summary>Permit peers on private, shared and link-local ranges (10/8, 172.16/12, 192.168/16, 100.64/10,
    /// 169.254/16, fc00::/7, fe80::/10). Off: refused with 403.</summary>
    public bool AllowPrivatePeers { get; set; }

    /// <summary>Read UDP (the listener and the relays of UDP clients) with one thread waiting in epoll, where the system
    /// has it (Linux): a relayed datagram costs a recvfrom and a sendto on that thread. Off, or elsewhere: an async
    /// receive loop per socket on the runtime's sockets (a thread-pool hand-off per datagram, several times the CPU).</summary>
    public bool UdpPoller { get; set; } = true;

    /// <summary>Advertise the server through extdisco (XEP-0215) when extdisco is loaded: stun and turn, udp and tcp;
    /// turns (tcp) too with a <see cref="TlsPort"/>.</summary>
    public bool Advertise { get; set; } = true;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!Enabled) yield break;
        if (string.IsNullOrEmpty(Secret)) yield return new ValidationResult("the TURN REST shared Secret is required", [nameof(Secret)]);
        if (TlsPort == Port) yield return new ValidationResult("TlsPort is a port of its own", [nameof(TlsPort)]);
        if (!IPAddress.TryParse(BindAddress, out _)) yield return new ValidationResult("BindAddress is an IP address", [nameof(BindAddress)]);
        if (!string.IsNullOrEmpty(RelayAddress) && (!IPAddress.TryParse(RelayAddress, out var relay) || relay.Equals(IPAddress.Any) || relay.Equals(IPAddress.IPv6Any)))
            yield return new ValidationResult("RelayAddress is a specific IP address", [nameof(RelayAddress)]);
        if (!string.IsNullOrEmpty(RelayPorts) && !TryRelayPorts(RelayPorts, out _, out _))
            yield return new ValidationResult("RelayPorts is min-max, 1024-65535, min <= max", [nameof(RelayPorts)]);
    }

    /// <summary>Parses "min-max".</summary>
    public static bool TryRelayPorts(string text, out int min, out int max)
    {
        min = max = 0;
        var dash = text.IndexOf('-');
        return dash > 0
            && int.TryParse(text.AsSpan(0, dash).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out min)
            && int.TryParse(text.AsSpan(dash + 1).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out max)
            && min >= 1024 && max <= 65535 && min <= max;
    }
}
