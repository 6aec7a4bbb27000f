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

    /// <summary>A socket accepted on the component port; <paramref name="Release"/> gives its listener slot back.</summary>
    public sealed record Accepted(Socket Socket, Action Release);

    private readonly Dictionary<IActorRef, Action> _releases = new();

    public ComponentsActor(ServerContext server, IReadOnlyDictionary<string, string> secrets)
    {
        var materializer = Context.Materializer(namePrefix: "component"); // the links' graphs, stopped with this actor
        Receive<Accepted>(m =>
        {
            var link = Context.ActorOf(ComponentLinkActor.Props(m.Socket, materializer, server, secrets));
            _releases[link] = m.Release;
            Context.Watch(link);
        });
        Receive<Terminated>(m =>
        {
            if (_releases.Remove(m.ActorRef, out var release)) release();
        });
    }

    public static Props Props(ServerContext server, IReadOnlyDictionary<string, string> secrets) =>
        ActorProps.Of(() => new ComponentsActor(server, secrets));

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);
}
