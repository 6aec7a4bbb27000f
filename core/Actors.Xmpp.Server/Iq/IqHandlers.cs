using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Server.Iq;

/// <summary>
/// The IQ handlers of the server, keyed like Prosody's "iq-get/host/urn:xmpp:ping:ping": type, scope and
/// payload name + namespace. Also collects the disco features and identities they bring, and extra stream features. Thread-safe for lookups;
/// registration returns an IDisposable that removes it (what the plugin host records and undoes on unload).
/// </summary>
public sealed class IqHandlers
{
    /// <summary>
    /// What a handler completes with when it has delivered its answer itself: the router sends nothing more (the
    /// contract's <see cref="IqRequest.AnsweredElsewhere"/>; XEP-0077 cancellation does so, because its result must
    /// reach the client before the stream error).
    /// </summary>
    public static readonly Element AnsweredElsewhere = IqRequest.AnsweredElsewhere;

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

    private volatile List<Func<Element?>> _streamFeatures = new();

    /// <summary>An element for the stream features offered after authentication (next to &lt;bind/&gt;).</summary>
    public IDisposable AddStreamFeature(Func<Element?> provider)
    {
        lock (_lock) _streamFeatures = new List<Func<Element?>>(_streamFeatures) { provider };
        return new Registration(() =>
        {
            lock (_lock)
            {
                var next = new List<Func<Element?>>(_streamFeatures);
                next.Remove(provider);
                _streamFeatures = next;
            }
        });
    }

    public IEnumerable<Element> StreamFeatures()
    {
        foreach (var p in _streamFeatures)
            if (p() is { } e) yield return e;
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
