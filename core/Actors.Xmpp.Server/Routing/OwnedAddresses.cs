using Actors.Xmpp.Plugins;
using Actors.Xmpp.Stanzas;
using Actors.Xmpp.Xml;
using Microsoft.Extensions.Logging;

namespace Actors.Xmpp.Server.Routing;

/// <summary>
/// The addresses plugins own (plugin contract v2): service JIDs (a subdomain of every served domain, with everything
/// under it) and namespaces on accounts' bare JIDs. The router asks here before its own processing; a stanza taken
/// here goes to the owner's handler on the caller's thread. A handler that throws or faults gets its stanza bounced with
/// &lt;internal-server-error/&gt; (RFC 6120 §8.3.3.8). Tables are copy-on-write: lookups take no lock.
/// </summary>
public sealed class OwnedAddresses
{
    private readonly StanzaRouter _router;
    private readonly IReadOnlyList<string> _domains;
    private readonly ILogger _log;
    private readonly object _lock = new();
    private volatile Dictionary<string, Service> _services = new(StringComparer.Ordinal);        // by service domain
    private volatile Dictionary<string, AccountNamespace> _namespaces = new(StringComparer.Ordinal); // by namespace

    private sealed record Service(string Owner, string Domain, DiscoInfo Info, AddressHandler Handler);
    private sealed record AccountNamespace(string Owner, string Ns, AccountStanzas Kinds, AddressHandler Handler);

    internal OwnedAddresses(StanzaRouter router, IReadOnlyList<string> domains, ILogger log)
    {
        _router = router;
        _domains = domains;
        _log = log;
    }

    /// <summary>Owns &lt;subdomain&gt;.&lt;d&gt; for every served domain d. Throws if one is served or owned already.</summary>
    public IDisposable AddService(string owner, string subdomain, DiscoInfo info, AddressHandler handler)
    {
        var added = new List<string>();
        foreach (var domain in _domains)
        {
            if (!Jid.TryParse(subdomain + "." + domain, out var jid) || jid is null || !jid.IsDomain)
                throw new ArgumentException($"'{subdomain}' does not make a service JID under {domain}", nameof(subdomain));
            added.Add(jid.Domain);
        }
        lock (_lock)
        {
            var next = new Dictionary<string, Service>(_services, StringComparer.Ordinal);
            foreach (var domain in added)
            {
                if (_router.IsLocalDomain(domain)) throw new InvalidOperationException($"{domain} is a domain this server serves");
                if (_router.Components.IsComponent(domain)) throw new InvalidOperationException($"{domain} is a component's domain");
                if (next.TryGetValue(domain, out var existing))
                    throw new InvalidOperationException($"{domain} is owned by plugin '{existing.Owner}' already");
                next[domain] = new Service(owner, domain, info, handler);
            }
            _services = next;
        }
        return new Undo(() =>
        {
            lock (_lock)
            {
                var next = new Dictionary<string, Service>(_services, StringComparer.Ordinal);
                foreach (var domain in added)
                    if (next.TryGetValue(domain, out var s) && ReferenceEquals(s.Handler, handler)) next.Remove(domain);
                _services = next;
            }
        });
    }

    /// <summary>Owns <paramref name="ns"/> on accounts' bare JIDs. Throws if another plugin owns it.</summary>
    public IDisposable AddAccountNamespace(string owner, string ns, AccountStanzas kinds, AddressHandler handler)
    {
        if (string.IsNullOrEmpty(ns)) throw new ArgumentException("a namespace is required", nameof(ns));
        var entry = new AccountNamespace(owner, ns, kinds, handler);
        lock (_lock)
        {
            if (_namespaces.TryGetValue(ns, out var existing))
                throw new InvalidOperationException($"the account namespace {ns} is owned by plugin '{existing.Owner}' already");
            _namespaces = new Dictionary<string, AccountNamespace>(_namespaces, StringComparer.Ordinal) { [ns] = entry };
        }
        return new Undo(() =>
        {
            lock (_lock)
            {
                if (!_namespaces.TryGetValue(ns, out var current) || !ReferenceEquals(current, entry)) return;
                var next = new Dictionary<string, AccountNamespace>(_namespaces, StringComparer.Ordinal);
                next.Remove(ns);
                _namespaces = next;
            }
        });
    }

    /// <summary>True when <paramref name="domain"/> is a service JID's domain owned by a plugin.</summary>
    public bool IsService(string domain) => _services.ContainsKey(domain);

