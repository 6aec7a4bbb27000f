using Actors.Xmpp.Persistence;
using Actors.Xmpp.Server.Sasl;

namespace Actors.Xmpp.Server.Accounts;

// The account directory's journal (persistence id "accounts:<domain>"). These records are a storage format: renaming a
// property changes stored JSON (the golden-bytes test fails); an incompatible change is a new ".v2" record.

/// <summary>SCRAM salted keys of one hash (RFC 5802 StoredKey/ServerKey), never a password.</summary>
public sealed record ScramKeyRecord(string Hash, byte[] Salt, int Iterations, byte[] StoredKey, byte[] ServerKey)
{
    public static ScramKeyRecord From(ScramCredential c) => new(c.Hash, c.Salt, c.Iterations, c.StoredKey, c.ServerKey);
    public ScramCredential ToCredential() => new(Hash, Salt, Iterations, StoredKey, ServerKey);

    public static IReadOnlyList<ScramKeyRecord> From(UserCredentials credentials) => credentials.Scram.Select(From).ToList();
}

[PersistentEvent("account.created.v1")]
public sealed record AccountCreated(string Domain, string User, IReadOnlyList<ScramKeyRecord> Scram) : IPersistentEvent, IDomainEvent;

[PersistentEvent("account.password-changed.v1")]
public sealed record AccountPasswordChanged(string Domain, string User, IReadOnlyList<ScramKeyRecord> Scram) : IPersistentEvent, IDomainEvent;

[PersistentEvent("account.removed.v1")]
public sealed record AccountRemoved(string Domain, string User) : IPersistentEvent, IDomainEvent;

/// <summary>One account in a snapshot.</summary>
public sealed record AccountEntry(string User, IReadOnlyList<ScramKeyRecord> Scram);

/// <summary>Snapshot of a domain's account directory.</summary>
[PersistentEvent("account.snapshot.v1")]
public sealed record AccountsSnapshot(string Domain, IReadOnlyList<AccountEntry> Accounts) : IPersistentEvent, IDomainEvent;
