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
    public async Task The_connection_and_session_actors_use_the_lean_mailbox()
    {
        await using var server = new TestServer();
        await server.AddUserAsync("lean");
        await using var client = await XmppTestClient.LoginAsync(server, "lean", tls: true);

        var connections = await Started(server.Service.Connections);
        Assert.IsType<LeanMessageQueue>(connections.Mailbox.MessageQueue);

        // a connection's actor and its session (a child of the sessions supervisor)
        var system = connections.System;
        var connection = await system.ActorSelection("/user/c2s/*").ResolveOne(TimeSpan.FromSeconds(10));
        Assert.IsType<LeanMessageQueue>(Assert.IsType<ActorCell>(((ActorRefWithCell)connection).Underlying).Mailbox.MessageQueue);
        var session = await system.ActorSelection("/user/sessions/*").ResolveOne(TimeSpan.FromSeconds(10));
        Assert.IsType<LeanMessageQueue>(Assert.IsType<ActorCell>(((ActorRefWithCell)session).Underlying).Mailbox.MessageQueue);
    }
}
