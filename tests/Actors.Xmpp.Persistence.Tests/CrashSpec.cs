using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;
using Xunit.Abstractions;

namespace Actors.Xmpp.Persistence.Tests;

/// <summary>
/// Issue 3, "nothing lost": the real server process (actors-server, as a child process) is SIGKILLed while a client
/// streams roster sets and offline messages into it; after a restart everything the server acknowledged is there.
/// <list type="bullet">
/// <item>A roster set is acknowledged by its IQ result (sent only after the journal write).</item>
/// <item>An offline message has no acknowledgement of its own (a stored message is never bounced). What the server
/// holds is read halfway, while the client goes on: an XEP-0227 export through the admin socket lists the messages the
/// offline plugin's mailbox has persisted by then (appended in order, one account's archive), and every one of them
/// must come back; the rest must come back in order, once each, or not at all.
/// (The marker IQs, roster gets to the recipient's bare JID answered by its user actor, no longer tell that: since
/// offline storage is a plugin the append runs beside the user actor, and CI once saw the last marked message still
/// in flight at the kill.)</item>
/// </list>
/// </summary>
public sealed class CrashSpec(ITestOutputHelper output)
{
    private const int Count = 200;
    private const int Window = 30;       // roster sets in flight at most
    private const int MarkerEvery = 10;  // a marker IQ after every 10 messages
    private const int KillAfter = 80;    // roster results before the SIGKILL
    private const string Password = "pw";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task Rfc6121_crash_sigkill_keeps_acknowledged_roster_changes_and_offline_messages(string kind)
    {
        using var db = TestDatabase.Create(kind);
        var port = ServerProcess.FreePort();
        var server = await StartAsync(db, port);
        var rosterAcked = new HashSet<int>();
        var lastMarker = -1;   // the last marker IQ answered (routing to the recipient's bare JID under load)
        var storedBeforeKill = -1; // bob's offline messages persisted, read halfway before the kill
        var sent = 0;          // messages written to the socket before the kill
        try
        {
            foreach (var user in new[] { "alice", "bob" })
                Assert.True((bool?)(await ServerProcess.AdminAsync(db, new JsonObject { ["cmd"] = "add", ["user"] = user, ["password"] = Password }))["ok"]);
            await using var alice = await LoginAsync(port, "alice");

            var killed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var halfway = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var progress = new SemaphoreSlim(0);
            var errors = new List<string>();

            // the reader: records the acknowledgements until the connection dies with the server
            var reader = Task.Run(async () =>
            {
                while (true)
                {
                    XmppTestClient.Event e;
                    try { e = await alice.NextEventAsync(Wait); }
                    catch (TimeoutException) { lock (errors) errors.Add("no answer from the server within 10 s"); killed.TrySetResult(); return; }
                    if (e is not XmppTestClient.StanzaEvent { Element: var el }) return; // EOF / reset / close: the server is gone
                    if (el is { Name: "iq", Type: "error", Id: { } marker } && marker.StartsWith('v')
                        && el.Child("error", Ns.Client)?.Child("forbidden", Ns.StanzaErrors) is not null)
                    {
                        // the marker: refused (a roster is its owner's), but by bob's user actor, in order
                        Volatile.Write(ref lastMarker, int.Parse(marker[1..], System.Globalization.CultureInfo.InvariantCulture));
                        continue;
                    }
                    if (el.Type == "error") { lock (errors) errors.Add(el.ToString()); continue; }
                    if (el.Name != "iq" || el.Type != "result" || el.Id is not { } id) continue; // roster pushes
                    if (id.StartsWith('r'))
                    {
                        lock (rosterAcked)
                        {
                            rosterAcked.Add(int.Parse(id[1..], System.Globalization.CultureInfo.InvariantCulture));
                            if (rosterAcked.Count >= KillAfter / 2) halfway.TrySetResult();
                            if (rosterAcked.Count >= KillAfter) killed.TrySetResult();
                        }
                        progress.Release();
                    }
                }
            });

            // the writer: pipelined roster sets (at most Window unanswered), each followed by a chat message to offline bob
            var writer = PipelineAsync(alice, Count, Window, () => { lock (rosterAcked) return rosterAcked.Count; }, progress, killed.Task, i =>
            {
                var xml = $"<iq type='set' id='r{i}'><query xmlns='jabber:iq:roster'><item jid='c{i}@example.net' name='Contact {i}'><group>G{i % 7}</group></item></query></iq>"
                        + $"<message type='chat' to='bob@localhost' id='m{i}'><body>m{i}</body></message>";
                if (i % MarkerEvery == MarkerEvery - 1) xml += $"<iq type='get' id='v{i}' to='bob@localhost'><query xmlns='jabber:iq:roster'/></iq>";
                return xml;
            });

            // what the server has persisted for bob halfway, read while the writer goes on (so that the kill still
            // comes with requests in flight): all of it must survive
            var snapshot = Task.Run(async () =>
            {
                await halfway.Task;
                return await StoredOfflineAsync(db, "bob");
            });
            var ready = await Task.WhenAny(killed.Task, Task.Delay(TimeSpan.FromSeconds(30)));
            Assert.True(ready == killed.Task, "too few roster results within 30 s");
            lock (errors) Assert.True(errors.Count == 0, "before the kill: " + string.Join("\n", errors));
            storedBeforeKill = await snapshot; // (taken at half the roster results, while the writer went on)
            server.Kill(); // SIGKILL in the middle: requests still in flight
            await server.WaitForExitAsync().WaitAsync(Wait);
            sent = await writer.WaitAsync(Wait);
            await reader.WaitAsync(Wait);
            lock (errors) Assert.True(errors.Count == 0, string.Join("\n", errors));
        }
        finally
        {
            if (!server.HasExited) server.Kill();
            await server.WaitForExitAsync();
        }

        Assert.True(rosterAcked.Count >= KillAfter);
        Assert.True(rosterAcked.Count < Count, "every roster set was answered before the kill: not a crash in the middle");
        Assert.True(lastMarker >= 0, "no marker was answered before the kill");
        output.WriteLine($"{kind}: before the SIGKILL {sent} roster sets + messages sent, {rosterAcked.Count} roster results, last marker after m{lastMarker}, {storedBeforeKill} offline messages persisted halfway");

        // ---- restart
        port = ServerProcess.FreePort();
        server = await StartAsync(db, port);
        try
        {
            // alice's roster holds every acknowledged contact, and nothing that was never sent
            await using (var alice = await LoginAsync(port, "alice"))
            {
                var roster = await alice.IqAsync("get", "<query xmlns='jabber:iq:roster'/>");
                Assert.Equal("result", roster.Type);
                var items = roster.Child("query", Ns.Roster)!.Elements("item", Ns.Roster).ToList();
                var contacts = items.Select(it => it.Attr("jid")!).ToHashSet();
                Assert.Equal(items.Count, contacts.Count);
                var missing = rosterAcked.Where(i => !contacts.Contains($"c{i}@example.net")).ToList();
                Assert.True(missing.Count == 0, $"acknowledged roster sets lost: {string.Join(", ", missing)} (of {rosterAcked.Count})");
                foreach (var item in items)
                {
                    var i = int.Parse(item.Attr("jid")!.Split('@')[0][1..], System.Globalization.CultureInfo.InvariantCulture);
                    Assert.InRange(i, 0, Count - 1);
                    Assert.Equal($"Contact {i}", item.Attr("name"));
                    Assert.Equal($"G{i % 7}", item.ChildText("group", Ns.Roster));
                }
            }

            // bob gets every message up to the last marker, in order, each once, with a XEP-0203 delay
            await using var bob = await LoginAsync(port, "bob");
            await bob.SendAsync("<presence/>");
            // answered by bob's user actor after the offline flush that his presence started
            await bob.SendAsync("<iq type='get' id='after-flush' to='bob@localhost'><query xmlns='jabber:iq:roster'/></iq>");
            var received = new List<int>();
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            var flushed = false;
            while (DateTime.UtcNow < deadline)
            {
                Element el;
                try { el = await bob.NextAsync(flushed ? TimeSpan.FromMilliseconds(500) : Wait); }
                catch (TimeoutException) when (flushed) { break; } // quiet after the marker: nothing more is coming
                if (el.Name == "iq" && el.Id == "after-flush") { flushed = true; continue; }
                if (el.Name != "message") continue;
                Assert.NotEqual("error", el.Type);
                Assert.Equal("alice@localhost/crash", el.From);
                var body = el.ChildText("body", Ns.Client)!;
                var delay = el.Child("delay", Ns.Delay);
                Assert.True(delay?.Attr("stamp") is { Length: > 0 }, $"no XEP-0203 delay in {el}");
                received.Add(int.Parse(body[1..], System.Globalization.CultureInfo.InvariantCulture));
            }
            Assert.True(flushed, "bob's marker was not answered");
            output.WriteLine($"{kind}: after the restart bob got {received.Count} offline messages (m{received.FirstOrDefault()}..m{received.LastOrDefault()})");
            Assert.Equal(received.Distinct().Count(), received.Count); // no duplicates
            Assert.Equal(received.Order().ToList(), received);          // in order
            Assert.All(received, i => Assert.InRange(i, 0, sent - 1)); // only messages that were sent
            var lost = Enumerable.Range(0, storedBeforeKill).Except(received).ToList();
            Assert.True(lost.Count == 0, $"offline messages persisted before the kill (m0..m{storedBeforeKill - 1}, read halfway) lost: {string.Join(", ", lost)}");
        }
        finally
        {
            server.Kill();
            await server.WaitForExitAsync();
        }
    }

