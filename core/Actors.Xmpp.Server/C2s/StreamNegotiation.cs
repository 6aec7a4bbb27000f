using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Server.C2s;

/// <summary>
/// What plugins add to a client stream's negotiation: stream features per <see cref="StreamStage"/> and the IQ
/// handlers of an unauthenticated stream (keyed like <see cref="Iq.IqHandlers"/>: type, payload namespace and name).
/// The <see cref="C2sConnectionActor"/> asks it; it keeps RFC 6120's rules around what it finds (see
/// <see cref="PreAuthIqRequest"/>). Copy-on-write: lookups take no lock; registration returns an IDisposable that
/// removes it (what the plugin host records and undoes on unload).
/// </summary>
public sealed class StreamNegotiation
{
    private readonly object _lock = new();
    private volatile Func<StreamInfo, Element?>[][] _features = [[], []]; // by StreamStage
    private volatile Dictionary<(string Type, string Ns, string Name), PreAuthIqHandler> _preAuthIq = new();

    /// <summary>True when some plugin adds a feature at <paramref name="stage"/> (the connection skips building a
    /// <see cref="StreamInfo"/> otherwise).</summary>
    public bool HasFeatures(StreamStage stage) => _features[(int)stage].Length > 0;

    public IDisposable AddStreamFeature(StreamStage stage, Func<StreamInfo, Element?> provider)
    {
        ArgumentNullException.ThrowIfNull(provider);
        lock (_lock) _features = With(_features, (int)stage, [.. _features[(int)stage], provider]);
        return new Removal(() =>
        {
            lock (_lock)
            {
                var list = new List<Func<StreamInfo, Element?>>(_features[(int)stage]);
                list.Remove(provider);
                _features = With(_features, (int)stage, list.ToArray());
            }
        });
    }

    /// <summary>Adds the features of <paramref name="stage"/> for this stream to <paramref name="features"/>.</summary>
    public void AddFeatures(StreamStage stage, StreamInfo stream, Element features)
    {
        foreach (var provider in _features[(int)stage])
            if (provider(stream) is { } feature) features.Add(feature);
    }

    public IDisposable HandlePreAuthIq(string type, string ns, string name, PreAuthIqHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        if (type is not ("get" or "set")) throw new ArgumentException("an IQ handler answers 'get' or 'set'", nameof(type));
        var key = (type, ns, name);
        lock (_lock)
        {
            var next = new Dictionary<(string, string, string), PreAuthIqHandler>(_preAuthIq);
            if (!next.TryAdd(key, handler))
                throw new InvalidOperationException($"a pre-authentication IQ handler for {type}/{ns}:{name} is registered already");
            _preAuthIq = next;
        }
        return new Removal(() =>
        {
            lock (_lock)
            {
                var next = new Dictionary<(string, string, string), PreAuthIqHandler>(_preAuthIq);
                next.Remove(key);
                _preAuthIq = next;
            }
        });
    }

    public PreAuthIqHandler? FindPreAuthIq(string type, string ns, string name) => _preAuthIq.GetValueOrDefault((type, ns, name));

    private static Func<StreamInfo, Element?>[][] With(Func<StreamInfo, Element?>[][] all, int stage, Func<StreamInfo, Element?>[] list)
    {
        var next = (Func<StreamInfo, Element?>[][])all.Clone();
        next[stage] = list;
        return next;
    }

    private sealed class Removal(Action undo) : IDisposable
    {
        private Action? _undo = undo;
        public void Dispose() => Interlocked.Exchange(ref _undo, null)?.Invoke();
    }
}
