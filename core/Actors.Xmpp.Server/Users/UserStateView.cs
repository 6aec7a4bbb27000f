using Actors.Xmpp.Persistence;
using Actors.Xmpp.Persistence.Replay;

namespace Actors.Xmpp.Server.Users;

/// <summary>
/// "events rebuild user:&lt;jid&gt; [--at TIME]": the account's roster (RFC 6121 §2: items with name, groups,
/// subscription, ask, pre-approval; the roster version) and its pending inbound subscription requests (§3.1.3) as
/// of the last event replayed, folded with the user actor's own <see cref="UserState"/>. What plugins keep for the
/// account has views of its own (plugin-store:...).
/// </summary>
public sealed class UserStateView : IJournalStateView
{
    public bool Handles(string persistenceId) => persistenceId.StartsWith("user:", StringComparison.Ordinal);

    public object Empty(string persistenceId) => new UserState();

    public object Apply(object state, object @event)
    {
        var user = (UserState)state;
        if (@event is IPersistentEvent e) user.Apply(e);
        return user;
    }

    public void Print(object state, TextWriter output)
    {
        var user = (UserState)state;
        var items = user.Roster.OrderBy(i => i.Jid, StringComparer.Ordinal).ToList();
        output.WriteLine($"roster version {user.RosterVersion}, {items.Count} item(s)");
        foreach (var i in items)
        {
            var flags = (i.Ask ? " ask=subscribe" : "") + (i.Approved ? " approved" : "");
            var name = i.Name is null ? "" : $" \"{i.Name}\"";
            var groups = i.Groups.Length == 0 ? "" : " [" + string.Join(", ", i.Groups) + "]";
            output.WriteLine($"  {i.Jid}{name}  subscription={i.Subscription}{flags}{groups}");
        }
        var pending = user.PendingIn.Keys.Order(StringComparer.Ordinal).ToList();
        output.WriteLine($"{pending.Count} pending subscription request(s)");
        foreach (var from in pending) output.WriteLine($"  from {from}");
        // XEP-0160 is the offline plugin's (events rebuild plugin-store:offline/archive/messages:<jid>); these are
        // release 1's, until that plugin takes them over
        if (user.Offline.Count > 0) output.WriteLine($"{user.Offline.Count} offline message(s) of release 1 not yet taken over by the offline plugin");
    }
}
