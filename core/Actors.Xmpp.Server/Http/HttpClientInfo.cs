using System.Net;
using Microsoft.AspNetCore.Http;

namespace Actors.Xmpp.Server.Http;

/// <summary>
/// Who is on the other end of an HTTP request, and how it reached us: the client's address, whether it came over TLS,
/// and the public scheme and host it used. Forwarded headers (X-Forwarded-For, -Proto, -Host) count only on requests
/// from a trusted proxy (Xmpp:Http:TrustedProxies), a TLS-terminating reverse proxy: such a request is secure unless
/// the proxy says X-Forwarded-Proto: http. From anyone else they are ignored (a client could claim any address).
/// <see cref="PublicTls"/> is whether the URL the client used is https/wss: the request's own scheme, or the trusted
/// proxy's X-Forwarded-Proto (a proxy that sends none is reached as it was reached, e.g. plain HTTP on loopback).
/// </summary>
public readonly record struct HttpClientInfo(IPEndPoint? RemoteEndPoint, bool Secure, string Host, bool PublicTls)
{
    public const string ForwardedFor = "X-Forwarded-For";
    public const string ForwardedProto = "X-Forwarded-Proto";
    public const string ForwardedHost = "X-Forwarded-Host";

    public static HttpClientInfo Of(HttpContext context, IReadOnlyList<IPAddress> trustedProxies)
    {
        var connection = context.Connection;
        var remote = connection.RemoteIpAddress is { } ip ? new IPEndPoint(ip, connection.RemotePort) : null;
        var secure = context.Request.IsHttps;
        var host = context.Request.Host.HasValue ? context.Request.Host.Value : "";
        if (remote is null || !IsTrusted(remote.Address, trustedProxies)) return new(remote, secure, host, secure);

        var publicTls = secure;
        secure = true; // a TLS-terminating proxy
        if (LastValue(context.Request.Headers[ForwardedProto]) is { } proto)
            publicTls = secure = !proto.Equals("http", StringComparison.OrdinalIgnoreCase) && !proto.Equals("ws", StringComparison.OrdinalIgnoreCase);
        // the last address is the one our proxy saw (those before it are the client's claims)
        if (LastValue(context.Request.Headers[ForwardedFor]) is { } forwarded && IPAddress.TryParse(forwarded, out var client))
            remote = new IPEndPoint(client, 0);
        if (LastValue(context.Request.Headers[ForwardedHost]) is { Length: > 0 } forwardedHost) host = forwardedHost;
        return new(remote, secure, host, publicTls);
    }

    private static bool IsTrusted(IPAddress address, IReadOnlyList<IPAddress> trusted)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        for (var i = 0; i < trusted.Count; i++)
            if (trusted[i].Equals(address)) return true;
        return false;
    }

    /// <summary>The last comma-separated value of a header (the one the nearest proxy appended), trimmed.</summary>
    private static string? LastValue(Microsoft.Extensions.Primitives.StringValues values)
    {
        if (values.Count == 0) return null;
        var last = values[values.Count - 1];
        if (string.IsNullOrEmpty(last)) return null;
        var comma = last.LastIndexOf(',');
        var value = (comma < 0 ? last : last[(comma + 1)..]).Trim();
        return value.Length == 0 ? null : value;
    }
}
