using System.Globalization;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.PluginHost.Boundary;
using Microsoft.Extensions.Logging;

namespace Actors.Xmpp.PluginHost.Commands;

/// <summary>
/// Every loaded plugin's admin commands, by (plugin, name). One place checks who may run a command and converts its
/// arguments, for all three entry points (CLI and admin socket through <see cref="AdminCommandChannel"/>, XEP-0050
/// through the admin plugin, which uses this as <see cref="IAdminCommands"/>). Removing a registration (the plugin's
/// ledger on unload) cancels the runs still in progress.
/// </summary>
internal sealed class AdminCommandRegistry(ILogger log) : IAdminCommands
{
    private readonly object _lock = new();
    private readonly Dictionary<(string Plugin, string Name), Entry> _commands = new();
    private RegisteredCommand[] _list = [];

    private sealed class Entry(RegisteredCommand command)
    {
        public RegisteredCommand Command { get; } = command;
        public CancellationTokenSource Removed { get; } = new();
    }

    public IDisposable Add(string plugin, AdminCommand command)
    {
        var copy = BoundaryCopy.Command(command);
        Check(plugin, copy);
        var entry = new Entry(new RegisteredCommand(plugin, copy));
        lock (_lock)
        {
            if (_commands.ContainsKey((plugin, copy.Name)))
                throw new InvalidOperationException($"plugin '{plugin}' has a command '{copy.Name}' already");
            if (_commands.Values.FirstOrDefault(e => e.Command.AdHocNode == entry.Command.AdHocNode) is { } taken)
                throw new InvalidOperationException($"the XEP-0050 node {entry.Command.AdHocNode} belongs to '{taken.Command.Plugin} {taken.Command.Command.Name}' already");
            _commands[(plugin, copy.Name)] = entry;
            _list = Sorted();
        }
        return new PluginContext.Undo(() =>
        {
            lock (_lock)
            {
                if (!_commands.Remove((plugin, copy.Name))) return;
                _list = Sorted();
            }
            entry.Removed.Cancel();
        });
    }

    public IReadOnlyList<RegisteredCommand> List() => Volatile.Read(ref _list);

