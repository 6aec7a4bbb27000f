namespace Actors.Xmpp.Plugins;

// Admin commands a plugin contributes (IPluginContext.AddCommand). Registered once, offered by the host in three
// places: the CLI (`actors-server plugin command <plugin> <command> name=value ...`), the admin socket
// ({"cmd":"plugin-command",...}) and, for commands open to administrators, XEP-0050 ad-hoc commands (published by
// the admin plugin: arguments become an XEP-0004 form, results a form or a note). Unloading the plugin removes them.

/// <summary>Who may run an admin command.</summary>
public enum CommandAccess
{
    /// <summary>Only the operator: the CLI and the admin socket (whoever may open data/admin.sock, mode 0600).</summary>
    Operator,
    /// <summary>The operator and the server's administrators (the admin plugin's Admins) over XEP-0050.</summary>
    Admin,
}

/// <summary>The type of an argument (and of a result field), with its XEP-0004 field type.</summary>
public enum ArgumentKind
{
    /// <summary>One line of text (text-single).</summary>
    Text,
    /// <summary>A secret such as a password (text-private).</summary>
    Secret,
    /// <summary>Several lines of text (text-multi); the value is the lines joined with '\n'.</summary>
    Lines,
    /// <summary>A whole number (text-single with an XEP-0122 xs:integer datatype).</summary>
    Integer,
    /// <summary>true or false (boolean; "1"/"0" accepted as XEP-0004 §3.3 says).</summary>
    Boolean,
    /// <summary>A JID (jid-single).</summary>
    Jid,
    /// <summary>Any number of JIDs (jid-multi).</summary>
    Jids,
    /// <summary>One of <see cref="CommandArgument.Choices"/> (list-single).</summary>
    Choice,
}

/// <summary>One typed argument of an admin command.</summary>
/// <param name="Name">Lower-case letters, digits, '-' and '_' (the CLI's name=value, the socket's key, the form's var).</param>
public sealed record CommandArgument(string Name, ArgumentKind Kind, string Description)
{
    public bool Required { get; init; }
    /// <summary>Used when the caller gives no value (in the form as the field's default value).</summary>
    public string? Default { get; init; }
    /// <summary>The allowed values of a <see cref="ArgumentKind.Choice"/>.</summary>
    public IReadOnlyList<string>? Choices { get; init; }
}

/// <summary>An admin command. <see cref="Execute"/> gets the arguments already checked and converted by the host.</summary>
/// <param name="Name">Lower-case letters, digits and '-', unique within the plugin.</param>
public sealed record AdminCommand(string Name, string Description, Func<CommandInput, CancellationToken, Task<CommandResult>> Execute)
{
    public IReadOnlyList<CommandArgument> Arguments { get; init; } = [];
    public CommandAccess Access { get; init; } = CommandAccess.Operator;
    /// <summary>The XEP-0050 node (default urn:actors:command:&lt;plugin&gt;:&lt;name&gt;): set it when the command
    /// is one a specification names, such as XEP-0133's http://jabber.org/protocol/admin#announce.</summary>
    public string? AdHocNode { get; init; }
    /// <summary>A FORM_TYPE for the XEP-0050 form (XEP-0068), e.g. http://jabber.org/protocol/admin.</summary>
    public string? FormType { get; init; }
}

/// <summary>Who runs a command: the operator (CLI, admin socket) or an administrator's JID (XEP-0050).</summary>
public sealed record CommandCaller(Jid? Jid)
{
    public static readonly CommandCaller Operator = new((Jid?)null);
    public bool IsOperator => Jid is null;
    public override string ToString() => Jid?.ToString() ?? "operator";
}

/// <summary>The checked arguments of one run (absent optional arguments have no value).</summary>
public sealed class CommandInput(CommandCaller caller, IReadOnlyDictionary<string, object> values)
{
    public CommandCaller Caller { get; } = caller;

    public bool Has(string name) => values.ContainsKey(name);
    public string? Text(string name) => values.TryGetValue(name, out var v) ? (string)v : null;
    public long? Integer(string name) => values.TryGetValue(name, out var v) ? (long)v : null;
    public bool? Boolean(string name) => values.TryGetValue(name, out var v) ? (bool)v : null;
    public Jid? Address(string name) => values.TryGetValue(name, out var v) ? (Jid)v : null;
    public IReadOnlyList<Jid> Addresses(string name) => values.TryGetValue(name, out var v) ? (Jid[])v : [];
}

/// <summary>One named value (or several) of a structured result: a JSON property on the socket, a line in the CLI,
/// a field of an XEP-0004 result form.</summary>
public sealed record ResultField(string Name, ArgumentKind Kind, IReadOnlyList<string> Values)
{
    public string? Label { get; init; }
    public static ResultField Of(string name, string value, string? label = null) => new(name, ArgumentKind.Text, [value]) { Label = label };
}

/// <summary>What a command answers: a text, structured fields, or both; or a failure with its reason.</summary>
public sealed record CommandResult(bool Ok, string? Text, IReadOnlyList<ResultField>? Fields = null)
{
    public static CommandResult Done(string text) => new(true, text);
    public static CommandResult Data(IReadOnlyList<ResultField> fields, string? text = null) => new(true, text, fields);
    public static CommandResult Failed(string reason) => new(false, reason);
}

/// <summary>A registered command as the host lists it.</summary>
public sealed record RegisteredCommand(string Plugin, AdminCommand Command)
{
    public string AdHocNode => Command.AdHocNode ?? $"urn:actors:command:{Plugin}:{Command.Name}";
}

/// <summary>Why a run did not reach the command.</summary>
public enum CommandRefusal
{
    None,
    /// <summary>No such plugin or command (XEP-0050: item-not-found).</summary>
    NotFound,
    /// <summary>The caller may not run it (XEP-0050: forbidden).</summary>
    Forbidden,
    /// <summary>An argument is missing or malformed (XEP-0050 §4.6: bad-request with bad-payload).</summary>
    BadArguments,
    /// <summary>The command threw or was cancelled (its plugin unloaded) (XEP-0050: internal-server-error).</summary>
    Failed,
}

/// <summary>The outcome of <see cref="IAdminCommands.ExecuteAsync"/>: the command's result, or why it did not run.</summary>
public sealed record CommandOutcome(CommandRefusal Refusal, string? Error, CommandResult? Result)
{
    public bool Ran => Refusal == CommandRefusal.None;
}

/// <summary>Every plugin's admin commands (host-provided): what the XEP-0050 bridge lists and runs.</summary>
public interface IAdminCommands
{
    IReadOnlyList<RegisteredCommand> List();
    /// <summary>Checks the caller and the arguments (name → values; a single-valued argument takes one), converts
    /// them and runs the command.</summary>
    Task<CommandOutcome> ExecuteAsync(string plugin, string command, IReadOnlyDictionary<string, IReadOnlyList<string>> arguments,
        CommandCaller caller, CancellationToken cancellationToken = default);
}