    /// <summary>The offline messages of <paramref name="user"/> the server has persisted, from an XEP-0227 export
    /// (&lt;offline-messages/&gt; of that user) through the admin socket.</summary>
    private static async Task<int> StoredOfflineAsync(TestDatabase db, string user)
    {
        var file = Path.Combine(db.DataDir, $"export-{Guid.NewGuid():N}.xml");
        var answer = await ServerProcess.AdminAsync(db, new JsonObject { ["cmd"] = "export", ["path"] = file });
        Assert.True((bool?)answer["ok"] == true, answer.ToJsonString());
        var export = System.Xml.Linq.XDocument.Load(file);
        File.Delete(file);
        var account = export.Descendants().Single(e => e.Name.LocalName == "user" && (string?)e.Attribute("name") == user);
        return account.Elements().Where(e => e.Name.LocalName == "offline-messages").SelectMany(e => e.Elements())
            .Count(e => e.Name.LocalName == "message");
    }

    /// <summary>The writer of a crash test: sends <paramref name="request"/>(i) for i below <paramref name="count"/>,
    /// with at most <paramref name="window"/> of them unanswered (<paramref name="answered"/> counts the answers,
    /// <paramref name="progress"/> is released at each), until <paramref name="killed"/> or the connection dies with
    /// the server. Completes with how many were written.</summary>
    internal static Task<int> PipelineAsync(XmppTestClient client, int count, int window, Func<int> answered, SemaphoreSlim progress,
        Task killed, Func<int, string> request) => Task.Run(async () =>
    {
        var sent = 0;
        try
        {
            for (var i = 0; i < count && !killed.IsCompleted; i++)
            {
                while (i - answered() >= window && !killed.IsCompleted) await progress.WaitAsync(TimeSpan.FromMilliseconds(200));
                await client.SendAsync(request(i));
                sent = i + 1;
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException) { }
        return sent;
    });

    internal static Task<Process> StartAsync(TestDatabase db, int port) => ServerProcess.StartServerAsync(db,
        "--Xmpp:C2sPort=" + port, "--Xmpp:Tls:Required=false", "--Xmpp:Auth:AllowPlainWithoutTls=true");

    /// <summary>PLAIN without TLS and a bound resource "crash"; retries the connect while the listener comes up.</summary>
    internal static async Task<XmppTestClient> LoginAsync(int port, string user)
    {
        var endPoint = new IPEndPoint(IPAddress.Loopback, port);
        XmppTestClient? c = null;
        for (var attempt = 0; c is null; attempt++)
        {
            try { c = await XmppTestClient.ConnectAsync(endPoint); }
            catch (SocketException) when (attempt < 50) { await Task.Delay(100); }
        }
        try
        {
            await c.OpenStreamAsync();
            await c.AuthPlainAsync(user, Password);
            await c.BindAsync("crash");
            return c;
        }
        catch
        {
            await c.DisposeAsync();
            throw;
        }
    }
}
