using System.Globalization;
using System.Security.Claims;
using System.Text;
using System.Text.Json.Nodes;
using Actors.Xmpp.Persistence.Replay;
using Actors.Xmpp.Server.Hosting;
using Actors.Xmpp.Server.Sasl;
using Akka.Actor;
using Akka.Streams.Dsl;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Actors.Xmpp.Server.Http.Admin;

/// <summary>
/// The web admin page (Xmpp:Http:Admin:Enabled) under Xmpp:Http:Admin:Path on the HTTP host: server-rendered HTML, one
/// small script and style sheet of ours, nothing from elsewhere. An administrator signs in with an XMPP account: the
/// password is checked as SASL PLAIN checks it (<see cref="PlainServerMechanism"/> against the account store's SCRAM
/// keys), counted by the server's login throttle (<see cref="Security.LoginRateLimiter"/>, 429 while an address is
/// refused), and only the bare JIDs of <see cref="AdminsKey"/> get in (any other account: 403). The session is an
/// ASP.NET Core authentication cookie (HttpOnly, SameSite=Strict, Secure on TLS, scoped to the admin path); every POST
/// carries an antiforgery token (none or a wrong one: 400). Each action is a request to <see cref="OperatorCommands"/>,
/// the same commands the CLI sends through the admin socket.
/// </summary>
public sealed class WebAdmin : IDisposable
{
    /// <summary>The server's administrators: the admin plugin's list (the XEP-0133 commands' admins).</summary>
    public const string AdminsKey = "Xmpp:Plugins:admin:Admins";
    public const string CsrfField = "__csrf";
    public const string CookieName = "actors-admin";
    public const string CsrfCookieName = "actors-admin-csrf";
    public const int JournalPageSize = 50;
    public const int UsersPageSize = 200;
    /// <summary>The plugin host's state of a plugin that was unloaded (plugin-list).</summary>
    private const string Unloaded = "unloaded";

    private const string Scheme = CookieAuthenticationDefaults.AuthenticationScheme;
    private const string ClientItem = "actors.admin.client";
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
    private static readonly string[] Charts = ["messages", "sessions", "memory"];

    private readonly ServerContext _server;
    private readonly OperatorCommands _commands;
    private readonly ActorSystem _system;
    private readonly HashSet<Jid> _admins;
    private readonly ILogger<WebAdmin> _log;
    private readonly CancellationTokenSource _stopping = new();
    private Task<JournalReader>? _journal;
    private IAntiforgery _antiforgery = null!;

    public WebAdmin(ServerContext server, OperatorCommands commands, ActorSystem system, IEnumerable<string> admins, ILogger<WebAdmin> log)
    {
        _server = server;
        _commands = commands;
        _system = system;
        _log = log;
        _admins = new HashSet<Jid>();
        foreach (var a in admins)
            _admins.Add(Jid.TryParse(a, out var jid) && jid is { IsBare: true } ? jid
                : throw new InvalidOperationException($"{AdminsKey}: '{a}' is not a bare JID"));
        History = new MetricsHistory(() => server.Sessions.Count);
    }

    public string Path => _server.Options.Http.Admin.Path;
    public MetricsHistory History { get; }

    /// <summary>The services the page needs on the HTTP host: data protection with keys in memory (a restart signs
    /// everybody out), antiforgery, the cookie authentication.</summary>
    public void AddServices(IServiceCollection services)
    {
        services.AddSingleton<IDataProtectionProvider>(new EphemeralDataProtectionProvider());
        services.AddAntiforgery(o =>
        {
            o.FormFieldName = CsrfField;
            o.Cookie.Name = CsrfCookieName;
            o.Cookie.Path = Path;
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        });
        services.AddAuthentication(Scheme).AddCookie(Scheme, o =>
        {
            o.Cookie.Name = CookieName;
            o.Cookie.Path = Path;
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest; // Secure on TLS (and behind a trusted TLS proxy)
            o.ExpireTimeSpan = TimeSpan.FromHours(8);
            o.SlidingExpiration = true;
        });
    }

