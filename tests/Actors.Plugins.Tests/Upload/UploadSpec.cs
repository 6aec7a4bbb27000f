using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Tests.Upload;

/// <summary>XEP-0363 over TCP (slot requests) and HTTP (PUT, GET, HEAD), including bad input (section numbers in the names).</summary>
public sealed class UploadSpec : IAsyncLifetime
{
    public const string Service = "upload.localhost";
    public const string Ns = "urn:xmpp:http:upload:0";
    private const long MaxFileSize = 1000;
    private const long Quota = 2500;

    private TestServer _server = null!;
    private readonly HttpClient _http = new();

    public Task InitializeAsync() => InitializeAsync(new Dictionary<string, string?>());

    private async Task InitializeAsync(Dictionary<string, string?> extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Xmpp:Http:Port"] = "0",
            ["Xmpp:Plugins:upload:MaxFileSize"] = MaxFileSize.ToString(),
            ["Xmpp:Plugins:upload:QuotaBytes"] = Quota.ToString(),
        };
        foreach (var (k, v) in extra) settings[k] = v;
        if (_server is not null) await _server.DisposeAsync();
        _server = await TestServer.StartAsync(["disco", "upload"], settings);
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _server.DisposeAsync();
    }

    private IPEndPoint HttpEndPoint => _server.Service.Http!.HttpEndPoint!;

    private string UploadFolder => Path.Combine(_server.DataDir, "plugins", "upload");

    private static string Request(string id, string filename, long size, string? type = null) =>
        $"<iq type='get' id='{id}' to='{Service}'><request xmlns='{Ns}' filename='{XmlAttribute(filename)}' size='{size}'" +
        (type is null ? "" : $" content-type='{type}'") + "/></iq>";

    private static string XmlAttribute(string s) => System.Security.SecurityElement.Escape(s)!.Replace("\t", "&#9;");

    private sealed record Slot(string Put, string Get, string Authorization);

    private static async Task<Slot> RequestSlot(XmppTestClient client, string filename, long size, string? type = null)
    {
        var reply = await client.Query(Request(client.NextId(), filename, size, type));
        Assert.Equal("result", reply.Type);
        var slot = reply.Child("slot", Ns)!;
        var put = slot.Child("put", Ns)!;
        var header = put.Child("header", Ns)!;
        Assert.Equal("Authorization", header.Attr("name"));
        return new Slot(put.Attr("url")!, slot.Child("get", Ns)!.Attr("url")!, header.Text);
    }

    private async Task<HttpResponseMessage> Put(Slot slot, byte[] body, string? type = "image/png", string? authorization = null, string? url = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Put, url ?? slot.Put) { Content = new ByteArrayContent(body) };
        if (type is not null) request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(type);
        request.Headers.TryAddWithoutValidation("Authorization", authorization ?? slot.Authorization);
        return await _http.SendAsync(request);
    }

    /// <summary>Sends raw bytes as an HTTP/1.1 request (paths HttpClient would normalise) and returns the status line's code and the whole response.</summary>
    private async Task<(int Status, string Response)> Raw(string requestLineAndHeaders, byte[]? body = null)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(HttpEndPoint);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(requestLineAndHeaders.Replace("\n", "\r\n") + "\r\n"));
        if (body is not null) await stream.WriteAsync(body);
        using var read = new MemoryStream();
        var buffer = new byte[8192];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer, timeout.Token)) > 0)
            {
                read.Write(buffer, 0, n); // every request says Connection: close: read to the end
            }
        }
        catch (IOException) { }
        var response = Encoding.Latin1.GetString(read.ToArray());
        return (int.Parse(response.Split(' ')[1]), response);
    }

    [Fact]
    public async Task The_service_is_listed_and_announces_store_file_the_feature_and_max_file_size_3()
    {
        await using var alice = await _server.LoginAsync("alice");
        var items = await alice.Query("<iq type='get' id='d1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>");
        StanzaAssert.Matches($"<iq type='result'><query xmlns='http://jabber.org/protocol/disco#items'><item jid='{Service}'/></query></iq>", items);
        var info = await alice.Query($"<iq type='get' id='d2' to='{Service}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
        StanzaAssert.Matches($"""
            <iq type='result'><query xmlns='http://jabber.org/protocol/disco#info'>
              <identity category='store' type='file' name='HTTP File Upload'/><feature var='{Ns}'/>
              <x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>{Ns}</value></field>
                <field var='max-file-size'><value>{MaxFileSize}</value></field></x>
            </query></iq>
            """, info);
    }

    [Fact]
    public async Task A_slot_is_put_with_its_headers_then_served_by_get_and_head_4_6()
    {
        await using var alice = await _server.LoginAsync("alice");
        var slot = await RequestSlot(alice, "my juliet.png", 5, "image/png");
        Assert.StartsWith($"http://{HttpEndPoint}/upload/", slot.Put);
        Assert.EndsWith("/my%20juliet.png", slot.Put); // §4: the name and its ending kept
        Assert.Equal(slot.Put, slot.Get);
        var put = await Put(slot, "hello"u8.ToArray());
        Assert.Equal(HttpStatusCode.Created, put.StatusCode); // §6: 201, ready to serve

        var get = await _http.GetAsync(slot.Get);
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal("hello", await get.Content.ReadAsStringAsync());
        Assert.Equal("image/png", get.Content.Headers.ContentType!.MediaType);
        Assert.Equal("inline", get.Content.Headers.ContentDisposition!.DispositionType);
        Assert.Equal("nosniff", get.Headers.GetValues("X-Content-Type-Options").Single());

        var head = await _http.SendAsync(new HttpRequestMessage(HttpMethod.Head, slot.Get));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(5, head.Content.Headers.ContentLength);
        Assert.Empty(await head.Content.ReadAsByteArrayAsync());
        Assert.True(File.Exists(Path.Combine(UploadFolder, new Uri(slot.Get).Segments[2].TrimEnd('/') + ".bin"))); // under the data folder
    }

    [Fact]
    public async Task Active_content_is_served_as_an_attachment_of_type_octet_stream_with_nosniff()
    {
        await using var alice = await _server.LoginAsync("alice");
        var html = "<script>alert(1)</script>"u8.ToArray();
        var slot = await RequestSlot(alice, "page.html", html.Length, "text/html");
        Assert.Equal(HttpStatusCode.Created, (await Put(slot, html, "text/html")).StatusCode);
        var get = await _http.GetAsync(slot.Get);
        Assert.Equal("application/octet-stream", get.Content.Headers.ContentType!.MediaType);
        Assert.Equal("attachment", get.Content.Headers.ContentDisposition!.DispositionType);
        Assert.Equal("page.html", get.Content.Headers.ContentDisposition.FileNameStar);
        Assert.Contains("sandbox", get.Headers.GetValues("Content-Security-Policy").Single());
    }

    [Fact]
    public async Task A_file_larger_than_the_limit_is_not_acceptable_with_file_too_large_and_max_file_size_5()
    {
        await using var alice = await _server.LoginAsync("alice");
        var reply = await alice.Query(Request("big", "big.bin", MaxFileSize + 1));
        StanzaAssert.Error(reply, "not-acceptable");
        Assert.Equal("modify", reply.Child("error")!.Attr("type"));
        var tooLarge = reply.Child("error")!.Child("file-too-large", Ns)!;
        Assert.Equal(MaxFileSize.ToString(), tooLarge.ChildText("max-file-size", Ns));
        Assert.NotNull(reply.Child("request", Ns)); // §5: the request comes back with the error
    }

    [Fact]
    public async Task A_request_without_filename_or_size_or_with_a_bad_type_is_a_bad_request_4()
    {
        await using var alice = await _server.LoginAsync("alice");
        StanzaAssert.Error(await alice.Query($"<iq type='get' id='n1' to='{Service}'><request xmlns='{Ns}' size='3'/></iq>"), "bad-request");
        StanzaAssert.Error(await alice.Query($"<iq type='get' id='n2' to='{Service}'><request xmlns='{Ns}' filename='a.txt'/></iq>"), "bad-request");
        StanzaAssert.Error(await alice.Query($"<iq type='get' id='n3' to='{Service}'><request xmlns='{Ns}' filename='a.txt' size='-1'/></iq>"), "bad-request");
        StanzaAssert.Error(await alice.Query($"<iq type='get' id='n4' to='{Service}'><request xmlns='{Ns}' filename='a.txt' size='3' content-type='text/html&#10;X-Evil: 1'/></iq>"), "bad-request");
        StanzaAssert.Error(await alice.Query($"<iq type='set' id='n5' to='{Service}'><query xmlns='jabber:iq:version'/></iq>"), "service-unavailable");
    }

    [Fact]
    public async Task File_names_are_sanitised_path_segments_and_control_characters_removed_4()
    {
        await using var alice = await _server.LoginAsync("alice");
        var slot = await RequestSlot(alice, "../../etc/passwd", 3);
        Assert.EndsWith("/passwd", slot.Put);
        slot = await RequestSlot(alice, "..\\..\\boot.ini", 3);
        Assert.EndsWith("/boot.ini", slot.Put);
        slot = await RequestSlot(alice, "..", 3);
        Assert.EndsWith("/file", slot.Put);
        slot = await RequestSlot(alice, "a\tb<c>\"d\u202e.txt", 3);
        Assert.EndsWith("/ab_c__d.txt", slot.Put);
        Assert.Equal(4, new Uri(slot.Put).Segments.Length); // "/", "upload/", token "/", name: nothing more
    }

    [Fact]
    public async Task The_quota_per_account_refuses_with_resource_constraint_and_retry_5()
    {
        await using var alice = await _server.LoginAsync("alice");
        await using var bob = await _server.LoginAsync("bob");
        var first = await RequestSlot(alice, "a.bin", 1000);
        Assert.Equal(HttpStatusCode.Created, (await Put(first, new byte[1000], null)).StatusCode);
        await RequestSlot(alice, "b.bin", 1000); // reserved, not yet put
        var reply = await alice.Query(Request("q", "c.bin", 1000));
        StanzaAssert.Error(reply, "resource-constraint");
        Assert.Equal("wait", reply.Child("error")!.Attr("type"));
        var retry = reply.Child("error")!.Child("retry", Ns)!;
        Assert.EndsWith("Z", retry.Attr("stamp")); // XEP-0082 date-time in UTC
        Assert.True(DateTimeOffset.Parse(retry.Attr("stamp")!) > DateTimeOffset.UtcNow.AddSeconds(-5));
        await RequestSlot(bob, "c.bin", 1000); // another account's quota is its own
    }

    [Fact]
    public async Task A_put_must_match_the_slot_size_type_and_headers_and_is_taken_once_6()
    {
        await using var alice = await _server.LoginAsync("alice");
        var slot = await RequestSlot(alice, "x.png", 10, "image/png");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await Put(slot, new byte[11])).StatusCode); // §6 MUST: Content-Length is the size
        Assert.Equal(HttpStatusCode.BadRequest, (await Put(slot, new byte[9])).StatusCode);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await Put(slot, new byte[10], "text/html")).StatusCode); // §6 SHOULD
        Assert.Equal(HttpStatusCode.Forbidden, (await Put(slot, new byte[10], authorization: "Bearer wrong")).StatusCode); // §6: the slot's headers
        var wrongName = slot.Put[..slot.Put.LastIndexOf('/')] + "/other.png";
        Assert.Equal(HttpStatusCode.NotFound, (await Put(slot, new byte[10], url: wrongName)).StatusCode);
        var wrongToken = $"http://{HttpEndPoint}/upload/{new string('A', 43)}/x.png";
        Assert.Equal(HttpStatusCode.NotFound, (await Put(slot, new byte[10], url: wrongToken)).StatusCode); // a slot never handed out
        Assert.Equal(HttpStatusCode.NotFound, (await _http.GetAsync(slot.Get)).StatusCode); // nothing served before the PUT
        Assert.Equal(HttpStatusCode.Created, (await Put(slot, new byte[10])).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await Put(slot, new byte[10])).StatusCode); // used once
        Assert.Equal(10, (await _http.GetByteArrayAsync(slot.Get)).Length);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await _http.DeleteAsync(slot.Get)).StatusCode);
    }

    [Fact]
    public async Task A_put_without_content_length_is_refused_and_a_body_longer_than_announced_is_not_stored()
    {
        await using var alice = await _server.LoginAsync("alice");
        var slot = await RequestSlot(alice, "c.bin", 4);
        var path = new Uri(slot.Put).PathAndQuery;
        var (chunked, _) = await Raw($"PUT {path} HTTP/1.1\nHost: x\nAuthorization: {slot.Authorization}\nTransfer-Encoding: chunked\nConnection: close\n\n4\r\nabcd\r\n0\r\n\r\n");
        Assert.Equal(411, chunked);
        var (created, _) = await Raw($"PUT {path} HTTP/1.1\nHost: x\nAuthorization: {slot.Authorization}\nContent-Length: 4\nConnection: close\n\nabcdEXTRA");
        Assert.Equal(201, created);
        Assert.Equal("abcd", await _http.GetStringAsync(slot.Get));
    }

    [Fact]
    public async Task An_open_slot_and_stored_files_survive_a_reload_of_the_plugin()
    {
        await using var alice = await _server.LoginAsync("alice");
        var stored = await RequestSlot(alice, "kept.txt", 4, "text/plain");
        Assert.Equal(HttpStatusCode.Created, (await Put(stored, "kept"u8.ToArray(), "text/plain")).StatusCode);
        var open = await RequestSlot(alice, "later.txt", 5, "text/plain");
        var reload = await _server.Plugins.ReloadAsync("upload");
        Assert.True(reload.Ok, reload.Message);
        Assert.Equal(HttpStatusCode.Created, (await Put(open, "later"u8.ToArray(), "text/plain")).StatusCode);
        Assert.Equal("kept", await _http.GetStringAsync(stored.Get));
        Assert.Equal("later", await _http.GetStringAsync(open.Get));
        // the quota still counts both files exactly: 9 + 1000 + 1000 + 491 = 2500 fits, one byte more does not
        await RequestSlot(alice, "a.bin", 1000);
        await RequestSlot(alice, "b.bin", 1000);
        StanzaAssert.Error(await alice.Query(Request("r", "c.bin", 492)), "resource-constraint");
        await RequestSlot(alice, "c.bin", 491);
    }

    [Fact]
    public async Task Path_traversal_in_request_paths_reaches_no_file()
    {
        await using var alice = await _server.LoginAsync("alice");
        var slot = await RequestSlot(alice, "t.txt", 2, "text/plain");
        Assert.Equal(HttpStatusCode.Created, (await Put(slot, "hi"u8.ToArray(), "text/plain")).StatusCode);
        var token = new Uri(slot.Get).Segments[2].TrimEnd('/');
        File.WriteAllText(Path.Combine(_server.DataDir, "secret.txt"), "SECRET");
        foreach (var path in new[]
                 {
                     "/upload/../secret.txt", "/upload/%2e%2e/%2e%2e/%2e%2e/secret.txt", "/upload/..%2f..%2f..%2fsecret.txt",
                     $"/upload/{token}/..%2f..%2f..%2fsecret.txt", $"/upload/{token}/../../../secret.txt", "/upload/%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.txt/x",
                     $"/upload/{token}.meta/t.txt", $"/upload/{token}/t.txt/extra", "/upload/..%5c..%5c..%5csecret.txt/x", "/upload",
                 })
        {
            var (status, response) = await Raw($"GET {path} HTTP/1.1\nHost: x\nConnection: close\n\n");
            Assert.True(status is 400 or 404, $"{path}: {status}");
            Assert.DoesNotContain("SECRET", response);
        }
        var (ok, body) = await Raw($"GET /upload/{token}/t.txt HTTP/1.1\nHost: x\nConnection: close\n\n");
        Assert.Equal(200, ok);
        Assert.EndsWith("hi", body);
    }
}

