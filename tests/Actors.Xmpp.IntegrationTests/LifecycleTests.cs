using Actors.Xmpp.Server.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Actors.Xmpp.IntegrationTests;

/// <summary>Timeouts, keep-alives (RFC 6120 §4.6) and shutdown (§4.9.3.17); each test has its own server.</summary>
public sealed class LifecycleTests
{
    private static Dictionary<string, string?> Plain(params (string Key, string Value)[] extra)
    {
        var d = new Dictionary<string, string?>
        {
            ["Xmpp:Tls:Required"] = "false",
            ["Xmpp:Auth:AllowPlainWithoutTls"] = "true",
        };
        foreach (var (k, v) in extra) d[k] = v;
        return d;
    }

    [Fact]
    public async Task Rfc6120_4_9_3_4_idle_unauthenticated_connection_gets_connection_timeout()
    {
        await using var server = new TestServer(Plain(("Xmpp:Limits:NegotiationTimeoutSeconds", "1")));
        await using var c = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await c.OpenStreamAsync();
        await c.ExpectStreamErrorAsync("connection-timeout", timeout: TimeSpan.FromSeconds(5));

        // also without even a stream header: the server opens one to send the error
        await using var silent = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
        await silent.ExpectStreamErrorAsync("connection-timeout", timeout: TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Rfc6120_4_6_1_whitespace_keepalives_from_client_are_accepted()
    {
        await using var server = new TestServer(Plain(("Xmpp:Limits:IdleTimeoutSeconds", "2"), ("Xmpp:Limits:KeepAliveSeconds", "0")));
        await server.AddUserAsync("ka-active");
        await server.AddUserAsync("ka-idle");
        await using var active = await XmppTestClient.LoginAsync(server, "ka-active");
        await using var idle = await XmppTestClient.LoginAsync(server, "ka-idle");
        var until = DateTime.UtcNow.AddSeconds(4.5);
        while (DateTime.UtcNow < until)
        {
            await active.SendAsync(" ");
            await Task.Delay(400);
        }
        await active.SendAsync("\n\t \r\n");
        await active.PingServerAsync(); // still connected after more than twice the idle timeout
        await idle.ExpectStreamErrorAsync("connection-timeout"); // it already happened (after 2-4 s)
    }

    [Fact]
    public async Task Rfc6120_4_6_1_a_client_that_vanished_without_closing_is_found_by_tcp_keepalive_and_its_session_ends()
    {
        // whitespace keep-alives are off (the default): the kernel's probes alone find the dead peer
        await using var server = new TestServer(Plain(("Xmpp:Limits:TcpKeepAliveSeconds", "1"),
            ("Xmpp:Limits:TcpKeepAliveIntervalSeconds", "1"), ("Xmpp:Limits:TcpKeepAliveProbes", "2")));
        Assert.Equal(0, server.Options.Limits.KeepAliveSeconds);
        await server.AddUserAsync("ka-vanished");
        await using var c = await XmppTestClient.LoginAsync(server, "ka-vanished");
        await c.PingServerAsync(); // nothing left in flight towards it: keep-alive probes go only on a quiet connection
        var registry = server.Services.GetRequiredService<ISessionRegistry>();
        Assert.NotNull(registry.Find(c.Jid));
        c.Vanish();
        var until = DateTime.UtcNow.AddSeconds(30);
        while (registry.Find(c.Jid) is not null && DateTime.UtcNow < until) await Task.Delay(100);
        Assert.Null(registry.Find(c.Jid));
    }

    [Fact]
    public async Task Rfc6120_4_9_3_17_stopping_the_host_sends_system_shutdown()
    {
        var server = new TestServer(Plain());
        try
        {
            await server.AddUserAsync("shutdown");
            await using var c = await XmppTestClient.LoginAsync(server, "shutdown");
            await using var unauthenticated = await XmppTestClient.ConnectAsync(server.C2sEndPoint);
            await unauthenticated.OpenStreamAsync();
            var stop = server.StopAsync();
            await c.ExpectStreamErrorAsync("system-shutdown");
            await unauthenticated.ExpectStreamErrorAsync("system-shutdown");
            await stop.WaitAsync(TimeSpan.FromSeconds(20));
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    /// <summary>One node: a removal raises AccountRemoved, then AccountGone (the caches' event), once each.</summary>
    [Fact]
    public async Task An_account_removed_raises_AccountRemoved_then_AccountGone_once_each()
    {
        await using var server = new TestServer(Plain());
        var account = await server.AddUserAsync("gone-single");
        var seen = new System.Collections.Concurrent.ConcurrentQueue<Actors.Xmpp.Plugins.ServerEventKind>();
        var events = Actors.Xmpp.Server.Lifecycle.ServerEvents.Of(server.Services.GetRequiredService<Akka.Actor.ActorSystem>());
        Actors.Xmpp.Plugins.ServerEventHandler record = e =>
        {
            if (e.Jid.Equals(account)) seen.Enqueue(e.Kind);
            return ValueTask.CompletedTask;
        };
        using var removed = events.On(Actors.Xmpp.Plugins.ServerEventKind.AccountRemoved, record);
        using var gone = events.On(Actors.Xmpp.Plugins.ServerEventKind.AccountGone, record);

        Assert.True(await server.Services.GetRequiredService<Actors.Xmpp.Server.ServerContext>().AccountLifecycle.RemoveAsync(account));

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (seen.Count < 2 && DateTime.UtcNow < deadline) await Task.Delay(50);
        await Task.Delay(300); // nothing more comes
        Assert.Equal([Actors.Xmpp.Plugins.ServerEventKind.AccountRemoved, Actors.Xmpp.Plugins.ServerEventKind.AccountGone], seen);
    }
}
