using Actors.Xmpp.Plugins;
using Actors.Xmpp.Server.Iq;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Server.Users;

/// <summary>
/// The IQs answered by the account's <see cref="UserActor"/>: roster (RFC 6121 §2), XEP-0191 blocking and XEP-0012
/// last activity to an account (the server's uptime is the 'last' plugin). XEP-0049 and XEP-0054 are the 'private'
/// and 'vcard' plugins.
/// </summary>
public static class UserIqHandlers
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    public static IReadOnlyList<IDisposable> Register(IqHandlers iq, IUserDirectory users)
    {
        IqHandler toUser = r => new ValueTask<Element>(users.Ask<Element>(r.To, new UserActor.HandleIq(r.Iq, r.From), Timeout));
        return
        [
            iq.Register("get", IqScope.Account, Ns.Roster, "query", toUser),
            iq.Register("set", IqScope.Account, Ns.Roster, "query", toUser),

            iq.AddFeature(IqScope.Both, UserActor.BlockingNs),
            iq.Register("get", IqScope.Account, UserActor.BlockingNs, "blocklist", toUser),
            iq.Register("set", IqScope.Account, UserActor.BlockingNs, "block", toUser),
            iq.Register("set", IqScope.Account, UserActor.BlockingNs, "unblock", toUser),

            // XEP-0012 to an account (idle time since logout); to the server (uptime) it is the 'last' plugin
            iq.AddFeature(IqScope.Account, UserActor.LastNs),
            iq.Register("get", IqScope.Account, UserActor.LastNs, "query", toUser),

            iq.AddFeature(IqScope.Server, "msgoffline"), // XEP-0160 §5
        ];
    }
}