    /// <summary>Serves the page under <see cref="Path"/>; <paramref name="client"/> tells who asks (the forwarded
    /// address and scheme behind a trusted proxy).</summary>
    public void Map(WebApplication app, Func<HttpContext, HttpClientInfo> client)
    {
        _antiforgery = app.Services.GetRequiredService<IAntiforgery>();
        History.Start();
        app.Map(Path, branch =>
        {
            branch.Use((context, next) =>
            {
                var info = client(context);
                context.Items[ClientItem] = info;
                // the cookies are Secure when the browser talks TLS: to us, or to the TLS-terminating proxy that says
                // so (X-Forwarded-Proto: https from a trusted proxy); a trusted proxy's plain request is not
                if (info.PublicTls && !context.Request.IsHttps) context.Request.Scheme = Uri.UriSchemeHttps;
                return next(context);
            });
            branch.UseAuthentication();
            branch.Run(HandleAsync);
        });
    }

    /// <summary>Ends the live journal views (the host is stopping).</summary>
    public void Stop() => _stopping.Cancel();

    public void Dispose()
    {
        _stopping.Cancel();
        History.Dispose();
        _stopping.Dispose();
    }

    // ------------------------------------------------------------------ dispatch
    private async Task HandleAsync(HttpContext c)
    {
        var headers = c.Response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        headers.CacheControl = "no-store";
        var path = c.Request.Path.Value ?? "";
        var get = HttpMethods.IsGet(c.Request.Method) || HttpMethods.IsHead(c.Request.Method);
        if (!get && !HttpMethods.IsPost(c.Request.Method))
        {
            c.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            headers.Allow = "GET, HEAD, POST";
            return;
        }
        if (get)
        {
            switch (path)
            {
                case "":
                    c.Response.Redirect(Path + "/");
                    return;
                case "/admin.js":
                    await AssetAsync(c, "admin.js", "text/javascript; charset=utf-8");
                    return;
                case "/admin.css":
                    await AssetAsync(c, "admin.css", "text/css; charset=utf-8");
                    return;
                case "/login":
                    await LoginPageAsync(c, null, StatusCodes.Status200OK);
                    return;
            }
        }
        else
        {
            // every POST, the sign-in included (login CSRF): a form of this page with its token, or nothing happens
            if (!c.Request.HasFormContentType || !await _antiforgery.IsRequestValidAsync(c))
            {
                c.Response.StatusCode = StatusCodes.Status400BadRequest;
                await c.Response.WriteAsync("400 Bad Request: the form's antiforgery token is missing or not valid; reload the page");
                return;
            }
            if (path == "/login")
            {
                await LoginAsync(c);
                return;
            }
        }
        if (c.User.Identity?.IsAuthenticated != true)
        {
            c.Response.Redirect(Path + "/login", permanent: false);
            if (!get) c.Response.StatusCode = StatusCodes.Status303SeeOther;
            return;
        }
        if (Admin(c) is not { } admin)
        {
            // signed in once, not an administrator (any more)
            await PageAsync(c, "Forbidden", null, StatusCodes.Status403Forbidden,
                h => h.P($"{c.User.Identity.Name} is not an administrator of this server."));
            return;
        }
        if (!get)
        {
            await ActionAsync(c, path, admin);
            return;
        }
        switch (path)
        {
            case "/": await OverviewAsync(c); return;
            case "/users": await UsersAsync(c, null); return;
            case "/sessions": await SessionsAsync(c, null); return;
            case "/plugins": await PluginsAsync(c, null); return;
            case "/journal": await JournalAsync(c); return;
            case "/journal/follow": await FollowAsync(c); return;
            case "/cluster": await ClusterAsync(c); return;
        }
        if (path.StartsWith("/chart/", StringComparison.Ordinal) && path.EndsWith(".svg", StringComparison.Ordinal))
        {
            await ChartAsync(c, path["/chart/".Length..^".svg".Length]);
            return;
        }
        c.Response.StatusCode = StatusCodes.Status404NotFound;
    }

    /// <summary>The signed-in account when it is one of the administrators.</summary>
    private Jid? Admin(HttpContext c) =>
        c.User.Identity?.Name is { } name && Jid.TryParse(name, out var jid) && jid is not null && _admins.Contains(jid) ? jid : null;

