namespace Actors.Xmpp.Server.PluginStores;

/// <summary>The shape of a plugin store: a map of keys to values, or an append-only archive.</summary>
public enum StoreShape
{
    Map,
    Archive,
}

/// <summary>
/// One plugin store of one owner: persistence id "plugin-store:&lt;plugin&gt;/&lt;shape&gt;/&lt;kind&gt;:&lt;owner&gt;"
/// (e.g. "plugin-store:vcard/map/vcard:alice@localhost"). The owner is an account's bare JID or a service JID.
/// </summary>
public sealed record StoreAddress(string Plugin, StoreShape Shape, string Kind, Jid Owner)
{
    public const string Prefix = "plugin-store:";

    public string PersistenceId => Prefix + Plugin + "/" + ShapeName(Shape) + "/" + Kind + ":" + Owner;

    public static string ShapeName(StoreShape shape) => shape == StoreShape.Map ? "map" : "archive";

    /// <summary>True for a plugin id or store kind usable in a persistence id: letters, digits, '-', '_', '.'.</summary>
    public static bool IsValidName(string name)
    {
        if (name.Length is 0 or > 64) return false;
        foreach (var c in name)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')) return false;
        return true;
    }

    public static bool TryParse(string persistenceId, out StoreAddress? address)
    {
        address = null;
        if (!persistenceId.StartsWith(Prefix, StringComparison.Ordinal)) return false;
        var rest = persistenceId.AsSpan(Prefix.Length);
        var colon = rest.IndexOf(':');
        if (colon < 0) return false;
        var parts = rest[..colon].ToString().Split('/');
        if (parts.Length != 3 || !IsValidName(parts[0]) || !IsValidName(parts[2])) return false;
        StoreShape shape;
        if (parts[1] == "map") shape = StoreShape.Map;
        else if (parts[1] == "archive") shape = StoreShape.Archive;
        else return false;
        if (!Jid.TryParse(rest[(colon + 1)..].ToString(), out var owner) || owner is null || owner.Resource is not null) return false;
        address = new StoreAddress(parts[0], shape, parts[2], owner);
        return true;
    }
}
