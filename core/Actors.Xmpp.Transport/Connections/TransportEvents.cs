using Actors.Xmpp.Transport.Framing;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Transport.Connections;

/// <summary>
/// What a transport tells the actor that owns a connection. The same messages come from every transport
/// (TCP with STARTTLS, direct TLS, and later WebSocket and BOSH), so the connection actor never sees a socket.
/// </summary>
public static class TransportEvents
{
    public sealed record StreamOpened(StreamHeader Header);
    /// <summary>A complete top-level element. The owner must call <see cref="ITransportConnection.Processed"/> once handled (read back-pressure).</summary>
    public sealed record StanzaReceived(Element Element);
    public sealed record StreamClosed;
    /// <summary>A stanza began in a read and did not complete in it (its '&lt;' arrived at
    /// <see cref="ITransportConnection.StanzaStartedTicks"/>): the owner may set a deadline to complete it. Told once
    /// per partial stanza, never for a stanza that arrives whole.</summary>
    public sealed record StanzaStarted;
    public sealed record FramingFailed(FramerErrorCondition Condition, string Text);
    public sealed record TlsEstablished;
    public sealed record TlsFailed(string Reason);
    /// <summary>The socket is gone (peer closed, reset, or our own close completed). Always the last event.</summary>
    public sealed record ConnectionLost(string Reason);

    public static readonly StreamClosed StreamClosedInstance = new();
    public static readonly StanzaStarted StanzaStartedInstance = new();
    public static readonly TlsEstablished TlsEstablishedInstance = new();
}
