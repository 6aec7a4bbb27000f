using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Actors.Xmpp.Server.Accounts;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Actors.Xmpp.Server.Hosting;

/// <summary>
/// The operator's channel into a running server: a Unix domain socket (data/admin.sock, mode 0600, so only the
/// server's own user can use it) speaking one JSON object per line each way. The CLI uses it when a server runs
/// (so accounts change in the live server, not behind its back) and edits the data folder directly otherwise.
/// </summary>
public sealed class AdminChannel : BackgroundService
{
    public const string SocketName = "admin.sock";

    private readonly XmppServerOptions _options;
    private readonly OperatorCommands _commands;
    private readonly ILogger<AdminChannel> _log;

    public AdminChannel(XmppServerOptions options, OperatorCommands commands, ILogger<AdminChannel> log)
    {
        _options = options;
        _commands = commands;
        _log = log;
    }

    public static string SocketPath(string dataDir) => Path.GetFullPath(Path.Combine(dataDir, SocketName));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var path = SocketPath(_options.DataDir);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (File.Exists(path)) File.Delete(path);
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        listener.Listen(16);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var client = await listener.AcceptAsync(stoppingToken);
                _ = ServeAsync(client, stoppingToken);
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            try { File.Delete(path); } catch (IOException) { }
        }
    }

    private async Task ServeAsync(Socket client, CancellationToken token)
    {
        await using var stream = new NetworkStream(client, ownsSocket: true);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        await using var writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true };
        try
        {
            string? line;
            while ((line = await reader.ReadLineAsync(token)) is not null)
            {
                JsonObject response;
                try
                {
                    var request = JsonNode.Parse(line)?.AsObject() ?? throw new FormatException("empty request");
                    response = await _commands.ExecuteAsync(request);
                }
                catch (Exception ex) // the admin channel answers every request, whatever went wrong
                {
                    _log.LogWarning(ex, "admin request failed");
                    response = new JsonObject { ["ok"] = false, ["error"] = ex.Message };
                }
                await writer.WriteLineAsync(response.ToJsonString());
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or SocketException)
        {
            _log.LogDebug(ex, "admin client went away");
        }
    }
}

/// <summary>More admin commands (the plugin host's plugin-list/load/unload/reload): null when not its command.</summary>
public interface IAdminCommandExtension
{
    Task<JsonObject?> TryExecuteAsync(JsonObject request);
}

/// <summary>The account operations shared by the admin channel and the offline CLI.</summary>
public sealed class AccountCommands
{
    private readonly AccountLifecycle _lifecycle;
    private readonly IAccountStore _accounts;
    private readonly string _defaultDomain;
    private readonly Func<int>? _online;

    public AccountCommands(AccountLifecycle lifecycle, string defaultDomain, Func<int>? online = null)
    {
        _lifecycle = lifecycle;
        _accounts = lifecycle.Accounts;
        _defaultDomain = defaultDomain;
        _online = online;
    }

    /// <summary>A user name or bare JID; a name alone is in the default domain.</summary>
    public Jid Account(string user)
    {
        var text = user.Contains('@') ? user : user + "@" + _defaultDomain;
        if (!Jid.TryParse(text, out var jid) || jid is null || !jid.IsBare || jid.Local is null)
            throw new ArgumentException($"'{user}' is not a valid user name or bare JID");
        return jid;
    }

    public async Task<JsonObject> ExecuteAsync(JsonObject request)
    {
        var cmd = (string?)request["cmd"] ?? throw new FormatException("missing 'cmd'");
        switch (cmd)
        {
            case "add":
            {
                var jid = Account(Str(request, "user"));
                var ok = await _accounts.AddAsync(jid, Str(request, "password"));
                return ok ? Ok($"added {jid}") : Fail($"{jid} exists already");
            }
            case "bulk":
            {
                var count = (int?)request["count"] ?? throw new FormatException("missing 'count'");
                var prefix = Str(request, "prefix");
                var password = Str(request, "password");
                var start = (int?)request["start"] ?? 0;
                var list = new List<(Jid, string)>(count);
                for (var i = 0; i < count; i++) list.Add((Account(prefix + (start + i).ToString(System.Globalization.CultureInfo.InvariantCulture)), password));
                var added = await _accounts.AddManyAsync(list);
                return Ok($"added {added} of {count} accounts");
            }
            case "remove":
            {
                var jid = Account(Str(request, "user"));
                return await _lifecycle.RemoveAsync(jid) ? Ok($"removed {jid}") : Fail($"no account {jid}");
            }
            case "passwd":
            {
                var jid = Account(Str(request, "user"));
                return await _lifecycle.SetPasswordAsync(jid, Str(request, "password")) ? Ok($"password of {jid} changed") : Fail($"no account {jid}");
            }
            case "list":
            {
                var users = new JsonArray();
                foreach (var j in _accounts.List()) users.Add(j.ToString());
                return new JsonObject { ["ok"] = true, ["users"] = users };
            }
            case "online":
                return new JsonObject { ["ok"] = true, ["online"] = _online?.Invoke() ?? 0 };
            default:
                return Fail($"unknown command '{cmd}'");
        }
    }

    private static string Str(JsonObject o, string name) =>
        (string?)o[name] is { Length: > 0 } s ? s : throw new FormatException($"missing '{name}'");

    private static JsonObject Ok(string message) => new() { ["ok"] = true, ["message"] = message };
    private static JsonObject Fail(string message) => new() { ["ok"] = false, ["error"] = message };
}
