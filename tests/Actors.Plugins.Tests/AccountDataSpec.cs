using System.Security.Cryptography;
using Actors.Xmpp;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;
using Microsoft.Extensions.DependencyInjection;

namespace Actors.Plugins.Tests;

/// <summary>The plugins that keep per-account data in plugin storage (private, vcard), over TCP.</summary>
public sealed class AccountDataSpec : IAsyncLifetime
{
    private const string PrivateNs = "jabber:iq:private";
    private const string VCardNs = "vcard-temp";
    private const string UpdateNs = "vcard-temp:x:update";
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(TestServer.RepositoryPlugins);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static string Condition(Element error) =>
        error.Child("error", Ns.Client)?.Elements().FirstOrDefault(e => e.Namespace == Ns.StanzaErrors)?.Name ?? "(none)";

    [Fact]
    public async Task Xep0049_3_private_xml_is_stored_per_namespace_and_readable_by_its_owner_only()
    {
        await using var alice = await _server.LoginAsync("alice");
        Assert.True(await alice.IsFeatureAdvertised(PrivateNs));
        var set = await alice.Query("<iq type='set' id='p1'><query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'><color>blue</color></prefs></query></iq>");
        Assert.Equal("result", set.Type);
        var got = await alice.Query("<iq type='get' id='p2'><query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'/></query></iq>");
        Assert.Equal("blue", got.Child("query", PrivateNs)!.Child("prefs", "urn:example:prefs")!.ChildText("color", "urn:example:prefs"));

        // §3.2: nothing stored under that namespace: the empty element asked for
        var empty = await alice.Query("<iq type='get' id='p3'><query xmlns='jabber:iq:private'><other xmlns='urn:example:none'/></query></iq>");
        Assert.False(empty.Child("query", PrivateNs)!.Child("other", "urn:example:none")!.HasChildren);

        // §3.3: the namespaces of the protocol itself cannot be used
        var client = await alice.Query("<iq type='set' id='p4'><query xmlns='jabber:iq:private'><x xmlns='jabber:client'/></query></iq>");
        Assert.Equal("not-acceptable", Condition(client));
        var two = await alice.Query("<iq type='get' id='p5'><query xmlns='jabber:iq:private'><a xmlns='urn:a'/><b xmlns='urn:b'/></query></iq>");
        Assert.Equal("bad-request", Condition(two));

        // §3: another account's private storage is out of reach
        await using var bob = await _server.LoginAsync("bob");
        var other = await bob.Query("<iq type='get' id='p6' to='alice@localhost'><query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'/></query></iq>");
        Assert.Equal("forbidden", Condition(other));
    }

    [Fact]
    public async Task Xep0054_3_a_vcard_is_set_by_its_owner_and_read_by_anyone()
    {
        await using var alice = await _server.LoginAsync("alice");
        Assert.True(await alice.IsFeatureAdvertised(VCardNs));
        var none = await alice.Query("<iq type='get' id='v0'><vCard xmlns='vcard-temp'/></iq>");
        Assert.False(none.Child("vCard", VCardNs)!.HasChildren);
        Assert.Equal("result", (await alice.Query("<iq type='set' id='v1'><vCard xmlns='vcard-temp'><FN>Alice A.</FN></vCard></iq>")).Type);

        await using var bob = await _server.LoginAsync("bob");
        var card = await bob.Query("<iq type='get' id='v2' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>");
        Assert.Equal("Alice A.", card.Child("vCard", VCardNs)!.ChildText("FN", VCardNs));
        var forbidden = await bob.Query("<iq type='set' id='v3' to='alice@localhost'><vCard xmlns='vcard-temp'><FN>x</FN></vCard></iq>");
        Assert.Equal("forbidden", Condition(forbidden));
    }

