using System.Reflection;

namespace Actors.Xmpp.Persistence.Replay;

/// <summary>Finds the <see cref="IJournalStateView"/> for a persistence id.</summary>
public static class JournalStateViews
{
    private static readonly List<IJournalStateView> Registered = new();
    private static List<IJournalStateView>? _discovered;

    /// <summary>Adds a view ahead of the discovered ones (for plugins and tests).</summary>
    public static void Register(IJournalStateView view)
    {
        lock (Registered) Registered.Add(view);
    }

    public static IJournalStateView For(string persistenceId)
    {
        lock (Registered)
        {
            _discovered ??= Discover();
            return Registered.Concat(_discovered).FirstOrDefault(v => v.Handles(persistenceId)) ?? new CountingView();
        }
    }

    private static List<IJournalStateView> Discover()
    {
        _ = PersistentEventTypes.All; // loads the core assemblies
        var views = new List<IJournalStateView>();
        foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies())
        {
            if (assembly.IsDynamic || assembly.GetName().Name?.StartsWith("Actors.", StringComparison.Ordinal) != true) continue;
            Type[] types;
            try { types = assembly.GetTypes(); }
            catch (ReflectionTypeLoadException ex) { types = ex.Types.Where(t => t is not null).ToArray()!; }
            foreach (var t in types)
                if (typeof(IJournalStateView).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false }
                    && t != typeof(CountingView) && t.GetConstructor(Type.EmptyTypes) is not null)
                    views.Add((IJournalStateView)Activator.CreateInstance(t)!);
        }
        return views.OrderBy(v => v.GetType().FullName, StringComparer.Ordinal).ToList();
    }

    /// <summary>The fallback: how many events of each manifest.</summary>
    public sealed class CountingView : IJournalStateView
    {
        public bool Handles(string persistenceId) => true;
        public object Empty(string persistenceId) => new SortedDictionary<string, int>(StringComparer.Ordinal);

        public object Apply(object state, object @event)
        {
            var counts = (SortedDictionary<string, int>)state;
            var manifest = @event is UndecodableEvent u ? u.Manifest + " (undecodable)"
                : @event is IPersistentEvent ? PersistentEventTypes.ManifestOf(@event.GetType()) : @event.GetType().Name;
            counts[manifest] = counts.GetValueOrDefault(manifest) + 1;
            return counts;
        }

        public void Print(object state, TextWriter output)
        {
            output.WriteLine("no state view for this entity; events by manifest:");
            foreach (var (manifest, count) in (SortedDictionary<string, int>)state) output.WriteLine($"  {manifest}: {count}");
        }
    }
}
