using Actors.Xmpp.Xml;
using Microsoft.Extensions.Logging;

namespace Actors.Xmpp.Plugins;

/// <summary>
/// What the host hands a plugin in <see cref="IXmppPlugin.Configure"/>. Every method that registers something
/// returns an IDisposable that the host also keeps in the plugin's ledger and disposes on unload: plugins may
/// ignore the return values.
/// </summary>
public partial interface IPluginContext
{
    /// <summary>The plugin's id (as in its descriptor).</summary>
    string PluginId { get; }
    /// <summary>The domains this server serves; the first is the default.</summary>
    IReadOnlyList<string> Domains { get; }
    ILogger Logger { get; }

    /// <summary>Options bound from the configuration section Xmpp:Plugins:&lt;id&gt; (defaults from the type), then
    /// validated with their System.ComponentModel.DataAnnotations attributes and <c>IValidatableObject</c>: invalid
    /// options throw, and the plugin fails to load with the key and the reason.</summary>
    T Options<T>() where T : class, new();

    // ---- service discovery (XEP-0030) ----
    IDisposable AddFeature(string feature, IqScope scope = IqScope.Server);
    IDisposable AddIdentity(string category, string type, string? name = null, IqScope scope = IqScope.Server);

    // ---- stanzas ----
    /// <summary>Answers IQs of this type ("get"/"set") whose payload is &lt;name xmlns=ns/&gt;, addressed to the
    /// server (Server scope) or to an account's bare JID (Account scope). Prosody's iq-get/host/ns:name.</summary>
    IDisposable HandleIq(string type, IqScope scope, string ns, string name, IqHandler handler);
    /// <summary>Runs <paramref name="handler"/> at <paramref name="point"/>; higher priorities run first and a handler
    /// that returns true stops the chain (and the server's own processing of the stanza).</summary>
    IDisposable Hook(HookPoint point, int priority, StanzaHook handler);
    /// <summary>An element added to the stream features a client sees after authentication (next to &lt;bind/&gt;);
    /// the provider may return null.</summary>
    IDisposable AddStreamFeature(Func<Element?> provider);
    /// <summary>Routes a stanza as if the server sent it ('from' must be set: the domain or a local JID).</summary>
    void SendStanza(Element stanza);
    /// <summary>Sends an IQ get/set from the server (an 'id' is assigned if missing) and completes with the
    /// result or error reply; fails with TimeoutException.</summary>
    Task<Element> SendIqAsync(Element iq, TimeSpan timeout);

    // ---- services between plugins (interfaces must live in this contract) ----
    IDisposable Provide<T>(T service) where T : class;
    /// <summary>A service of the host or another plugin; throws with a clear message if none is provided
    /// (declare the provider as a dependency so that it loads first).</summary>
    T Require<T>() where T : class;
    T? Optional<T>() where T : class;

    // ---- time ----
    /// <summary>Runs <paramref name="action"/> every <paramref name="interval"/> on a host-owned actor under this
    /// plugin's supervisor (never two runs at once). An exception is logged and the timer keeps running.</summary>
    IDisposable Every(TimeSpan interval, Func<CancellationToken, Task> action);

    /// <summary>Adds a registration made elsewhere (for example on another plugin's service) to this plugin's
    /// ledger, so that it is undone on unload. Returns it.</summary>
    T Track<T>(T registration) where T : IDisposable;

