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

    [Fact]
    public async Task The_user_actor_persistent_and_with_a_stash_uses_the_lean_deque_mailbox()
    {
        await using var server = new TestServer();
        await server.AddUserAsync("stasher");
        await using var client = await XmppTestClient.LoginAsync(server, "stasher", tls: true);

        // the roster is the user actor's: answered, the actor is running (it stashes what comes while it recovers)
        Assert.Equal("result", (await client.Query("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")).Type);
        var system = (await Started(server.Service.Connections)).System;
        var user = await system.ActorSelection("/user/users/" + Uri.EscapeDataString("stasher@localhost")).ResolveOne(TimeSpan.FromSeconds(10));
        Assert.IsType<LeanDequeMessageQueue>(Assert.IsType<ActorCell>(((ActorRefWithCell)user).Underlying).Mailbox.MessageQueue);
    }

    [Fact]
    public async Task An_idle_server_keeps_no_journal_query_polling_after_listing_its_plugin_stores()
    {
        // the plugin-store directory is listed at start; through the query side, its read journal would poll the
        // journal every refresh interval for the rest of the process's life (docs/benchmarks.md, "Idle CPU")
        await using var server = new TestServer();
        await server.AddUserAsync("quiet");
        await using (var client = await XmppTestClient.LoginAsync(server, "quiet", tls: true))
            await client.PingServerAsync();
        var system = (await Started(server.Service.Connections)).System;
        var identity = await system.ActorSelection("/system/*akka-persistence-sql-sequence-actor")
            .Ask<ActorIdentity>(new Identify("sequence"), TimeSpan.FromSeconds(5));
        Assert.Null(identity.Subject);
    }
}
