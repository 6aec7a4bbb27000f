using System.Collections.Concurrent;
using System.Reflection;

namespace Actors.Xmpp.Persistence;

/// <summary>
/// The manifest ↔ type table of every journal payload: each type marked <see cref="PersistentEventAttribute"/> in the
/// core assemblies (every loaded "Actors.*" assembly and the "Actors.Xmpp.*.dll" files beside the application), plus
/// assemblies registered with <see cref="Register(Assembly)"/>. Two types with one manifest is an error.
/// </summary>
public static class PersistentEventTypes
{
    private static readonly object Gate = new();
    private static readonly ConcurrentDictionary<string, Type> ByManifest = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<Type, string> ByType = new();
    private static readonly HashSet<Assembly> Scanned = new();
    private static volatile bool _coreScanned;

    /// <summary>Adds the marked types of an assembly (e.g. a plugin's). Idempotent.</summary>
    public static void Register(Assembly assembly)
    {
        lock (Gate)
        {
            if (!Scanned.Add(assembly)) return;
            Type[] types;
            try { types = assembly.GetTypes(); }
            catch (ReflectionTypeLoadException ex) { types = ex.Types.Where(t => t is not null).ToArray()!; }
            foreach (var type in types)
                if (type.GetCustomAttribute<PersistentEventAttribute>() is { } attribute)
                    Add(type, attribute.Manifest);
        }
    }

    /// <summary>Registers one type under a manifest (for types that cannot carry the attribute).</summary>
    public static void Register(Type type, string manifest)
    {
        lock (Gate) Add(type, manifest);
    }

    private static void Add(Type type, string manifest)
    {
        if (string.IsNullOrWhiteSpace(manifest) || manifest.Contains(' '))
            throw new InvalidOperationException($"{type.FullName}: invalid journal manifest '{manifest}'");
        if (ByManifest.TryGetValue(manifest, out var existing) && existing != type)
            throw new InvalidOperationException(
                $"journal manifest '{manifest}' is declared by both {existing.FullName} and {type.FullName}");
        ByManifest[manifest] = type;
        ByType[type] = manifest;
    }

    /// <summary>Every known manifest and its type.</summary>
    public static IReadOnlyDictionary<string, Type> All
    {
        get
        {
            EnsureCore();
            return new SortedDictionary<string, Type>(ByManifest, StringComparer.Ordinal);
        }
    }

    public static string ManifestOf(Type type)
    {
        EnsureCore();
        if (ByType.TryGetValue(type, out var manifest)) return manifest;
        if (type.GetCustomAttribute<PersistentEventAttribute>() is { } attribute)
        {
            Register(type.Assembly);
            return attribute.Manifest;
        }
        throw new InvalidOperationException(
            $"{type.FullName} is written to the journal but has no [PersistentEvent(\"...\")] manifest");
    }

    public static Type? TypeOf(string manifest)
    {
        EnsureCore();
        if (ByManifest.TryGetValue(manifest, out var type)) return type;
        ScanLoaded(); // an assembly loaded since (a plugin)
        return ByManifest.GetValueOrDefault(manifest);
    }

    private static void EnsureCore()
    {
        if (_coreScanned) return;
        lock (Gate)
        {
            if (_coreScanned) return;
            foreach (var file in Directory.EnumerateFiles(AppContext.BaseDirectory, "Actors.Xmpp.*.dll"))
            {
                try { Assembly.Load(AssemblyName.GetAssemblyName(file)); }
                catch (Exception ex) when (ex is BadImageFormatException or FileLoadException or FileNotFoundException) { }
            }
            ScanLoaded();
            _coreScanned = true;
        }
    }

    private static void ScanLoaded()
    {
        foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies())
            if (!assembly.IsDynamic && assembly.GetName().Name?.StartsWith("Actors.", StringComparison.Ordinal) == true)
                Register(assembly);
    }
}
