using Actors.Xmpp.Plugins;
using Actors.Xmpp.Server.Iq;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Server.Users;

/// <summary>
/// The IQs answered by the account's <see cref="UserActor"/>: roster (RFC 6121 §2). XEP-0049, XEP-0054, XEP-0012 and
/// XEP-0191 and XEP-0160 are the 'private', 'vcard', 'last', 'blocking' and 'offline' plugins.
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
        ];
    }
}
