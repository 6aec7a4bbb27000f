using Akka.Event;
using Akka.Persistence;

namespace Actors.Xmpp.Server.Runtime;

/// <summary>
/// The answers of the journal and snapshot store to a persistent actor's own housekeeping (a snapshot that failed,
/// events or older snapshots deleted or not): logged where they fail, otherwise nothing to do. One place for the user
/// actor, the plugin stores and the plugin entities; what a successful snapshot leads to stays each actor's.
/// </summary>
public static class SnapshotHousekeeping
{
    /// <summary>True when <paramref name="message"/> was one of those answers (handled here).</summary>
    public static bool Handled(object message, ILoggingAdapter log, string persistenceId)
    {
        switch (message)
        {
            case SaveSnapshotFailure f:
                log.Warning("snapshot of {0} failed: {1}", persistenceId, f.Cause.Message);
                return true;
            case DeleteMessagesFailure f:
                log.Warning("deleting the events of {0} failed: {1}", persistenceId, f.Cause.Message);
                return true;
            case DeleteMessagesSuccess or DeleteSnapshotsSuccess or DeleteSnapshotsFailure:
                return true;
            default:
                return false;
        }
    }
}
