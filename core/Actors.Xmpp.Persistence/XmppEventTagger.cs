using Akka.Persistence.Journal;

namespace Actors.Xmpp.Persistence;

/// <summary>
/// Write adapter of the journal: tags every <see cref="IPersistentEvent"/> with its kind (the manifest's first segment,
/// "account", "roster", ...) and, for an <see cref="IDomainEvent"/>, "domain:&lt;domain&gt;".
/// </summary>
public sealed class XmppEventTagger : IWriteEventAdapter
{
    public string Manifest(object evt) => string.Empty;

    public object ToJournal(object evt) => evt is IPersistentEvent ? new Tagged(evt, TagsOf(evt)) : evt;

    public static IReadOnlyList<string> TagsOf(object evt)
    {
        var manifest = PersistentEventTypes.ManifestOf(evt.GetType());
        var dot = manifest.IndexOf('.');
        var kind = dot > 0 ? manifest[..dot] : manifest;
        return evt is IDomainEvent { Domain: { Length: > 0 } domain } ? [DomainTag(domain), kind] : [kind];
    }

    public static string DomainTag(string domain) => "domain:" + domain;
}
