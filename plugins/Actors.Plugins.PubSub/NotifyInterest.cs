using Actors.Xmpp;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;
using Microsoft.Extensions.Logging;

namespace Actors.Plugins.PubSub;

/// <summary>
/// XEP-0163 §4.2 filtered notifications: which sessions want which PEP nodes, from the "+notify" features of their
/// XEP-0115 capabilities. A client's available presence names its caps (node#ver); an unknown ver is fetched once from
/// that client with disco#info and cached for every session that advertises it. Contacts whose presence reaches a
/// session before its caps are known are remembered and handed over (<see cref="Resolved"/>) once they are.
/// </summary>
internal sealed class NotifyInterest(IPluginContext ctx)
{
    public const string NotifySuffix = "+notify";
    private static readonly TimeSpan FetchTimeout = TimeSpan.FromSeconds(10);
    private const int MaxCachedVers = 10_000;
    /// <summary>Notifications held for one session while its caps are fetched; past it the oldest go first.</summary>
    public const int MaxHeldPerSession = 64;

    private readonly object _lock = new();
    private readonly Dictionary<Jid, string> _sessionCaps = new();                 // full JID -> caps node#ver
    private readonly Dictionary<string, HashSet<string>> _notify = new(StringComparer.Ordinal); // node#ver -> PEP nodes
    private readonly Dictionary<string, List<Jid>> _fetching = new(StringComparer.Ordinal);    // node#ver -> sessions waiting
    private readonly Dictionary<Jid, HashSet<Jid>> _pendingContacts = new();      // session -> contacts seen before its caps
    private readonly Dictionary<Jid, HashSet<Jid>> _served = new();               // session -> contacts whose last items it got
    private readonly Dictionary<Jid, Queue<(string Node, Element Message)>> _held = new(); // session -> events published while its caps were fetched

    /// <summary>Sends a held notification once the session's caps show it wants the node.</summary>
    public Action<Element>? Deliver { get; set; }

    /// <summary>Raised when a session's interests become known, with the contacts whose presence it got meanwhile.</summary>
    public Action<Jid, IReadOnlyCollection<Jid>>? Resolved { get; set; }

    /// <summary>PresenceBroadcast hook: a session's available presence and its caps (never stops the chain).</summary>
    public bool OnPresence(StanzaEvent e)
    {
        var session = e.Session;
        if (e.Stanza.Type is not null)
        {
            if (e.Stanza.Type == "unavailable") Forget(session);
            return false;
        }
        if (e.Stanza.Child("c", EntityCapabilities.Ns) is not { } c || c.Attr("node") is not { Length: > 0 } node || c.Attr("ver") is not { Length: > 0 } ver)
        {
            Forget(session);
            return false;
        }
        var hash = c.Attr("hash");
        // only a SHA-1 ver can be checked (§5.4) and cached for everyone; any other is this session's alone
        var key = hash == EntityCapabilities.Sha1 ? node + "#" + ver : session + " " + node + "#" + ver;
        bool fetch;
        lock (_lock)
        {
            _sessionCaps[session] = key;
            if (_notify.ContainsKey(key)) return false;
            fetch = !_fetching.TryGetValue(key, out var waiting);
            if (fetch) _fetching[key] = waiting = new List<Jid>();
            waiting!.Add(session);
        }
        if (fetch) _ = FetchAsync(session, key, node + "#" + ver, hash == EntityCapabilities.Sha1 ? ver : null);
        return false;
    }

    public void Forget(Jid session)
    {
        lock (_lock)
        {
            _sessionCaps.Remove(session);
            _pendingContacts.Remove(session);
            _served.Remove(session);
            _held.Remove(session);
        }
    }

    /// <summary>The PEP nodes <paramref name="session"/> wants notifications of: empty when none or not known yet
    /// (then <paramref name="contact"/> is remembered for <see cref="Resolved"/>).</summary>
    public IReadOnlyCollection<string> Wanted(Jid session, Jid contact)
    {
        lock (_lock)
        {
            if (!_sessionCaps.TryGetValue(session, out var key)) return [];
            if (_notify.TryGetValue(key, out var nodes)) return nodes.ToArray();
            if (!_pendingContacts.TryGetValue(session, out var pending)) _pendingContacts[session] = pending = new HashSet<Jid>();
            pending.Add(contact);
            return [];
        }
    }

    /// <summary>True the first time a session is handed <paramref name="contact"/>'s last items (once per session:
    /// a contact's later presence changes do not send them again).</summary>
    public bool FirstTime(Jid session, Jid contact)
    {
        lock (_lock)
        {
            if (!_served.TryGetValue(session, out var served)) _served[session] = served = new HashSet<Jid>();
            return served.Add(contact);
        }
    }