/// <summary>Slot expiry and the cleanup of old files (servers with short lifetimes).</summary>
public sealed class UploadExpirySpec
{
    private const string Ns = UploadSpec.Ns;

    [Fact]
    public async Task An_expired_slot_is_refused_with_410_gone_and_its_reservation_returned_7()
    {
        await using var server = await TestServer.StartAsync(["disco", "upload"], new Dictionary<string, string?>
        {
            ["Xmpp:Http:Port"] = "0",
            ["Xmpp:Plugins:upload:SlotSeconds"] = "1",
            ["Xmpp:Plugins:upload:QuotaBytes"] = "100",
        });
        await using var alice = await server.LoginAsync("alice");
        using var http = new HttpClient();
        var reply = await alice.Query($"<iq type='get' id='s1' to='{UploadSpec.Service}'><request xmlns='{Ns}' filename='a.txt' size='100'/></iq>");
        var put = reply.Child("slot", Ns)!.Child("put", Ns)!;
        await Task.Delay(1500);
        var request = new HttpRequestMessage(HttpMethod.Put, put.Attr("url")) { Content = new ByteArrayContent(new byte[100]) };
        request.Headers.TryAddWithoutValidation("Authorization", put.Child("header", Ns)!.Text);
        Assert.Equal(HttpStatusCode.Gone, (await http.SendAsync(request)).StatusCode);
        // the 100 bytes it reserved are free again
        var again = await alice.Query($"<iq type='get' id='s2' to='{UploadSpec.Service}'><request xmlns='{Ns}' filename='b.txt' size='100'/></iq>");
        Assert.Equal("result", again.Type);
    }

