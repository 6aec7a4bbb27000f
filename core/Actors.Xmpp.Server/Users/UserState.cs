using Actors.Xmpp.Persistence;
using Actors.Xmpp.Server.Users.Events;

namespace Actors.Xmpp.Server.Users;

/// <summary>
/// The persistent state of one account, rebuilt by applying its events in order (or from a <see cref="UserSnapshot"/>).
/// Mutated only by <see cref="Apply"/>, on the owning actor's thread.
/// </summary>
public sealed class UserState
{
    private readonly Dictionary<string, RosterItemState> _roster = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _pendingIn = new(StringComparer.Ordinal);
    private readonly List<OfflineMessageState> _offline = new();
    private readonly HashSet<string> _blocked = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _private = new(StringComparer.Ordinal);

    public long RosterVersion { get; private set; }
    public long LastOfflineId { get; private set; }
    public string? VCard { get; private set; }
    public DateTimeOffset? LastLogout { get; private set; }
    public string? LastStatus { get; private set; }

    public IReadOnlyCollection<RosterItemState> Roster => _roster.Values;
    public IReadOnlyDictionary<string, string> PendingIn => _pendingIn;
    public IReadOnlyList<OfflineMessageState> Offline => _offline;
    public IReadOnlySet<string> Blocked => _blocked;
    public IReadOnlyDictionary<string, string> Private => _private;

    public RosterItemState? Item(string bareJid) => _roster.GetValueOrDefault(bareJid);
    public int RosterCount => _roster.Count;

    public void Apply(IPersistentEvent e)
    {
        switch (e)
        {
            case RosterItemSet s:
                _roster[s.Jid] = new RosterItemState(s.Jid, s.Name, s.Groups, s.Subscription, s.Ask, s.Approved);
                RosterVersion = s.Version;
                break;
            case RosterItemRemoved r:
                _roster.Remove(r.Jid);
                RosterVersion = r.Version;
                break;
            case SubscriptionRequestStored s:
                _pendingIn[s.From] = s.Stanza;
                break;
            case SubscriptionRequestCleared c:
                _pendingIn.Remove(c.From);
                break;
            // release 1 (the 'offline' plugin owns XEP-0160 now): read from old journals; OfflineDelivered is written
            // once more when the plugin's store took them over (PluginStores.LegacyUserData)
            case OfflineStored o:
                _offline.Add(new OfflineMessageState(o.Id, o.Stanza, o.Stamp));
                LastOfflineId = o.Id;
                break;
            case OfflineDelivered d:
                _offline.RemoveAll(m => m.Id <= d.UpToId);
                break;
            case JidsBlocked b:
                foreach (var j in b.Jids) _blocked.Add(j);
                break;
            case JidsUnblocked u:
                if (u.Jids.Length == 0) _blocked.Clear();
                else foreach (var j in u.Jids) _blocked.Remove(j);
                break;
            // release 1 (the 'private' and 'vcard' plugins own these now): read from old journals, never written,
            // and carried in snapshots until the plugin stores took them over (PluginStores.LegacyUserData)
            case PrivateStored p:
                if (p.Xml is null) _private.Remove(p.Key);
                else _private[p.Key] = p.Xml;
                break;
            case VCardSet v:
                VCard = v.Xml;
                break;
            case LastActivityRecorded l:
                LastLogout = l.At;
                LastStatus = l.Status;
                break;
            case UserSnapshot snap:
                Restore(snap);
                break;
        }
    }

    public UserSnapshot ToSnapshot() => new(
        RosterVersion,
        _roster.Values.ToArray(),
        _pendingIn.Select(kv => new SubscriptionRequestState(kv.Key, kv.Value)).ToArray(),
        LastOfflineId,
        _offline.ToArray(),
        _blocked.Order(StringComparer.Ordinal).ToArray(),
        _private.Select(kv => new PrivateItemState(kv.Key, kv.Value)).ToArray(),
        VCard, LastLogout, LastStatus);

    private void Restore(UserSnapshot s)
    {
        _roster.Clear();
        foreach (var i in s.Roster) _roster[i.Jid] = i;
        _pendingIn.Clear();
        foreach (var p in s.PendingIn) _pendingIn[p.From] = p.Stanza;
        _offline.Clear();
        _offline.AddRange(s.Offline);
        _blocked.Clear();
        foreach (var b in s.Blocked) _blocked.Add(b);
        _private.Clear();
        foreach (var p in s.Private) _private[p.Key] = p.Xml;
        RosterVersion = s.RosterVersion;
        LastOfflineId = s.LastOfflineId;
        VCard = s.VCard;
        LastLogout = s.LastLogout;
        LastStatus = s.LastStatus;
    }

}
