using Actors.Xmpp;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Tests;

/// <summary>Issue 16: XEP-0227 export and import (`actors-server export|import`) with every repository plugin loaded:
/// credentials, rosters, pending subscription requests, vCards, private XML and offline messages move to another
/// server, and files written by other servers (the password attribute, the pre-1.0 namespace, ejabberd's one file per
/// host through XInclude) import.</summary>
public sealed class PortabilitySpec
{
    private const string PieNs = "urn:xmpp:pie:0";

    /// <summary>The file's root (after its XML declaration, which a document may have and stream content may not).</summary>
    private static async Task<Element> ReadFileAsync(string path)
    {
        var text = await File.ReadAllTextAsync(path);
        Assert.StartsWith("<?xml version='1.0' encoding='UTF-8'?>", text);
        return Element.Parse(text[(text.IndexOf("?>", StringComparison.Ordinal) + 2)..]);
    }

    [Fact]
    public async Task Xep0227_4_an_export_imported_into_another_server_keeps_credentials_roster_vcard_private_and_offline()
    {
        var file = Path.Combine(Path.GetTempPath(), "pie-" + Guid.NewGuid().ToString("N") + ".xml");
        try
        {
            IReadOnlyList<Jid> exported;
            await using (var source = await TestServer.StartAsync(TestServer.RepositoryPlugins))
            {
                await source.AddUserAsync("pie-alice", "alice-password");
                await source.AddUserAsync("pie-bob", "bob-password");
                await using (var alice = await XmppTestClient.LoginAsync(source.C2sEndPoint, "pie-alice", "alice-password", resource: "r"))
                {
                    Assert.Equal("result", (await alice.Query("<iq type='set' id='r1'><query xmlns='jabber:iq:roster'><item jid='pie-bob@localhost' name='Bob'><group>Friends</group></item></query></iq>")).Type);
                    Assert.Equal("result", (await alice.Query("<iq type='set' id='v1'><vCard xmlns='vcard-temp'><FN>Alice Pie</FN></vCard></iq>")).Type);
                    Assert.Equal("result", (await alice.Query("<iq type='set' id='p1'><query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'><color>blue</color></prefs></query></iq>")).Type);
                    // RFC 6121 §3.1.2: a subscription request to an offline contact: alice's item asks, bob holds a request
                    await alice.Sends("<presence to='pie-bob@localhost' type='subscribe'/>");
                    await alice.Receives(e => e.Name == "iq" && e.Type == "set" && e.Child("query", Ns.Roster)?.Child("item", Ns.Roster)?.Attr("ask") == "subscribe",
                        "the roster push with ask='subscribe'");
                }
                await using (var bob = await XmppTestClient.LoginAsync(source.C2sEndPoint, "pie-bob", "bob-password", resource: "r"))
                {
                    await bob.Sends("<message to='pie-alice@localhost' type='chat' id='m1'><body>stored while you were away</body></message>");
                    await bob.ExpectNoBounceAsync(); // RFC 6121 §8.5.2.2.1: stored offline, not bounced
                }
                // the mailbox write is asynchronous: export (through the admin socket) until the message is in it
                for (var i = 0; i < 100; i++)
                {
                    var answer = await Operator.SocketAsync(source, new System.Text.Json.Nodes.JsonObject { ["cmd"] = "export", ["path"] = file });
                    Assert.True((bool?)answer["ok"] == true, answer.ToJsonString());
                    if ((await File.ReadAllTextAsync(file)).Contains("stored while you were away", StringComparison.Ordinal)) break;
                    await Task.Delay(200);
                }
                var export = await Operator.CliAsync(source, "export", file);
                Assert.True(export.ExitCode == 0, export.Stderr);
                exported = source.Accounts.List();
                Assert.Contains($"exported {exported.Count} accounts", export.Stdout);
            }

            var data = await ReadFileAsync(file);
            Assert.True(data.Is("server-data", PieNs));
            var host = Assert.Single(data.Elements("host", PieNs));
            Assert.Equal("localhost", host.Attr("jid"));
            var alicePie = host.Elements("user", PieNs).Single(u => u.Attr("name") == "pie-alice");
            Assert.Null(alicePie.Attr("password")); // §4.2 (1.1): no plaintext password; the server has none
            Assert.Contains(alicePie.Elements("scram-credentials", PieNs + "#scram"), s => s.Attr("mechanism") == "SCRAM-SHA-1");
            Assert.Equal("subscribe", alicePie.Child("query", Ns.Roster)!.Child("item", Ns.Roster)!.Attr("ask"));
            Assert.NotNull(alicePie.Child("offline-messages", PieNs)?.Child("message", Ns.Client)?.Child("delay", "urn:xmpp:delay"));
            var bobPie = host.Elements("user", PieNs).Single(u => u.Attr("name") == "pie-bob");
            Assert.Equal("subscribe", bobPie.Child("presence", Ns.Client)?.Type); // §4.8

            await using var target = await TestServer.StartAsync(TestServer.RepositoryPlugins);
            var existing = exported.Count(target.Accounts.Exists); // the test server's own accounts
            var import = await Operator.CliAsync(target, "import", file);
            Assert.True(import.ExitCode == 0, import.Stderr);
            Assert.Contains($"imported {exported.Count} accounts ({existing} existing)", import.Stdout);

            // the SCRAM credentials work without the password ever having left the first server
            await using var alice2 = await XmppTestClient.LoginAsync(target.C2sEndPoint, "pie-alice", "alice-password", resource: "r2");
            var roster = await alice2.Query("<iq type='get' id='r2'><query xmlns='jabber:iq:roster'/></iq>");
            var item = roster.Child("query", Ns.Roster)!.Child("item", Ns.Roster)!;
            Assert.Equal("pie-bob@localhost", item.Attr("jid"));
            Assert.Equal("Bob", item.Attr("name"));
            Assert.Equal("subscribe", item.Attr("ask"));
            Assert.Equal("Friends", item.ChildText("group", Ns.Roster));
            var card = await alice2.Query("<iq type='get' id='v2'><vCard xmlns='vcard-temp'/></iq>");
            Assert.Equal("Alice Pie", card.Child("vCard", "vcard-temp")!.ChildText("FN", "vcard-temp"));
            var stored = await alice2.Query("<iq type='get' id='p2'><query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'/></query></iq>");
            Assert.Equal("blue", stored.Child("query", "jabber:iq:private")!.Child("prefs", "urn:example:prefs")!.ChildText("color", "urn:example:prefs"));
            // XEP-0160: the offline message comes at initial presence, with the stamp it was first stored at
            await alice2.Sends("<presence/>");
            var message = await alice2.Receives(e => e.Name == "message" && e.ChildText("body", Ns.Client) == "stored while you were away", "the imported offline message");
            Assert.Single(message.Elements("delay", "urn:xmpp:delay"));
            await Assert.ThrowsAnyAsync<Exception>(() => XmppTestClient.LoginAsync(target.C2sEndPoint, "pie-alice", "wrong-password", resource: "r3"));

            // bob's pending request from alice is there: it is pushed to him at his initial presence (RFC 6121 §3.1.3)
            await using var bob2 = await XmppTestClient.LoginAsync(target.C2sEndPoint, "pie-bob", "bob-password", resource: "r");
            await bob2.Sends("<presence/>");
            await bob2.Receives(e => e.Name == "presence" && e.Type == "subscribe" && e.From == "pie-alice@localhost", "alice's subscription request");
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Xep0227_5_an_ejabberd_style_file_with_passwords_the_old_namespace_and_xinclude_imports()
    {
        var folder = Path.Combine(Path.GetTempPath(), "pie-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            // what ejabberd's export_piefxis writes: a main file including one file per host
            await File.WriteAllTextAsync(Path.Combine(folder, "main.xml"),
                "<?xml version='1.0' encoding='UTF-8'?><server-data xmlns='http://www.xmpp.org/extensions/xep-0227.html#ns' xmlns:xi='http://www.w3.org/2001/XInclude'><xi:include href='localhost.xml'/></server-data>");
            await File.WriteAllTextAsync(Path.Combine(folder, "localhost.xml"),
                "<?xml version='1.0' encoding='UTF-8'?><host xmlns='http://www.xmpp.org/extensions/xep-0227.html#ns' xmlns:xi='http://www.w3.org/2001/XInclude' jid='localhost'>" +
                "<user name='ejuser' password='ej-password-1'><query xmlns='jabber:iq:roster'><item jid='friend@example.org' subscription='both' name='F'><group>G</group></item></query>" +
                "<vCard xmlns='vcard-temp'><FN>From ejabberd</FN></vCard></user>" +
                "<user name='elsewhere'/></host>");
            await using var server = await TestServer.StartAsync(TestServer.RepositoryPlugins);
            var import = await Operator.CliAsync(server, "import", Path.Combine(folder, "main.xml"));
            Assert.True(import.ExitCode == 0, import.Stderr);
            Assert.Contains("imported 1 accounts", import.Stdout);
            Assert.Contains("elsewhere@localhost: no password and no usable SCRAM credentials", import.Stderr);

            await using var c = await XmppTestClient.LoginAsync(server.C2sEndPoint, "ejuser", "ej-password-1", resource: "r");
            var roster = await c.Query("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>");
            var item = roster.Child("query", Ns.Roster)!.Child("item", Ns.Roster)!;
            Assert.Equal("both", item.Attr("subscription")); // the state a client could never set itself
            var card = await c.Query("<iq type='get' id='v1'><vCard xmlns='vcard-temp'/></iq>");
            Assert.Equal("From ejabberd", card.Child("vCard", "vcard-temp")!.ChildText("FN", "vcard-temp"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Xep0227_an_export_by_ejabberd_imports_and_its_accounts_log_in_with_their_roster_vcard_and_private_xml()
    {
        string main;
        await using (var ejabberd = await Ejabberd.StartAsync([("ejuser", "ej-password-1"), ("ejfriend", "ej-password-2")]))
        {
            // the data set through ejabberd by a client, as its users would have
            await using (var c = await XmppTestClient.LoginAsync(ejabberd.EndPoint, "ejuser", "ej-password-1", resource: "r"))
            {
                Assert.Equal("result", (await c.Query("<iq type='set' id='r1'><query xmlns='jabber:iq:roster'><item jid='ejfriend@localhost' name='Friend'><group>Mates</group></item></query></iq>")).Type);
                Assert.Equal("result", (await c.Query("<iq type='set' id='v1'><vCard xmlns='vcard-temp'><FN>Made in ejabberd</FN></vCard></iq>")).Type);
                Assert.Equal("result", (await c.Query("<iq type='set' id='p1'><query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'><color>green</color></prefs></query></iq>")).Type);
            }
            var exported = await ejabberd.ExportAsync();
            main = Path.Combine(Path.GetTempPath(), "ejabberd-export-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(main);
            foreach (var f in Directory.GetFiles(Path.GetDirectoryName(exported)!)) File.Copy(f, Path.Combine(main, Path.GetFileName(f)));
            main = Path.Combine(main, Path.GetFileName(exported));
        }
        try
        {
            await using var server = await TestServer.StartAsync(TestServer.RepositoryPlugins);
            var import = await Operator.CliAsync(server, "import", main);
            Assert.True(import.ExitCode == 0, import.Stderr);
            Assert.Contains("imported 2 accounts (0 existing)", import.Stdout);

            // ejabberd's SCRAM credentials (23.01 writes them base64-encoded twice) log in with the password
            await using var c = await XmppTestClient.LoginAsync(server.C2sEndPoint, "ejuser", "ej-password-1", resource: "r");
            var item = (await c.Query("<iq type='get' id='r2'><query xmlns='jabber:iq:roster'/></iq>")).Child("query", Ns.Roster)!.Child("item", Ns.Roster)!;
            Assert.Equal("ejfriend@localhost", item.Attr("jid"));
            Assert.Equal("Friend", item.Attr("name"));
            Assert.Equal("Mates", item.ChildText("group", Ns.Roster));
            var card = await c.Query("<iq type='get' id='v2'><vCard xmlns='vcard-temp'/></iq>");
            Assert.Equal("Made in ejabberd", card.Child("vCard", "vcard-temp")!.ChildText("FN", "vcard-temp"));
            var stored = await c.Query("<iq type='get' id='p2'><query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'/></query></iq>");
            Assert.Equal("green", stored.Child("query", "jabber:iq:private")!.Child("prefs", "urn:example:prefs")!.ChildText("color", "urn:example:prefs"));
            await using var friend = await XmppTestClient.LoginAsync(server.C2sEndPoint, "ejfriend", "ej-password-2", resource: "r");
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(main)!, recursive: true);
        }
    }

    [Theory]
    [InlineData("<!DOCTYPE server-data [<!ENTITY x 'y'>]><server-data xmlns='urn:xmpp:pie:0'/>", "")]
    [InlineData("<server-data xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude'><xi:include href='../secret.xml'/></server-data>", "not a file name in the same folder")]
    [InlineData("<roster xmlns='jabber:iq:roster'/>", "not XEP-0227")]
    [InlineData("<server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'>", "ends before")]
    public async Task Xep0227_6_hostile_or_foreign_files_are_refused_with_a_message(string content, string message)
    {
        var file = Path.Combine(Path.GetTempPath(), "pie-" + Guid.NewGuid().ToString("N") + ".xml");
        await File.WriteAllTextAsync(file, content);
        try
        {
            await using var server = await TestServer.StartAsync([]);
            var import = await Operator.CliAsync(server, "import", file);
            Assert.Equal(1, import.ExitCode);
            Assert.Contains(message, import.Stderr);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
