using System.Runtime.CompilerServices;
using Actors.Xmpp.Plugins;

namespace Actors.Xmpp.PluginHost.Boundary;

/// <summary>
/// Copies the collections the host (or, through a service, another plugin) takes from a plugin into plain arrays,
/// at the boundary, so that no code outside the plugin ever iterates a collection type compiled into the plugin's
/// assembly. A C# collection expression targeting IReadOnlyList&lt;T&gt; makes such a type (&lt;&gt;z__ReadOnlyArray&lt;T&gt;),
/// and so does an iterator method; once the code that iterates it has been re-jitted with dynamic PGO, guarded
/// devirtualization bakes that type's handle into it and the plugin's load context stays alive after unload
/// (PluginUnloadSpec caught exactly this). The contract's records stay plain; the copying is the host's job.
/// </summary>
internal static class BoundaryCopy
{
    /// <summary>The copy itself (never optimized): <see cref="Actors.Xmpp.Server.Runtime.PluginBoundary"/>.</summary>
    public static T[] ToArray<T>(IEnumerable<T>? items) => Actors.Xmpp.Server.Runtime.PluginBoundary.ToArray(items);

    public static PluginDescriptor Descriptor(PluginDescriptor d) =>
        d with { Dependencies = d.Dependencies is null ? null : ToArray(d.Dependencies) };

    public static DiscoInfo? Info(DiscoInfo? info) =>
        info is null ? null : new DiscoInfo(ToArray(info.Identities), ToArray(info.Features), ToArray(info.Forms));

    public static CommandArgument Argument(CommandArgument a) =>
        a with { Choices = a.Choices is null ? null : ToArray(a.Choices) };

    public static AdminCommand Command(AdminCommand c)
    {
        var arguments = ToArray(c.Arguments);
        for (var i = 0; i < arguments.Length; i++) arguments[i] = Argument(arguments[i]);
        return c with { Arguments = arguments };
    }

    /// <summary>The arguments a plugin (the XEP-0050 bridge) passes to a command.</summary>
    [MethodImpl(MethodImplOptions.NoOptimization | MethodImplOptions.NoInlining)]
    public static Dictionary<string, IReadOnlyList<string>> Arguments(IReadOnlyDictionary<string, IReadOnlyList<string>> given)
    {
        var copy = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var (name, values) in given) copy[name] = ToArray(values);
        return copy;
    }

    public static CommandResult Result(CommandResult r)
    {
        if (r.Fields is null) return r;
        var fields = ToArray(r.Fields);
        for (var i = 0; i < fields.Length; i++) fields[i] = fields[i] with { Values = ToArray(fields[i].Values) };
        return r with { Fields = fields };
    }
}

/// <summary>
/// The contract services that carry collections between plugins, decorated by the host when a plugin provides one:
/// whatever a plugin hands over through them is copied (<see cref="BoundaryCopy"/>) before the other side sees it.
/// </summary>
internal static class ServiceBoundary
{
    public static object Wrap(Type type, object service) => service switch
    {
        IDisco disco when type == typeof(IDisco) => new DiscoBoundary(disco),
        IAdHocCommands adhoc when type == typeof(IAdHocCommands) => new AdHocBoundary(adhoc),
        _ => service,
    };

    private sealed class DiscoBoundary(IDisco inner) : IDisco
    {
        public DiscoInfo Info(IqScope scope) => BoundaryCopy.Info(inner.Info(scope))!;
        public IDisposable AddExtendedInfo(IqScope scope, Func<Xml.Element> form) => inner.AddExtendedInfo(scope, form);
        public IDisposable AddItems(IqScope scope, string? node, Func<IqRequest, IEnumerable<DiscoItem>> items) =>
            inner.AddItems(scope, node, r => BoundaryCopy.ToArray(items(r)));
        public IDisposable AddNode(IqScope scope, string node, Func<IqRequest, DiscoInfo?> info) =>
            inner.AddNode(scope, node, r => BoundaryCopy.Info(info(r)));
    }

    private sealed class AdHocBoundary(IAdHocCommands inner) : IAdHocCommands
    {
        public IDisposable Add(AdHocCommand command) => inner.Add(command);
        public IDisposable AddSource(Func<IEnumerable<AdHocCommand>> commands) => inner.AddSource(() => BoundaryCopy.ToArray(commands()));
    }
}
