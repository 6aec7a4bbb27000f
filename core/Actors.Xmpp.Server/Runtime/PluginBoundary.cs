using System.Runtime.CompilerServices;

namespace Actors.Xmpp.Server.Runtime;

/// <summary>
/// The one copy of a plugin's collection into a plain array, used wherever host code takes a collection from a plugin
/// (the plugin host's BoundaryCopy, the plugin stores). A collection type compiled into a plugin (a collection
/// expression's &lt;&gt;z__ReadOnlyArray&lt;T&gt;, an iterator) that host code iterates in re-jitted, PGO-instrumented code
/// can have its type handle baked in by guarded devirtualization, which keeps the plugin's load context alive after
/// unload (PluginUnloadSpec caught exactly this).
/// </summary>
internal static class PluginBoundary
{
    /// <summary>Never optimized, so never instrumented by dynamic PGO: its interface calls on the plugin's collection
    /// cannot be devirtualized to the plugin's type.</summary>
    [MethodImpl(MethodImplOptions.NoOptimization | MethodImplOptions.NoInlining)]
    public static T[] ToArray<T>(IEnumerable<T>? items)
    {
        if (items is null) return [];
        if (items is T[] array && array.GetType() == typeof(T[])) return array;
        var list = new List<T>();
        foreach (var item in items) list.Add(item);
        return list.ToArray();
    }
}
