using Actors.Xmpp.Persistence.Plugins;
using Actors.Xmpp.Server.Accounts;
using Actors.Xmpp.Server.Users.Events;
using Actors.Xmpp.Server.Users.Events;

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
        // user actors (RFC 6121 and the user-data XEPs): the samples of UserEventSamples.All, in its order
        ["roster.item-set.v1"] = (UserEventSamples.All[0],
            """{"jid":"bob@example.com","name":"Bob","groups":["Friends","Work"],"subscription":"both","ask":false,"approved":false,"version":7}"""),
        ["roster.item-removed.v1"] = (UserEventSamples.All[1],
            """{"jid":"bob@example.com","version":8}"""),
        ["roster.subscription-request-stored.v1"] = (UserEventSamples.All[2],
            """{"from":"carol@example.com","stanza":"<presence xmlns='jabber:client' from='carol@example.com' to='alice@example.com' type='subscribe'/>"}"""),
        ["roster.subscription-request-cleared.v1"] = (UserEventSamples.All[3],
            """{"from":"carol@example.com"}"""),
        ["offline.stored.v1"] = (UserEventSamples.All[4],
            """{"id":1,"stanza":"<message xmlns='jabber:client' from='bob@example.com/phone' to='alice@example.com' type='chat'><body>hi</body></message>","stamp":"2026-01-02T03:04:05+00:00"}"""),
        ["offline.delivered.v1"] = (UserEventSamples.All[5],
            """{"upToId":1}"""),
        ["blocking.blocked.v1"] = (UserEventSamples.All[6],
            """{"jids":["spam@example.org","example.net"]}"""),
        ["blocking.unblocked.v1"] = (UserEventSamples.All[7],
            """{"jids":["example.net"]}"""),
        ["private.stored.v1"] = (UserEventSamples.All[8],
            """{"key":"{storage:bookmarks} storage","xml":"<storage xmlns='storage:bookmarks'/>"}"""),
        ["vcard.set.v1"] = (UserEventSamples.All[9],
            """{"xml":"<vCard xmlns='vcard-temp'><FN>Alice</FN></vCard>"}"""),
        ["last.recorded.v1"] = (UserEventSamples.All[10],
            """{"at":"2026-01-02T03:04:05+00:00","status":"gone"}"""),
        ["user.snapshot.v1"] = (UserEventSamples.All[11],
            """{"rosterVersion":8,"roster":[{"jid":"bob@example.com","name":"Bob","groups":["Friends"],"subscription":"to","ask":false,"approved":true}],"pendingIn":[{"from":"carol@example.com","stanza":"<presence xmlns='jabber:client' type='subscribe'/>"}],"lastOfflineId":3,"offline":[{"id":3,"stanza":"<message xmlns='jabber:client'><body>x</body></message>","stamp":"2026-01-02T03:04:05+00:00"}],"blocked":["spam@example.org"],"private":[{"key":"{storage:bookmarks} storage","xml":"<storage xmlns='storage:bookmarks'/>"}],"vCard":"<vCard xmlns='vcard-temp'/>","lastLogout":"2026-01-02T03:04:05+00:00","lastStatus":"gone"}"""),
        // plugins' keyed entities (persistence id entity:<plugin>/<kind>/<key>): the plugin's XML, never its types
        ["plugin-entity.event.v1"] = (new Actors.Xmpp.Persistence.Plugins.EntityEventRecord("<voted xmlns='urn:example:poll:0' voter='alice@example.com' choice='pizza'/>"),
            """{"xml":"<voted xmlns='urn:example:poll:0' voter='alice@example.com' choice='pizza'/>"}"""),
        ["plugin-entity.snapshot.v1"] = (new Actors.Xmpp.Persistence.Plugins.EntitySnapshotRecord("<poll xmlns='urn:example:poll:0'/>", [1, 2, 3]),
            """{"xml":"<poll xmlns='urn:example:poll:0'/>","bytes":"AQID"}"""),
        // plugin storage (core envelope records; plugins' own types never reach the journal): StoreRecordSamples.All, in its order
        ["plugin-store.map-set.v1"] = (StoreRecordSamples.All[0],
            """{"plugin":"vcard","kind":"vcard","entries":[{"key":"","text":null,"xml":"<vCard xmlns='vcard-temp'><FN>Alice</FN></vCard>"}]}"""),
        ["plugin-store.map-cleared.v1"] = (StoreRecordSamples.All[1],
            """{"plugin":"private","kind":"private"}"""),
        ["plugin-store.archive-appended.v1"] = (StoreRecordSamples.All[2],
            """{"plugin":"offline","kind":"messages","items":[{"id":1,"stamp":"2026-01-02T03:04:05+00:00","text":null,"xml":"<message xmlns='jabber:client'><body>hi</body></message>"}]}"""),
        ["plugin-store.archive-trimmed.v1"] = (StoreRecordSamples.All[3],
            """{"plugin":"offline","kind":"messages","upToId":1}"""),
        ["plugin-store.legacy-imported.v1"] = (StoreRecordSamples.All[4],
            """{"plugin":"vcard","kind":"vcard","source":"user.snapshot.v1"}"""),
        ["plugin-store.purged.v1"] = (StoreRecordSamples.All[5],
            """{"plugin":"vcard","kind":"vcard"}"""),
        ["plugin-store.map-snapshot.v1"] = (StoreRecordSamples.All[6],
            """{"plugin":"blocking","kind":"blocklist","entries":[{"key":"spam@example.org","text":"","xml":null}],"legacyImported":true}"""),
        ["plugin-store.archive-snapshot.v1"] = (StoreRecordSamples.All[7],
            """{"plugin":"offline","kind":"messages","lastId":3,"items":[{"id":3,"stamp":"2026-01-02T03:04:05+00:00","text":"x","xml":null}],"legacyImported":false}"""),
    };
}
