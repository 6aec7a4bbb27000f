using Actors.Xmpp.Persistence.Plugins;

namespace Actors.Xmpp.Server.PluginStores;

// The messages of a PluginStoreActor: host records with strings only (values are text or serialized XML), so that
// a later cluster issue can send them between nodes; a plugin's types never reach an actor.

/// <summary>A command for the store at <paramref name="Address"/>, created on demand by <see cref="PluginStoresActor"/>.</summary>
public sealed record StoreEnvelope(StoreAddress Address, object Command);

public static class StoreCommands
{
    public sealed record Get(string Key);
    public sealed record GetAll
    {
        public static readonly GetAll Instance = new();
    }
    public sealed record Set(StoreEntryRecord[] Entries);
    public sealed record Clear
    {
        public static readonly Clear Instance = new();
    }
    /// <summary>Appends unless the archive holds <paramref name="MaxItems"/> items already (then answered with id 0).</summary>
    public sealed record Append(string? Text, string? Xml, int MaxItems = int.MaxValue);
    public sealed record Read(long AfterId, int Max);
    public sealed record Trim(long UpToId);
    public sealed record Count
    {
        public static readonly Count Instance = new();
    }
    /// <summary>Removes everything (the owner's account was removed); the store stops afterwards.</summary>
    public sealed record Purge
    {
        public static readonly Purge Instance = new();
    }
}

public static class StoreReplies
{
    /// <summary>The value of a key (null: none).</summary>
    public sealed record Value(StoreEntryRecord? Entry);
    public sealed record Entries(StoreEntryRecord[] Items);
    public sealed record Page(StoreItemRecord[] Items, bool Complete);
    /// <summary>The id of the appended item; 0 when the archive was full (nothing appended).</summary>
    public sealed record Appended(long Id);
    public sealed record Counted(int Count);
    /// <summary>A map write refused: the store would hold more than <paramref name="MaxBytes"/> (an account's store,
    /// <see cref="PluginStoreActor.Settings.MaxAccountStoreBytes"/>); nothing of that command was written.</summary>
    public sealed record OverQuota(long MaxBytes);
    /// <summary>A write (or purge) was stored.</summary>
    public sealed record Done
    {
        public static readonly Done Instance = new();
    }
}
