using Actors.Xmpp.Transport.Connections;
using Akka.Actor;

namespace Actors.Benchmarks.IdleConnections;

/// <summary>The trivial per-connection actor of mode <c>ours</c>: answers the stream header, acknowledges stanzas, and
/// answers &lt;starttls/&gt; with &lt;proceed/&gt;.</summary>
internal sealed class OursConnectionActor : UntypedActor
{
    private const string TlsNs = "urn:ietf:params:xml:ns:xmpp-tls";
    private readonly SocketConnection _connection;
    private readonly int _replyBytes;

    public OursConnectionActor(SocketConnection connection, int replyBytes)
    {
        _connection = connection;
        _replyBytes = replyBytes;
    }

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case TransportEvents.StreamOpened:
                _connection.SendRaw(Wire.ServerHeader);
                // whitespace between stanzas is allowed: a stand-in for a large stanza (e.g. a roster) sent over TLS
                if (_replyBytes > 0 && _connection.IsSecure) _connection.SendRaw(Wire.Whitespace(_replyBytes));
                break;
            case TransportEvents.StanzaReceived r when r.Element.Is("starttls", TlsNs):
                _connection.StartTls(); // before <proceed/> can reach the client (its ClientHello may follow at once)
                _connection.SendRaw(Wire.Proceed);
                _connection.Processed();
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
