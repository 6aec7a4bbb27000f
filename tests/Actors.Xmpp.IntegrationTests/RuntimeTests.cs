using Actors.Xmpp.Server;
using Akka.Actor;
using Xunit;

namespace Actors.Xmpp.IntegrationTests;

/// <summary>How the server runs its actors (docs/benchmarks.md: what an idle session costs).</summary>
public sealed class RuntimeTests
{
    [Fact]
    public async Task The_servers_actors_use_the_lean_mailbox()
    {
        await using var server = new TestServer();
        // a top-level actor is repointable; once started its cell is the actor's real cell
        var connections = (ActorRefWithCell)server.Service.Connections;
        for (var i = 0; i < 100 && connections.Underlying is not ActorCell; i++) await Task.Delay(50);
        var cell = Assert.IsType<ActorCell>(connections.Underlying);
        Assert.IsType<LeanMessageQueue>(cell.Mailbox.MessageQueue);
    }
}
