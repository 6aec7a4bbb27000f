using Actors.Xmpp.Xml;
using Akka.Actor;

namespace Actors.Xmpp.Server.Routing;

/// <summary>
/// The router's way out to other servers (RFC 6120 server-to-server): once the s2s parent actor is attached
/// (<c>Xmpp:S2s:Port</c> ≥ 0), a stanza to a domain that is neither served, a component nor a plugin's service is told
/// to it; before that (federation off) the router answers &lt;remote-server-not-found/&gt;.
/// </summary>
public sealed class S2sRoutes
{
    private volatile IActorRef? _s2s;

    /// <summary>What the router tells the s2s parent: a stanza (jabber:client, 'from' at <paramref name="Local"/>, a
    /// hosted domain) for <paramref name="Remote"/>.</summary>
    public sealed record Outbound(Element Stanza, string Local, string Remote);

    public bool Enabled => _s2s is not null;

    public void Attach(IActorRef s2s) => _s2s = s2s;

    public void Detach() => _s2s = null;

    /// <summary>False when federation is off (the caller answers for it).</summary>
    public bool TrySend(Element stanza, Jid from, Jid to)
    {
        var s2s = _s2s;
        if (s2s is null) return false;
        s2s.Tell(new Outbound(stanza, from.Domain, to.Domain));
        return true;
    }
}
