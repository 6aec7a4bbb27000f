using Actors.Xmpp.Testing;

namespace Actors.Plugins.Tests;

/// <summary>Replacing a plugin folder while two clients exchange messages: the watcher reloads it, nothing is
/// lost and both clients stay connected.</summary>
public sealed class HotSwapSpec
{
    [Fact]
    public async Task Folder_swap_under_load_loses_no_message_and_keeps_clients_connected()
    {
        await using var server = await TestServer.StartAsync(TestServer.RepositoryPlugins.Append("counter"));
        await using var alice = await server.LoginAsync("alice");
        await using var bob = await server.LoginAsync("bob");
        alice.Timeout = bob.Timeout = TimeSpan.FromSeconds(20);
        await alice.Query("<iq type='get' id='c0' to='localhost'><count xmlns='urn:actors:test:counter'/></iq>");
        var before = server.Plugins.ActivationCount;

        const int n = 300;
        async Task Send(XmppTestClient from, string to)
        {
            for (var i = 0; i < n; i++)
            {
                await from.Sends($"<message type='chat' to='{to}' id='{from.Name}-{i}'><body>{i}</body></message>");
                if (i % 10 == 0) await Task.Delay(5);
            }
        }
        var sending = Task.WhenAll(Send(alice, bob.Jid.ToString()), Send(bob, alice.Jid.ToString()));
        server.SwapPluginFolder("counter", "counter");
        server.SwapPluginFolder("ping", "ping");
        await sending;
        for (var i = 0; i < n; i++)
        {
            await bob.Receives($"<message id='alice-{i}'><body>{i}</body></message>");
            await alice.Receives($"<message id='bob-{i}'><body>{i}</body></message>");
        }
        // the watcher reloaded both (after its quiet period) and the counter kept its state
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (server.Plugins.ActivationCount < before + 2 && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.True(server.Plugins.ActivationCount >= before + 2, "the swapped plugins were not reloaded");
        var count = await alice.Query("<iq type='get' id='c1' to='localhost'><count xmlns='urn:actors:test:counter'/></iq>");
        Assert.Equal("2", count.Child("count", "urn:actors:test:counter")!.Text);
        // the new ping serves (a ping that lands while a reload is still in progress may get service-unavailable:
        // the watcher can fire once more after its quiet period, so ask until the deadline)
        var answered = false;
        for (var attempt = 0; !answered && DateTime.UtcNow < deadline.AddSeconds(15); attempt++)
        {
            var reply = await bob.Query($"<iq type='get' id='p{attempt}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
            answered = reply.Type == "result";
            if (!answered) await Task.Delay(200);
        }
        Assert.True(answered, "the reloaded ping plugin does not answer");
        Assert.False(alice.Closed.IsCompleted || bob.Closed.IsCompleted);
    }
}
