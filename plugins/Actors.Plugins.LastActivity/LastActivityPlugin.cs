using System.Diagnostics;
using System.Globalization;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.LastActivity;

/// <summary>XEP-0012 last activity: the server's uptime (§5). Accounts' idle times need rosters (presence
/// subscriptions authorize the query, §4) and arrive with them.</summary>
[Xep(12, "2.0", Status = "partial")]
public sealed class LastActivityPlugin : IXmppPlugin
{
    public const string Ns = "jabber:iq:last";

    public PluginDescriptor Descriptor { get; } = new("last", "1.0.0");

    public void Configure(IPluginContext ctx)
    {
        var started = Process.GetCurrentProcess().StartTime.ToUniversalTime();
        ctx.AddFeature(Ns);
        ctx.HandleIq("get", IqScope.Server, Ns, "query", r => r.Ok(new Element("query", Ns)
            .SetAttr("seconds", ((long)(DateTime.UtcNow - started).TotalSeconds).ToString(CultureInfo.InvariantCulture))));
    }
}
