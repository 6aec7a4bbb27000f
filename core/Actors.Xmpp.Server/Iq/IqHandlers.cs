using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Server.Iq;

/// <summary>Whether a handler answers IQs addressed to the server's domain or to an account's bare JID
/// (which the server answers on the account's behalf, RFC 6120 §10.5.3).</summary>
[Flags]
public enum IqScope { Server = 1, Account = 2, Both = Server | Account }

/// <summary>An IQ the server answers: the request (from and to already validated and stamped) and its payload.</summary>
public sealed record IqRequest(Element Iq, Jid From, Jid To, Element Payload)
{
    public bool IsSet => Iq.Type == "set";
    public Element Result(Element? payload = null) => Stanzas.StanzaErrors.IqResult(Iq, payload);
    public Element Error(string condition, string? text = null) => Stanzas.StanzaErrors.Reply(Iq, condition, text)!;
}

/// <summary>Answers one IQ: a result or an error stanza. Synchronous handlers return a completed ValueTask.</summary>
public delegate ValueTask<Element> IqHandler(IqRequest request);

/// <summary>
/// The IQ handlers of the server, keyed like Prosody's "iq-get/host/urn:xmpp:ping:ping": type, scope and
/// payload name + namespace. Also collects the disco features and identities they bring. Thread-safe for lookups;
/// registration returns an IDisposable that removes it (what the plugin host records and undoes on unload).
/// </summary>
public sealed class IqHandlers
{
    private readonly object _lock = new();
    private volatile Dictionary<(string Type, IqScope Scope, string Ns, string Name), IqHandler> _handlers = new();
    private volatile List<(IqScope Scope, string Feature)> _features = new();
    private volatile List<(IqScope Scope, string Category, string Type, string? Name)> _identities = new();

    public IDisposable Register(string type, IqScope scope, string ns, string name, IqHandler handler)
    {
        lock (_lock)
        {
            var next = new Dictionary<(string, IqScope, string, string), IqHandler>(_handlers);
            foreach (var s in Scopes(scope))
            {
                if (!next.TryAdd((type, s, ns, name), handler))
                    throw new InvalidOperationException($"an IQ handler for {type}/{s}/{ns}:{name} is registered already");
            }
            _handlers = next;
        }
        return new Registration(() =>
        {
            lock (_lock)
            {
                var next = new Dictionary<(string, IqScope, string, string), IqHandler>(_handlers);
                foreach (var s in Scopes(scope)) next.Remove((type, s, ns, name));
                _handlers = next;
            }
        });
    }

    public IDisposable AddFeature(IqScope scope, string feature)
    {
        lock (_lock) _features = new List<(IqScope, string)>(_features) { (scope, feature) };
        return new Registration(() =>
        {
            lock (_lock)
            {
                var next = new List<(IqScope, string)>(_features);
                next.Remove((scope, feature));
                _features = next;
            }
        });
    }

    public IDisposable AddIdentity(IqScope scope, string category, string type, string? name)
    {
        lock (_lock) _identities = new List<(IqScope, string, string, string?)>(_identities) { (scope, category, type, name) };
        return new Registration(() =>
        {
            lock (_lock)
            {
                var next = new List<(IqScope, string, string, string?)>(_identities);
                next.Remove((scope, category, type, name));
                _identities = next;
            }
        });
    }

    public IqHandler? Find(string type, IqScope scope, string ns, string name) =>
        _handlers.GetValueOrDefault((type, scope, ns, name));

    public IEnumerable<string> Features(IqScope scope)
    {
        var seen = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (s, f) in _features)
            if ((s & scope) != 0) seen.Add(f);
        return seen;
    }

    public IEnumerable<(string Category, string Type, string? Name)> Identities(IqScope scope)
    {
        foreach (var (s, c, t, n) in _identities)
            if ((s & scope) != 0) yield return (c, t, n);
    }

    private static IEnumerable<IqScope> Scopes(IqScope scope)
    {
        if ((scope & IqScope.Server) != 0) yield return IqScope.Server;
        if ((scope & IqScope.Account) != 0) yield return IqScope.Account;
    }

    private sealed class Registration(Action undo) : IDisposable
    {
        private Action? _undo = undo;
        public void Dispose() => Interlocked.Exchange(ref _undo, null)?.Invoke();
    }
}
