using System.Net.Sockets;
using Akka.Actor;
using Akka.Streams;

namespace Actors.Xmpp.Server.Components;

/// <summary>
/// Parent and supervisor of the XEP-0114 component links (<c>/user/components</c>): a failing link is stopped, never
/// restarted (its socket is gone with it), and its listener slot is given back when it stops.
/// </summary>
public sealed class ComponentsActor : ReceiveActor
{
    public const string Name = "components";
    /// <summary>Component connections open at once (authenticated or not); past that the listener stops accepting.</summary>
    public const int MaxLinks = 256;

    /// <summary>A socket accepted on the component port; <paramref name="Release"/> gives its listener slot back.</summary>
    public sealed record Accepted(Socket Socket, Action Release);

    /// <summary>Server shutdown: every link closes with &lt;system-shutdown/&gt;; <see cref="AllClosed"/> answers once all are gone.</summary>
    public sealed record ShutdownAll
    {
        public static readonly ShutdownAll Instance = new();
    }

    public sealed record AllClosed
    {
        public static readonly AllClosed Instance = new();
    }

    private readonly Dictionary<IActorRef, Action> _releases = new();
    private IActorRef? _shutdownRequester;

    public ComponentsActor(ServerContext server, IReadOnlyDictionary<string, string> secrets)
    {
        var materializer = Context.Materializer(namePrefix: "component"); // the links' graphs, stopped with this actor
        Receive<Accepted>(m =>
        {
            if (_shutdownRequester is not null)
            {
                m.Socket.Dispose();
                m.Release();
                return;
            }
            var link = Context.ActorOf(ComponentLinkActor.Props(m.Socket, materializer, server, secrets));
            _releases[link] = m.Release;
            Context.Watch(link);
        });
        Receive<Terminated>(m =>
        {
            if (_releases.Remove(m.ActorRef, out var release)) release();
            if (_releases.Count == 0) _shutdownRequester?.Tell(AllClosed.Instance);
        });
        Receive<ShutdownAll>(_ =>
        {
            _shutdownRequester = Sender;
            if (_releases.Count == 0) Sender.Tell(AllClosed.Instance);
            foreach (var link in _releases.Keys) link.Tell(ComponentLinkActor.SystemShutdown.Instance);
        });
    }

    public static Props Props(ServerContext server, IReadOnlyDictionary<string, string> secrets) =>
        ActorProps.Of(() => new ComponentsActor(server, secrets));

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);
}