    [Fact]
    public async Task Xep0153_4_3_the_server_adds_the_photo_hash_to_available_presence()
    {
        var image = new byte[] { 0x89, 0x50, 0x4E, 0x47, 1, 2, 3, 4, 5 };
        var hash = Convert.ToHexStringLower(SHA1.HashData(image));
        await using (var setup = await _server.LoginAsync("bob", "setup"))
        {
            var set = await setup.Query($"<iq type='set' id='v1'><vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>{Convert.ToBase64String(image)}</BINVAL></PHOTO></vCard></iq>");
            Assert.Equal("result", set.Type);
        }
        // a new session: its own presence comes back to it (RFC 6121 §4.2.2) with the hash
        await using var bob = await _server.LoginAsync("bob", "phone");
        await bob.Sends("<presence/>");
        var own = await bob.Receives("<presence from='bob@localhost/phone'/>");
        Assert.Equal(hash, own.Child("x", UpdateNs)?.ChildText("photo", UpdateNs));

        // §4.1: a client that sends its own <photo/> keeps it (an empty one: "not ready"), XEP-0398 §4
        await bob.Sends("<presence><x xmlns='vcard-temp:x:update'><photo/></x></presence>");
        var kept = await bob.Receives("<presence from='bob@localhost/phone'/>");
        Assert.Equal("", kept.Child("x", UpdateNs)!.ChildText("photo", UpdateNs));
        // XEP-0398 §4: an <x/> without <photo/> MUST be given the server's hash
        await bob.Sends("<presence><x xmlns='vcard-temp:x:update'/></presence>");
        var filled = await bob.Receives("<presence from='bob@localhost/phone'/>");
        Assert.Equal(hash, Assert.Single(filled.Elements("x", UpdateNs)).ChildText("photo", UpdateNs));

        // §3.2: a vCard without a photo: an empty <photo/>
        Assert.Equal("result", (await bob.Query("<iq type='set' id='v2'><vCard xmlns='vcard-temp'><FN>Bob</FN></vCard></iq>")).Type);
        await bob.Sends("<presence/>");
        var noPhoto = await bob.Receives("<presence from='bob@localhost/phone'/>");
        var photo = noPhoto.Child("x", UpdateNs)!.Child("photo", UpdateNs)!;
        Assert.Equal("", photo.Text);
    }

