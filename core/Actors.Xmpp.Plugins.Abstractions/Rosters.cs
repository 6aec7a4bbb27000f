namespace Actors.Xmpp.Plugins;

/// <summary>When an account's last available resource went unavailable, and the status it gave (RFC 6121 §4.3.2).</summary>
public sealed record LastUnavailable(DateTimeOffset At, string? Status);

/// <summary>What the server's roster (RFC 6121, kept by the core) tells plugins about an account (host-provided:
/// ctx.Require&lt;IRosters&gt;()). Each call reaches the account's user actor.</summary>
public interface IRosters
{
    /// <summary>The subscription state of <paramref name="contact"/> (a bare JID) in <paramref name="user"/>'s roster:
    /// "none", "to", "from" or "both" (RFC 6121 §2.1.2.5).</summary>
    Task<string> SubscriptionAsync(Jid user, Jid contact);

    /// <summary>The roster groups <paramref name="user"/> put <paramref name="contact"/> (a bare JID) in (RFC 6121
    /// §2.1.2.2); empty when the contact is in no group or not in the roster.</summary>
    Task<IReadOnlyList<string>> GroupsAsync(Jid user, Jid contact);

    /// <summary>The bare JIDs in <paramref name="user"/>'s roster, whatever their subscription (RFC 6121 §2.1.2: every
    /// item, "none" included). <see cref="ServerEventKind.RosterChanged"/> says when it changes.</summary>
    Task<IReadOnlyList<Jid>> ContactsAsync(Jid user);

    /// <summary>The account's last unavailable presence, or null if it never went offline.</summary>
    Task<LastUnavailable?> LastUnavailableAsync(Jid user);

    /// <summary>Sends, as the account <paramref name="user"/>, the subscription presence <paramref name="type"/>
    /// ("subscribe", "subscribed", "unsubscribe" or "unsubscribed") to <paramref name="contact"/> (a bare JID), with the
    /// server's outbound processing of RFC 6121 §3 (roster changes and pushes, §3.4 pre-approval, routing), exactly as
    /// if a client of the account had sent it; handed to the account's user actor, in order with what else is sent
    /// through it. A "subscribed" before the contact's "subscribe" is a pre-approval, so each side pre-approving the
    /// other and then subscribing makes them subscribed both ways (what the XEP-0347 registry does for an owner and
    /// its thing).</summary>
    void SendSubscription(Jid user, Jid contact, string type);
}
