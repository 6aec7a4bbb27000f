namespace Actors.Xmpp.Persistence;

/// <summary>
/// A journal event that belongs to one served domain. The journal's write adapter tags it "domain:&lt;Domain&gt;", so
/// Akka.Persistence.Query can stream every event of a domain across entities. Every event also gets its kind tag
/// (the manifest's first segment, e.g. "roster"), whether it implements this or not.
/// </summary>
public interface IDomainEvent
{
    string Domain { get; }
}
