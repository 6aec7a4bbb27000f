using System.Collections;
using System.Reflection;
using Actors.Xmpp.Persistence;
using Microsoft.Extensions.Configuration;

namespace Actors.Xmpp.Server.Hosting;

/// <summary>
/// The configuration keys the server reads, found from its options classes (so the list cannot drift from the code):
/// <see cref="XmppServerOptions"/> under "Xmpp", <see cref="XmppPersistenceOptions"/> under "Xmpp:Persistence".
/// "Xmpp:Plugins" (the plugin host and one section per plugin) and other sub-sections of "Xmpp" (a plugin's own
/// options section, like Xmpp:Registration) are the plugins': their options are validated when the plugin loads.
/// </summary>
public static class ConfigurationKeys
{
    private const string PluginsSection = "Plugins";
    private const string PersistenceSection = "Persistence";

    public sealed record Report(IReadOnlyList<string> Unknown, IReadOnlyList<string> PluginSections);

    /// <summary>Keys under "Xmpp" that no server option has (their full paths), and the sub-sections left to plugins.</summary>
    public static Report Check(IConfiguration configuration)
    {
        var unknown = new List<string>();
        var pluginSections = new List<string>();
        foreach (var child in configuration.GetSection(XmppServerOptions.Section).GetChildren())
        {
            if (child.Key.Equals(PluginsSection, StringComparison.OrdinalIgnoreCase)) continue;
            if (child.Key.Equals(PersistenceSection, StringComparison.OrdinalIgnoreCase))
            {
                Walk(child, typeof(XmppPersistenceOptions), unknown);
                continue;
            }
            var property = Find(typeof(XmppServerOptions), child.Key);
            if (property is not null) Walk(child, property.PropertyType, unknown);
            else if (child.GetChildren().Any()) pluginSections.Add(child.Path);
            else unknown.Add(child.Path);
        }
        return new Report(unknown, pluginSections);
    }

    private static PropertyInfo? Find(Type type, string key) =>
        type.GetProperty(key, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);

    private static void Walk(IConfigurationSection section, Type type, List<string> unknown)
    {
        if (IsScalar(type))
        {
            foreach (var c in section.GetChildren()) unknown.Add(c.Path);
            return;
        }
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>)) return; // any key
        if (type.IsArray || (type.IsGenericType && typeof(IEnumerable).IsAssignableFrom(type)))
        {
            var element = type.IsArray ? type.GetElementType()! : type.GetGenericArguments()[0];
            foreach (var c in section.GetChildren())
            {
                if (!int.TryParse(c.Key, out _)) unknown.Add(c.Path);
                else Walk(c, element, unknown);
            }
            return;
        }
        foreach (var c in section.GetChildren())
        {
            var property = Find(type, c.Key);
            if (property is not null) Walk(c, property.PropertyType, unknown);
            else if (type == typeof(XmppServerOptions.ComponentSettings)) ComponentDomain(c, unknown);
            else unknown.Add(c.Path);
        }
    }

    /// <summary>Xmpp:Components:&lt;domain&gt;:Secret (XEP-0114: a section per component domain, read by
    /// <see cref="XmppServerOptions.ReadComponentDomains"/>): only "Secret" is known in it.</summary>
    private static void ComponentDomain(IConfigurationSection domain, List<string> unknown)
    {
        if (domain.Value is not null) unknown.Add(domain.Path);
        foreach (var c in domain.GetChildren())
            if (!c.Key.Equals("Secret", StringComparison.OrdinalIgnoreCase) || c.GetChildren().Any()) unknown.Add(c.Path);
    }

    private static bool IsScalar(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal) || type == typeof(TimeSpan)
               || type == typeof(DateTime) || type == typeof(DateTimeOffset) || type == typeof(Uri) || type == typeof(Guid);
    }
}
