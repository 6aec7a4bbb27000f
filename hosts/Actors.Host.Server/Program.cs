using System.CommandLine;
using Actors.Host.Server;

// actors-server [run] [--set Key=value ...]       run the server (configuration: appsettings.json, XMPP env, overrides;
//                                                 --Xmpp:Key=value is accepted too)
// actors-server user add|remove|passwd|list|bulk  operator commands (through the running server if there is one)
// actors-server events list|dump|rebuild|verify   read the event journal (read-only; server running or not)
// actors-server plugin list|load|unload|reload     plugin commands (through the running server)
// actors-server plugin commands|command P C a=b   plugins' admin commands (through the running server)
// actors-server cert reload|list [--json]            the running server's certificates (reload: a certbot deploy hook)
// actors-server check                               configuration, certificates, database (exit 1 on errors)
// actors-server health|stats [--json]               the running server's readiness (exit 1 when not ready), numbers
// actors-server session list [--json]|kick JID      the running server's client sessions
// actors-server backup FILE | restore FILE          the SQLite journal (online backup; restore with the server stopped)
// actors-server cluster status|leave NODE            the running node's cluster (members, sessions, entities)
// actors-server --version                          the version (from git tags, MinVer)
// Unknown commands and options are errors.
var root = new RootCommand("Actors XMPP server. Without a command it runs the server; configuration overrides: --set Xmpp:Domain=example.org (or --Xmpp:Domain=example.org).")
{
    ConfigOverrides.Set,
};
root.SetAction((parse, ct) => ServerRunner.RunAsync(ConfigOverrides.For(parse), ct));
// `actors-server run`: the same as no command, spelled out (the .NET tool's and the systemd unit's form)
var run = new Command("run", "Run the server (the same as no command).");
run.SetAction((parse, ct) => ServerRunner.RunAsync(ConfigOverrides.For(parse), ct));
root.Subcommands.Add(run);
root.Subcommands.Add(UserCommands.Create());
root.Subcommands.Add(EventCommands.Create());
root.Subcommands.Add(PluginCommands.Create());
root.Subcommands.Add(CertCommands.Create());
root.Subcommands.Add(CheckCommand.Create());
foreach (var command in OperationsCommands.Create()) root.Subcommands.Add(command);
foreach (var command in BackupCommands.Create()) root.Subcommands.Add(command);
foreach (var command in PortabilityCommands.Create()) root.Subcommands.Add(command);
root.Subcommands.Add(ClusterCommands.Create());
return await root.Parse(ConfigOverrides.Extract(args)).InvokeAsync();