    private static HttpClientInfo Client(HttpContext c) => (HttpClientInfo)c.Items[ClientItem]!;

    private static async Task AssetAsync(HttpContext c, string name, string contentType)
    {
        await using var stream = typeof(WebAdmin).Assembly.GetManifestResourceStream("Actors.Xmpp.Server.Admin." + name)
                                 ?? throw new InvalidOperationException($"the web admin's {name} is not in the assembly");
        c.Response.ContentType = contentType;
        c.Response.ContentLength = stream.Length;
        c.Response.Headers.CacheControl = "private, max-age=300";
        if (!HttpMethods.IsHead(c.Request.Method)) await stream.CopyToAsync(c.Response.Body, c.RequestAborted);
    }

    // ------------------------------------------------------------------ sign-in
    private async Task LoginAsync(HttpContext c)
    {
        var form = await c.Request.ReadFormAsync(c.RequestAborted);
        var remote = Client(c).RemoteEndPoint;
        var verdict = _server.LoginLimiter.Begin(remote);
        if (!verdict.Allowed)
        {
            await LoginPageAsync(c, verdict.Refusal, StatusCodes.Status429TooManyRequests);
            return;
        }
        // a refused sign-in counts as a failed login (as a failed SASL exchange does); a good one gives its attempt back
        var account = await CheckPasswordAsync(form["jid"].ToString(), form["password"].ToString());
        _server.LoginLimiter.End(remote, failedCheck: account is null);
        if (account is null)
        {
            _log.LogInformation("web admin: sign-in refused from {Remote}", remote);
            await LoginPageAsync(c, "Wrong address or password.", StatusCodes.Status200OK);
            return;
        }
        if (!_admins.Contains(account))
        {
            _log.LogWarning("web admin: {Account} signed in but is not an administrator", account);
            await PageAsync(c, "Forbidden", null, StatusCodes.Status403Forbidden,
                h => h.P($"{account} is not an administrator of this server ({AdminsKey})."));
            return;
        }
        await c.SignInAsync(Scheme, new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, account.ToString())], Scheme)));
        _log.LogInformation("web admin: {Account} signed in from {Remote}", account, remote);
        c.Response.StatusCode = StatusCodes.Status303SeeOther;
        c.Response.Headers.Location = Path + "/";
    }

    /// <summary>The bare JID whose password this is, checked as SASL PLAIN checks it (same store, same SCRAM keys, the
    /// same work for an unknown account); null when it is not.</summary>
    private async Task<Jid?> CheckPasswordAsync(string text, string password)
    {
        if (!Jid.TryParse(text.Trim(), out var jid) || jid is null || jid.Local is null || !_server.Serves(jid.Domain)) return null;
        var plain = new PlainServerMechanism(jid.Domain, _server.Sasl.Options);
        var result = plain.Start(Encoding.UTF8.GetBytes("\0" + jid.Local + "\0" + password));
        if (result is not SaslResult.NeedCredentials need) return null;
        if (!Jid.TryParse(need.Username + "@" + jid.Domain, out var account) || account is null) return null;
        var credentials = await _server.Accounts.FindAsync(account);
        return plain.Continue(credentials) is SaslResult.Success ? account : null;
    }

    private async Task LoginPageAsync(HttpContext c, string? error, int status)
    {
        var token = _antiforgery.GetAndStoreTokens(c).RequestToken!;
        var h = new HtmlWriter();
        h.Raw("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Sign in · Actors admin</title>")
            .Raw($"<link rel='stylesheet' href='{HtmlWriter.Encode(Path)}/admin.css'></head><body><main><h1>Actors admin</h1>");
        if (error is not null) h.Notice(error, ok: false);
        h.Raw($"<form method='post' action='{HtmlWriter.Encode(Path)}/login'><fieldset><legend>Sign in with your XMPP account</legend>")
            .Raw("<p><label>Address <input name='jid' type='text' autocomplete='username' required placeholder='admin@example.org'></label></p>")
            .Raw("<p><label>Password <input name='password' type='password' autocomplete='current-password' required></label></p>")
            .Hidden(CsrfField, token).Raw("<button type='submit'>Sign in</button></fieldset></form></main></body></html>");
        await WriteAsync(c, h, status);
    }

    // ------------------------------------------------------------------ actions (POST)
    private async Task ActionAsync(HttpContext c, string path, Jid admin)
    {
        var form = await c.Request.ReadFormAsync(c.RequestAborted);
        string Field(string name) => form[name].ToString();
        if (path == "/logout")
        {
            await c.SignOutAsync(Scheme);
            c.Response.StatusCode = StatusCodes.Status303SeeOther;
            c.Response.Headers.Location = Path + "/login";
            return;
        }
        JsonObject? request = path switch
        {
            "/users/add" => new JsonObject { ["cmd"] = "add", ["user"] = Field("user"), ["password"] = Field("password") },
            "/users/remove" => new JsonObject { ["cmd"] = "remove", ["user"] = Field("user") },
            "/users/passwd" => new JsonObject { ["cmd"] = "passwd", ["user"] = Field("user"), ["password"] = Field("password") },
            "/sessions/kick" => new JsonObject { ["cmd"] = Diagnostics.OperationsCommands.SessionKick, ["jid"] = Field("jid"), ["reason"] = "closed by an administrator" },
            "/plugins/load" => new JsonObject { ["cmd"] = "plugin-load", ["plugin"] = Field("plugin") },
            "/plugins/unload" => new JsonObject { ["cmd"] = "plugin-unload", ["plugin"] = Field("plugin") },
            "/plugins/reload" => new JsonObject { ["cmd"] = "plugin-reload", ["plugin"] = Field("plugin") },
            _ => null,
        };
        if (request is null)
        {
            c.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }
        var (ok, message) = await RunAsync(request);
        _log.LogInformation("web admin: {Admin} ran {Command}: {Outcome}", admin, (string?)request["cmd"], message);
        var notice = new Notice(ok, message);
        var status = ok ? StatusCodes.Status200OK : StatusCodes.Status422UnprocessableEntity;
        c.Response.StatusCode = status;
        switch (path[..path.LastIndexOf('/')])
        {
            case "/users": await UsersAsync(c, notice); break;
            case "/sessions": await SessionsAsync(c, notice); break;
            default: await PluginsAsync(c, notice); break;
        }
    }

    private sealed record Notice(bool Ok, string Text);

    /// <summary>One operator command: whether it succeeded and what it said.</summary>
    private async Task<(bool Ok, string Message)> RunAsync(JsonObject request)
    {
        try
        {
            var answer = await _commands.ExecuteAsync(request);
            if ((bool?)answer["ok"] != true) return (false, (string?)answer["error"] ?? "failed");
            if ((string?)answer["message"] is { } message) return (true, message);
            if (answer["kicked"] is JsonArray kicked) return (true, "kicked " + string.Join(", ", kicked.Select(k => (string?)k)));
            return (true, "done");
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException)
        {
            return (false, ex.Message);
        }
    }

    private async Task<JsonObject> QueryAsync(string cmd) => await _commands.ExecuteAsync(new JsonObject { ["cmd"] = cmd });

    // ------------------------------------------------------------------ pages (GET)
    private Task OverviewAsync(HttpContext c) => PageAsync(c, "Overview", null, StatusCodes.Status200OK, async h =>
    {
        var stats = await QueryAsync(Diagnostics.OperationsCommands.Stats);
        h.Raw("<h2>Last ten minutes</h2><div class='charts'>");
        foreach (var chart in Charts)
            h.Raw($"<figure><img src='{HtmlWriter.Encode(Path)}/chart/{chart}.svg' data-refresh='{HtmlWriter.Encode(Path)}/chart/{chart}.svg' width='{ChartSvg.Width}' height='{ChartSvg.Height}' alt='{chart}'></figure>");
        h.Raw("</div><h2>Now</h2><table id='stats'>");
        foreach (var (key, value) in stats)
        {
            if (key == "ok") continue;
            h.Raw("<tr><th>").Text(key).Raw("</th><td>")
                .Text(value is JsonArray a ? string.Join(", ", a.Select(x => (string?)x)) : value?.ToString() ?? "").Raw("</td></tr>");
        }
        h.Raw("</table>");
    });

    private Task UsersAsync(HttpContext c, Notice? notice) => PageAsync(c, "Users", notice, c.Response.StatusCode, async h =>
    {
        var users = (JsonArray?)(await QueryAsync("list"))["users"] ?? [];
        var from = Math.Max(0, QueryInt(c, "from") ?? 0);
        h.Raw("<form method='post' action='").Attr(Path).Raw("/users/add'><fieldset><legend>Add an account</legend>")
            .Raw("<label>User name or JID <input name='user' required></label> ")
            .Raw("<label>Password <input name='password' type='password' autocomplete='new-password' required></label> ")
            .Hidden(CsrfField, Token(c)).Raw("<button type='submit'>Add</button></fieldset></form>");
        h.Raw($"<p>{users.Count} accounts</p><table id='users'><tr><th>Account</th><th>New password</th><th></th></tr>");
        for (var i = from; i < users.Count && i < from + UsersPageSize; i++)
        {
            var jid = (string?)users[i] ?? "";
            h.Raw("<tr><td>").Text(jid).Raw("</td><td>")
                .Raw("<form class='inline' method='post' action='").Attr(Path).Raw("/users/passwd'>").Hidden("user", jid).Hidden(CsrfField, Token(c))
                .Raw("<input name='password' type='password' autocomplete='new-password' required aria-label='new password'> <button type='submit'>Set</button></form></td><td>")
                .Raw("<form class='inline' method='post' action='").Attr(Path).Raw("/users/remove'>").Hidden("user", jid).Hidden(CsrfField, Token(c))
                .Raw("<button type='submit'>Remove</button></form></td></tr>");
        }
        h.Raw("</table>");
        if (from + UsersPageSize < users.Count)
            h.Raw("<p><a href='").Attr(Path).Raw($"/users?from={from + UsersPageSize}'>next {UsersPageSize}</a></p>");
    });

    private Task SessionsAsync(HttpContext c, Notice? notice) => PageAsync(c, "Sessions", notice, c.Response.StatusCode, async h =>
    {
        var sessions = (JsonArray?)(await QueryAsync(Diagnostics.OperationsCommands.SessionList))["sessions"] ?? [];
        h.Raw($"<p>{sessions.Count} sessions on this node</p><table id='sessions'><tr><th>Session</th><th>Available</th><th>Priority</th><th></th></tr>");
        foreach (var s in sessions)
        {
            var jid = (string?)s!["jid"] ?? "";
            h.Raw("<tr><td>").Text(jid).Raw("</td><td>").Text((bool?)s["available"] == true ? "yes" : "no").Raw("</td><td>")
                .Text(((int?)s["priority"] ?? 0).ToString(CultureInfo.InvariantCulture)).Raw("</td><td>")
                .Raw("<form class='inline' method='post' action='").Attr(Path).Raw("/sessions/kick'>").Hidden("jid", jid).Hidden(CsrfField, Token(c))
                .Raw("<button type='submit'>Kick</button></form></td></tr>");
        }
        h.Raw("</table>");
    });

    private Task PluginsAsync(HttpContext c, Notice? notice) => PageAsync(c, "Plugins", notice, c.Response.StatusCode, async h =>
    {
        var answer = await QueryAsync("plugin-list");
        if ((bool?)answer["ok"] != true)
        {
            h.Notice((string?)answer["error"] ?? "no plugin host", ok: false);
            return;
        }
        h.Raw("<form method='post' action='").Attr(Path).Raw("/plugins/load'><fieldset><legend>Load a plugin</legend>")
            .Raw("<label>Folder under ").Text((string?)answer["directory"] ?? "the plugin directory").Raw(" <input name='plugin' required></label> ")
            .Hidden(CsrfField, Token(c)).Raw("<button type='submit'>Load</button></fieldset></form>");
        h.Raw("<table id='plugins'><tr><th>Plugin</th><th>Version</th><th>State</th><th>XEPs</th><th></th></tr>");
        foreach (var p in (JsonArray?)answer["plugins"] ?? [])
        {
            var id = (string?)p!["id"] ?? "";
            var state = (string?)p["state"] ?? "";
            h.Raw($"<tr data-plugin='{HtmlWriter.Encode(id)}'><td>").Text(id).Raw("</td><td>").Text((string?)p["version"] ?? "-").Raw("</td><td class='state'>").Text(state);
            if ((string?)p["error"] is { } error) h.Raw("<br>").Text(error);
            h.Raw("</td><td>").Text(string.Join(", ", ((JsonArray?)p["xeps"] ?? []).Select(x => (string?)x))).Raw("</td><td>");
            // an unloaded plugin is loaded again from its folder; a loaded one is unloaded or reloaded by its id
            var actions = state == Unloaded ? new[] { ("load", "Load", (string?)p["folder"] ?? id) } : [("unload", "Unload", id), ("reload", "Reload", id)];
            foreach (var (action, label, argument) in actions)
                h.Raw("<form class='inline' method='post' action='").Attr(Path).Raw($"/plugins/{action}'>").Hidden("plugin", argument).Hidden(CsrfField, Token(c))
                    .Raw($"<button type='submit'>{label}</button></form> ");
            h.Raw("</td></tr>");
        }
        h.Raw("</table>");
    });

    private Task ClusterAsync(HttpContext c) => PageAsync(c, "Cluster", null, StatusCodes.Status200OK, async h =>
    {
        var answer = await QueryAsync(Cluster.ClusterAdminCommands.StatusCommand);
        if ((bool?)answer["ok"] != true)
        {
            h.P((string?)answer["error"] ?? "no cluster");
            return;
        }
        h.Raw("<table id='members'>");
        var members = (JsonArray?)answer["members"] ?? [];
        var columns = members.Count > 0 ? ((JsonObject)members[0]!).Select(kv => kv.Key).ToList() : [];
        h.Raw("<tr>");
        foreach (var column in columns) h.Raw("<th>").Text(column).Raw("</th>");
        h.Raw("</tr>");
        foreach (var m in members)
        {
            h.Raw("<tr>");
            foreach (var column in columns) h.Raw("<td>").Text(m![column]?.ToString() ?? "").Raw("</td>");
            h.Raw("</tr>");
        }
        h.Raw("</table>");
    });

    // ------------------------------------------------------------------ the event journal
    private Task<JournalReader> Journal()
    {
        if (_journal is { IsFaulted: true } or { IsCanceled: true }) _journal = null; // try again on the next request
        return _journal ??= JournalReader.OpenAsync(_system);
    }

    /// <summary>Credentials in events (SCRAM salts and keys, passwords) are not shown on the page: with them anyone who
    /// sees the page could guess passwords offline. `events dump` on the host still has them for the operator.</summary>
    private static readonly HashSet<string> Secrets = new(StringComparer.OrdinalIgnoreCase) { "scram", "password", "salt", "storedKey", "serverKey" };

    private const string Hidden = "(hidden)";

    internal static JsonObject Redacted(JournalEvent e)
    {
        var json = e.ToJson();
        json.Remove("raw"); // an undecodable event's bytes: whatever they hold
        if (json["event"] is { } body) Redact(body);
        return json;
    }

    private static void Redact(JsonNode node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var key in o.Select(kv => kv.Key).ToList())
                {
                    if (Secrets.Contains(key)) o[key] = Hidden;
                    else if (o[key] is { } child) Redact(child);
                }
                break;
            case JsonArray a:
                foreach (var child in a)
                    if (child is not null) Redact(child);
                break;
        }
    }

    private static int? QueryInt(HttpContext c, string name) =>
        long.TryParse(c.Request.Query[name].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? (int)Math.Min(v, int.MaxValue) : null;

    private static long QueryLong(HttpContext c, string name) =>
        long.TryParse(c.Request.Query[name].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : 0;

    /// <summary>Browse: one entity's events from a sequence number (?pid=&amp;from=), those of a tag (?tag=) or all
    /// events (neither), after a journal ordering (?after=), <see cref="JournalPageSize"/> a page.</summary>
    private Task JournalAsync(HttpContext c) => PageAsync(c, "Journal", null, StatusCodes.Status200OK, async h =>
    {
        var pid = c.Request.Query["pid"].ToString();
        var tag = c.Request.Query["tag"].ToString();
        var from = Math.Max(1, QueryLong(c, "from"));
        var after = QueryLong(c, "after");
        h.Raw("<form method='get' action='").Attr(Path).Raw("/journal'><fieldset><legend>Browse the event journal</legend>")
            .Raw("<label>Persistence id <input name='pid' value='").Attr(pid).Raw("' placeholder='accounts:example.org'></label> ")
            .Raw("<label>or tag <input name='tag' value='").Attr(tag).Raw("' placeholder='account'></label> ")
            .Raw("<button type='submit'>Show</button></fieldset></form>");
        var reader = await Journal();
        var source = pid.Length > 0 ? reader.ByPersistenceId(pid, from)
            : tag.Length > 0 ? reader.ByTag(tag, after: after)
            : reader.All(after: after);
        var events = new List<JournalEvent>(JournalPageSize);
        await foreach (var e in reader.StreamAsync(source.Take(JournalPageSize), c.RequestAborted)) events.Add(e);
        h.Raw("<table id='events'><tr><th>Stored</th><th>Persistence id</th><th>#</th><th>Event</th><th>Content</th></tr>");
        foreach (var e in events) EventRow(h, e);
        h.Raw("</table>");
        // where the next page (and a live view from the end of this one) starts
        var next = events.Count == 0 ? (pid.Length > 0 ? $"pid={Uri.EscapeDataString(pid)}&from={from}" : Position(tag, after))
            : pid.Length > 0 ? $"pid={Uri.EscapeDataString(pid)}&from={events[^1].SequenceNr + 1}"
            : Position(tag, events[^1].Ordering);
        if (events.Count == JournalPageSize) h.Raw("<p><a id='next' href='").Attr($"{Path}/journal?{next}").Raw("'>next page</a></p>");
        h.Raw("<p><a id='follow' href='").Attr($"{Path}/journal?{next}&live=1").Raw("'>follow from here (live)</a></p>");
        if (c.Request.Query["live"].ToString() == "1")
            h.Raw("<h2>Live (<span id='live-count'>0</span> new)</h2><table id='live' data-src='").Attr($"{Path}/journal/follow?{next}")
                .Raw("'><thead><tr><th>Stored</th><th>Persistence id</th><th>#</th><th>Event</th><th>Content</th></tr></thead><tbody></tbody></table>");
    });

    private static string Position(string tag, long after) =>
        (tag.Length > 0 ? $"tag={Uri.EscapeDataString(tag)}&" : "") + $"after={after.ToString(CultureInfo.InvariantCulture)}";

    private static void EventRow(HtmlWriter h, JournalEvent e)
    {
        var json = Redacted(e);
        var content = (json["event"] ?? json["error"])?.ToJsonString() ?? "";
        h.Raw("<tr><td>").Text(e.Timestamp.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture)).Raw("</td><td>")
            .Text(e.PersistenceId).Raw("</td><td>#").Text(e.SequenceNr.ToString(CultureInfo.InvariantCulture)).Raw("</td><td>")
            .Text(e.Manifest).Raw("</td><td class='event'>").Text(content.Length > 400 ? content[..397] + "..." : content).Raw("</td></tr>");
    }

    /// <summary>Follow: the events from the position as server-sent events (one JSON object per event, as `events dump`
    /// writes it, credentials hidden), live until the browser goes away; the event id is the position, so a reconnecting EventSource
    /// (Last-Event-ID) goes on where it stopped.</summary>
    private async Task FollowAsync(HttpContext c)
    {
        var pid = c.Request.Query["pid"].ToString();
        var tag = c.Request.Query["tag"].ToString();
        var from = Math.Max(1, QueryLong(c, "from"));
        var after = QueryLong(c, "after");
        if (long.TryParse(c.Request.Headers["Last-Event-ID"].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var last))
        {
            from = last + 1;
            after = last;
        }
        var reader = await Journal();
        var source = pid.Length > 0 ? reader.ByPersistenceId(pid, from, follow: true)
            : tag.Length > 0 ? reader.ByTag(tag, follow: true, after: after)
            : reader.All(follow: true, after: after);
        c.Response.ContentType = "text/event-stream";
        c.Response.Headers.CacheControl = "no-store";
        await c.Response.Body.FlushAsync(c.RequestAborted);
        using var ends = CancellationTokenSource.CreateLinkedTokenSource(c.RequestAborted, _stopping.Token);
        try
        {
            await foreach (var e in reader.StreamAsync(source, ends.Token))
            {
                var id = pid.Length > 0 ? e.SequenceNr : e.Ordering;
                await c.Response.WriteAsync($"id: {id.ToString(CultureInfo.InvariantCulture)}\ndata: {Redacted(e).ToJsonString()}\n\n", ends.Token);
                await c.Response.Body.FlushAsync(ends.Token);
            }
        }
        catch (OperationCanceledException)
        {
            // the browser went away or the server stops
        }
    }

    // ------------------------------------------------------------------ charts
    private async Task ChartAsync(HttpContext c, string name)
    {
        var samples = History.Snapshot();
        var values = new double[samples.Length];
        string title, unit;
        switch (name)
        {
            case "messages":
                title = "Messages from clients"; unit = "/s";
                for (var i = 0; i < samples.Length; i++) values[i] = samples[i].MessagesPerSecond;
                break;
            case "sessions":
                title = "Sessions"; unit = "";
                for (var i = 0; i < samples.Length; i++) values[i] = samples[i].Sessions;
                break;
            case "memory":
                title = "Memory (working set)"; unit = " MiB";
                for (var i = 0; i < samples.Length; i++) values[i] = samples[i].MemoryBytes / (1024.0 * 1024.0);
                break;
            default:
                c.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
        }
        var svg = ChartSvg.Render(title, unit, values, MetricsHistory.Interval);
        c.Response.ContentType = "image/svg+xml";
        await c.Response.WriteAsync(svg, c.RequestAborted);
    }

    // ------------------------------------------------------------------ layout
    private string Token(HttpContext c) => _antiforgery.GetAndStoreTokens(c).RequestToken!;

    private async Task PageAsync(HttpContext c, string title, Notice? notice, int status, Action<HtmlWriter> body) =>
        await PageAsync(c, title, notice, status, h =>
        {
            body(h);
            return Task.CompletedTask;
        });

    private async Task PageAsync(HttpContext c, string title, Notice? notice, int status, Func<HtmlWriter, Task> body)
    {
        var h = new HtmlWriter();
        h.Raw("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>").Text(title).Raw(" · Actors admin</title>")
            .Raw("<link rel='stylesheet' href='").Attr(Path).Raw("/admin.css'><script src='").Attr(Path).Raw("/admin.js' defer></script></head><body><header><strong>Actors admin</strong>");
        foreach (var (href, label) in new[] { ("/", "Overview"), ("/users", "Users"), ("/sessions", "Sessions"), ("/plugins", "Plugins"), ("/journal", "Journal"), ("/cluster", "Cluster") })
            h.Raw("<a href='").Attr(Path + href).Raw(label == title ? "' class='current'>" : "'>").Text(label).Raw("</a>");
        if (c.User.Identity?.IsAuthenticated == true)
            h.Raw("<form method='post' action='").Attr(Path).Raw("/logout'>").Text(c.User.Identity.Name ?? "").Raw(" ")
                .Hidden(CsrfField, Token(c)).Raw("<button type='submit'>Sign out</button></form>");
        h.Raw("</header><main><h1>").Text(title).Raw("</h1>");
        if (notice is not null) h.Notice(notice.Text, notice.Ok);
        await body(h);
        h.Raw("</main></body></html>");
        await WriteAsync(c, h, status);
    }

    private static async Task WriteAsync(HttpContext c, HtmlWriter h, int status)
    {
        c.Response.StatusCode = status;
        c.Response.ContentType = "text/html; charset=utf-8";
        var bytes = Encoding.UTF8.GetBytes(h.ToString());
        c.Response.ContentLength = bytes.Length;
        if (!HttpMethods.IsHead(c.Request.Method)) await c.Response.Body.WriteAsync(bytes, c.RequestAborted);
    }
}
