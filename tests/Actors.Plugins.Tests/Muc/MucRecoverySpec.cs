using System.Diagnostics;
using Actors.Xmpp.Testing;
using static Actors.Plugins.Tests.Muc.Muc;

namespace Actors.Plugins.Tests.Muc;

/// <summary>Rooms outlive the plugin's version and the server: a hot swap keeps rooms and occupants, a restart keeps
/// rooms (configuration, affiliations, subject, history), and the journal shows a room.</summary>
public sealed class MucRecoverySpec
{
    [Fact]
    public async Task A_hot_swap_with_occupants_inside_keeps_the_rooms_and_their_occupants()
    {
        await using var server = await TestServer.StartAsync(["disco", "muc"]);
        await using var alice = await server.LoginAsync("alice", "r");
        await using var bob = await server.LoginAsync("bob", "r");
        await CreateInstant(alice, "stay", "alice");
        await Enter(bob, "stay", "bob");
        await alice.Sends($"<message type='groupchat' to='{Room("stay")}' id='before'><body>before</body></message>");
        await bob.Receives($"<message type='groupchat' id='before' from='{Room("stay")}/alice'/>");

        var reload = await server.Plugins.ReloadAsync("muc");
        Assert.True(reload.Ok, reload.Message);
        Assert.True(TestServer.AllCollected(reload.Released), "the old version's load context was not collected");

        await alice.Sends($"<message type='groupchat' to='{Room("stay")}' id='after'><body>after</body></message>");
        await bob.Receives($"<message type='groupchat' id='after' from='{Room("stay")}/alice'><body>after</body></message>");
        await bob.Sends($"<message type='chat' to='{Room("stay")}/alice' id='pm'><body>still here</body></message>");
        await alice.Receives($"<message type='chat' id='pm' from='{Room("stay")}/bob'><body>still here</body></message>");
        var items = await alice.Query($"<iq type='get' id='d1' to='{Room("stay")}'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>");
        Assert.Equal(2, items.FirstChild()!.Elements().Count());
        // the nick is still taken, and leaving still tells the others
        await using var admin = await server.LoginAsync("admin", "r");
        await Error(admin, $"<presence to='{Room("stay")}/bob'><x xmlns='{Ns}'/></presence>", "conflict");
        await bob.Sends($"<presence type='unavailable' to='{Room("stay")}/bob'/>");
        await alice.Receives($"<presence type='unavailable' from='{Room("stay")}/bob'/>");
    }

    [Fact]
    public async Task A_persistent_room_is_recovered_after_a_restart_and_the_journal_shows_it()
    {
        var data = Path.Combine(Path.GetTempPath(), "actors-muc-" + Guid.NewGuid().ToString("N")[..12]);
        var settings = new Dictionary<string, string?> { ["Xmpp:DataDir"] = data };
        try
        {
            await using (var server = await TestServer.StartAsync(["disco", "muc"], settings))
            {
                await using var alice = await server.LoginAsync("alice", "r");
                await Enter(alice, "kept", "alice");
                await Configure(alice, "kept", Form(Field("muc#roomconfig_persistentroom", "1"), Field("muc#roomconfig_roomname", "Kept"),
                    Field("muc#roomconfig_membersonly", "1")));
                await alice.Query($"<iq type='set' id='m1' to='{Room("kept")}'><query xmlns='{Admin}'><item affiliation='member' jid='bob@localhost'/></query></iq>");
                await alice.Sends($"<message type='groupchat' to='{Room("kept")}'><subject>Remember</subject></message>");
                await alice.Receives("<message type='groupchat'><subject>Remember</subject></message>");
                await alice.Sends($"<message type='groupchat' to='{Room("kept")}' id='h1'><body>said before</body></message>");
                await alice.Receives("<message type='groupchat' id='h1'/>");
            }
            await using (var server = await TestServer.StartAsync(["disco", "muc"], settings))
            {
                await using var bob = await server.LoginAsync("bob", "r");
                var items = await bob.Query($"<iq type='get' id='i1' to='{Service}'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>");
                StanzaAssert.Matches($"<iq type='result'><query xmlns='http://jabber.org/protocol/disco#items'><item jid='{Room("kept")}' name='Kept'/></query></iq>", items);
                await bob.Sends($"<presence to='{Room("kept")}/bob'><x xmlns='{Ns}'/></presence>"); // a member of a members-only room
                await bob.Receives($"<presence from='{Room("kept")}/bob'><x xmlns='{User}'><item affiliation='member'/><status code='110'/></x></presence>");
                await bob.Receives($"<message type='groupchat' from='{Room("kept")}/alice'><body>said before</body><delay xmlns='urn:xmpp:delay'/></message>");
                await bob.Receives($"<message type='groupchat' from='{Room("kept")}/alice'><subject>Remember</subject></message>");
                await using var admin = await server.LoginAsync("admin", "r");
                await Error(admin, $"<presence to='{Room("kept")}/admin'><x xmlns='{Ns}'/></presence>", "registration-required");
            }
            var rebuild = await Cli(data, "events", "rebuild", "entity:muc/room/" + Room("kept"));
            Assert.True(rebuild.ExitCode == 0, rebuild.Stderr);
            Assert.Contains("Remember", rebuild.Stdout);
            Assert.Contains("said before", rebuild.Stdout);
            Assert.Contains("muc#roomconfig_persistentroom", rebuild.Stdout);
        }
        finally
        {
            try { Directory.Delete(data, recursive: true); } catch (IOException) { }
        }
    }

    private static async Task<Operator.CliResult> Cli(string dataDir, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(ServerBinary.Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.ArgumentList.Add("--Xmpp:DataDir=" + dataDir);
        psi.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(cts.Token);
        return new Operator.CliResult(process.ExitCode, await stdout, await stderr);
    }
}
