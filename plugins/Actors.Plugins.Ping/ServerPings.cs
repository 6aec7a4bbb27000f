using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;
using Microsoft.Extensions.Logging;

namespace Actors.Plugins.Ping;

/// <summary>Options (Xmpp:Plugins:ping).</summary>
public sealed class PingOptions
{
    /// <summary>Ping a client that sent nothing for this many seconds; 0 turns server pings off.</summary>
    [Range(0, 86400)]
    public double IdleSeconds { get; set; } = 300;
    /// <summary>A client that does not answer within this many seconds is disconnected.</summary>
    [Range(0.1, 3600)]
    public double TimeoutSeconds { get; set; } = 30;
}

/// <summary>Server-initiated pings (XEP-0199 §4.2 server-to-client): any answer, even an error, proves the client alive.</summary>
internal static class ServerPings
{
    public static void Start(IPluginContext ctx, PingOptions options)
    {
        if (options.IdleSeconds <= 0)
        {
            ctx.AddCommand(Status(options, () => (0, 0)));
            return;
        }
        var sessions = ctx.Require<ISessions>();
        var idle = TimeSpan.FromSeconds(options.IdleSeconds);
        var timeout = TimeSpan.FromSeconds(Math.Max(0.1, options.TimeoutSeconds));
        var lastSeen = new ConcurrentDictionary<Jid, long>();
        var pinging = new ConcurrentDictionary<Jid, bool>();
        // The earliest a watched client can be due (Environment.TickCount64): before it the timer looks at nothing,
        // so that an idle server is not walked session by session every half interval (at 10,000 sessions each walk
        // cost about 15 ms; docs/benchmarks.md, idle CPU). Every client's deadline is its last-seen time plus the
        // idle time, and last-seen only moves later, so it is never after any client's deadline: a new session is
        // seen from its bind on, after the walk that set it.
        long nextWalk = 0;

        ctx.Hook(HookPoint.FromClient, 1000, e =>
        {
            lastSeen[e.Session] = Environment.TickCount64;
            return false;
        });
        ctx.On(ServerEventKind.SessionBound, e =>
        {
            lastSeen[e.Jid] = Environment.TickCount64;
            return ValueTask.CompletedTask;
        });
        ctx.On(ServerEventKind.SessionClosed, e =>
        {
            lastSeen.TryRemove(e.Jid, out _);
            return ValueTask.CompletedTask;
        });
        ctx.Every(TimeSpan.FromSeconds(Math.Clamp(options.IdleSeconds / 2, 0.2, 30)), ct =>
        {
            var now = Environment.TickCount64;
            if (now < Volatile.Read(ref nextWalk)) return Task.CompletedTask;
            var idleMillis = (long)idle.TotalMilliseconds;
            var next = now + idleMillis;
            var online = sessions.List().Where(s => s.OnThisNode).ToList(); // each node pings its own clients
            var alive = new HashSet<Jid>(online.Select(s => s.Jid));
            foreach (var gone in lastSeen.Keys.Where(j => !alive.Contains(j))) lastSeen.TryRemove(gone, out _);
            foreach (var s in online)
            {
                var seen = lastSeen.GetOrAdd(s.Jid, now);
                if (pinging.ContainsKey(s.Jid))
                {
                    next = Math.Min(next, now + (long)timeout.TotalMilliseconds); // answered or dropped by then
                    continue;
                }
                if (now - seen < idleMillis)
                {
                    next = Math.Min(next, seen + idleMillis);
                    continue;
                }
                if (!pinging.TryAdd(s.Jid, true)) continue;
                next = Math.Min(next, now + (long)timeout.TotalMilliseconds);
                _ = PingAsync(s.Jid);
            }
            Volatile.Write(ref nextWalk, next);
            return Task.CompletedTask;
        });

        ctx.AddCommand(Status(options, () => (lastSeen.Count, pinging.Count)));

        async Task PingAsync(Jid client)
        {
            try
            {
                var ping = new Element("iq", Actors.Xmpp.Ns.Client).SetAttr("type", "get").SetAttr("from", ctx.Domains[0]).SetAttr("to", client.ToString());
                ping.Add(new Element("ping", PingPlugin.Ns));
                await ctx.SendIqAsync(ping, timeout);
                lastSeen[client] = Environment.TickCount64;
            }
            catch (TimeoutException)
            {
                ctx.Logger.LogInformation("{Client} did not answer a ping within {Timeout}; disconnecting it", client, timeout);
                sessions.Kick(client, "connection-timeout", "no answer to ping");
                lastSeen.TryRemove(client, out _);
            }
            finally
            {
                pinging.TryRemove(client, out _);
            }
        }
    }

    /// <summary>`actors-server plugin command ping status` (and XEP-0050 for administrators).</summary>
    private static AdminCommand Status(PingOptions options, Func<(int Watched, int Pinging)> counts) =>
        new("status", "Server pings: settings and clients being watched", (_, _) =>
        {
            var (watched, pinging) = counts();
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            return Task.FromResult(CommandResult.Data(
            [
                ResultField.Of("idle-seconds", options.IdleSeconds.ToString(inv), "Ping a client silent for (s), 0: off"),
                ResultField.Of("timeout-seconds", options.TimeoutSeconds.ToString(inv), "Disconnect a client that does not answer within (s)"),
                ResultField.Of("watched", watched.ToString(inv), "Clients watched"),
                ResultField.Of("pinging", pinging.ToString(inv), "Pings awaiting an answer"),
            ], options.IdleSeconds > 0 ? $"server pings after {options.IdleSeconds} s of silence" : "server pings are off"));
        })
        { Access = CommandAccess.Admin };
}
