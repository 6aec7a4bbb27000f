using System.CommandLine;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Actors.Xmpp.Persistence;
using Actors.Xmpp.Server;
using Actors.Xmpp.Server.Accounts;
using Actors.Xmpp.Server.Hosting;
using Actors.Xmpp.Server.Iq;
using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Server.Users;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Configuration;

namespace Actors.Host.Server;

/// <summary>
/// `actors-server user ...`: account administration. When a server runs on the same data folder the command goes
/// through its admin socket (the live server changes); otherwise it edits the data folder directly.
/// </summary>
internal static class UserCommands
{
    public static Command Create()
    {
        var user = new Command("user", "Manage accounts: add, remove, passwd, list, bulk.");
        var name = new Argument<string>("user") { Description = "A user name (in the first configured domain) or a bare JID" };
        var password = new Argument<string>("password") { Description = "The password (stored only as SCRAM keys)" };
        var optionalPassword = new Argument<string?>("password")
        {
            Description = "The password (visible to other users of the machine: prefer the prompt or --password-stdin)",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var passwordStdin = new Option<bool>("--password-stdin") { Description = "Read the password from the first line of standard input" };
        var json = new Option<bool>("--json") { Description = "Print the listing as JSON" };

        var add = new Command("add", "Create an account (the password from the prompt, standard input or the command line).") { name, optionalPassword, passwordStdin };
        add.SetAction((p, ct) => WithPassword(p, optionalPassword, passwordStdin, pw => Run(p, new JsonObject { ["cmd"] = "add", ["user"] = p.GetValue(name), ["password"] = pw })));

        var remove = new Command("remove", "Delete an account.") { name };
        remove.SetAction((p, ct) => Run(p, new JsonObject { ["cmd"] = "remove", ["user"] = p.GetValue(name) }));

        var passwd = new Command("passwd", "Set an account's password (from the prompt, standard input or the command line).") { name, optionalPassword, passwordStdin };
        passwd.SetAction((p, ct) => WithPassword(p, optionalPassword, passwordStdin, pw => Run(p, new JsonObject { ["cmd"] = "passwd", ["user"] = p.GetValue(name), ["password"] = pw })));

        var list = new Command("list", "List the accounts.") { json };
        list.SetAction((p, ct) => Run(p, new JsonObject { ["cmd"] = "list" }, p.GetValue(json)));

        var count = new Argument<int>("count") { Description = "How many accounts" };
        var prefix = new Argument<string>("prefix") { Description = "User names are PREFIX{START}..PREFIX{START+COUNT-1}" };
        var start = new Argument<int>("start") { Description = "First number", DefaultValueFactory = _ => 0 };
        var bulk = new Command("bulk", "Create many accounts with one password (load tests).") { count, prefix, password, start };
        bulk.SetAction((p, ct) => Run(p, new JsonObject
        {
            ["cmd"] = "bulk", ["count"] = p.GetValue(count), ["prefix"] = p.GetValue(prefix),
            ["password"] = p.GetValue(password), ["start"] = p.GetValue(start),
        }));

        user.Subcommands.Add(add);
        user.Subcommands.Add(remove);
        user.Subcommands.Add(passwd);
        user.Subcommands.Add(list);
        user.Subcommands.Add(bulk);
        return user;
    }

    /// <summary>The password of add/passwd: the argument, or the first line of standard input (--password-stdin), or
    /// typed at a prompt (not echoed, asked twice) when standard input is a terminal.</summary>
    private static async Task<int> WithPassword(ParseResult parse, Argument<string?> argument, Option<bool> fromStdin, Func<string, Task<int>> run)
    {
        var given = parse.GetValue(argument);
        string? password;
        if (parse.GetValue(fromStdin))
        {
            if (given is not null)
            {
                await Console.Error.WriteLineAsync("error: a password argument and --password-stdin: give one of them");
                return 2;
            }
            password = (await Console.In.ReadLineAsync())?.TrimEnd('\r');
        }
        else if (given is not null)
        {
            password = given;
        }
        else if (!Console.IsInputRedirected)
        {
            password = Prompt("Password: ");
            if (password != Prompt("Password again: "))
            {
                await Console.Error.WriteLineAsync("error: the passwords differ");
                return 1;
            }
        }
        else
        {
            await Console.Error.WriteLineAsync("error: no password: pass --password-stdin to read it from standard input");
            return 2;
        }
        if (string.IsNullOrEmpty(password))
        {
            await Console.Error.WriteLineAsync("error: the password is empty");
            return 2;
        }
        return await run(password);
    }

    private static string Prompt(string label)
    {
        Console.Error.Write(label);
        var text = new StringBuilder();
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter) break;
            if (key.Key == ConsoleKey.Backspace)
            {
                if (text.Length > 0) text.Length--;
            }
            else if (key.KeyChar != '\0')
            {
                text.Append(key.KeyChar);
            }
        }
        Console.Error.WriteLine();
        return text.ToString();
    }

    private static async Task<int> Run(ParseResult parse, JsonObject request, bool json = false)
    {
        var configuration = ServerRunner.CreateBuilder(ConfigOverrides.For(parse)).Configuration;
        var options = new XmppServerOptions();
        configuration.GetSection(XmppServerOptions.Section).Bind(options);
        JsonObject response;
        try
        {
            response = await ThroughRunningServer(options.DataDir, request)
                       ?? await Offline(configuration, options, request);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidOperationException or IOException)
        {
            await Console.Error.WriteLineAsync("error: " + ex.Message);
            return 1;
        }
        if ((bool?)response["ok"] != true)
        {
            await Console.Error.WriteLineAsync("error: " + (string?)response["error"]);
            return 1;
        }
        if (json && response["users"] is JsonArray listed)
            Console.WriteLine(listed.ToJsonString());
        else if (response["users"] is JsonArray users)
            foreach (var u in users) Console.WriteLine((string?)u);
        else if (response["message"] is { } message)
            Console.WriteLine((string?)message);
        return 0;
    }

    /// <summary>No server runs: a minimal actor system with the server's persistence configuration edits the journal.</summary>
    private static async Task<JsonObject> Offline(IConfiguration configuration, XmppServerOptions options, JsonObject request)
    {
        var persistence = new XmppPersistenceOptions();
        configuration.GetSection(XmppPersistenceOptions.Section).Bind(persistence);
        var system = PersistenceActorSystem.Create("actors-cli", persistence, options.DataDir);
        try
        {
            var store = new JournalAccountStore(system, options.AllDomains(), options.Auth.ScramIterations, persistence.SnapshotEvery);
            await store.WaitReadyAsync();
            await store.MigrateAccountFileAsync(options.DataDir);
            // the user actors, so that a removal cancels the contacts' subscriptions and deletes the account's journal
            // as in a running server (nobody is connected here)
            var users = new LocalUserDirectory();
            var router = new StanzaRouter(options.AllDomains(), new LocalSessionRegistry(), store, new IqHandlers(),
                NullLogger<StanzaRouter>.Instance, users);
            var settings = new UserActor.Settings(Math.Max(1, options.Users.SnapshotEvery));
            users.Attach(system.ActorOf(UsersActor.Props(u => UserActor.Props(u, router, settings)), "users"));
            var lifecycle = new AccountLifecycle(store, users);
            // and the plugin stores, so that a removal purges what plugins kept for the account (loaded or not)
            var stores = Actors.Xmpp.Server.PluginStores.PluginStores.Of(system).Configure(new(Math.Max(1, options.Users.SnapshotEvery)))
                .UseLegacySource(new Actors.Xmpp.Server.PluginStores.LegacyUserData(users, options.AllDomains()));
            lifecycle.UsePluginData(stores.PurgeOwnerAsync);
            return await new AccountCommands(lifecycle, options.AllDomains()[0]).ExecuteAsync(request);
        }
        finally
        {
            await system.Terminate();
        }
    }

    /// <summary>Null when no server listens on the admin socket of this data folder.</summary>
    internal static async Task<JsonObject?> ThroughRunningServer(string dataDir, JsonObject request)
    {
        var path = AdminChannel.SocketPath(dataDir);
        if (!File.Exists(path)) return null;
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path));
                break;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.TryAgain or SocketError.WouldBlock && attempt < 25)
            {
                // a full listen backlog (a busy server: a Unix socket refuses rather than queues): try again shortly
                socket.Dispose();
                socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await Task.Delay(200);
            }
            catch (SocketException)
            {
                socket.Dispose();
                return null; // a stale socket file: the server is not running
            }
        }
        using var owned = socket;
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var bytes = Encoding.UTF8.GetBytes(request.ToJsonString() + "\n");
        await stream.WriteAsync(bytes);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var line = await reader.ReadLineAsync() ?? throw new IOException("the server closed the admin connection");
        return JsonNode.Parse(line)!.AsObject();
    }
}
