using System.ComponentModel.DataAnnotations;
using System.Reflection;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Version;

/// <summary>XEP-0092: the server's software name and version.</summary>
[Xep(92, "1.1")]
public sealed class VersionPlugin : IXmppPlugin
{
    public const string Ns = "jabber:iq:version";

    public PluginDescriptor Descriptor { get; } = new("version", "1.0.0");

    public sealed class Options
    {
        [Required, StringLength(100)]
        public string Name { get; set; } = "Actors";
        /// <summary>Default: the server's own version.</summary>
        [StringLength(100, MinimumLength = 1)]
        public string? Version { get; set; }
        public bool ShowOs { get; set; }
    }

    public void Configure(IPluginContext ctx)
    {
        var o = ctx.Options<Options>();
        var version = o.Version ?? ServerVersion();
        ctx.AddFeature(Ns);
        ctx.HandleIq("get", IqScope.Server, Ns, "query", r =>
        {
            var query = new Element("query", Ns, new Element("name", Ns, o.Name), new Element("version", Ns, version));
            if (o.ShowOs) query.Add(new Element("os", Ns, System.Runtime.InteropServices.RuntimeInformation.OSDescription));
            return r.Ok(query);
        });
    }

    private static string ServerVersion()
    {
        var v = Assembly.GetEntryAssembly()?.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";
        var plus = v.IndexOf('+');
        return plus > 0 ? v[..plus] : v;
    }
}