    public async Task<CommandOutcome> ExecuteAsync(string plugin, string command, IReadOnlyDictionary<string, IReadOnlyList<string>> arguments,
        CommandCaller caller, CancellationToken cancellationToken = default)
    {
        Entry? entry;
        lock (_lock) _commands.TryGetValue((plugin, command), out entry);
        if (entry is null) return new CommandOutcome(CommandRefusal.NotFound, $"no command '{command}' in plugin '{plugin}'", null);
        var c = entry.Command.Command;
        if (!caller.IsOperator && c.Access != CommandAccess.Admin)
            return new CommandOutcome(CommandRefusal.Forbidden, $"'{plugin} {command}' is for the operator only", null);
        var (values, error) = Convert(c, BoundaryCopy.Arguments(arguments));
        if (error is not null) return new CommandOutcome(CommandRefusal.BadArguments, error, null);

        using (var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, entry.Removed.Token))
        {
            try
            {
                var result = await c.Execute(new CommandInput(caller, values!), linked.Token);
                log.LogInformation("admin command {Plugin} {Command} run by {Caller}: {Outcome}", plugin, command, caller, result.Ok ? "done" : "failed");
                return new CommandOutcome(CommandRefusal.None, null, BoundaryCopy.Result(result));
            }
            catch (OperationCanceledException) when (linked.IsCancellationRequested)
            {
                return new CommandOutcome(CommandRefusal.Failed, $"'{plugin} {command}' was cancelled", null);
            }
            catch (Exception ex)
            {
                log.LogError(ex, "admin command {Plugin} {Command} run by {Caller} failed", plugin, command, caller);
                return new CommandOutcome(CommandRefusal.Failed, $"'{plugin} {command}' failed: {ex.Message}", null);
            }
        }
    }

    /// <summary>Checks and converts the given values: unknown names, missing required ones, several values for a
    /// single-valued argument, and values that are not of the argument's kind are refused with the argument's name.</summary>
    internal static (Dictionary<string, object>? Values, string? Error) Convert(AdminCommand command, IReadOnlyDictionary<string, IReadOnlyList<string>> given)
    {
        foreach (var name in given.Keys)
            if (!command.Arguments.Any(a => a.Name == name))
                return (null, $"'{command.Name}' has no argument '{name}' (it takes: {Names(command)})");
        var values = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var a in command.Arguments)
        {
            // empty values are no values (an empty form field); the lines of a text keep their blank lines
            var raw = !given.TryGetValue(a.Name, out var v) ? []
                : a.Kind == ArgumentKind.Lines ? (v.Any(s => s.Length > 0) ? v.ToList() : [])
                : v.Where(s => s.Length > 0).ToList();
            if (raw.Count == 0 && a.Default is not null) raw = [a.Default];
            if (raw.Count == 0)
            {
                if (a.Required) return (null, $"argument '{a.Name}' is required ({a.Description})");
                continue;
            }
            if (raw.Count > 1 && a.Kind is not (ArgumentKind.Jids or ArgumentKind.Lines))
                return (null, $"argument '{a.Name}' takes one value, not {raw.Count}");
            var text = raw[0];
            switch (a.Kind)
            {
                case ArgumentKind.Text or ArgumentKind.Secret:
                    values[a.Name] = text;
                    break;
                case ArgumentKind.Lines:
                    values[a.Name] = string.Join("\n", raw);
                    break;
                case ArgumentKind.Integer:
                    if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number))
                        return (null, $"argument '{a.Name}' must be a whole number, not '{text}'");
                    values[a.Name] = number;
                    break;
                case ArgumentKind.Boolean:
                    // XEP-0004 §3.3: "0"/"false" and "1"/"true"
                    if (text is "1" or "true") values[a.Name] = true;
                    else if (text is "0" or "false") values[a.Name] = false;
                    else return (null, $"argument '{a.Name}' must be true or false (or 1 or 0), not '{text}'");
                    break;
                case ArgumentKind.Jid:
                    if (!Jid.TryParse(text, out var jid) || jid is null) return (null, $"argument '{a.Name}' must be a JID, not '{text}'");
                    values[a.Name] = jid;
                    break;
                case ArgumentKind.Jids:
                {
                    var jids = new Jid[raw.Count];
                    for (var i = 0; i < raw.Count; i++)
                    {
                        if (!Jid.TryParse(raw[i], out var j) || j is null) return (null, $"argument '{a.Name}' must be JIDs, and '{raw[i]}' is not one");
                        jids[i] = j;
                    }
                    values[a.Name] = jids;
                    break;
                }
                case ArgumentKind.Choice:
                    if (a.Choices is null || !a.Choices.Contains(text))
                        return (null, $"argument '{a.Name}' must be one of {string.Join(", ", a.Choices ?? [])}, not '{text}'");
                    values[a.Name] = text;
                    break;
            }
        }
        return (values, null);
    }

    private static string Names(AdminCommand c) => c.Arguments.Count == 0 ? "none" : string.Join(", ", c.Arguments.Select(a => a.Name));

    private static void Check(string plugin, AdminCommand c)
    {
        if (!IsName(c.Name, allowUnderscore: false)) throw new ArgumentException($"command name '{c.Name}' of plugin '{plugin}': use lower-case letters, digits and '-'");
        if (string.IsNullOrWhiteSpace(c.Description)) throw new ArgumentException($"command '{c.Name}' of plugin '{plugin}' needs a description");
        ArgumentNullException.ThrowIfNull(c.Execute);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var a in c.Arguments)
        {
            if (!IsName(a.Name, allowUnderscore: true)) throw new ArgumentException($"argument '{a.Name}' of command '{c.Name}': use lower-case letters, digits, '-' and '_'");
            if (!seen.Add(a.Name)) throw new ArgumentException($"command '{c.Name}' has two arguments named '{a.Name}'");
            if (a.Kind == ArgumentKind.Choice && (a.Choices is null || a.Choices.Count == 0))
                throw new ArgumentException($"argument '{a.Name}' of command '{c.Name}' is a choice without choices");
        }
    }

    private static bool IsName(string? s, bool allowUnderscore)
    {
        if (string.IsNullOrEmpty(s) || !char.IsAsciiLetterLower(s[0])) return false;
        foreach (var ch in s)
            if (!char.IsAsciiLetterLower(ch) && !char.IsAsciiDigit(ch) && ch != '-' && !(allowUnderscore && ch == '_')) return false;
        return true;
    }

    private RegisteredCommand[] Sorted() =>
        _commands.Values.Select(e => e.Command).OrderBy(c => c.Plugin, StringComparer.Ordinal).ThenBy(c => c.Command.Name, StringComparer.Ordinal).ToArray();
}
