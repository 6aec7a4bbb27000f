using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Private;

/// <summary>
/// XEP-0049 private XML storage: an account keeps XML fragments on its server, one per (element name, namespace),
/// readable and writable by itself only. Stored in the map "private" of the account, keyed "{namespace} name".
/// </summary>
[Xep(49, "1.2")]
public sealed class PrivatePlugin : IXmppPlugin
{
    public const string Ns = "jabber:iq:private";

    public PluginDescriptor Descriptor { get; } = new("private", "1.0.0");

    public void Configure(IPluginContext ctx)
    {
        var store = ctx.Storage.Map("private");
        ctx.AddFeature(Ns, IqScope.Both);
        ctx.HandleIq("get", IqScope.Account, Ns, "query", r => Get(store, r));
        ctx.HandleIq("set", IqScope.Account, Ns, "query", r => Set(store, r));
        // XEP-0227 §4.5: the account's stored elements as one <query xmlns='jabber:iq:private'/>
        ctx.AddPortableData(new PortableAccountData("query", Ns,
            async (account, _) =>
            {
                var all = await store.GetAllAsync(account);
                if (all.Count == 0) return [];
                var query = new Element("query", Ns);
                foreach (var entry in all)
                    if (entry.Value?.Xml is { } xml) query.Add(xml);
                return [query];
            },
            async (account, query, _) =>
            {
                var entries = new List<StoredEntry>();
                foreach (var child in query.Elements())
                    if (child.Namespace is not (Xmpp.Ns.Client or Xmpp.Ns.Server or Ns) && child.Namespace.Length > 0)
                        entries.Add(new StoredEntry(KeyOf(child), StoredValue.Of(child.Clone())));
                if (entries.Count > 0) await store.SetManyAsync(account, entries);
            }));
    }

    /// <summary>"{namespace} name": the key of a fragment.</summary>
    public static string KeyOf(Element e) => "{" + e.Namespace + "} " + e.Name;

    /// <summary>§3: only the account itself; one child (get) or at least one (set); no namespace of the stream.</summary>
    private static Element? Check(IqRequest r, List<Element> children)
    {
        if (!r.From.Bare.Equals(r.To.Bare)) return r.Error("forbidden", "private storage is readable by its owner only");
        if (children.Count == 0 || (!r.IsSet && children.Count != 1))
            return r.Error("bad-request", "exactly one child element is expected (XEP-0049)");
        foreach (var c in children)
            if (c.Namespace is Xmpp.Ns.Client or Xmpp.Ns.Server or Ns || c.Namespace.Length == 0)
                return r.Error("not-acceptable", "this namespace cannot be used for private storage");
        return null;
    }

    private static async ValueTask<Element> Get(IStoreMap store, IqRequest r)
    {
        var children = r.Payload.Elements().ToList();
        if (Check(r, children) is { } error) return error;
        var asked = children[0];
        var stored = await store.GetAsync(r.To.Bare, KeyOf(asked));
        // §3.2: nothing stored: the empty element that was asked for
        return r.Result(new Element("query", Ns).Add(stored?.Xml ?? new Element(asked.Name, asked.Namespace)));
    }

    private static async ValueTask<Element> Set(IStoreMap store, IqRequest r)
    {
        var children = r.Payload.Elements().ToList();
        if (Check(r, children) is { } error) return error;
        var entries = new StoredEntry[children.Count];
        for (var i = 0; i < entries.Length; i++) entries[i] = new StoredEntry(KeyOf(children[i]), StoredValue.Of(children[i].Clone()));
        await store.SetManyAsync(r.To.Bare, entries); // a StorageException is answered with <internal-server-error/>
        return r.Result();
    }
}
