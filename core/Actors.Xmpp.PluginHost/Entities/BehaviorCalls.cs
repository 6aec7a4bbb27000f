using System.Runtime.CompilerServices;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.PluginHost.Entities;

/// <summary>
/// The host's calls into a plugin's entity behaviour, never optimized: tier-1 code that devirtualized a call to a
/// plugin's type (guarded devirtualization) would keep that plugin's load context alive after unload (see
/// Runtime.PluginBoundary in the server).
/// </summary>
internal static class BehaviorCalls
{
    private const MethodImplOptions Boundary = MethodImplOptions.NoOptimization | MethodImplOptions.NoInlining;

    [MethodImpl(Boundary)]
    public static object Initial(IEntityBehavior b, string key) => b.Initial(key);

    [MethodImpl(Boundary)]
    public static object Apply(IEntityBehavior b, object state, Element e) => b.Apply(state, e);

    [MethodImpl(Boundary)]
    public static void Handle(IEntityBehavior b, IEntityContext ctx, object state, Element command) => b.Handle(ctx, state, command);

    [MethodImpl(Boundary)]
    public static EntitySnapshot? Snapshot(IEntityBehavior b, object state) => b.Snapshot(state);

    [MethodImpl(Boundary)]
    public static object Restore(IEntityBehavior b, string key, EntitySnapshot snapshot) => b.Restore(key, snapshot);
}
