namespace Actors.Xmpp.Persistence.Replay;

/// <summary>
/// How the event-log tool ("events rebuild") folds one entity's events into state and prints it. Implementations
/// with a parameterless constructor in any "Actors.*" assembly are found by reflection; the first whose
/// <see cref="Handles"/> is true wins, otherwise a generic view counts events by manifest.
/// </summary>
public interface IJournalStateView
{
    /// <summary>True for the persistence ids this view understands (e.g. "accounts:" prefixed ones).</summary>
    bool Handles(string persistenceId);

    object Empty(string persistenceId);

    object Apply(object state, object @event);

    /// <summary>Prints what the state holds, for an operator.</summary>
    void Print(object state, TextWriter output);
}