    /// <summary>The sessions (full JIDs) whose caps ask for notifications of <paramref name="node"/>, and in
    /// <paramref name="unresolved"/> (when any) those whose caps are still being fetched: a notification for them is
    /// <see cref="Hold"/>-ed, not lost, and sent if their caps turn out to want the node.</summary>
    public List<Jid> Interested(string node, out List<Jid>? unresolved)
    {
        var sessions = new List<Jid>();
        unresolved = null;
        lock (_lock)
        {
            foreach (var (session, key) in _sessionCaps)
            {
                if (_notify.TryGetValue(key, out var nodes))
                {
                    if (nodes.Contains(node)) sessions.Add(session);
                }
                else if (_fetching.ContainsKey(key)) (unresolved ??= new List<Jid>()).Add(session);
            }
        }
        return sessions;
    }

    /// <summary>Keeps <paramref name="message"/> (an event of <paramref name="node"/> to <paramref name="session"/>)
    /// until the session's caps are known: sent then if they want the node, dropped if not or if the session goes.
    /// True when the caps became known since the caller's <see cref="Interested"/> and want the node: the caller sends
    /// it now (the fetch's release has passed).</summary>
    public bool Hold(Jid session, string node, Element message)
    {
        lock (_lock)
        {
            if (!_sessionCaps.TryGetValue(session, out var key)) return false; // the session went
            if (_notify.TryGetValue(key, out var nodes)) return nodes.Contains(node); // resolved meanwhile
            if (!_held.TryGetValue(session, out var held)) _held[session] = held = new Queue<(string, Element)>();
            if (held.Count >= MaxHeldPerSession) held.Dequeue();
            held.Enqueue((node, message));
            return false;
        }
    }

    /// <summary>Asks <paramref name="session"/> for the disco#info of its caps node#ver. A SHA-1 ver is cached under
    /// <paramref name="key"/> for every session only if the answer hashes to it (XEP-0115 §5.4); otherwise the
    /// answer holds for this session alone.</summary>
    private async Task FetchAsync(Jid session, string fetchKey, string capsNode, string? sha1Ver)
    {
        var key = fetchKey;
        HashSet<string>? nodes = null;
        try
        {
            var iq = new Element("iq", Ns.Client).SetAttr("type", "get").SetAttr("from", session.Domain).SetAttr("to", session.ToString())
                .Add(new Element("query", Ns.DiscoInfo).SetAttr("node", capsNode));
            var reply = await ctx.SendIqAsync(iq, FetchTimeout).ConfigureAwait(false);
            if (reply.Type == "result" && reply.Child("query", Ns.DiscoInfo) is { } query)
            {
                if (sha1Ver is not null && EntityCapabilities.Ver(query) != sha1Ver)
                {
                    ctx.Logger.LogDebug("caps {Caps} of {Session} do not hash to their ver: kept for that session only", capsNode, session);
                    var own = session + " " + capsNode;
                    lock (_lock)
                        if (_sessionCaps.TryGetValue(session, out var current) && current == key) _sessionCaps[session] = own;
                    key = own;
                }
                nodes = new HashSet<string>(StringComparer.Ordinal);
                foreach (var feature in query.Elements("feature", Ns.DiscoInfo))
                    if (feature.Attr("var") is { } var && var.EndsWith(NotifySuffix, StringComparison.Ordinal) && var.Length > NotifySuffix.Length)
                        nodes.Add(var[..^NotifySuffix.Length]);
            }
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
        {
            ctx.Logger.LogDebug("caps {Caps} of {Session} not fetched: {Reason}", key, session, ex.Message);
        }
        var resolved = new List<(Jid Session, IReadOnlyCollection<Jid> Contacts)>();
        var release = new List<Element>();
        Jid? askNext = null;
        List<Jid>? waiting;
        lock (_lock)
        {
            _fetching.Remove(fetchKey, out waiting);
            foreach (var w in waiting ?? [])
                if (_held.Remove(w, out var held) && nodes is not null && _sessionCaps.TryGetValue(w, out var k) && k == key)
                    foreach (var (node, message) in held)
                        if (nodes.Contains(node)) release.Add(message);
            if (key != fetchKey && waiting is not null) // an answer that did not verify: ask the next session with that ver
            {
                var others = waiting.Where(w => !w.Equals(session) && _sessionCaps.TryGetValue(w, out var k) && k == fetchKey).ToList();
                if (others.Count > 0)
                {
                    _fetching[fetchKey] = others;
                    askNext = others[0];
                }
            }
            if (nodes is not null)
            {
                if (_notify.Count >= MaxCachedVers) _notify.Clear();
                _notify[key] = nodes;
            }
        }
        foreach (var message in release) Deliver?.Invoke(message);
        if (askNext is not null) _ = FetchAsync(askNext, fetchKey, capsNode, sha1Ver);
        if (nodes is null) return; // asked again at the next presence with this ver
        lock (_lock)
        {
            foreach (var s in waiting ?? [])
            {
                if (!_sessionCaps.TryGetValue(s, out var k) || k != key) continue;
                _pendingContacts.Remove(s, out var contacts);
                resolved.Add((s, contacts is null ? [] : contacts.ToArray()));
            }
        }
        foreach (var (s, contacts) in resolved) Resolved?.Invoke(s, contacts);
    }
}
