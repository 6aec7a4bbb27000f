using Actors.Xmpp.Persistence;

namespace Actors.Xmpp.Server.Users.Events;

// The journal payloads of UserActor (persistence id "user:<bare JID>"). Every record is System.Text.Json-serializable
// (positional records, strings, arrays; stanzas as their XML text) and carries a stable manifest. A change of shape
// that old readers cannot read gets a new manifest (".v2"); the old record stays to read old journals.

/// <summary>A roster item added or changed (RFC 6121 §2.1.2): the whole item after the change, and the roster version it makes.</summary>
/// <param name="Subscription">none, to, from or both.</param>
/// <param name="Ask">ask='subscribe' (an outbound request is pending).</param>
/// <param name="Approved">a subscription pre-approval (RFC 6121 §3.4).</param>
[PersistentEvent("roster.item-set.v1")]
public sealed record RosterItemSet(string Jid, string? Name, string[] Groups, string Subscription, bool Ask, bool Approved, long Version)
    : IPersistentEvent;

/// <summary>A roster item removed (RFC 6121 §2.5).</summary>
[PersistentEvent("roster.item-removed.v1")]
public sealed record RosterItemRemoved(string Jid, long Version) : IPersistentEvent;

/// <summary>An inbound subscription request kept until the user answers it (RFC 6121 §3.1.3).</summary>
[PersistentEvent("roster.subscription-request-stored.v1")]
public sealed record SubscriptionRequestStored(string From, string Stanza) : IPersistentEvent;

/// <summary>An inbound subscription request answered (approved, denied) or cancelled by its sender.</summary>
[PersistentEvent("roster.subscription-request-cleared.v1")]
public sealed record SubscriptionRequestCleared(string From) : IPersistentEvent;

/// <summary>A message stored for later delivery (XEP-0160). <paramref name="Id"/> increases by one per message.</summary>
[PersistentEvent("offline.stored.v1")]
public sealed record OfflineStored(long Id, string Stanza, DateTimeOffset Stamp) : IPersistentEvent;

/// <summary>Offline messages up to and including <paramref name="UpToId"/> were delivered and are removed.</summary>
[PersistentEvent("offline.delivered.v1")]
public sealed record OfflineDelivered(long UpToId) : IPersistentEvent;

/// <summary>JIDs added to the block list (XEP-0191 §3.3).</summary>
[PersistentEvent("blocking.blocked.v1")]
public sealed record JidsBlocked(string[] Jids) : IPersistentEvent;

/// <summary>JIDs removed from the block list (XEP-0191 §3.4); empty means all of them.</summary>
[PersistentEvent("blocking.unblocked.v1")]
public sealed record JidsUnblocked(string[] Jids) : IPersistentEvent;

/// <summary>A XEP-0049 private XML element stored under "{namespace} name" (<paramref name="Xml"/> null removes it).</summary>
[PersistentEvent("private.stored.v1")]
public sealed record PrivateStored(string Key, string? Xml) : IPersistentEvent;

/// <summary>The account's vCard (XEP-0054) replaced.</summary>
[PersistentEvent("vcard.set.v1")]
public sealed record VCardSet(string Xml) : IPersistentEvent;

/// <summary>The last resource went offline (XEP-0012): when, and the status text of its unavailable presence.</summary>
[PersistentEvent("last.recorded.v1")]
public sealed record LastActivityRecorded(DateTimeOffset At, string? Status) : IPersistentEvent;

/// <summary>One roster item in a snapshot.</summary>
public sealed record RosterItemState(string Jid, string? Name, string[] Groups, string Subscription, bool Ask, bool Approved);

/// <summary>One stored offline message in a snapshot.</summary>
public sealed record OfflineMessageState(long Id, string Stanza, DateTimeOffset Stamp);

/// <summary>One pending inbound subscription request in a snapshot.</summary>
public sealed record SubscriptionRequestState(string From, string Stanza);

/// <summary>One private XML element in a snapshot.</summary>
public sealed record PrivateItemState(string Key, string Xml);

/// <summary>The whole state of a user (taken every N events and after offline delivery).</summary>
[PersistentEvent("user.snapshot.v1")]
public sealed record UserSnapshot(
    long RosterVersion,
    RosterItemState[] Roster,
    SubscriptionRequestState[] PendingIn,
    long LastOfflineId,
    OfflineMessageState[] Offline,
    string[] Blocked,
    PrivateItemState[] Private,
    string? VCard,
    DateTimeOffset? LastLogout,
    string? LastStatus) : IPersistentEvent;

/// <summary>Samples of every journal payload (for golden-byte and round-trip tests).</summary>
public static class UserEventSamples
{
    private static readonly DateTimeOffset Stamp = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

    public static IReadOnlyList<IPersistentEvent> All { get; } =
    [
        new RosterItemSet("bob@example.com", "Bob", ["Friends", "Work"], "both", false, false, 7),
        new RosterItemRemoved("bob@example.com", 8),
        new SubscriptionRequestStored("carol@example.com", "<presence xmlns='jabber:client' from='carol@example.com' to='alice@example.com' type='subscribe'/>"),
        new SubscriptionRequestCleared("carol@example.com"),
        new OfflineStored(1, "<message xmlns='jabber:client' from='bob@example.com/phone' to='alice@example.com' type='chat'><body>hi</body></message>", Stamp),
        new OfflineDelivered(1),
        new JidsBlocked(["spam@example.org", "example.net"]),
        new JidsUnblocked(["example.net"]),
        new PrivateStored("{storage:bookmarks} storage", "<storage xmlns='storage:bookmarks'/>"),
        new VCardSet("<vCard xmlns='vcard-temp'><FN>Alice</FN></vCard>"),
        new LastActivityRecorded(Stamp, "gone"),
        new UserSnapshot(8, [new RosterItemState("bob@example.com", "Bob", ["Friends"], "to", false, true)],
            [new SubscriptionRequestState("carol@example.com", "<presence xmlns='jabber:client' type='subscribe'/>")],
            3, [new OfflineMessageState(3, "<message xmlns='jabber:client'><body>x</body></message>", Stamp)],
            ["spam@example.org"], [new PrivateItemState("{storage:bookmarks} storage", "<storage xmlns='storage:bookmarks'/>")],
            "<vCard xmlns='vcard-temp'/>", Stamp, "gone"),
    ];
}
