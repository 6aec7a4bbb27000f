using Actors.Xmpp.Transport.Connections;
using Akka.Actor;

namespace Actors.Benchmarks.IdleConnections;

/// <summary>The trivial per-connection actor of mode <c>ours</c>: answers the stream header, acknowledges stanzas.</summary>
internal sealed class OursConnectionActor : UntypedActor
{
    private readonly SocketConnection _connection;

    public OursConnectionActor(SocketConnection connection) => _connection = connection;

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case TransportEvents.StreamOpened:
                _connection.SendRaw(Wire.ServerHeader);
                break;
            case TransportEvents.StanzaReceived:
                _connection.Processed();
                Interlocked.Increment(ref Counters.Stanzas);
                break;
            case TransportEvents.ConnectionLost:
                Interlocked.Increment(ref Counters.Closed);
                Context.Stop(Self);
                break;
        }
    }
}
