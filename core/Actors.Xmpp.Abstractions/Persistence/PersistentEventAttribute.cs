namespace Actors.Xmpp.Persistence;

/// <summary>
/// Marks a record that is written to the journal (an event or a snapshot) and gives it a stable manifest, e.g.
/// "roster.item-set.v1". The manifest, never the .NET type name, identifies the payload in the journal, so types
/// can be renamed or moved without breaking replay. A change to the JSON shape that old readers cannot read
/// gets a new manifest (".v2") and the old record stays for reading old journals.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class PersistentEventAttribute(string manifest) : Attribute
{
    public string Manifest { get; } = manifest;
}

/// <summary>Marker for journal payloads (events and snapshots); every implementation carries <see cref="PersistentEventAttribute"/>.</summary>
public interface IPersistentEvent;
