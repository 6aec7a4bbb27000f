using Actors.Xmpp.Testing;
using Microsoft.Playwright;

namespace Actors.Xmpp.BrowserTests;

/// <summary>Issue 16: the web admin page's main flows in a real browser, Debian's headless Chromium driven by
/// Playwright (never a downloaded browser): sign in, add a user, kick a connected client's session, unload and load a
/// plugin, follow the journal live. Screenshots of each step go to artifacts/screenshots/web-admin/.</summary>
public sealed class WebAdminBrowserSpec : IAsyncLifetime
{
    /// <summary>Debian's chromium package (.ci/run installs it).</summary>
    public const string Chromium = "/usr/bin/chromium";

    private static readonly string Screenshots = Path.Combine(RepositoryRoot(), "artifacts", "screenshots", "web-admin");
    private TestServer _server = null!;
    private IPlaywright _playwright = null!;
    private IBrowser _browser = null!;

    public async Task InitializeAsync()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: apt-get install chromium (.ci/run does)");
        _server = await TestServer.StartAsync(["version"], new Dictionary<string, string?>
        {
            ["Xmpp:Http:Port"] = "0",
            ["Xmpp:Http:Admin:Enabled"] = "true",
        });
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = Chromium, Headless = true });
        Directory.CreateDirectory(Screenshots);
    }

    public async Task DisposeAsync()
    {
        await _browser.DisposeAsync();
        _playwright.Dispose();
        await _server.DisposeAsync();
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Actors.sln"))) return dir.FullName;
        return AppContext.BaseDirectory;
    }

    private Task ShotAsync(IPage page, string name) =>
        page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Screenshots, name + ".png"), FullPage = true });

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting until " + what);
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task An_administrator_signs_in_adds_a_user_kicks_a_session_unloads_and_loads_a_plugin_and_follows_the_journal()
    {
        var baseUrl = $"http://{_server.Service.Http!.HttpEndPoint}";
        await using var client = await XmppTestClient.LoginAsync(_server, "bob", "desk");
        var context = await _browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = baseUrl, ViewportSize = new() { Width = 1200, Height = 800 } });
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(60_000);
        var scriptErrors = new List<string>();
        // the page's script fails nowhere, and nothing it needs is refused by its Content-Security-Policy (a refused
        // status such as the 422 of a refused command, or the favicon's 404, is no script error)
        page.PageError += (_, error) => scriptErrors.Add(error);
        page.Console += (_, m) => { if (m.Type == "error" && m.Text.Contains("Content Security Policy", StringComparison.Ordinal)) scriptErrors.Add(m.Text); };

        // sign in: the pages send an anonymous visitor to the sign-in form
        await page.GotoAsync("/admin/");
        Assert.EndsWith("/admin/login", page.Url);
        await page.Locator("input[name=jid]").FillAsync("admin@localhost");
        await page.Locator("input[name=password]").FillAsync(TestServer.Password);
        await ShotAsync(page, "01-sign-in");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.Locator("h1", new() { HasText = "Overview" }).WaitForAsync();
        await page.Locator("#stats").WaitForAsync();
        await ShotAsync(page, "02-overview");

        // add a user
        await page.GotoAsync("/admin/users");
        await page.Locator("form[action='/admin/users/add'] input[name=user]").FillAsync("browser-user");
        await page.Locator("form[action='/admin/users/add'] input[name=password]").FillAsync("browser-pw");
        await page.GetByRole(AriaRole.Button, new() { Name = "Add" }).ClickAsync();
        await page.Locator(".notice.ok", new() { HasText = "added browser-user@localhost" }).WaitForAsync();
        Assert.True(_server.Accounts.Exists(Jid.Parse("browser-user@localhost")));
        await ShotAsync(page, "03-user-added");

        // kick the connected client's session: its stream ends with <policy-violation/> (RFC 6120 §4.9.3)
        await page.GotoAsync("/admin/sessions");
        var row = page.Locator("#sessions tr", new() { HasText = "bob@localhost/desk" });
        await ShotAsync(page, "04-sessions");
        await row.GetByRole(AriaRole.Button, new() { Name = "Kick" }).ClickAsync();
        await page.Locator(".notice.ok", new() { HasText = "kicked bob@localhost/desk" }).WaitForAsync();
        await client.ExpectStreamErrorAsync("policy-violation", skipStanzas: true, timeout: TimeSpan.FromSeconds(30));
        await ShotAsync(page, "05-session-kicked");

        // unload the version plugin, then load it again from its folder
        await page.GotoAsync("/admin/plugins");
        await page.Locator("tr[data-plugin=version]").GetByRole(AriaRole.Button, new() { Name = "Unload" }).ClickAsync();
        await page.Locator(".notice.ok").WaitForAsync();
        Assert.DoesNotContain(_server.Plugins.List(), p => p.Id == "version" && p.State == "loaded");
        await ShotAsync(page, "06-plugin-unloaded");
        await page.Locator("tr[data-plugin=version]").GetByRole(AriaRole.Button, new() { Name = "Load", Exact = true }).ClickAsync();
        await page.Locator(".notice.ok").WaitForAsync();
        await WaitUntilAsync(() => _server.Plugins.List().Any(p => p.Id == "version" && p.State == "loaded"), "the version plugin is loaded");
        await page.Locator("tr[data-plugin=version] .state", new() { HasText = "loaded" }).WaitForAsync();
        await ShotAsync(page, "07-plugin-loaded");
        // and by its folder name, from the form (it is loaded already: the plugin host says so)
        await page.Locator("fieldset input[name=plugin]").FillAsync("version");
        await page.Locator("fieldset").GetByRole(AriaRole.Button, new() { Name = "Load", Exact = true }).ClickAsync();
        await page.Locator(".notice").WaitForAsync();

        // the journal: browse the accounts' log, then follow it live (server-sent events into the page)
        await page.GotoAsync("/admin/journal?pid=accounts:localhost");
        await page.Locator("#events tr", new() { HasText = "account.created" }).First.WaitForAsync();
        await page.Locator("#follow").ClickAsync();
        await page.Locator("#live").WaitForAsync();
        await Task.Delay(500); // the EventSource connects
        await _server.AddUserAsync("live-user");
        await page.Locator("#live tbody tr", new() { HasText = "live-user" }).WaitForAsync();
        await ShotAsync(page, "08-journal-live");

        Assert.Empty(scriptErrors);
        await context.CloseAsync();
    }
}