    /// <summary>The owned services and the XEP-0114 component domains under a served domain, as disco items.</summary>
    public IReadOnlyList<DiscoItem> Services(string domain)
    {
        var list = new List<DiscoItem>();
        foreach (var c in _router.Components.Domains)
            if (c.Length > domain.Length && c.EndsWith(domain, StringComparison.Ordinal) && c[^(domain.Length + 1)] == '.')
                list.Add(new DiscoItem(c, null, null));
        foreach (var s in _services.Values)
            if (s.Domain.Length > domain.Length && s.Domain.EndsWith(domain, StringComparison.Ordinal) && s.Domain[^(domain.Length + 1)] == '.')
                list.Add(new DiscoItem(s.Domain, null, s.Info.Identities.Count > 0 ? s.Info.Identities[0].Name : null));
        list.Sort((a, b) => string.CompareOrdinal(a.Jid, b.Jid));
        return list;
    }

    /// <summary>A stanza to a domain that is not served: true when a plugin's service took it.</summary>
    internal bool TryService(Element stanza, Jid from, Jid to)
    {
        if (!_services.TryGetValue(to.Domain, out var service)) return false;
        if (to.IsDomain && stanza.Name == "iq" && stanza.Type == "get" && stanza.FirstChild() is { } q
            && q.Is("query", Ns.DiscoInfo) && q.Attr("node") is null)
        {
            _router.Route(DiscoInfoResult(stanza, service.Info), to, from); // XEP-0030 §3.1, from the registration
            return true;
        }
        Invoke(service.Handler, service.Owner, stanza, from, to);
        return true;
    }

    /// <summary>A stanza to an existing account's bare JID: true when a plugin owning its namespace took it.</summary>
    internal bool TryAccount(Element stanza, Jid from, Jid to)
    {
        var namespaces = _namespaces;
        if (namespaces.Count == 0) return false;
        AccountNamespace? owner = null;
        switch (stanza.Name)
        {
            case "iq":
                if (stanza.Type is "get" or "set" && stanza.FirstChild() is { } payload
                    && namespaces.TryGetValue(payload.Namespace, out var n) && (n.Kinds & AccountStanzas.Iq) != 0)
                    owner = n;
                break;
            case "message":
            case "presence":
                var kind = stanza.Name == "message" ? AccountStanzas.Message : AccountStanzas.Presence;
                foreach (var node in stanza.Nodes)
                {
                    if (node is Element child && namespaces.TryGetValue(child.Namespace, out var c) && (c.Kinds & kind) != 0)
                    {
                        owner = c;
                        break;
                    }
                }
                break;
        }
        if (owner is null) return false;
        Invoke(owner.Handler, owner.Owner, stanza, from, to);
        return true;
    }

    private void Invoke(AddressHandler handler, string owner, Element stanza, Jid from, Jid to)
    {
        ValueTask pending;
        try
        {
            pending = handler(new AddressedStanza(stanza, from, to));
        }
        catch (Exception ex)
        {
            Failed(ex, owner, stanza);
            return;
        }
        if (!pending.IsCompletedSuccessfully) _ = Observe(pending, owner, stanza);
    }

    private async Task Observe(ValueTask pending, string owner, Element stanza)
    {
        try
        {
            await pending.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Failed(ex, owner, stanza);
        }
    }

    private void Failed(Exception ex, string owner, Element stanza)
    {
        _log.LogError(ex, "the address handler of plugin {Plugin} failed on a {Stanza} to {To}", owner, stanza.Name, stanza.To);
        _router.Bounce(stanza, "internal-server-error");
    }

    private static Element DiscoInfoResult(Element iq, DiscoInfo info)
    {
        var query = new Element("query", Ns.DiscoInfo);
        foreach (var i in info.Identities)
            query.Add(new Element("identity", Ns.DiscoInfo).SetAttr("category", i.Category).SetAttr("type", i.Type).SetAttr("name", i.Name));
        var hasDisco = false;
        foreach (var f in info.Features) hasDisco |= f == Ns.DiscoInfo;
        if (!hasDisco) query.Add(new Element("feature", Ns.DiscoInfo).SetAttr("var", Ns.DiscoInfo)); // XEP-0030 §3.1: MUST
        foreach (var f in info.Features) query.Add(new Element("feature", Ns.DiscoInfo).SetAttr("var", f));
        foreach (var form in info.Forms) query.Add(form.Clone());
        return StanzaErrors.IqResult(iq, query);
    }

    private sealed class Undo(Action undo) : IDisposable
    {
        private Action? _undo = undo;
        public void Dispose() => Interlocked.Exchange(ref _undo, null)?.Invoke();
    }
}
