using Actors.Xmpp;
using Actors.Xmpp.PluginHost.Boundary;
using Actors.Xmpp.PluginHost.Commands;
using Actors.Xmpp.Plugins;
using Microsoft.Extensions.Logging.Abstractions;

namespace Actors.Plugins.Tests;

/// <summary>The host's side of admin commands and of the boundary, without a server.</summary>
public sealed class AdminCommandRegistrySpec
{
    private static readonly Func<CommandInput, CancellationToken, Task<CommandResult>> Ok = (_, _) => Task.FromResult(CommandResult.Done("ok"));

    [Theory]
    [InlineData("Show", "command name 'Show' of plugin 'p': use lower-case letters, digits and '-'")]
    [InlineData("show all", "command name 'show all' of plugin 'p': use lower-case letters, digits and '-'")]
    [InlineData("", "command name '' of plugin 'p': use lower-case letters, digits and '-'")]
    public void A_command_name_that_is_not_a_word_is_refused(string name, string message)
    {
        var registry = new AdminCommandRegistry(NullLogger.Instance);
        Assert.Equal(message, Assert.Throws<ArgumentException>(() => registry.Add("p", new AdminCommand(name, "d", Ok))).Message);
    }

    [Fact]
    public void Duplicate_commands_arguments_and_choices_without_choices_are_refused()
    {
        var registry = new AdminCommandRegistry(NullLogger.Instance);
        registry.Add("p", new AdminCommand("show", "d", Ok));
        Assert.Equal("plugin 'p' has a command 'show' already",
            Assert.Throws<InvalidOperationException>(() => registry.Add("p", new AdminCommand("show", "d", Ok))).Message);
        Assert.Equal("command 'twice' has two arguments named 'a'", Assert.Throws<ArgumentException>(() => registry.Add("p",
            new AdminCommand("twice", "d", Ok) { Arguments = [new("a", ArgumentKind.Text, "x"), new("a", ArgumentKind.Integer, "y")] })).Message);
        Assert.Equal("argument 'c' of command 'pick' is a choice without choices", Assert.Throws<ArgumentException>(() => registry.Add("p",
            new AdminCommand("pick", "d", Ok) { Arguments = [new("c", ArgumentKind.Choice, "x")] })).Message);
        Assert.Equal("the XEP-0050 node urn:actors:command:p:show belongs to 'p show' already", Assert.Throws<InvalidOperationException>(() =>
            registry.Add("q", new AdminCommand("other", "d", Ok) { AdHocNode = "urn:actors:command:p:show" })).Message);
    }

    [Fact]
    public async Task An_operator_command_is_refused_to_a_JID_and_removal_takes_it_away()
    {
        var registry = new AdminCommandRegistry(NullLogger.Instance);
        var registration = registry.Add("p", new AdminCommand("show", "d", Ok));
        var none = new Dictionary<string, IReadOnlyList<string>>();
        var asAdmin = await registry.ExecuteAsync("p", "show", none, new CommandCaller(Jid.Parse("admin@localhost/x")));
        Assert.Equal(CommandRefusal.Forbidden, asAdmin.Refusal);
        Assert.Equal("ok", (await registry.ExecuteAsync("p", "show", none, CommandCaller.Operator)).Result!.Text);
        registration.Dispose();
        Assert.Empty(registry.List());
        Assert.Equal(CommandRefusal.NotFound, (await registry.ExecuteAsync("p", "show", none, CommandCaller.Operator)).Refusal);
    }

    [Fact]
    public void The_host_copies_collections_a_plugin_made_into_plain_arrays()
    {
        // a collection expression typed IReadOnlyList<T> compiles to a type of the assembly that wrote it
        IReadOnlyList<PluginDependency> made = [PluginDependency.Hard("disco"), PluginDependency.Soft("caps")];
        Assert.NotEqual(typeof(PluginDependency[]), made.GetType());
        var descriptor = BoundaryCopy.Descriptor(new PluginDescriptor("x", "1", made));
        Assert.Equal(typeof(PluginDependency[]), descriptor.Dependencies!.GetType());
        Assert.Equal(made, descriptor.DependsOn);
        var info = BoundaryCopy.Info(new DiscoInfo([new DiscoIdentity("a", "b")], ["f1", "f2"], []))!;
        Assert.Equal(typeof(DiscoIdentity[]), info.Identities.GetType());
        Assert.Equal(typeof(string[]), info.Features.GetType());
        var command = BoundaryCopy.Command(new AdminCommand("c", "d", Ok) { Arguments = [new("a", ArgumentKind.Choice, "x") { Choices = ["1", "2"] }] });
        Assert.Equal(typeof(CommandArgument[]), command.Arguments.GetType());
        Assert.Equal(typeof(string[]), command.Arguments[0].Choices!.GetType());
    }
}
