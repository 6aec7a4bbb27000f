using Actors.Xmpp.Xml;
using Akka.Actor;

namespace Actors.Xmpp.Server.Routing;

/// <summary>
/// The XEP-0114 component domains this server knows (configured with a secret) and the link each is connected on.
/// The router asks here for a stanza to a domain it does not serve; a configured domain whose component is not
/// connected answers &lt;service-unavailable/&gt; (RFC 6120 §8.3.3.19). One link per domain: a second one is refused
/// (<see cref="TryAttach"/>). Copy-on-write: lookups take no lock.
/// </summary>
public sealed class ComponentRoutes
{
    private readonly object _lock = new();
    private readonly HashSet<string> _configured;
    private volatile Dictionary<string, IActorRef> _links = new(StringComparer.Ordinal);

    public ComponentRoutes(IEnumerable<string> domains) => _configured = new HashSet<string>(domains, StringComparer.Ordinal);

    /// <summary>What the router tells a component's link: a stanza for the component (its 'to' is the component's
    /// domain or a JID at it), in whatever content namespace it was built.</summary>
    public sealed record Deliver(Element Stanza);

    /// <summary>The configured component domains.</summary>
    public IReadOnlyCollection<string> Domains => _configured;

    public bool IsComponent(string domain) => _configured.Contains(domain);

    /// <summary>The link of a connected component, or null.</summary>
    public IActorRef? Link(string domain) => _links.TryGetValue(domain, out var link) ? link : null;

    /// <summary>Makes <paramref name="link"/> the route of <paramref name="domain"/>; false when another link holds it.</summary>
    public bool TryAttach(string domain, IActorRef link)
    {
        lock (_lock)
        {
            if (_links.TryGetValue(domain, out var current)) return current.Equals(link);
            _links = new Dictionary<string, IActorRef>(_links, StringComparer.Ordinal) { [domain] = link };
            return true;
        }
    }

    /// <summary>Removes the route of <paramref name="domain"/> if <paramref name="link"/> holds it.</summary>
    public void Detach(string domain, IActorRef link)
    {
        lock (_lock)
        {
            if (!_links.TryGetValue(domain, out var current) || !current.Equals(link)) return;
            var next = new Dictionary<string, IActorRef>(_links, StringComparer.Ordinal);
            next.Remove(domain);
            _links = next;
        }
    }
}
