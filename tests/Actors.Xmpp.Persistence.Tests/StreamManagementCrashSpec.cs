using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Actors.Xmpp.Testing;
using Actors.Xmpp.Xml;
using Xunit.Abstractions;

namespace Actors.Xmpp.Persistence.Tests;

/// <summary>
/// XEP-0198 and a SIGKILL between send and acknowledgement (issue 13): offline messages the server wrote out to a
/// client that never acknowledged them are still stored after the real server process is killed, and delivered
/// again; once acknowledged they are deleted (delivered once, not again after another kill).
/// </summary>
public sealed class StreamManagementCrashSpec(ITestOutputHelper output)
{
    private const string Sm = "urn:xmpp:sm:3";
    private const string Password = "pw";
    private const int Messages = 3;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30); // a first login after a start recovers stores

    [Theory]
    [MemberData(nameof(TestDatabase.Kinds), MemberType = typeof(TestDatabase))]
    public async Task Xep0198_sigkill_between_send_and_ack_loses_no_offline_message_and_an_acked_one_is_not_sent_again(string kind)
    {
        using var db = TestDatabase.Create(kind);
        Log = output.WriteLine;
        var port = ServerProcess.FreePort();
        var server = await StartAsync(db, port);
        try
        {
            foreach (var user in new[] { "alice", "bob" })
                Assert.True((bool?)(await ServerProcess.AdminAsync(db, new JsonObject { ["cmd"] = "add", ["user"] = user, ["password"] = Password }))["ok"]);
            await using (var alice = await LoginAsync(port, "alice", sm: false))
            {
                for (var i = 0; i < Messages; i++)
                    await alice.SendAsync($"<message to='bob@localhost' type='chat' id='m{i}'><body>m{i}</body></message>");
                await alice.PingServerAsync();
            }

            // bob gets the mailbox written to his socket and never acknowledges it; then the server is SIGKILLed
            var bob = await LoginAsync(port, "bob", sm: true);
            await bob.SendAsync("<presence/>");
            Assert.Equal(Enumerable.Range(0, Messages).Select(i => "m" + i), await OfflineMessagesAsync(bob, Messages));
            await Task.Delay(500); // time enough for a deletion that should not happen
            await KillAsync(server);
            await bob.DisposeAsync();
        }
        finally
        {
            await KillAsync(server);
        }

        port = ServerProcess.FreePort();
        server = await StartAsync(db, port);
        try
        {
            // all of it again (written out is not delivered); now acknowledged
            await using var bob = await LoginAsync(port, "bob", sm: true);
            await bob.SendAsync("<presence/>");
            Assert.Equal(Enumerable.Range(0, Messages).Select(i => "m" + i), await OfflineMessagesAsync(bob, Messages));
            // the presence reflection and the messages: everything the server sent since enable
            await bob.SendAsync($"<a xmlns='{Sm}' h='{Messages + 1}'/>");
            await bob.SendAsync($"<r xmlns='{Sm}'/>");
            await bob.NextMatchingAsync(e => e.Is("a", Sm)); // the stream is still fine (the ack was not too high)
            // the deletion is a journal write after the ack; a SIGKILL before it would deliver them again (at least once,
            // as XEP-0198 allows), so the kill waits for it
            await Task.Delay(5000);
            output.WriteLine($"{kind}: {Messages} offline messages delivered again after the SIGKILL, then acknowledged");
            await KillAsync(server);
        }
        finally
        {
            await KillAsync(server);
        }

        port = ServerProcess.FreePort();
        server = await StartAsync(db, port);
        try
        {
            await using var bob = await LoginAsync(port, "bob", sm: true);
            await bob.SendAsync("<presence/>");
            var deadline = DateTime.UtcNow.AddSeconds(3);
            while (DateTime.UtcNow < deadline)
            {
                Element e;
                try { e = await bob.NextAsync(TimeSpan.FromMilliseconds(500)); }
                catch (TimeoutException) { continue; }
                Assert.False(e.Name == "message", $"an acknowledged offline message came again: {e}");
            }
        }
        finally
        {
            await KillAsync(server);
        }
    }

    /// <summary>The next <paramref name="count"/> messages' ids, each with a XEP-0203 delay (from the offline store).</summary>
    private static Action<string>? Log;

    private static async Task<List<string>> OfflineMessagesAsync(XmppTestClient c, int count)
    {
        var ids = new List<string>();
        while (ids.Count < count)
        {
            var m = await c.NextAsync(Wait);
            Log?.Invoke(m.ToString());
            if (m.Name != "message") continue;
            Assert.NotNull(m.Child("delay", Ns.Delay));
            ids.Add(m.Id!);
        }
        return ids;
    }

    private static async Task KillAsync(Process server)
    {
        if (!server.HasExited) server.Kill(); // SIGKILL
        await server.WaitForExitAsync().WaitAsync(Wait);
    }

    private static Task<Process> StartAsync(TestDatabase db, int port) => ServerProcess.StartServerAsync(db,
        "--Xmpp:C2sPort=" + port, "--Xmpp:Tls:Required=false", "--Xmpp:Auth:AllowPlainWithoutTls=true");

    private static async Task<XmppTestClient> LoginAsync(int port, string user, bool sm)
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
            await c.BindAsync("phone");
            if (sm)
            {
                await c.SendAsync($"<enable xmlns='{Sm}'/>");
                var enabled = await c.NextAsync();
                Assert.True(enabled.Is("enabled", Sm), enabled.ToString());
            }
            return c;
        }
        catch
        {
            await c.DisposeAsync();
            throw;
        }
    }
}
