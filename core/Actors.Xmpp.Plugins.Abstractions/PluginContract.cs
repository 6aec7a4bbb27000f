namespace Actors.Xmpp.Plugins;

/// <summary>The version of this contract. A plugin records the value it was compiled against (a const is inlined
/// into the plugin's own assembly through <see cref="PluginDescriptor"/>'s default), and the host refuses plugins
/// built against another one.</summary>
public static class PluginContract
{
    public const int Version = 2;
}

/// <summary>An XEP a plugin implements, in ejabberd's <c>-protocol({xep, 199, '2.0.1'})</c> style.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class XepAttribute(int number, string version) : Attribute
{
    public int Number { get; } = number;
    public string Version { get; } = version;
    public string Status { get; init; } = "complete";
    public override string ToString() => $"XEP-{Number:D4} {Version}";
}

/// <summary>Another plugin this one needs: a hard dependency must be loaded first (or this one does not load); a
/// soft (optional) one is loaded first when present.</summary>
public sealed record PluginDependency(string Id, bool Optional = false)
{
    public static PluginDependency Hard(string id) => new(id);
    public static PluginDependency Soft(string id) => new(id, true);
}

/// <summary>What a plugin is: a stable id (also its folder name and its options section Xmpp:Plugins:&lt;id&gt;),
/// a version and what it depends on. <paramref name="ContractVersion"/> defaults to the contract the plugin is
/// compiled against; do not set it by hand.</summary>
public sealed record PluginDescriptor(string Id, string Version, IReadOnlyList<PluginDependency>? Dependencies = null,
    int ContractVersion = PluginContract.Version)
{
    public IReadOnlyList<PluginDependency> DependsOn => Dependencies ?? [];

    /// <summary>The configuration section <see cref="IPluginContext.Options{T}"/> binds, when not Xmpp:Plugins:&lt;id&gt;:
    /// a feature moved out of the core keeps the keys operators already set (the register plugin reads
    /// Xmpp:Registration).</summary>
    public string? OptionsSection { get; init; }
}

/// <summary>
/// A plugin: one sealed class with a parameterless constructor per plugin assembly. <see cref="Configure"/> only
/// registers things on the context; the host records every registration and undoes it on unload, so a plugin
/// writes no teardown code. The host calls it on its own thread, never an actor's: it may wait, bounded, for the
/// stored state its synchronous hooks decide from (the MAM plugin's archiving preferences), so that none of them
/// runs before that state is read. Plugins must not define actor classes nor send their own types through Akka.
/// </summary>
public interface IXmppPlugin
{
    PluginDescriptor Descriptor { get; }

    void Configure(IPluginContext ctx);

    /// <summary>State to hand to the next version on reload (Prosody's module.save): bytes only.</summary>
    byte[]? SaveState() => null;

    /// <summary>The state the previous version saved (Prosody's module.restore); called after <see cref="Configure"/>.</summary>
    void RestoreState(byte[] state) { }
}
