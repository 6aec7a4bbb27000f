using Microsoft.Extensions.Configuration;

namespace Actors.Xmpp.PluginHost.Options;

/// <summary>
/// Configuration keys of release 1 that a plugin took over with its feature: each still works, as a default for the
/// plugin's own key under Xmpp:Plugins:&lt;id&gt; (which wins when both are set). The one place that knows them.
/// </summary>
internal static class LegacyOptionKeys
{
    /// <summary>(plugin id, option name, the key of release 1).</summary>
    private static readonly (string Plugin, string Option, string Key)[] Keys =
    [
        ("offline", "MaxMessages", "Xmpp:Offline:MaxMessages"), // XEP-0160 was the user actor's
    ];

    /// <summary>The plugin's options section, with the values of release 1's keys underneath its own.</summary>
    public static IConfigurationSection Section(IConfiguration configuration, string pluginId)
    {
        var path = $"Xmpp:Plugins:{pluginId}";
        Dictionary<string, string?>? legacy = null;
        foreach (var (plugin, option, key) in Keys)
            if (plugin == pluginId && configuration[key] is { } value) (legacy ??= new())[path + ":" + option] = value;
        if (legacy is null) return configuration.GetSection(path);
        var layered = new ConfigurationBuilder().AddInMemoryCollection(legacy).AddConfiguration(configuration).Build();
        return layered.GetSection(path);
    }
}
