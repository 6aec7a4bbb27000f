using Actors.Xmpp.Plugins;

namespace Actors.Xmpp.Server.Portability;

/// <summary>The plugins' shares of account data in XEP-0227 files (<see cref="PortableAccountData"/>), each removed when its
/// plugin unloads. Thread-safe; read once per export or import.</summary>
public sealed class PortableDataRegistry
{
    private readonly object _lock = new();
    private readonly List<(string Plugin, PortableAccountData Data)> _entries = new();

    public IDisposable Add(string plugin, PortableAccountData data)
    {
        ArgumentException.ThrowIfNullOrEmpty(data.Name);
        lock (_lock)
        {
            foreach (var (p, d) in _entries)
                if (d.Name == data.Name && d.Namespace == data.Namespace)
                    throw new InvalidOperationException($"<{data.Name} xmlns='{data.Namespace}'/> is exported by '{p}' already");
            _entries.Add((plugin, data));
        }
        return new Removal(this, data);
    }

    public IReadOnlyList<(string Plugin, PortableAccountData Data)> All()
    {
        lock (_lock) return _entries.ToArray();
    }

    private sealed class Removal(PortableDataRegistry registry, PortableAccountData data) : IDisposable
    {
        public void Dispose()
        {
            lock (registry._lock) registry._entries.RemoveAll(e => ReferenceEquals(e.Data, data));
        }
    }
}
