using Actors.Xmpp.Plugins;
using Actors.Xmpp.Server.Users;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.PluginHost;

/// <summary><see cref="IRosters"/> through the user directory (an ask of the account's user actor).</summary>
internal sealed class RosterService(Func<IUserDirectory?> users) : IRosters
{
    private IUserDirectory Users => users() ?? throw new InvalidOperationException("the server has no user actors");

    public async Task<string> SubscriptionAsync(Jid user, Jid contact) =>
        (await Users.Ask<UserActor.SubscriptionOf>(user.Bare, new UserActor.GetSubscription(contact.Bare), UserIqHandlers.Timeout)
            .ConfigureAwait(false)).Subscription;

    public async Task<IReadOnlyList<string>> GroupsAsync(Jid user, Jid contact) =>
        (await Users.Ask<UserActor.SubscriptionOf>(user.Bare, new UserActor.GetSubscription(contact.Bare), UserIqHandlers.Timeout)
            .ConfigureAwait(false)).Groups;

    public async Task<IReadOnlyList<Jid>> ContactsAsync(Jid user) =>
        (await Users.Ask<UserActor.Contacts>(user.Bare, UserActor.GetContacts.Instance, UserIqHandlers.Timeout).ConfigureAwait(false)).Jids;

    public void SendSubscription(Jid user, Jid contact, string type)
    {
        if (type is not ("subscribe" or "subscribed" or "unsubscribe" or "unsubscribed"))
            throw new ArgumentException($"not a subscription presence type: {type}", nameof(type));
        var presence = new Element("presence", Ns.Client).SetAttr("type", type).SetAttr("from", user.Bare.ToString()).SetAttr("to", contact.Bare.ToString());
        Users.Tell(user.Bare, new UserActor.OutboundSubscription(presence, contact.Bare)); // as SessionActor does for its client
    }

    public async Task<LastUnavailable?> LastUnavailableAsync(Jid user)
    {
        var last = await Users.Ask<UserActor.LastUnavailable>(user.Bare, UserActor.GetLastUnavailable.Instance, UserIqHandlers.Timeout)
            .ConfigureAwait(false);
        return last.At is { } at ? new LastUnavailable(at, last.Status) : null;
    }
}