    [Fact]
    public async Task A_file_larger_than_the_http_hosts_default_body_limit_is_taken_when_the_slot_allows_it()
    {
        await using var server = await TestServer.StartAsync(["disco", "upload"], new Dictionary<string, string?>
        {
            ["Xmpp:Http:Port"] = "0",
            ["Xmpp:Limits:MaxStanzaBytes"] = "65536", // the host's own body limit: about 68 KB
            ["Xmpp:Plugins:upload:MaxFileSize"] = "3000000",
        });
        await using var alice = await server.LoginAsync("alice");
        using var http = new HttpClient();
        var body = new byte[2_500_000];
        new Random(7).NextBytes(body);
        var reply = await alice.Query($"<iq type='get' id='s1' to='{UploadSpec.Service}'><request xmlns='{Ns}' filename='big.bin' size='{body.Length}'/></iq>");
        var put = reply.Child("slot", Ns)!.Child("put", Ns)!;
        var request = new HttpRequestMessage(HttpMethod.Put, put.Attr("url")) { Content = new ByteArrayContent(body) };
        request.Headers.TryAddWithoutValidation("Authorization", put.Child("header", Ns)!.Text);
        Assert.Equal(HttpStatusCode.Created, (await http.SendAsync(request)).StatusCode);
        Assert.Equal(body, await http.GetByteArrayAsync(reply.Child("slot", Ns)!.Child("get", Ns)!.Attr("url")));
    }

