using System.Text.Json.Nodes;

namespace Actors.Xmpp.Server.Hosting;

/// <summary>
/// The operator's commands on the running server, one JSON request in, one JSON answer out: the accounts'
/// (<see cref="AccountCommands"/>) and every <see cref="IAdminCommandExtension"/>'s (sessions, plugins, certificates,
/// cluster, stats...). The admin socket (the CLI) and the web admin page both go through here, so a command has one
/// implementation whichever way the operator reaches it.
/// </summary>
public sealed class OperatorCommands(AccountCommands accounts, IEnumerable<IAdminCommandExtension> extensions)
{
    private readonly IAdminCommandExtension[] _extensions = extensions.ToArray();

    /// <summary>The answer: {"ok":true,...} or {"ok":false,"error":"..."}. Malformed requests throw
    /// <see cref="FormatException"/> or <see cref="ArgumentException"/>.</summary>
    public async Task<JsonObject> ExecuteAsync(JsonObject request)
    {
        foreach (var e in _extensions)
            if (await e.TryExecuteAsync(request).ConfigureAwait(false) is { } handled) return handled;
        return await accounts.ExecuteAsync(request).ConfigureAwait(false);
    }
}
