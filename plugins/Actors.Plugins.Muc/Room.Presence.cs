using System.Globalization;
using Actors.Xmpp;
using Actors.Xmpp.Xml;
using XNs = Actors.Xmpp.Ns;

namespace Actors.Plugins.Muc;

/// <summary>Entering (§7.2), presence updates (§7.7), nickname changes (§7.6) and leaving (§7.14).</summary>
internal sealed partial class Room
{
    private void Presence(Turn r)
    {
        r.Occupants.ByJid.TryGetValue(r.From, out var self);
        var nick = r.To.Resource;
        switch (r.Stanza.Type)
        {
            case null:
                if (nick is null || nick.Trim().Length == 0) // §7.2.1: no nickname
                {
                    r.Error(Errors.JidMalformed, "a room nickname is required");
                    return;
                }
                var joining = r.Stanza.Child("x", MucNs.Muc) is not null;
                if (self is null && !joining) NotAnOccupant(r, nick);
                else if (self is null) Enter(r, nick);
                else if (self.Nick != nick) ChangeNick(r, self, nick);
                else if (joining) Resync(r, self);
                else Update(r, self);
                return;
            case "unavailable":
                if (self is not null) Leave(r, self);
                return;
            case "error":
                if (self is not null) RemoveBroken(r, self);
                return;
            default:
                return; // subscription requests to a room are not answered
        }
    }

    /// <summary>The occupant's own presence children, without MUC payloads and occupant ids (XEP-0421 §4: the room
    /// replaces any it receives).</summary>
    private static Element OwnPresence(Element stanza)
    {
        var p = new Element("presence", XNs.Client);
        foreach (var node in stanza.Nodes)
        {
            if (node is not Element child) continue;
            if (child.Namespace is MucNs.Muc or MucNs.User or MucNs.OccupantId || child.Is("error", XNs.Client)) continue;
            p.Add(child.Clone());
        }
        return p;
    }

    /// <summary>§7.2.18: presence without the MUC &lt;x/&gt; from someone not in the room is a desynchronised client
    /// (or a groupchat 1.0 join): it gets an explicit kick with 110, 307 and 333 (RECOMMENDED since version 1.32).</summary>
    private static void NotAnOccupant(Turn r, string nick)
    {
        var x = new Element("x", MucNs.User).Add(new Element("item", MucNs.User).SetAttr("affiliation", MucAffiliations.None).SetAttr("role", Roles.None)
            .Add(new Element("reason", MucNs.User).AddText("You are not in the room.")));
        foreach (var code in (ReadOnlySpan<string>)[StatusCodes.SelfPresence, StatusCodes.Kicked, StatusCodes.TechnicalKick])
            x.Add(new Element("status", MucNs.User).SetAttr("code", code));
        r.Send(new Element("presence", XNs.Client).SetAttr("from", r.RoomJid.WithResource(nick).ToString()).SetAttr("to", r.From.ToString())
            .SetAttr("type", "unavailable").Add(x));
    }

    /// <summary>§7.2.1: an &lt;x/&gt;-tagged join from a client already in the room under that nickname lost its
    /// synchronisation: it gets what a new occupant gets (the others' presence, its own, history, subject).</summary>
    private static void Resync(Turn r, Occupant o)
    {
        o.Presence = OwnPresence(r.Stanza);
        foreach (var other in r.Occupants.ByJid.Values)
            if (!ReferenceEquals(other, o) && (Broadcasts(r, other) || o.Role == Roles.Moderator)) r.Send(PresenceOf(r, other, o));
        BroadcastPresence(r, o, null, null, [], SelfCodes(r, created: false), r.Stanza.Id);
        History(r, o, r.Stanza.Child("x", MucNs.Muc)?.Child("history", MucNs.Muc));
        SubjectOnEntry(r, o);
    }

    private static string[] SelfCodes(Turn r, bool created)
    {
        var codes = new List<string>(4) { StatusCodes.SelfPresence };
        if (r.State.Config.NonAnonymous) codes.Add(StatusCodes.NonAnonymous); // §7.2.3
        if (r.State.Config.Logging) codes.Add(StatusCodes.Logged); // §7.2.12
        if (created) codes.Add(StatusCodes.Created); // §10.1.1
        return codes.ToArray();
    }