    [Fact]
    public async Task Files_older_than_their_lifetime_are_deleted_by_the_cleanup_and_give_back_their_quota_7()
    {
        await using var server = await TestServer.StartAsync(["disco", "upload"], new Dictionary<string, string?>
        {
            ["Xmpp:Http:Port"] = "0",
            ["Xmpp:Plugins:upload:CleanupSeconds"] = "1",
            ["Xmpp:Plugins:upload:FileLifetimeHours"] = "1",
            ["Xmpp:Plugins:upload:QuotaBytes"] = "100",
        });
        await using var alice = await server.LoginAsync("alice");
        using var http = new HttpClient();
        var reply = await alice.Query($"<iq type='get' id='s1' to='{UploadSpec.Service}'><request xmlns='{Ns}' filename='old.txt' size='100'/></iq>");
        var put = reply.Child("slot", Ns)!.Child("put", Ns)!;
        var request = new HttpRequestMessage(HttpMethod.Put, put.Attr("url")) { Content = new ByteArrayContent(new byte[100]) };
        request.Headers.TryAddWithoutValidation("Authorization", put.Child("header", Ns)!.Text);
        Assert.Equal(HttpStatusCode.Created, (await http.SendAsync(request)).StatusCode);
        StanzaAssert.Error(await alice.Query($"<iq type='get' id='s2' to='{UploadSpec.Service}'><request xmlns='{Ns}' filename='b.txt' size='1'/></iq>"), "resource-constraint");

        // the file was uploaded two hours ago, as far as its description says
        var folder = Path.Combine(server.DataDir, "plugins", "upload");
        var meta = Directory.GetFiles(folder, "*.meta").Single();
        var fields = File.ReadAllText(meta).Split('\t'); // owner, name, size, type, upload time (UTC ticks)
        Assert.Equal(["alice@localhost", "old.txt", "100", "application/octet-stream"], fields[..4]);
        fields[4] = DateTimeOffset.UtcNow.AddHours(-2).UtcTicks.ToString();
        File.WriteAllText(meta, string.Join('\t', fields));

        var deadline = DateTime.UtcNow.AddSeconds(15);
        while ((await http.GetAsync(put.Attr("url"))).StatusCode != HttpStatusCode.NotFound && DateTime.UtcNow < deadline) await Task.Delay(200);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(put.Attr("url"))).StatusCode);
        Assert.Empty(Directory.GetFiles(folder, "*.bin"));
        var again = await alice.Query($"<iq type='get' id='s3' to='{UploadSpec.Service}'><request xmlns='{Ns}' filename='b.txt' size='100'/></iq>");
        Assert.Equal("result", again.Type);
    }
}
