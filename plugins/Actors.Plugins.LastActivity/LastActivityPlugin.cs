using System.Diagnostics;
using System.Globalization;
using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.LastActivity;

/// <summary>
/// XEP-0012 last activity. To the server (§5): its uptime. To an account's bare JID (§4): how long ago the account
/// logged out (its last available resource went unavailable) and the status it gave, shown only to the account
/// itself and to contacts subscribed to its presence ("from" or "both"); 0 while it has an available resource. The
/// time and status are the account's last unavailable presence, which the server keeps anyway to answer presence
/// probes (RFC 6121 §4.3.2): the plugin reads it through <see cref="IRosters"/> and stores nothing of its own.
/// </summary>
[Xep(12, "2.0")]
public sealed class LastActivityPlugin : IXmppPlugin
{
    public const string Ns = "jabber:iq:last";

    public PluginDescriptor Descriptor { get; } = new("last", "1.1.0");

    public void Configure(IPluginContext ctx)
    {
        var started = Process.GetCurrentProcess().StartTime.ToUniversalTime();
        var rosters = ctx.Require<IRosters>();
        var sessions = ctx.Require<ISessions>();
        ctx.AddFeature(Ns, IqScope.Both);
        ctx.HandleIq("get", IqScope.Server, Ns, "query", r => r.Ok(Seconds(DateTime.UtcNow - started)));
        ctx.HandleIq("get", IqScope.Account, Ns, "query", async r =>
        {
            var account = r.To.Bare;
            // §4: "the user's server MUST NOT reveal ... unless the requesting entity is authorized to view the user's
            // presence": a subscription from the account's side
            if (!r.From.Bare.Equals(account)
                && await rosters.SubscriptionAsync(account, r.From.Bare) is not ("from" or "both"))
                return r.Error("forbidden", "last activity is shown to subscribers only (XEP-0012 §4)");
            foreach (var s in sessions.Resources(account))
                if (s.Available) return r.Result(Seconds(TimeSpan.Zero)); // online: idle time is not the server's to tell
            if (await rosters.LastUnavailableAsync(account) is not { } last)
                return r.Error("item-not-found", "the account has not logged out yet");
            var query = Seconds(DateTimeOffset.UtcNow - last.At);
            if (last.Status is { } status) query.AddText(status);
            return r.Result(query);
        });
    }

    private static Element Seconds(TimeSpan elapsed) => new Element("query", Ns)
        .SetAttr("seconds", Math.Max(0, (long)elapsed.TotalSeconds).ToString(CultureInfo.InvariantCulture));
}
