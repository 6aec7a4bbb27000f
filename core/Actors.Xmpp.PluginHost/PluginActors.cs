using Akka.Actor;
using Akka.Event;
using Microsoft.Extensions.Logging;

namespace Actors.Xmpp.PluginHost;

/// <summary>
/// /user/plugins, and under it the parent of one loaded plugin's actors (/user/plugins/&lt;id&gt;-&lt;n&gt;). Host-owned: plugins never define
/// actor classes (Akka caches actor types for the life of the system, which would pin the plugin's load
/// context). Unloading the plugin stops this one subtree.
/// </summary>
internal sealed class PluginSupervisorActor : ReceiveActor
{
    /// <summary>Start a child; with <paramref name="Reply"/> the sender gets its IActorRef.</summary>
    public sealed record Spawn(Props Props, string Name, bool Reply = false);
    public sealed record StopChild(string Name);

    private readonly ILoggingAdapter _log = Context.GetLogger();

    public PluginSupervisorActor()
    {
        Receive<Spawn>(m =>
        {
            var child = Context.ActorOf(m.Props, m.Name);
            if (m.Reply) Sender.Tell(child);
        });
        Receive<StopChild>(m =>
        {
            var child = Context.Child(m.Name);
            if (!child.IsNobody()) Context.Stop(child);
        });
    }

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(ex =>
    {
        _log.Error(ex, "a plugin actor failed; restarting it");
        return Directive.Restart;
    });
}

/// <summary>Runs a plugin's periodic action (IPluginContext.Every): one run at a time, failures logged.</summary>
internal sealed class PluginTimerActor : ReceiveActor, IWithTimers
{
    private sealed record Tick
    {
        public static readonly Tick Instance = new();
    }

    private sealed record Done
    {
        public static readonly Done Instance = new();
    }

    private readonly CancellationTokenSource _stopping = new();
    private bool _running;

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(Func<CancellationToken, Task> action, TimeSpan interval, ILogger log) =>
        Akka.Actor.Props.Create(typeof(PluginTimerActor), action, interval, log);

    public PluginTimerActor(Func<CancellationToken, Task> action, TimeSpan interval, ILogger log)
    {
        Receive<Tick>(_ =>
        {
            if (_running) return;
            _running = true;
            var token = _stopping.Token;
            Task run;
            try
            {
                run = action(token);
            }
            catch (Exception ex)
            {
                run = Task.FromException(ex);
            }
            run.ContinueWith(t =>
            {
                if (t.IsFaulted) log.LogError(t.Exception, "a plugin timer failed");
                return Done.Instance;
            }, TaskScheduler.Default).PipeTo(Self);
        });
        Receive<Done>(_ => _running = false);
        _interval = interval;
    }

    private readonly TimeSpan _interval;

    protected override void PreStart() => Timers.StartPeriodicTimer("tick", Tick.Instance, _interval);

    protected override void PostStop()
    {
        _stopping.Cancel();
        _stopping.Dispose();
    }
}
