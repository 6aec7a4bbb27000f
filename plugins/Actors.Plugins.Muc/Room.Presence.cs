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
                else if (joining) Resync(r, self, self.SessionOf(r.From)!);
                else Update(r, self, self.SessionOf(r.From)!);
                return;
            case "unavailable":
                if (self is not null) Leave(r, self, self.SessionOf(r.From)!);
                return;
            case "error":
                if (self is not null) RemoveBroken(r, self, self.SessionOf(r.From)!);
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
    private static void Resync(Turn r, Occupant o, OccupantSession session)
    {
        var shown = o.Primary;
        session.Presence = OwnPresence(r.Stanza);
        OthersOnEntry(r, o, session);
        if (!ReferenceEquals(shown, o.Primary) || ReferenceEquals(session, shown)) BroadcastPresence(r, o, null, null, [], SelfCodes(r, created: false), r.Stanza.Id);
        else SendSelfPresence(r, o, session, null, null, SelfCodes(r, created: false), r.Stanza.Id);
        History(r, session, r.Stanza.Child("x", MucNs.Muc)?.Child("history", MucNs.Muc));
        SubjectOnEntry(r, session);
    }

    /// <summary>§7.2.2: the presence of every other occupant, to a session entering.</summary>
    private static void OthersOnEntry(Turn r, Occupant o, OccupantSession session)
    {
        foreach (var other in r.Occupants.All)
            if (!ReferenceEquals(other, o) && (Broadcasts(r, other) || o.Role == Roles.Moderator))
                r.Send(PresenceOf(r, other, other.Primary, o, session.Jid));
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
            if (r.Occupants.ByNick.TryGetValue(nick, out var holder))
            {
                // §7.2.8: another user's nickname is a conflict; the same user's (another of its resources) is one more
                // session of the occupant it already is
                if (holder.Bare.Equals(r.From.Bare)) JoinSession(r, holder);
                else r.Error(Errors.Conflict, "that nickname is in use");
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
        var session = occupant.Sessions[0];
        // §7.2.2: the occupants' presence first, then the new occupant's, its own copy last
        OthersOnEntry(r, occupant, session);
        r.Occupants.Add(occupant);
        BroadcastPresence(r, occupant, null, null, [], SelfCodes(r, created), r.Stanza.Id); // §7.2.2: the self-presence reflects the join's id
        History(r, session, mucX?.Child("history", MucNs.Muc));
        SubjectOnEntry(r, session);
    }

    /// <summary>§7.2.8: a user already in the room under this nickname enters it from another resource. The new session
    /// gets what an entering occupant gets (the others' presence, its own with 110, history, subject); the others see
    /// one occupant, whose presence changes only when the new session becomes its primary one (a higher priority).</summary>
    private static void JoinSession(Turn r, Occupant o)
    {
        var shown = o.Primary;
        var session = new OccupantSession(r.From, OwnPresence(r.Stanza));
        OthersOnEntry(r, o, session);
        r.Occupants.AddSession(o, session);
        if (!ReferenceEquals(shown, o.Primary)) BroadcastPresence(r, o, null, null, [], SelfCodes(r, created: false), r.Stanza.Id);
        else SendSelfPresence(r, o, session, null, null, SelfCodes(r, created: false), r.Stanza.Id);
        History(r, session, r.Stanza.Child("x", MucNs.Muc)?.Child("history", MucNs.Muc));
        SubjectOnEntry(r, session);
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
    private static void History(Turn r, OccupantSession o, Element? asked)
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
        var kept = r.State.History.Count + r.Occupants.UnwrittenHistory.Count;
        if (max <= 0 || maxChars <= 0 || kept == 0) return;
        // newest first, counting what fits, then sent oldest first
        var picked = new List<Element>(Math.Min(max, kept));
        var chars = 0;
        foreach (var h in NewestFirst(r))
        {
            if (picked.Count >= max || h.Stamp <= after) break;
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
    private static void SubjectOnEntry(Turn r, OccupantSession o)
    {
        var from = r.State.SubjectNick is { Length: > 0 } by ? r.RoomJid.WithResource(by) : r.RoomJid;
        var subject = new Element("subject", XNs.Client);
        if (r.State.Subject is { Length: > 0 } text) subject.AddText(text);
        r.Send(new Element("message", XNs.Client).SetAttr("from", from.ToString()).SetAttr("to", o.Jid.ToString())
            .SetAttr("type", "groupchat").SetAttr("id", Guid.NewGuid().ToString("N")).Add(subject));
    }

    /// <summary>§7.7: a changed availability, broadcast to all. Of an occupant with several sessions the others see
    /// the primary one's: a change of another session is reflected to that session alone.</summary>
    private static void Update(Turn r, Occupant o, OccupantSession session)
    {
        var shown = o.Primary;
        session.Presence = OwnPresence(r.Stanza);
        if (ReferenceEquals(session, shown) || !ReferenceEquals(shown, o.Primary)) BroadcastPresence(r, o, null, null, [], [StatusCodes.SelfPresence]);
        else SendSelfPresence(r, o, session, null, null, [StatusCodes.SelfPresence]);
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
        // an occupant with several sessions changes its nickname in all of them (§7.2.8: the others see one occupant)
        BroadcastPresence(r, o, "unavailable", x => x.FirstChild()!.SetAttr("nick", nick), [StatusCodes.NickChanged], [StatusCodes.NickChanged, StatusCodes.SelfPresence]);
        r.Occupants.Rename(o, nick);
        o.SessionOf(r.From)!.Presence = OwnPresence(r.Stanza);
        BroadcastPresence(r, o, null, null, [], [StatusCodes.SelfPresence]);
    }

    /// <summary>§11.1 (the service removes a user because of an error response): an occupant whose
    /// client answers the room with an error is removed, with 333 (and 307, as other servers do) to everyone.</summary>
    private static void RemoveBroken(Turn r, Occupant o, OccupantSession session)
    {
        if (o.Sessions.Count > 1) // one of several sessions: that one leaves, the occupant stays
        {
            RemoveSession(r, o, session, [StatusCodes.SelfPresence, StatusCodes.Kicked, StatusCodes.TechnicalKick], null);
            return;
        }
        BroadcastPresence(r, o, "unavailable", null, [StatusCodes.Kicked, StatusCodes.TechnicalKick],
            [StatusCodes.SelfPresence, StatusCodes.Kicked, StatusCodes.TechnicalKick]);
        Remove(r, o);
    }

    /// <summary>§7.14: unavailable to the others and, with 110, to the occupant leaving.</summary>
    private static void Leave(Turn r, Occupant o, OccupantSession session)
    {
        var status = r.Stanza.Child("status", XNs.Client);
        if (o.Sessions.Count > 1) // §7.2.8: one of several sessions leaves; the occupant stays in the room
        {
            RemoveSession(r, o, session, [StatusCodes.SelfPresence], status);
            return;
        }
        r.Occupants.Remove(o); // the others first, then the occupant's own copy
        foreach (var other in r.Occupants.All) SendTo(r, other, WithStatus(PresenceOf(r, o, o.Primary, other, other.Sessions[0].Jid, "unavailable"), status));
        r.Send(WithStatus(PresenceOf(r, o, session, o, session.Jid, "unavailable", null, StatusCodes.SelfPresence), status));
        r.Occupants.Add(o);
        Remove(r, o);
    }

    /// <summary>One session of an occupant that has others leaves: it alone gets unavailable (with
    /// <paramref name="selfCodes"/>); the others see the occupant's presence again only if its primary session changed.</summary>
    private static void RemoveSession(Turn r, Occupant o, OccupantSession session, string[] selfCodes, Element? status)
    {
        var shown = o.Primary;
        r.Occupants.RemoveSession(o, session);
        r.Send(WithStatus(PresenceOf(r, o, session, o, session.Jid, "unavailable", null, selfCodes), status));
        if (!ReferenceEquals(shown, o.Primary)) BroadcastPresence(r, o, null, null, [], [StatusCodes.SelfPresence]);
    }

    private static Element WithStatus(Element presence, Element? status)
    {
        if (status is not null) presence.Add(status.Clone());
        return presence;
    }
}