    private static readonly byte[] Avatar = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 7, 7, 7];
    private const string AvatarData = "urn:xmpp:avatar:data", AvatarMetadata = "urn:xmpp:avatar:metadata";

    /// <summary>The first element named <paramref name="name"/> below <paramref name="e"/>, depth first.</summary>
    private static Element? Find(Element e, string name)
    {
        foreach (var child in e.Elements())
        {
            if (child.Name == name) return child;
            if (Find(child, name) is { } found) return found;
        }
        return null;
    }

    /// <summary>Polls until <paramref name="done"/> holds (the conversions run after the request was answered).</summary>
    private static async Task<T> EventuallyAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        for (var i = 0; ; i++)
        {
            var value = await read();
            if (done(value) || i == 100) return value;
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Xep0398_2_the_account_advertises_the_conversion()
    {
        await using var alice = await _server.LoginAsync("alice");
        Assert.True(await alice.IsFeatureAdvertised("urn:xmpp:pep-vcard-conversion:0", to: "alice@localhost"));
    }

    [Fact]
    public async Task Xep0398_3_1_an_avatar_published_with_pep_becomes_the_vcard_photo_and_the_presence_hash()
    {
        await _server.AddUserAsync("pep-avatar");
        var id = Convert.ToHexStringLower(SHA1.HashData(Avatar));
        await using var c = await XmppTestClient.LoginAsync(_server.C2sEndPoint, "pep-avatar", TestServer.Password, resource: "r");
        // XEP-0084 §4.1: the data first, then the metadata naming it
        Assert.Equal("result", (await c.Query($"<iq type='set' id='d1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='{AvatarData}'><item id='{id}'><data xmlns='{AvatarData}'>{Convert.ToBase64String(Avatar)}</data></item></publish></pubsub></iq>")).Type);
        Assert.Equal("result", (await c.Query($"<iq type='set' id='m1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='{AvatarMetadata}'><item id='{id}'><metadata xmlns='{AvatarMetadata}'><info id='{id}' type='image/png' bytes='{Avatar.Length}' url='https://example.org/a.png'/><info id='{id}' type='image/png' bytes='{Avatar.Length}'/></metadata></item></publish></pubsub></iq>")).Type);
        var n = 0;
        var card = await EventuallyAsync(() => c.Query($"<iq type='get' id='v{++n}'><vCard xmlns='vcard-temp'/></iq>"),
            r => r.Child("vCard", VCardNs)?.Child("PHOTO", VCardNs) is not null);
        var photo = card.Child("vCard", VCardNs)!.Child("PHOTO", VCardNs)!;
        Assert.Equal("image/png", photo.ChildText("TYPE", VCardNs));
        Assert.Equal(Avatar, Convert.FromBase64String(photo.ChildText("BINVAL", VCardNs)!));
        // §4: and the hash in the account's presence from now on
        await c.Sends("<presence/>");
        var own = await c.Receives("<presence from='pep-avatar@localhost/r'/>");
        Assert.Equal(id, own.Child("x", UpdateNs)?.ChildText("photo", UpdateNs));

        // XEP-0084 §4.5: an empty metadata disables the avatar: the photo goes
        Assert.Equal("result", (await c.Query($"<iq type='set' id='m2'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='{AvatarMetadata}'><item id='current'><metadata xmlns='{AvatarMetadata}'/></item></publish></pubsub></iq>")).Type);
        card = await EventuallyAsync(() => c.Query($"<iq type='get' id='v{++n}'><vCard xmlns='vcard-temp'/></iq>"),
            r => r.Child("vCard", VCardNs)?.Child("PHOTO", VCardNs) is null);
        Assert.Null(card.Child("vCard", VCardNs)!.Child("PHOTO", VCardNs));
    }

    [Fact]
    public async Task Xep0398_3_2_a_vcard_photo_is_published_as_the_pep_avatar()
    {
        await _server.AddUserAsync("vcard-avatar");
        var id = Convert.ToHexStringLower(SHA1.HashData(Avatar));
        await using var c = await XmppTestClient.LoginAsync(_server.C2sEndPoint, "vcard-avatar", TestServer.Password, resource: "r");
        Assert.Equal("result", (await c.Query($"<iq type='set' id='v1'><vCard xmlns='vcard-temp'><FN>V</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>{Convert.ToBase64String(Avatar)}</BINVAL></PHOTO></vCard></iq>")).Type);
        var n = 0;
        var metadata = await EventuallyAsync(
            () => c.Query($"<iq type='get' id='m{++n}'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='{AvatarMetadata}'/></pubsub></iq>"),
            r => r.Type == "result" && Find(r, "info") is not null);
        var info = Find(metadata, "info")!;
        Assert.Equal(id, info.Attr("id"));
        Assert.Equal("image/png", info.Attr("type"));
        Assert.Equal(Avatar.Length.ToString(), info.Attr("bytes"));
        var data = await c.Query($"<iq type='get' id='d1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='{AvatarData}'><item id='{id}'/></items></pubsub></iq>");
        Assert.Equal(Avatar, Convert.FromBase64String(Find(data, "data")!.Text));
    }

    [Fact]
    public async Task Xep0398_4_directed_presence_such_as_a_muc_join_carries_the_hash()
    {
        await _server.AddUserAsync("directed-avatar");
        var id = Convert.ToHexStringLower(SHA1.HashData(Avatar));
        await using var c = await XmppTestClient.LoginAsync(_server.C2sEndPoint, "directed-avatar", TestServer.Password, resource: "r");
        Assert.Equal("result", (await c.Query($"<iq type='set' id='v1'><vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>{Convert.ToBase64String(Avatar)}</BINVAL></PHOTO></vCard></iq>")).Type);
        await c.Sends("<presence to='hashroom@conference.localhost/me'><x xmlns='http://jabber.org/protocol/muc'/></presence>");
        var self = await c.Receives(e => e.Name == "presence" && e.From == "hashroom@conference.localhost/me", "the room's presence of the new occupant");
        Assert.Equal(id, self.Child("x", UpdateNs)?.ChildText("photo", UpdateNs));
    }

    [Fact]
    public async Task Xep0049_a_store_past_the_account_byte_quota_is_not_acceptable_and_keeps_what_it_held()
    {
        await using var server = await TestServer.StartAsync(["private", "offline"],
            new Dictionary<string, string?> { ["Xmpp:Limits:MaxAccountStoreBytes"] = "2000" });
        await using var alice = await server.LoginAsync("alice");
        var filler = new string('x', 800);
        Assert.Equal("result", (await alice.Query($"<iq type='set' id='q1'><query xmlns='jabber:iq:private'><a xmlns='urn:example:a'>{filler}</a></query></iq>")).Type);
        Assert.Equal("result", (await alice.Query($"<iq type='set' id='q2'><query xmlns='jabber:iq:private'><b xmlns='urn:example:b'>{filler}</b></query></iq>")).Type);
        var over = await alice.Query($"<iq type='set' id='q3'><query xmlns='jabber:iq:private'><c xmlns='urn:example:c'>{filler}</c></query></iq>");
        Assert.Equal("not-acceptable", Condition(over));
        Assert.Equal("modify", over.Child("error", Ns.Client)!.Attr("type"));
        // nothing of the refused write was kept; what was stored is intact
        var c = await alice.Query("<iq type='get' id='q4'><query xmlns='jabber:iq:private'><c xmlns='urn:example:c'/></query></iq>");
        Assert.False(c.Child("query", PrivateNs)!.Child("c", "urn:example:c")!.HasChildren);
        var a = await alice.Query("<iq type='get' id='q5'><query xmlns='jabber:iq:private'><a xmlns='urn:example:a'/></query></iq>");
        Assert.Equal(filler, a.Child("query", PrivateNs)!.ChildText("a", "urn:example:a"));
        // making a value smaller is always allowed, and frees room for another
        Assert.Equal("result", (await alice.Query("<iq type='set' id='q6'><query xmlns='jabber:iq:private'><b xmlns='urn:example:b'>small</b></query></iq>")).Type);
        Assert.Equal("result", (await alice.Query($"<iq type='set' id='q7'><query xmlns='jabber:iq:private'><c xmlns='urn:example:c'>{filler}</c></query></iq>")).Type);
        // the quota is per account: bob's store is not alice's
        await using var bob = await server.LoginAsync("bob");
        Assert.Equal("result", (await bob.Query($"<iq type='set' id='q8'><query xmlns='jabber:iq:private'><a xmlns='urn:example:a'>{filler}</a></query></iq>")).Type);
    }

    [Fact]
    public async Task Stored_data_survives_unloading_and_reloading_the_plugins()
    {
        await using var alice = await _server.LoginAsync("alice");
        await alice.Query("<iq type='set' id='v1'><vCard xmlns='vcard-temp'><FN>Kept</FN></vCard></iq>");
        await alice.Query("<iq type='set' id='p1'><query xmlns='jabber:iq:private'><k xmlns='urn:example:kept'>1</k></query></iq>");
        Assert.True((await _server.Plugins.UnloadAsync("vcard")).Ok);
        var gone = await alice.Query("<iq type='get' id='v2'><vCard xmlns='vcard-temp'/></iq>");
        Assert.Equal("service-unavailable", Condition(gone));
        Assert.True((await _server.Plugins.LoadAsync("vcard")).Ok);
        Assert.True((await _server.Plugins.ReloadAsync("private")).Ok);
        var card = await alice.Query("<iq type='get' id='v3'><vCard xmlns='vcard-temp'/></iq>");
        Assert.Equal("Kept", card.Child("vCard", VCardNs)!.ChildText("FN", VCardNs));
        var priv = await alice.Query("<iq type='get' id='p2'><query xmlns='jabber:iq:private'><k xmlns='urn:example:kept'/></query></iq>");
        Assert.Equal("1", priv.Child("query", PrivateNs)!.Child("k", "urn:example:kept")!.Text);
    }

    [Fact]
    public async Task Every_repository_plugin_unloads_and_reloads_and_serves_again_with_its_stored_data()
    {
        await using var alice = await _server.LoginAsync("alice");
        await alice.Query("<iq type='set' id='v1'><vCard xmlns='vcard-temp'><FN>Kept</FN></vCard></iq>");
        await alice.Query("<iq type='set' id='p1'><query xmlns='jabber:iq:private'><k xmlns='urn:example:kept'>1</k></query></iq>");
        await alice.Query("<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='spam@example.net'/></block></iq>");
        const string serverInfo = "<iq type='get' id='{0}' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>";
        const string accountInfo = "<iq type='get' id='{0}' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>";
        var serverFeatures = Features(await alice.Query(string.Format(serverInfo, "d1")));
        var accountFeatures = Features(await alice.Query(string.Format(accountInfo, "d2")));

        foreach (var id in TestServer.RepositoryPlugins)
        {
            var unload = await _server.Plugins.UnloadAsync(id);
            Assert.True(unload.Ok, $"{id}: {unload.Message}");
            var load = await _server.Plugins.LoadAsync(id);
            Assert.True(load.Ok, $"{id}: {load.Message}");
        }

        Assert.Equal(serverFeatures, Features(await alice.Query(string.Format(serverInfo, "d3"))));
        Assert.Equal(accountFeatures, Features(await alice.Query(string.Format(accountInfo, "d4"))));
        var card = await alice.Query("<iq type='get' id='v2'><vCard xmlns='vcard-temp'/></iq>");
        Assert.Equal("Kept", card.Child("vCard", VCardNs)!.ChildText("FN", VCardNs));
        var priv = await alice.Query("<iq type='get' id='p2'><query xmlns='jabber:iq:private'><k xmlns='urn:example:kept'/></query></iq>");
        Assert.Equal("1", priv.Child("query", PrivateNs)!.Child("k", "urn:example:kept")!.Text);
        var blocked = await alice.Query("<iq type='get' id='b2'><blocklist xmlns='urn:xmpp:blocking'/></iq>");
        Assert.Equal(["spam@example.net"], blocked.Child("blocklist", "urn:xmpp:blocking")!.Elements().Select(i => i.Attr("jid")));

        static string[] Features(Element info) =>
            [.. info.Child("query", "http://jabber.org/protocol/disco#info")!.Elements().Select(f => f.Name + ":" + (f.Attr("var") ?? f.Attr("category") + "/" + f.Attr("type"))).Order(StringComparer.Ordinal)];
    }

    [Fact]
    public async Task Removing_an_account_removes_what_every_plugin_stored_for_it()
    {
        var accounts = _server.Services.GetRequiredService<Xmpp.Server.Accounts.IAccountStore>();
        var carol = Jid.Parse("carol@localhost");
        Assert.True(await accounts.AddAsync(carol, "pw"));
        await using (var c = await XmppTestClient.LoginAsync(_server.EndPoint, "carol", "pw"))
        {
            await c.Query("<iq type='set' id='v1'><vCard xmlns='vcard-temp'><FN>Carol</FN></vCard></iq>");
            await c.Query("<iq type='set' id='p1'><query xmlns='jabber:iq:private'><k xmlns='urn:example:c'>secret</k></query></iq>");
        }
        await using var alice = await _server.LoginAsync("alice");
        await alice.Query("<iq type='set' id='a1'><vCard xmlns='vcard-temp'><FN>Alice stays</FN></vCard></iq>");
        Assert.True(await accounts.RemoveAsync(carol));
        Assert.True(await accounts.AddAsync(carol, "pw2")); // the same name again: a new account with nothing
        // the purge follows the stored removal (asynchronously): wait for it, bounded
        await using (var c = await XmppTestClient.LoginAsync(_server.EndPoint, "carol", "pw2"))
        {
            var deadline = DateTime.UtcNow.AddSeconds(10);
            string? fn, secret;
            var n = 0;
            do
            {
                var card = await c.Query($"<iq type='get' id='g{++n}'><vCard xmlns='vcard-temp'/></iq>");
                fn = card.Child("vCard", VCardNs)?.ChildText("FN", VCardNs);
                var priv = await c.Query($"<iq type='get' id='p{n}'><query xmlns='jabber:iq:private'><k xmlns='urn:example:c'/></query></iq>");
                secret = priv.Child("query", PrivateNs)!.Child("k", "urn:example:c")!.Text;
                if (fn is not null || secret.Length > 0) await Task.Delay(100);
            } while ((fn is not null || secret.Length > 0) && DateTime.UtcNow < deadline);
            Assert.Null(fn);
            Assert.Equal("", secret);
        }
        var kept = await alice.Query("<iq type='get' id='a2'><vCard xmlns='vcard-temp'/></iq>");
        Assert.Equal("Alice stays", kept.Child("vCard", VCardNs)!.ChildText("FN", VCardNs));
    }

    [Fact]
    public async Task Xep0012_4_last_activity_of_an_account_to_its_subscribers_only()
    {
        await using var alice = await _server.LoginAsync("alice", "last");
        await using var bob = await _server.LoginAsync("bob", "last");
        await alice.Sends("<presence/>");
        await alice.Receives("<presence from='alice@localhost/last'/>");
        await bob.Sends("<presence/>");
        await bob.Receives("<presence from='bob@localhost/last'/>");
        // alice subscribes to bob's presence and bob approves: bob has alice with subscription 'from'
        await alice.Sends("<presence to='bob@localhost' type='subscribe'/>");
        await bob.Receives("<presence from='alice@localhost' type='subscribe'/>");
        await bob.Sends("<presence to='alice@localhost' type='subscribed'/>");
        await alice.Receives("<presence from='bob@localhost' type='subscribed'/>");

        var online = await alice.Query("<iq type='get' id='l1' to='bob@localhost'><query xmlns='jabber:iq:last'/></iq>");
        Assert.Equal("0", online.Child("query", "jabber:iq:last")!.Attr("seconds")); // an available resource
        await bob.Sends("<presence type='unavailable'><status>lunch</status></presence>");
        await bob.Receives("<presence from='bob@localhost/last' type='unavailable'/>");
        Element last;
        var n = 0;
        do // the user actor records the logout after the session reported it
        {
            last = (await alice.Query($"<iq type='get' id='l{++n + 1}' to='bob@localhost'><query xmlns='jabber:iq:last'/></iq>")).Child("query", "jabber:iq:last")!;
        } while (last.Attr("seconds") == "0" && last.Text.Length == 0 && n < 50);
        Assert.True(long.Parse(last.Attr("seconds")!, System.Globalization.CultureInfo.InvariantCulture) >= 0);
        Assert.Equal("lunch", last.Text);

        // the account itself may ask; anyone else without a subscription may not
        var own = await bob.Query("<iq type='get' id='o1' to='bob@localhost'><query xmlns='jabber:iq:last'/></iq>");
        Assert.Equal("lunch", own.Child("query", "jabber:iq:last")!.Text);
        await using var admin = await _server.LoginAsync("admin");
        var stranger = await admin.Query("<iq type='get' id='s1' to='bob@localhost'><query xmlns='jabber:iq:last'/></iq>");
        Assert.Equal("forbidden", Condition(stranger));
    }

    [Fact]
    public async Task Rfc6121_8_5_2_1_1_resource_available_is_raised_when_a_session_starts_taking_bare_jid_messages()
    {
        var system = _server.Services.GetRequiredService<Akka.Actor.ActorSystem>();
        var seen = new System.Collections.Concurrent.ConcurrentQueue<ServerEvent>();
        using var _ = Xmpp.Server.Lifecycle.ServerEvents.Of(system).On(ServerEventKind.ResourceAvailable, e => { seen.Enqueue(e); return ValueTask.CompletedTask; });
        var phone = Jid.Parse("alice@localhost/avail");
        await using var alice = await _server.LoginAsync("alice", "avail");
        async Task Presence(string xml)
        {
            await alice.Sends(xml);
            await alice.Receives(e => e.Name == "presence" && e.From == phone.ToString(), "its own presence back");
        }
        await Presence("<presence><priority>-5</priority></presence>"); // available, but takes no bare-JID message
        Assert.Empty(seen);
        await Presence("<presence><priority>1</priority></presence>"); // now it does
        await Presence("<presence><priority>2</priority><show>away</show></presence>"); // still does: not raised again
        await alice.Sends("<presence type='unavailable'/>");
        await alice.Query("<iq type='get' id='x1'><query xmlns='jabber:iq:roster'/></iq>");
        await Presence("<presence/>"); // initial presence again
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (seen.Count < 2 && DateTime.UtcNow < deadline) await Task.Delay(50);
        await Task.Delay(200);
        Assert.Equal([new ServerEvent(ServerEventKind.ResourceAvailable, phone), new ServerEvent(ServerEventKind.ResourceAvailable, phone)], seen);
    }

    [Fact]
    public async Task Sessions_raise_bound_and_closed_and_a_plugins_handlers_leave_with_it()
    {
        var system = _server.Services.GetRequiredService<Akka.Actor.ActorSystem>();
        var events = Xmpp.Server.Lifecycle.ServerEvents.Of(system);
        var seen = new System.Collections.Concurrent.ConcurrentQueue<ServerEvent>();
        using var _ = events.On(ServerEventKind.SessionBound, e => { seen.Enqueue(e); return ValueTask.CompletedTask; });
        using var __ = events.On(ServerEventKind.SessionClosed, e => { seen.Enqueue(e); return ValueTask.CompletedTask; });
        await using (var alice = await _server.LoginAsync("alice", "events"))
            Assert.Equal("result", (await alice.Query("<iq type='get' id='x'><query xmlns='jabber:iq:roster'/></iq>")).Type);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (seen.Count < 2 && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Equal([new ServerEvent(ServerEventKind.SessionBound, Jid.Parse("alice@localhost/events")),
            new ServerEvent(ServerEventKind.SessionClosed, Jid.Parse("alice@localhost/events"))], seen);

        // the vcard plugin's AccountRemoved handler is in its ledger: unloading removes it
        var before = events.Count(ServerEventKind.AccountRemoved);
        Assert.True((await _server.Plugins.UnloadAsync("vcard")).Ok);
        Assert.Equal(before - 1, events.Count(ServerEventKind.AccountRemoved));
        Assert.True((await _server.Plugins.LoadAsync("vcard")).Ok);
        Assert.Equal(before, events.Count(ServerEventKind.AccountRemoved));
    }
}
