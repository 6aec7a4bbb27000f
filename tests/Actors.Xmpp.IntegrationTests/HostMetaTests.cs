using System.Net;
using System.Text.Json;
using Actors.Xmpp.Server.Http;

namespace Actors.Xmpp.IntegrationTests;

/// <summary>XEP-0156 §3: the WebSocket and BOSH endpoints in /.well-known/host-meta and host-meta.json.</summary>
public sealed class HostMetaTests(HttpServer server) : IClassFixture<HttpServer>
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    private Uri Url(string path) => new($"http://{server.HttpEndPoint}{path}");

    [Fact]
    public async Task Xep0156_3_host_meta_xrd_links_websocket_and_bosh()
    {
        using var response = await Http.GetAsync(Url("/.well-known/host-meta"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/xrd+xml", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("*", response.Headers.GetValues("Access-Control-Allow-Origin").Single());
        var text = await response.Content.ReadAsStringAsync();
        const string declaration = "<?xml version='1.0' encoding='utf-8'?>";
        Assert.StartsWith(declaration, text); // RFC 6415 §3: an XRD document
        var xrd = WsClient.Standalone(text[declaration.Length..]);
        Assert.True(xrd.Is("XRD", HostMeta.XrdNamespace));
        var links = xrd.Elements("Link", HostMeta.XrdNamespace).ToDictionary(l => l.Attr("rel")!, l => l.Attr("href"));
        // from 127.0.0.1, a trusted proxy that says no X-Forwarded-Proto: the URLs it was reached by (the harness's
        // WS_URL and BOSH_URL)
        Assert.Equal($"ws://{server.HttpEndPoint}/xmpp-websocket", links[HostMeta.WebSocketRel]);
        Assert.Equal($"http://{server.HttpEndPoint}/http-bind", links[HostMeta.BoshRel]);
    }

    [Fact]
    public async Task Xep0156_3_host_meta_json_links_websocket_and_bosh_with_the_forwarded_host()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, Url("/.well-known/host-meta.json"));
        request.Headers.Add("X-Forwarded-Host", "chat.example.org");
        request.Headers.Add("X-Forwarded-Proto", "https");
        using var response = await Http.SendAsync(request);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var links = json.RootElement.GetProperty("links").EnumerateArray()
            .ToDictionary(l => l.GetProperty("rel").GetString()!, l => l.GetProperty("href").GetString());
        Assert.Equal("wss://chat.example.org/xmpp-websocket", links[HostMeta.WebSocketRel]);
        Assert.Equal("https://chat.example.org/http-bind", links[HostMeta.BoshRel]);
    }

    [Fact]
    public async Task Xep0156_3_host_meta_without_a_trusted_proxy_lists_the_plain_urls()
    {
        await using var plain = new TestServer(new Dictionary<string, string?> { ["Xmpp:Http:Port"] = "0" });
        var endPoint = plain.Service.Http!.HttpEndPoint!;
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{endPoint}/.well-known/host-meta.json");
        request.Headers.Add("X-Forwarded-Host", "evil.example"); // not from a trusted proxy: ignored
        using var response = await Http.SendAsync(request);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var hrefs = json.RootElement.GetProperty("links").EnumerateArray().Select(l => l.GetProperty("href").GetString()).ToList();
        Assert.Contains($"ws://{endPoint}/xmpp-websocket", hrefs);
        Assert.Contains($"http://{endPoint}/http-bind", hrefs);
    }
}
