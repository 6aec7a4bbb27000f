using Actors.Xmpp.Plugins;
using Actors.Xmpp.Server.Users;

namespace Actors.Xmpp.PluginHost;

/// <summary><see cref="IRosters"/> through the user directory (an ask of the account's user actor).</summary>
internal sealed class RosterService(Func<IUserDirectory?> users) : IRosters
{
    private IUserDirectory Users => users() ?? throw new InvalidOperationException("the server has no user actors");

    public async Task<string> SubscriptionAsync(Jid user, Jid contact) =>
        (await Users.Ask<UserActor.SubscriptionOf>(user.Bare, new UserActor.GetSubscription(contact.Bare), UserIqHandlers.Timeout)
            .ConfigureAwait(false)).Subscription;

    public async Task<LastUnavailable?> LastUnavailableAsync(Jid user)
    {
        var last = await Users.Ask<UserActor.LastUnavailable>(user.Bare, UserActor.GetLastUnavailable.Instance, UserIqHandlers.Timeout)
            .ConfigureAwait(false);
        return last.At is { } at ? new LastUnavailable(at, last.Status) : null;
    }
}