    /// <summary>§7.2: entering a room (creating it first when it does not exist, §10.1.1).</summary>
    private void Enter(Turn r, string nick)
    {
        var mucX = r.Stanza.Child("x", MucNs.Muc);
        var created = false;
        if (r.State.Exists && !r.State.Config.Persistent && r.Occupants.Count == 0)
            r.Persist(RoomEvents.Destroyed()); // a temporary room left over from before a restart: its people are gone
        if (!r.State.Exists)
        {
            if (!r.MayCreate) // §10.1.1: the service does not let this user create rooms
            {
                r.Error(Errors.NotAllowed, "you may not create rooms on this service");
                return;
            }
            // §10.1.1: the room is locked until its owner configures it (§10.1.2 instant, §10.1.3 reserved)
            r.Persist(RoomEvents.Created(r.From.Bare.ToString(), locked: true));
            r.ListingChanged = true;
            created = true;
        }
        else if (r.State.Locked) // §7.2.10: nobody but the owner enters a locked room
        {
            r.Error(Errors.ItemNotFound, "the room is locked until its owner configures it");
            return;
        }
        var affiliation = r.State.AffiliationOf(r.From);
        var admin = MucAffiliations.Rank(affiliation) >= MucAffiliations.Rank(MucAffiliations.Admin);
        if (!created)
        {
            if (affiliation == MucAffiliations.Outcast) // §7.2.7
            {
                r.Error(Errors.Forbidden, "you are banned from this room");
                return;
            }
            if (r.State.Config.MembersOnlyRoom && affiliation == MucAffiliations.None) // §7.2.6
            {
                r.Error(Errors.RegistrationRequired, "this room is members-only");
                return;
            }
            if (r.State.Config.PasswordProtectedRoom && !admin && mucX?.ChildText("password", MucNs.Muc) != r.State.Config.Password) // §7.2.5
            {
                r.Error(Errors.NotAuthorized, "a password is required to enter this room");
                return;
            }
            if (r.Occupants.ByNick.ContainsKey(nick)) // §7.2.8
            {
                r.Error(Errors.Conflict, "that nickname is in use");
                return;
            }
            if (r.State.RegisteredOwnerOf(nick) is { } owner && owner != r.From.Bare.ToString()) // §7.2.8 / §7.10: a reserved nick
            {
                r.Error(Errors.Conflict, "that nickname is registered by another person");
                return;
            }
            var max = MaxOccupants(r);
            if (max > 0 && r.Occupants.Count >= max && !admin) // §7.2.9
            {
                r.Error(Errors.ServiceUnavailable, "the room is full");
                return;
            }
        }
        var occupant = new Occupant(nick, r.From, RoleFor(r.State, affiliation), occupantIdOf(r.RoomJid.ToString(), r.From.Bare), OwnPresence(r.Stanza));
        // §7.2.2: the occupants' presence first, then the new occupant's, its own copy last
        foreach (var other in r.Occupants.ByJid.Values)
            if (Broadcasts(r, other) || occupant.Role == Roles.Moderator) r.Send(PresenceOf(r, other, occupant));
        r.Occupants.Add(occupant);
        BroadcastPresence(r, occupant, null, null, [], SelfCodes(r, created), r.Stanza.Id); // §7.2.2: the self-presence reflects the join's id
        History(r, occupant, mucX?.Child("history", MucNs.Muc));
        SubjectOnEntry(r, occupant);
    }

    private int MaxOccupants(Turn r)
    {
        var room = r.State.Config.MaxOccupants;
        var service = options.MaxOccupants;
        if (room == 0) return service;
        return service == 0 ? room : Math.Min(room, service);
    }