    // ---- addresses and keyed entities ----
    /// <summary>Owns the service JID &lt;<paramref name="subdomain"/>&gt;.&lt;domain&gt; of every served domain (e.g.
    /// "pubsub"): every stanza to it, to a full JID under it or to a node@ JID under it goes to
    /// <paramref name="handler"/>. The host answers disco#info (no node) at the service JID with
    /// <paramref name="info"/> and the disco plugin lists the service in the server's disco#items.</summary>
    IDisposable OwnService(string subdomain, DiscoInfo info, AddressHandler handler);
    /// <summary>Owns <paramref name="ns"/> on accounts' bare JIDs (as PEP does): IQ get/set to an existing account's
    /// bare JID whose payload is in <paramref name="ns"/>, and, if asked, messages and presence carrying a child in it.</summary>
    IDisposable OwnAccountNamespace(string ns, AddressHandler handler, AccountStanzas kinds = AccountStanzas.Iq);
    /// <summary>Registers a kind of keyed entity (call it from Configure): host-owned persistent actors, persistence id
    /// entity:&lt;plugin&gt;/&lt;kind&gt;/&lt;key&gt;, passivated when idle and recovered on the next command.</summary>
    IEntityKind AddEntityKind(string kind, IEntityBehavior behavior, EntityKindOptions? options = null);

    // ---- admin commands ----
    /// <summary>An admin command offered by the CLI, the admin socket and (for <see cref="CommandAccess.Admin"/>)
    /// XEP-0050; removed on unload (a run in progress is cancelled).</summary>
    IDisposable AddCommand(AdminCommand command);
    /// <summary>This plugin's share of each account's data in XEP-0227 export and import; removed on unload.</summary>
    IDisposable AddPortableData(PortableAccountData data);

    // ---- storage and lifecycle events ----
    /// <summary>This plugin's persistent maps and archives, per account or service (see <see cref="IPluginStorage"/>).</summary>
    IPluginStorage Storage { get; }
    /// <summary>Runs <paramref name="handler"/> on each lifecycle event of this kind; higher priorities run first.</summary>
    IDisposable On(ServerEventKind kind, ServerEventHandler handler, int priority = 0);

    // ---- a cluster of nodes ----
    /// <summary>Tells this plugin on the other nodes of the cluster that something about <paramref name="about"/>
    /// changed here (what they keep in memory of it is stale): their <see cref="OnSignal"/> handlers of the same
    /// <paramref name="name"/> run. Nothing on one node. At most once: a cache must also expire on its own.</summary>
    void Signal(string name, Jid about);
    /// <summary>Runs <paramref name="handler"/> for each <see cref="Signal"/> of this name from this plugin on another
    /// node; it runs on a host thread shared by all signals: return quickly (forget an entry, start a read).</summary>
    IDisposable OnSignal(string name, Action<Jid> handler);
}

/// <summary>Where a stanza hook runs (Prosody's stanza events).</summary>
public enum HookPoint
{
    /// <summary>A stanza from a client's session, stamped and validated, before it is routed ("before routing").</summary>
    FromClient,
    /// <summary>A stanza about to be written to a client's session.</summary>
    Deliver,
    /// <summary>A stanza routed to an account's bare JID (local domain), before the server processes it.</summary>
    InboundBare,
    /// <summary>A stanza routed to a full JID of a local account, before it is delivered or handled as undeliverable.</summary>
    InboundFull,
    /// <summary>A message for an account with no resource that can take it (RFC 6121 §8.5.2.2, §8.5.3.2.1): raised before
    /// the server stores it offline (or drops a headline); the offline plugin's hook.</summary>
    Undeliverable,
    /// <summary>A client's broadcast presence (no 'to'), before it goes to the account's resources and contacts.</summary>
    PresenceBroadcast,
}

/// <summary>A stanza passing a hook point. <see cref="Session"/> is the JID the point is about: the sending client's
/// session (FromClient, PresenceBroadcast), the receiving session (Deliver), the addressed JID (InboundBare,
/// InboundFull) or the account's bare JID (Undeliverable). <see cref="From"/> is the stanza's validated sender.</summary>
public sealed record StanzaEvent(HookPoint Point, Element Stanza, Jid Session)
{
    public Jid? From { get; init; }
}

/// <summary>Returns true when the stanza is handled: later hooks and the server's own processing are skipped.</summary>
public delegate bool StanzaHook(StanzaEvent e);
