using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Actors.Xmpp;
using Actors.Xmpp.Server.Http.Admin;
using Actors.Xmpp.Testing;

namespace Actors.Plugins.Tests;

/// <summary>Issue 16, the web admin page over HTTP: sign-in with an XMPP account (administrators only), cookie and
/// antiforgery rules, and each action's effect in the server.</summary>
public sealed class WebAdminSpec : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(["version", "time"], new Dictionary<string, string?>
    {
        ["Xmpp:Http:Port"] = "0",
        ["Xmpp:Http:Admin:Enabled"] = "true",
        ["Xmpp:Auth:MaxFailuresPerMinute"] = "3",
        ["Xmpp:Http:TrustedProxies:0"] = "127.0.0.1", // the tests' requests may say they came through a TLS proxy
    });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    /// <summary>An HTTP client with its own cookies, redirects not followed (the tests look at them).</summary>
    private sealed class Browser : IDisposable
    {
        public readonly CookieContainer Cookies = new();
        public readonly HttpClient Http;

        public Browser(Uri baseUri) =>
            Http = new HttpClient(new HttpClientHandler { CookieContainer = Cookies, AllowAutoRedirect = false, UseCookies = true })
                { BaseAddress = baseUri, Timeout = TimeSpan.FromSeconds(60) };

        public async Task<(HttpResponseMessage Response, string Body)> GetAsync(string path)
        {
            var response = await Http.GetAsync(path);
            return (response, await response.Content.ReadAsStringAsync());
        }

        /// <summary>The antiforgery token of the forms on the page at <paramref name="path"/>.</summary>
        public async Task<string> TokenAsync(string path)
        {
            var (_, body) = await GetAsync(path);
            var match = Regex.Match(body, $"name='{WebAdmin.CsrfField}' value='([^']+)'");
            Assert.True(match.Success, "no antiforgery token on " + path + ": " + body);
            return WebUtility.HtmlDecode(match.Groups[1].Value);
        }

        public async Task<(HttpResponseMessage Response, string Body)> PostAsync(string path, params (string Name, string Value)[] fields)
        {
            var response = await Http.PostAsync(path, new FormUrlEncodedContent(fields.Select(f => new KeyValuePair<string, string>(f.Name, f.Value))));
            return (response, await response.Content.ReadAsStringAsync());
        }

        /// <summary>A form of the page at <paramref name="page"/> posted with that page's token.</summary>
        public async Task<(HttpResponseMessage Response, string Body)> SubmitAsync(string page, string action, params (string Name, string Value)[] fields)
        {
            var token = await TokenAsync(page);
            return await PostAsync(action, [.. fields, (WebAdmin.CsrfField, token)]);
        }

        public Task<(HttpResponseMessage Response, string Body)> LoginAsync(string jid, string password) =>
            SubmitAsync("/admin/login", "/admin/login", ("jid", jid), ("password", password));

        public void Dispose() => Http.Dispose();
    }

    private Browser NewBrowser() => new(new Uri($"http://{_server.Service.Http!.HttpEndPoint}"));

    private async Task<Browser> AdminAsync()
    {
        var browser = NewBrowser();
        var (response, _) = await browser.LoginAsync("admin@localhost", TestServer.Password);
        Assert.Equal(HttpStatusCode.SeeOther, response.StatusCode);
        return browser;
    }

    [Fact]
    public async Task An_administrator_signs_in_with_an_xmpp_account_and_gets_an_HttpOnly_SameSite_Strict_cookie_on_the_admin_path()
    {
        using var browser = NewBrowser();
        var (unauthenticated, _) = await browser.GetAsync("/admin/users");
        Assert.Equal(HttpStatusCode.Redirect, unauthenticated.StatusCode);
        Assert.Equal("/admin/login", unauthenticated.Headers.Location?.OriginalString);

        var (login, _) = await browser.LoginAsync("admin@localhost", TestServer.Password);
        Assert.Equal(HttpStatusCode.SeeOther, login.StatusCode);
        Assert.Equal("/admin/", login.Headers.Location?.OriginalString);
        var setCookie = login.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith(WebAdmin.CookieName + "=", StringComparison.Ordinal));
        Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("path=/admin", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("secure", setCookie.Replace("samesite", "", StringComparison.OrdinalIgnoreCase), StringComparison.OrdinalIgnoreCase); // plain HTTP

        var (overview, body) = await browser.GetAsync("/admin/");
        Assert.Equal(HttpStatusCode.OK, overview.StatusCode);
        Assert.Contains("admin@localhost", body);
        Assert.Contains("id='stats'", body);
        Assert.Contains("default-src 'none'", overview.Headers.GetValues("Content-Security-Policy").Single());
    }

    [Fact]
    public async Task Behind_a_trusted_TLS_proxy_the_session_and_antiforgery_cookies_are_Secure()
    {
        using var browser = NewBrowser();
        browser.Http.DefaultRequestHeaders.Add("X-Forwarded-Proto", "https");
        var (page, _) = await browser.GetAsync("/admin/login");
        Assert.Contains(page.Headers.GetValues("Set-Cookie"), c => c.StartsWith(WebAdmin.CsrfCookieName + "=", StringComparison.Ordinal)
                                                                && c.Contains("; secure", StringComparison.OrdinalIgnoreCase));
        // the cookie jar keeps Secure cookies for https only: post the sign-in by hand with the token and cookie
        var token = Regex.Match(await page.Content.ReadAsStringAsync(), $"name='{WebAdmin.CsrfField}' value='([^']+)'").Groups[1].Value;
        var csrfCookie = page.Headers.GetValues("Set-Cookie").First(c => c.StartsWith(WebAdmin.CsrfCookieName + "=", StringComparison.Ordinal)).Split(';')[0];
        using var login = new HttpRequestMessage(HttpMethod.Post, "/admin/login")
        {
            Content = new FormUrlEncodedContent([new("jid", "admin@localhost"), new("password", TestServer.Password), new(WebAdmin.CsrfField, WebUtility.HtmlDecode(token))]),
        };
        login.Headers.Add("Cookie", csrfCookie);
        using var plain = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = browser.Http.BaseAddress };
        plain.DefaultRequestHeaders.Add("X-Forwarded-Proto", "https");
        using var response = await plain.SendAsync(login);
        Assert.Equal(HttpStatusCode.SeeOther, response.StatusCode);
        var session = response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith(WebAdmin.CookieName + "=", StringComparison.Ordinal));
        Assert.Contains("; secure", session, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("httponly", session, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_wrong_password_or_an_unknown_account_is_refused_without_a_session_cookie()
    {
        using var browser = NewBrowser();
        foreach (var (jid, password) in new[] { ("admin@localhost", "wrong"), ("nobody@localhost", TestServer.Password) })
        {
            var (response, body) = await browser.LoginAsync(jid, password);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("Wrong address or password", body);
            Assert.False(response.Headers.TryGetValues("Set-Cookie", out var cookies) && cookies.Any(c => c.StartsWith(WebAdmin.CookieName + "=", StringComparison.Ordinal)));
        }
        var (after, _) = await browser.GetAsync("/admin/");
        Assert.Equal(HttpStatusCode.Redirect, after.StatusCode);
    }

    [Fact]
    public async Task An_account_that_is_not_an_administrator_gets_403()
    {
        using var browser = NewBrowser();
        var (response, body) = await browser.LoginAsync("alice@localhost", TestServer.Password);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("not an administrator", body);
        var (after, _) = await browser.GetAsync("/admin/users");
        Assert.Equal(HttpStatusCode.Redirect, after.StatusCode); // no session was opened
    }

    [Fact]
    public async Task Failed_sign_ins_count_in_the_servers_login_throttle_and_then_get_429()
    {
        using var browser = NewBrowser();
        for (var i = 0; i < 3; i++) await browser.LoginAsync("admin@localhost", "wrong");
        // the address is banned now, even with the right password, as a SASL login from it would be
        var (response, body) = await browser.LoginAsync("admin@localhost", TestServer.Password);
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Contains("too many", body);
        Assert.True(_server.Services.GetService(typeof(Actors.Xmpp.Server.ServerContext)) is Actors.Xmpp.Server.ServerContext ctx
                    && ctx.LoginLimiter.Banned(new IPEndPoint(IPAddress.Loopback, 1)));
    }

    [Fact]
    public async Task A_post_without_a_valid_antiforgery_token_is_400_and_changes_nothing()
    {
        using var browser = await AdminAsync();
        var (none, _) = await browser.PostAsync("/admin/users/add", ("user", "csrf-a"), ("password", "pw1"));
        Assert.Equal(HttpStatusCode.BadRequest, none.StatusCode);
        var (forged, _) = await browser.PostAsync("/admin/users/add", ("user", "csrf-a"), ("password", "pw1"), (WebAdmin.CsrfField, "forged"));
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        // another browser's valid token is not this session's
        using var other = NewBrowser();
        var othersToken = await other.TokenAsync("/admin/login");
        var (foreign, _) = await browser.PostAsync("/admin/users/add", ("user", "csrf-a"), ("password", "pw1"), (WebAdmin.CsrfField, othersToken));
        Assert.Equal(HttpStatusCode.BadRequest, foreign.StatusCode);
        // and the sign-in form itself (login CSRF)
        var (login, _) = await NewBrowser().PostAsync("/admin/login", ("jid", "admin@localhost"), ("password", TestServer.Password));
        Assert.Equal(HttpStatusCode.BadRequest, login.StatusCode);
        Assert.False(_server.Accounts.Exists(Jid.Parse("csrf-a@localhost")));
    }

    [Fact]
    public async Task Users_add_set_password_and_remove_take_effect_in_the_account_store()
    {
        using var browser = await AdminAsync();
        var (added, body) = await browser.SubmitAsync("/admin/users", "/admin/users/add", ("user", "webuser"), ("password", "first-pw"));
        Assert.Equal(HttpStatusCode.OK, added.StatusCode);
        Assert.Contains("added webuser@localhost", body);
        Assert.True(_server.Accounts.Exists(Jid.Parse("webuser@localhost")));
        await (await XmppTestClient.LoginAsync(_server.EndPoint, "webuser", "first-pw")).DisposeAsync();

        var (again, againBody) = await browser.SubmitAsync("/admin/users", "/admin/users/add", ("user", "webuser"), ("password", "x"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, again.StatusCode);
        Assert.Contains("exists already", againBody);

        var (changed, _) = await browser.SubmitAsync("/admin/users", "/admin/users/passwd", ("user", "webuser@localhost"), ("password", "second-pw"));
        Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
        await (await XmppTestClient.LoginAsync(_server.EndPoint, "webuser", "second-pw")).DisposeAsync();

        var (removed, _) = await browser.SubmitAsync("/admin/users", "/admin/users/remove", ("user", "webuser@localhost"));
        Assert.Equal(HttpStatusCode.OK, removed.StatusCode);
        Assert.False(_server.Accounts.Exists(Jid.Parse("webuser@localhost")));
    }

    [Fact]
    public async Task Rfc6120_4_9_3_a_kick_closes_the_sessions_stream_with_policy_violation()
    {
        await using var client = await XmppTestClient.LoginAsync(_server, "bob", "phone");
        using var browser = await AdminAsync();
        var (page, body) = await browser.GetAsync("/admin/sessions");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("bob@localhost/phone", body);
        var (kicked, kickBody) = await browser.SubmitAsync("/admin/sessions", "/admin/sessions/kick", ("jid", "bob@localhost/phone"));
        Assert.Equal(HttpStatusCode.OK, kicked.StatusCode);
        Assert.Contains("kicked bob@localhost/phone", kickBody);
        await client.ExpectStreamErrorAsync("policy-violation", skipStanzas: true, timeout: TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Plugins_unload_load_and_reload_change_the_plugins_state()
    {
        using var browser = await AdminAsync();
        var (list, body) = await browser.GetAsync("/admin/plugins");
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        Assert.Contains("data-plugin='version'", body);

        var (unloaded, _) = await browser.SubmitAsync("/admin/plugins", "/admin/plugins/unload", ("plugin", "version"));
        Assert.Equal(HttpStatusCode.OK, unloaded.StatusCode);
        Assert.DoesNotContain(_server.Plugins.List(), p => p.Id == "version" && p.State == "loaded");

        var (loaded, loadBody) = await browser.SubmitAsync("/admin/plugins", "/admin/plugins/load", ("plugin", "version"));
        Assert.True(loaded.StatusCode == HttpStatusCode.OK, loadBody);
        Assert.Contains(_server.Plugins.List(), p => p.Id == "version" && p.State == "loaded");

        var (reloaded, _) = await browser.SubmitAsync("/admin/plugins", "/admin/plugins/reload", ("plugin", "time"));
        Assert.Equal(HttpStatusCode.OK, reloaded.StatusCode);
        Assert.Contains(_server.Plugins.List(), p => p.Id == "time" && p.State == "loaded");

        var (missing, missingBody) = await browser.SubmitAsync("/admin/plugins", "/admin/plugins/unload", ("plugin", "no-such-plugin"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, missing.StatusCode);
        Assert.Contains("class='notice error'", missingBody);
    }

    [Fact]
    public async Task The_journal_pages_by_persistence_id_and_follows_new_events_as_server_sent_events()
    {
        for (var i = 0; i < WebAdmin.JournalPageSize + 5; i++) await _server.AddUserAsync($"j{i}");
        using var browser = await AdminAsync();
        var pid = "accounts:localhost";
        var (first, body) = await browser.GetAsync("/admin/journal?pid=" + pid);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        static string User(string name) => $"&quot;user&quot;:&quot;{name}&quot;"; // the account.created event, HTML-encoded
        Assert.Contains(User("j0"), body);
        // the accounts' SCRAM keys are events too: the page does not show them
        Assert.Contains("&quot;scram&quot;:&quot;(hidden)&quot;", body);
        Assert.DoesNotContain("storedKey", body);
        var next = Regex.Match(body, "id='next' href='([^']+)'");
        Assert.True(next.Success, body);
        var (second, secondBody) = await browser.GetAsync(WebUtility.HtmlDecode(next.Groups[1].Value));
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Contains(User($"j{WebAdmin.JournalPageSize + 4}"), secondBody);
        Assert.DoesNotContain(User("j0"), secondBody);

        // follow from the end of the second page: only what is stored from now on
        var follow = Regex.Match(secondBody, "id='follow' href='[^?]+\\?([^']+)&amp;live=1'");
        Assert.True(follow.Success, secondBody);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/admin/journal/follow?" + WebUtility.HtmlDecode(follow.Groups[1].Value));
        using var stream = await browser.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", stream.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync());
        await _server.AddUserAsync("followed");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        string? data = null;
        while (data is null)
        {
            var line = await reader.ReadLineAsync(timeout.Token) ?? throw new IOException("the event stream ended");
            if (line.StartsWith("data: ", StringComparison.Ordinal)) data = line["data: ".Length..];
        }
        var e = JsonNode.Parse(data)!.AsObject();
        Assert.Equal(pid, (string?)e["persistenceId"]);
        Assert.Equal("followed", (string?)e["event"]!["user"]);
        Assert.Equal("(hidden)", (string?)e["event"]!["scram"]);
    }

    [Fact]
    public async Task The_charts_are_svg_images_of_the_sampled_meters()
    {
        using var browser = await AdminAsync();
        foreach (var chart in new[] { "messages", "sessions", "memory" })
        {
            var (response, body) = await browser.GetAsync($"/admin/chart/{chart}.svg");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("image/svg+xml", response.Content.Headers.ContentType?.MediaType);
            Assert.StartsWith("<svg", body);
            Assert.Contains("<polyline", body);
        }
        var (script, _) = await browser.GetAsync("/admin/admin.js");
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
    }
}
