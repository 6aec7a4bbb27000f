using Actors.Xmpp.Transport.Connections;
using Akka.Actor;
using Akka.Event;

namespace Actors.Xmpp.Server.C2s;

/// <summary>
/// Parent of every <see cref="C2sConnectionActor"/>. A connection actor that throws is stopped (its socket is
/// aborted in PostStop), never restarted: its stream state cannot be rebuilt. On server shutdown it sends
/// &lt;system-shutdown/&gt; to every stream and answers once they are all gone.
/// </summary>
public sealed class ConnectionsActor : ReceiveActor
{
    /// <summary>A new client connection, of any transport.</summary>
    public sealed record Accepted(ITransportConnection Connection);
    public sealed record ShutdownAll
    {
        public static readonly ShutdownAll Instance = new();
    }
    public sealed record AllClosed
    {
        public static readonly AllClosed Instance = new();
    }
    public sealed record GetCount
    {
        public static readonly GetCount Instance = new();
    }

    private readonly ServerContext _server;
    private readonly IActorRef _sessions;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private IActorRef? _shutdownRequester;
    private int _children;

    /// <param name="sessions">The sessions supervisor the connections open their sessions with.</param>
    public static Props Props(ServerContext server, IActorRef sessions) => Akka.Actor.Props.Create(typeof(ConnectionsActor), server, sessions);

    public ConnectionsActor(ServerContext server, IActorRef sessions)
    {
        _server = server;
        _sessions = sessions;
        Receive<Accepted>(m =>
        {
            if (_shutdownRequester is not null)
            {
                m.Connection.Abort();
                return;
            }
            var child = Context.ActorOf(C2sConnectionActor.Props(_server, m.Connection, _sessions), m.Connection.Id);
            Context.Watch(child);
            _children++;
            Diagnostics.XmppMetrics.ConnectionOpened();
            m.Connection.Start(child);
        });
        Receive<Terminated>(_ =>
        {
            _children--;
            Diagnostics.XmppMetrics.ConnectionClosed();
            if (_children == 0 && _shutdownRequester is not null) _shutdownRequester.Tell(AllClosed.Instance);
        });
        Receive<GetCount>(_ => Sender.Tell(_children));
        Receive<ShutdownAll>(_ =>
        {
            _shutdownRequester = Sender;
            if (_children == 0)
            {
                Sender.Tell(AllClosed.Instance);
                return;
            }
            foreach (var child in Context.GetChildren())
                child.Tell(C2sConnectionActor.CloseWithStreamError.SystemShutdown);
        });
    }

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(ex =>
    {
        _log.Error(ex, "connection actor failed; closing that connection");
        return Directive.Stop;
    });
}
