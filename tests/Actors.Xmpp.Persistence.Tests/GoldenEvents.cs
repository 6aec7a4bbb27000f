using Actors.Xmpp.Server.Accounts;

namespace Actors.Xmpp.Persistence.Tests;

/// <summary>
/// One sample per journal manifest and the exact JSON it is stored as. A new [PersistentEvent] record needs an entry
/// here (the test says which are missing and prints their JSON). Never edit an existing expected string to make a
/// test pass: a changed JSON shape is a new manifest version.
/// </summary>
public static class GoldenEvents
{
    private static readonly byte[] Salt = [1, 2, 3, 4, 5, 6, 7, 8];
    private static readonly byte[] Stored = [9, 10, 11, 12];
    private static readonly byte[] Server = [13, 14, 15, 16];
    private static readonly ScramKeyRecord Scram = new("SHA-256", Salt, 4096, Stored, Server);

    private const string ScramJson = """[{"hash":"SHA-256","salt":"AQIDBAUGBwg=","iterations":4096,"storedKey":"CQoLDA==","serverKey":"DQ4PEA=="}]""";

    public static readonly IReadOnlyDictionary<string, (object Sample, string Json)> All = new Dictionary<string, (object, string)>
    {
        ["account.created.v1"] = (new AccountCreated("localhost", "alice", [Scram]),
            $$"""{"domain":"localhost","user":"alice","scram":{{ScramJson}}}"""),
        ["account.password-changed.v1"] = (new AccountPasswordChanged("localhost", "alice", [Scram]),
            $$"""{"domain":"localhost","user":"alice","scram":{{ScramJson}}}"""),
        ["account.removed.v1"] = (new AccountRemoved("localhost", "alice"),
            """{"domain":"localhost","user":"alice"}"""),
        ["account.snapshot.v1"] = (new AccountsSnapshot("localhost", [new AccountEntry("alice", [Scram])]),
            $$"""{"domain":"localhost","accounts":[{"user":"alice","scram":{{ScramJson}}}]}"""),
    };
}
