using System.CommandLine;
using Actors.Host.Server;

// actors-server [--Xmpp:Key=value ...]            run the server (configuration: appsettings.json, XMPP env, overrides)
// actors-server user add|remove|passwd|list|bulk  operator commands (through the running server if there is one)
// actors-server events list|dump|rebuild|verify   read the event journal (read-only; server running or not)
// actors-server plugin list|load|unload|reload     plugin commands (through the running server)
// actors-server plugin commands|command P C a=b   plugins' admin commands (through the running server)
var root = new RootCommand("Actors XMPP server. Without a command it runs the server; configuration overrides look like --Xmpp:Domain=example.org.")
{
    TreatUnmatchedTokensAsErrors = false,
};
root.SetAction((parse, ct) => ServerRunner.RunAsync(parse.UnmatchedTokens.ToArray(), ct));
root.Subcommands.Add(UserCommands.Create());
root.Subcommands.Add(EventCommands.Create());
root.Subcommands.Add(PluginCommands.Create());
return await root.Parse(args).InvokeAsync();
