using Actors.Xmpp.Server;
using Akka.Actor;
using Xunit;

namespace Actors.Xmpp.IntegrationTests;

/// <summary>How the server runs its actors (docs/benchmarks.md: what an idle session costs).</summary>
public sealed class RuntimeTests
{
    private static async Task<ActorCell> Started(IActorRef actor)
    {
        // a top-level actor is repointable: its real cell exists once it has started
        var withCell = (ActorRefWithCell)actor;
        for (var i = 0; i < 100 && withCell.Underlying is not ActorCell; i++) await Task.Delay(50);
        return Assert.IsType<ActorCell>(withCell.Underlying);
    }

    [Fact]
    public async Task The_servers_actors_use_the_lean_mailbox_including_the_persistent_user_actors()
    {
        await using var server = new TestServer();
        await server.AddUserAsync("lean");
        await using var client = await XmppTestClient.LoginAsync(server, "lean", tls: true);

        var connections = await Started(server.Service.Connections);
        Assert.IsType<LeanMessageQueue>(connections.Mailbox.MessageQueue);

        // the user actor asks for unbounded-queue semantics (persistence): it gets the lean queue too
        var system = connections.System;
        var user = await system.ActorSelection("/user/users/*").ResolveOne(TimeSpan.FromSeconds(10));
        var userCell = Assert.IsType<ActorCell>(((ActorRefWithCell)user).Underlying);
        Assert.IsType<LeanMessageQueue>(userCell.Mailbox.MessageQueue);
    }
}
