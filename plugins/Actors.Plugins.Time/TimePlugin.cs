using System.Globalization;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Time;

/// <summary>XEP-0202: the server's time (UTC).</summary>
[Xep(202, "2.0")]
public sealed class TimePlugin : IXmppPlugin
{
    public const string Ns = "urn:xmpp:time";

    public PluginDescriptor Descriptor { get; } = new("time", "1.0.0");

    public void Configure(IPluginContext ctx)
    {
        ctx.AddFeature(Ns);
        ctx.HandleIq("get", IqScope.Server, Ns, "time", r => r.Ok(new Element("time", Ns,
            new Element("tzo", Ns, "+00:00"),
            new Element("utc", Ns, DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)))));
    }
}
