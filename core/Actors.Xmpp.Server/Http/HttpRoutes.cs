using Actors.Xmpp.Plugins;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Actors.Xmpp.Server.Http;

/// <summary>
/// The path prefixes plugins serve on the HTTP host (<see cref="IPluginContext.MapHttp"/>), and the host's public base
/// URL once it listens. Read on every request that no host path takes: a copy-on-write array, no lock.
/// </summary>
public sealed class HttpRoutes
{
    private sealed record Route(string Prefix, string Owner, HttpHandler Handler);

    private Route[] _routes = [];
    private readonly object _gate = new();

    /// <summary>Xmpp:Http:PublicUrl or the bound listener, set by the HTTP host when it starts (null before or without one).</summary>
    public string? BaseUrl { get; set; }

    public IDisposable Add(string owner, string prefix, HttpHandler handler)
    {
        if (string.IsNullOrEmpty(prefix) || prefix[0] != '/' || prefix.Length < 2 || prefix[^1] == '/' || prefix.Contains("//", StringComparison.Ordinal))
            throw new ArgumentException($"an HTTP path prefix starts with '/', has a name and no trailing '/' (got '{prefix}')", nameof(prefix));
        var route = new Route(prefix, owner, handler);
        lock (_gate)
        {
            foreach (var r in _routes)
                if (Overlaps(r.Prefix, prefix))
                    throw new InvalidOperationException($"the HTTP path {prefix} overlaps {r.Prefix} of {r.Owner}");
            _routes = [.. _routes, route];
        }
        return new Removal(this, route);
    }

    private static bool Overlaps(string a, string b) => Under(a, b) || Under(b, a);

    /// <summary>Whether <paramref name="path"/> is <paramref name="prefix"/> or lies under it.</summary>
    private static bool Under(string path, string prefix) =>
        path.StartsWith(prefix, StringComparison.Ordinal) && (path.Length == prefix.Length || path[prefix.Length] == '/');

    /// <summary>The handler serving <paramref name="path"/> and the part of the path after its prefix.</summary>
    public bool TryMatch(string path, out HttpHandler handler, out string subPath)
    {
        var routes = _routes;
        for (var i = 0; i < routes.Length; i++)
        {
            if (!Under(path, routes[i].Prefix)) continue;
            handler = routes[i].Handler;
            subPath = path[routes[i].Prefix.Length..];
            return true;
        }
        handler = null!;
        subPath = "";
        return false;
    }

    private sealed class Removal(HttpRoutes routes, Route route) : IDisposable
    {
        public void Dispose()
        {
            lock (routes._gate) routes._routes = Array.FindAll(routes._routes, r => !ReferenceEquals(r, route));
        }
    }
}

/// <summary>An ASP.NET request as the contract's <see cref="IHttpExchange"/>.</summary>
internal sealed class KestrelHttpExchange(HttpContext context, string subPath, bool secure) : IHttpExchange
{
    public string Method => context.Request.Method;
    public string SubPath => subPath;

    public string? RequestHeader(string name) =>
        context.Request.Headers.TryGetValue(name, out var values) && values.Count > 0 ? values.ToString() : null;

    public long? RequestContentLength => context.Request.ContentLength;

    public void AllowRequestBody(long maxBytes)
    {
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit) limit.MaxRequestBodySize = maxBytes;
    }

    public Stream RequestBody => context.Request.Body;
    public bool Secure => secure;

    public int StatusCode
    {
        get => context.Response.StatusCode;
        set => context.Response.StatusCode = value;
    }

    public void SetResponseHeader(string name, string value) => context.Response.Headers[name] = value;

    public long? ResponseContentLength
    {
        get => context.Response.ContentLength;
        set => context.Response.ContentLength = value;
    }

    public Stream ResponseBody => context.Response.Body;
    public CancellationToken Aborted => context.RequestAborted;
}
