using System.Collections.Immutable;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Disco;

/// <summary>Answers disco#info and disco#items and keeps what other plugins add through <see cref="IDisco"/>.</summary>
internal sealed class DiscoService(IServerFeatures registry, IOwnedAddresses addresses) : IDisco
{
    public const string InfoNs = "http://jabber.org/protocol/disco#info";
    public const string ItemsNs = "http://jabber.org/protocol/disco#items";

    private readonly object _lock = new();
    private ImmutableList<(IqScope Scope, Func<Element> Form)> _forms = [];
    private ImmutableList<(IqScope Scope, string? Node, Func<IqRequest, IEnumerable<DiscoItem>> Items)> _items = [];
    private ImmutableList<(IqScope Scope, string Node, Func<IqRequest, DiscoInfo?> Info)> _nodes = [];

    public DiscoInfo Info(IqScope scope) =>
        new(registry.Identities(scope), registry.Features(scope), _forms.Where(f => (f.Scope & scope) != 0).Select(f => f.Form()).ToList());

    public IDisposable AddExtendedInfo(IqScope scope, Func<Element> form) => Add(ref _forms, (scope, form));
    public IDisposable AddItems(IqScope scope, string? node, Func<IqRequest, IEnumerable<DiscoItem>> items) => Add(ref _items, (scope, node, items));
    public IDisposable AddNode(IqScope scope, string node, Func<IqRequest, DiscoInfo?> info) => Add(ref _nodes, (scope, node, info));

    public ValueTask<Element> InfoQuery(IqRequest r)
    {
        var scope = r.To.IsDomain ? IqScope.Server : IqScope.Account;
        var node = r.Payload.Attr("node");
        DiscoInfo? info = null;
        if (node is null) info = Info(scope);
        else
        {
            foreach (var n in _nodes)
            {
                if ((n.Scope & scope) == 0 || !Matches(n.Node, node)) continue;
                info = n.Info(r);
                if (info is not null) break;
            }
            if (info is null) return r.Fail("item-not-found", $"no node '{node}'");
        }
        var query = new Element("query", InfoNs).SetAttr("node", node);
        foreach (var i in info.Identities)
            query.Add(new Element("identity", InfoNs).SetAttr("category", i.Category).SetAttr("type", i.Type).SetAttr("name", i.Name));
        foreach (var f in info.Features) query.Add(new Element("feature", InfoNs).SetAttr("var", f));
        foreach (var form in info.Forms) query.Add(form);
        return r.Ok(query);
    }

    public ValueTask<Element> ItemsQuery(IqRequest r)
    {
        var scope = r.To.IsDomain ? IqScope.Server : IqScope.Account;
        var node = r.Payload.Attr("node");
        var query = new Element("query", ItemsNs).SetAttr("node", node);
        var known = node is null;
        if (node is null && scope == IqScope.Server)
            foreach (var service in addresses.Services(r.To.Domain)) // services plugins own (pubsub.<domain>, ...)
                query.Add(new Element("item", ItemsNs).SetAttr("jid", service.Jid).SetAttr("name", service.Name));
        foreach (var p in _items)
        {
            if ((p.Scope & scope) == 0 || p.Node != node) continue;
            known = true;
            foreach (var item in p.Items(r))
                query.Add(new Element("item", ItemsNs).SetAttr("jid", item.Jid).SetAttr("node", item.Node).SetAttr("name", item.Name));
        }
        return known ? r.Ok(query) : r.Fail("item-not-found", $"no node '{node}'");
    }

    /// <summary>A registered node ending in '*' matches every node with that prefix (XEP-0115 node#ver).</summary>
    private static bool Matches(string registered, string node) =>
        registered.EndsWith('*') ? node.StartsWith(registered[..^1], StringComparison.Ordinal) : registered == node;

    private IDisposable Add<T>(ref ImmutableList<T> list, T entry) where T : notnull
    {
        lock (_lock) list = list.Add(entry);
        return new Registration(this, entry);
    }

    private sealed class Registration(DiscoService owner, object entry) : IDisposable
    {
        public void Dispose()
        {
            lock (owner._lock)
            {
                switch (entry)
                {
                    case ValueTuple<IqScope, Func<Element>> f: owner._forms = owner._forms.Remove(f); break;
                    case ValueTuple<IqScope, string?, Func<IqRequest, IEnumerable<DiscoItem>>> i: owner._items = owner._items.Remove(i); break;
                    case ValueTuple<IqScope, string, Func<IqRequest, DiscoInfo?>> n: owner._nodes = owner._nodes.Remove(n); break;
                }
            }
        }
    }
}
