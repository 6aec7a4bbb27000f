using System.Text.RegularExpressions;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;
using Akka.Actor;

namespace Actors.Xmpp.PluginHost.Entities;

/// <summary>Starts the region of a plugin's entity kind under the plugin's supervisor (so that unloading the plugin
/// stops its entities, and a reload waits for them to stop before recovering them on demand).</summary>
internal static partial class EntityKinds
{
    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,62}$")]
    private static partial Regex KindName();

    /// <summary>The region's child name under the plugin's supervisor.</summary>
    public static string RegionName(string kind) => "entities-" + kind;

    /// <summary>Called from a plugin's Configure (not from an actor): waits for the supervisor to start the region.</summary>
    public static IEntityKind Start(string plugin, string kind, IEntityBehavior behavior, EntityKindOptions? options,
        IActorRef supervisor, Action<Element> send)
    {
        ArgumentNullException.ThrowIfNull(behavior);
        if (!KindName().IsMatch(kind ?? "")) throw new ArgumentException($"an entity kind is lower-case letters, digits and '-' (got '{kind}')", nameof(kind));
        var o = options ?? new EntityKindOptions();
        if (o.PassivateAfter <= TimeSpan.Zero || o.SnapshotEvery <= 0) throw new ArgumentOutOfRangeException(nameof(options), "PassivateAfter and SnapshotEvery must be positive");
        var props = EntityRegionActor.Props(key => PluginEntityActor.Props(plugin, kind!, key, behavior, o, send));
        object answer = supervisor.Ask(new PluginSupervisorActor.Spawn(props, RegionName(kind!), Reply: true), TimeSpan.FromSeconds(10))
            .GetAwaiter().GetResult();
        if (answer is not IActorRef region)
            throw new InvalidOperationException($"the entity kind '{kind}' of plugin '{plugin}' could not start (registered twice?): {answer}");
        return new EntityKindHandle(kind!, region, () => supervisor.Tell(new PluginSupervisorActor.StopChild(RegionName(kind!))));
    }
}

/// <summary>A plugin's handle on one entity kind: commands by key, nothing else. Disposing it (the plugin unloads or
/// reloads) stops the region; asks still waiting then fail at once rather than at their timeout (a command an entity
/// had not handled when it stopped gets no answer), and later asks fail as soon as they are made.</summary>
internal sealed class EntityKindHandle(string kind, IActorRef region, Action stop) : IEntityKind
{
    private Action? _stop = stop;
    private readonly CancellationTokenSource _stopped = new();

    public string Kind { get; } = kind;

    public void Tell(string key, Element command) => region.Tell(new EntityCommand(CheckKey(key), command.Clone(), false));

    public async Task<Element?> AskAsync(string key, Element command, TimeSpan timeout)
    {
        object answer;
        try
        {
            answer = await region.Ask(new EntityCommand(CheckKey(key), command.Clone(), true), timeout, _stopped.Token).ConfigureAwait(false);
        }
        catch (AskTimeoutException ex)
        {
            throw new TimeoutException($"the entity {Kind}/{key} did not answer within {timeout}", ex);
        }
        catch (OperationCanceledException ex) when (_stopped.IsCancellationRequested)
        {
            throw new InvalidOperationException($"the entity kind {Kind} stopped (its plugin was unloaded or reloaded) before {key} answered", ex);
        }
        return answer switch
        {
            EntityReply r => r.Payload,
            Status.Failure f => throw new InvalidOperationException($"the entity {Kind}/{key} failed: {f.Cause.Message}", f.Cause),
            _ => throw new InvalidOperationException($"unexpected answer from the entity {Kind}/{key}: {answer}"),
        };
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _stop, null) is not { } stopRegion) return;
        _stopped.Cancel();
        stopRegion();
    }

    private static string CheckKey(string key) =>
        string.IsNullOrEmpty(key) ? throw new ArgumentException("an entity key must not be empty", nameof(key)) : key;
}
