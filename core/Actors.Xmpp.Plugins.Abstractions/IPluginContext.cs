using Actors.Xmpp.Xml;
using Microsoft.Extensions.Logging;

namespace Actors.Xmpp.Plugins;

/// <summary>
/// What the host hands a plugin in <see cref="IXmppPlugin.Configure"/>. Every method that registers something
/// returns an IDisposable that the host also keeps in the plugin's ledger and disposes on unload: plugins may
/// ignore the return values.
/// </summary>
public interface IPluginContext
{
    /// <summary>The plugin's id (as in its descriptor).</summary>
    string PluginId { get; }
    /// <summary>The domains this server serves; the first is the default.</summary>
    IReadOnlyList<string> Domains { get; }
    ILogger Logger { get; }

    /// <summary>Options bound from the configuration section Xmpp:Plugins:&lt;id&gt; (defaults from the type).</summary>
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

    // ---- storage and lifecycle events ----
    /// <summary>This plugin's persistent maps and archives, per account or service (see <see cref="IPluginStorage"/>).</summary>
    IPluginStorage Storage { get; }
    /// <summary>Runs <paramref name="handler"/> on each lifecycle event of this kind; higher priorities run first.</summary>
    IDisposable On(ServerEventKind kind, ServerEventHandler handler, int priority = 0);
}

/// <summary>Where a stanza hook runs.</summary>
public enum HookPoint
{
    /// <summary>A stanza from a client's session, stamped and validated, before it is routed.</summary>
    FromClient,
    /// <summary>A stanza about to be written to a client's session.</summary>
    Deliver,
}

/// <summary>A stanza passing a hook point. <see cref="Session"/> is the full JID of the client's session.</summary>
public sealed record StanzaEvent(HookPoint Point, Element Stanza, Jid Session);

/// <summary>Returns true when the stanza is handled: later hooks and the server's own processing are skipped.</summary>
public delegate bool StanzaHook(StanzaEvent e);
