namespace Actors.Xmpp.Plugins;

// Plugins serving HTTP on the server's HTTP host (Kestrel, Xmpp:Http): a path prefix and a handler. The request and
// response are the host's own small abstraction, so no ASP.NET type enters the contract.

public partial interface IPluginContext
{
    /// <summary>Serves every request whose path is <paramref name="pathPrefix"/> or lies under it ("/upload" takes
    /// /upload and /upload/...) on the server's HTTP host; the host's own paths (WebSocket, BOSH, host-meta) come first.
    /// The prefix starts with '/' and is owned by one plugin at a time. Nothing is served while Xmpp:Http has no port.</summary>
    IDisposable MapHttp(string pathPrefix, HttpHandler handler);

    /// <summary>The public base URL of the HTTP host (scheme://host:port, no trailing '/'): Xmpp:Http:PublicUrl, else
    /// the HTTPS listener (then the plain HTTP one) at its bound address. Null while the host has no listener.</summary>
    string? HttpBaseUrl { get; }

    /// <summary>This plugin's folder for files under the server's data folder (&lt;Xmpp:DataDir&gt;/plugins/&lt;id&gt;),
    /// created on first use. What a plugin keeps on disk goes here, never elsewhere.</summary>
    string DataDirectory { get; }
}

/// <summary>Answers one HTTP request. A handler that throws gets a 500 response (if nothing was sent yet).</summary>
public delegate ValueTask HttpHandler(IHttpExchange exchange);

/// <summary>One HTTP request and its response, as the host hands it to a plugin.</summary>
public interface IHttpExchange
{
    /// <summary>GET, HEAD, PUT, ... (upper case, as sent).</summary>
    string Method { get; }
    /// <summary>The path after the mapped prefix, still percent-encoded as sent ("" or starting with '/').</summary>
    string SubPath { get; }
    /// <summary>A request header's value (several joined with ", "), or null.</summary>
    string? RequestHeader(string name);
    /// <summary>The request's Content-Length, or null when it has none (chunked or no body).</summary>
    long? RequestContentLength { get; }
    /// <summary>Raises the largest request body the host accepts for this request (the host's default is about a
    /// stanza); call it before reading <see cref="RequestBody"/>.</summary>
    void AllowRequestBody(long maxBytes);
    Stream RequestBody { get; }
    /// <summary>Whether the client reached the server over TLS (or through a trusted TLS-terminating proxy).</summary>
    bool Secure { get; }
    /// <summary>The response status (default 200); set it before writing the body.</summary>
    int StatusCode { get; set; }
    /// <summary>Sets a response header (before the body is written).</summary>
    void SetResponseHeader(string name, string value);
    long? ResponseContentLength { get; set; }
    Stream ResponseBody { get; }
    /// <summary>Cancelled when the client goes away.</summary>
    CancellationToken Aborted { get; }
}