    /// <summary>§7.2.14: the discussion history, oldest first, each with a delay stamp, within the limits the
    /// occupant asked for (maxchars, maxstanzas, seconds, since) and the room's (muc#maxhistoryfetch).</summary>
    private static void History(Turn r, Occupant o, Element? asked)
    {
        var max = r.State.Config.HistoryFetch;
        var maxChars = int.MaxValue;
        var after = DateTimeOffset.MinValue;
        if (asked is not null)
        {
            if (Int(asked.Attr("maxstanzas")) is { } stanzas) max = Math.Min(max, stanzas);
            if (Int(asked.Attr("maxchars")) is { } limit) maxChars = limit;
            if (Int(asked.Attr("seconds")) is { } seconds) after = DateTimeOffset.UtcNow.AddSeconds(-seconds);
            if (asked.Attr("since") is { } since && DateTimeOffset.TryParse(since, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var s) && s > after) after = s;
        }
        if (max <= 0 || maxChars <= 0 || r.State.History.Count == 0) return;
        // newest first, counting what fits, then sent oldest first
        var picked = new List<Element>(Math.Min(max, r.State.History.Count));
        var chars = 0;
        for (var node = r.State.History.Last; node is not null && picked.Count < max; node = node.Previous)
        {
            var h = node.Value;
            if (h.Stamp <= after) break;
            var copy = h.Message.Clone().SetAttr("to", o.Jid.ToString());
            copy.Add(Stamp(h.Stamp, r.RoomJid));
            chars += copy.ToString().Length; // maxchars counts the XML of each stanza (§7.2.14)
            if (chars > maxChars) break;
            picked.Add(copy);
        }
        for (var i = picked.Count - 1; i >= 0; i--) r.Send(picked[i]);
    }

    private static int? Int(string? s) => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var i) ? i : null;

    /// <summary>§7.2.15: the subject last, from the occupant who set it (or the room), an empty one if none.</summary>
    private static void SubjectOnEntry(Turn r, Occupant o)
    {
        var from = r.State.SubjectNick is { Length: > 0 } by ? r.RoomJid.WithResource(by) : r.RoomJid;
        var subject = new Element("subject", XNs.Client);
        if (r.State.Subject is { Length: > 0 } text) subject.AddText(text);
        r.Send(new Element("message", XNs.Client).SetAttr("from", from.ToString()).SetAttr("to", o.Jid.ToString())
            .SetAttr("type", "groupchat").SetAttr("id", Guid.NewGuid().ToString("N")).Add(subject));
    }

    /// <summary>§7.7: a changed availability, broadcast to all.</summary>
    private static void Update(Turn r, Occupant o)
    {
        o.Presence = OwnPresence(r.Stanza);
        BroadcastPresence(r, o, null, null, [], [StatusCodes.SelfPresence]);
    }

    /// <summary>§7.6: unavailable from the old nickname with 303 and the new one, then available from the new one.</summary>
    private static void ChangeNick(Turn r, Occupant o, string nick)
    {
        if (r.Occupants.ByNick.ContainsKey(nick)) // §7.6.3 (the error comes from the nickname asked for)
        {
            r.Error(Errors.Conflict, "that nickname is in use");
            return;
        }
        if (r.State.RegisteredOwnerOf(nick) is { } owner && owner != r.From.Bare.ToString())
        {
            r.Error(Errors.Conflict, "that nickname is registered by another person");
            return;
        }
        BroadcastPresence(r, o, "unavailable", x => x.FirstChild()!.SetAttr("nick", nick), [StatusCodes.NickChanged], [StatusCodes.NickChanged, StatusCodes.SelfPresence]);
        r.Occupants.Rename(o, nick);
        o.Presence = OwnPresence(r.Stanza);
        BroadcastPresence(r, o, null, null, [], [StatusCodes.SelfPresence]);
    }

    /// <summary>§11.1 (the service removes a user because of an error response): an occupant whose
    /// client answers the room with an error is removed, with 333 (and 307, as other servers do) to everyone.</summary>
    private static void RemoveBroken(Turn r, Occupant o)
    {
        BroadcastPresence(r, o, "unavailable", null, [StatusCodes.Kicked, StatusCodes.TechnicalKick],
            [StatusCodes.SelfPresence, StatusCodes.Kicked, StatusCodes.TechnicalKick]);
        Remove(r, o);
    }

    /// <summary>§7.14: unavailable to the others and, with 110, to the occupant leaving.</summary>
    private static void Leave(Turn r, Occupant o)
    {
        var status = r.Stanza.Child("status", XNs.Client);
        r.Occupants.Remove(o); // the others first, then the occupant's own copy
        foreach (var other in r.Occupants.ByJid.Values) r.Send(WithStatus(PresenceOf(r, o, other, "unavailable"), status));
        r.Send(WithStatus(PresenceOf(r, o, o, "unavailable", null, StatusCodes.SelfPresence), status));
        r.Occupants.Add(o);
        Remove(r, o);
    }

    private static Element WithStatus(Element presence, Element? status)
    {
        if (status is not null) presence.Add(status.Clone());
        return presence;
    }
}
