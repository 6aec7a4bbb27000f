using Actors.Xmpp;
using Actors.Xmpp.Xml;
using XNs = Actors.Xmpp.Ns;

namespace Actors.Plugins.Muc;

/// <summary>Roles and affiliations (XEP-0045 §8, §9, §10.3–§10.8): the admin namespace's lists and changes.</summary>
internal sealed partial class Room
{
    /// <summary>§9.5 member list, §9.2 ban list (admins); §10.5 owner list, §10.8 admin list (owners); §9.8 moderator
    /// list and §8.5 voice list (moderators).</summary>
    private static void List(Turn r, Occupant? sender, Element query)
    {
        var item = query.Child("item", MucNs.Admin);
        var affiliation = r.State.AffiliationOf(r.From);
        var query2 = new Element("query", MucNs.Admin);
        if (item?.Attr("affiliation") is { } wanted)
        {
            var needed = wanted is MucAffiliations.Owner or MucAffiliations.Admin ? MucAffiliations.Owner : MucAffiliations.Admin;
            if (!MucAffiliations.IsValid(wanted) || wanted == MucAffiliations.None)
            {
                r.Error(Errors.BadRequest);
                return;
            }
            if (MucAffiliations.Rank(affiliation) < MucAffiliations.Rank(needed))
            {
                r.Error(Errors.Forbidden, "you may not see that list");
                return;
            }
            foreach (var (jid, a) in r.State.Affiliations)
            {
                if (a != wanted) continue;
                var i = new Element("item", MucNs.Admin).SetAttr("affiliation", a).SetAttr("jid", jid);
                if (r.State.RegisteredNicks.TryGetValue(jid, out var nick)) i.SetAttr("nick", nick);
                query2.Add(i);
            }
            r.Result(query2);
            return;
        }
        if (item?.Attr("role") is { } role && role is Roles.Moderator or Roles.Participant or Roles.Visitor)
        {
            if (sender?.Role != Roles.Moderator)
            {
                r.Error(Errors.Forbidden, "only moderators may see that list");
                return;
            }
            foreach (var o in r.Occupants.ByNick.Values)
                if (o.Role == role)
                    query2.Add(new Element("item", MucNs.Admin).SetAttr("affiliation", r.State.AffiliationOf(o.Jid))
                        .SetAttr("jid", o.Jid.ToString()).SetAttr("nick", o.Nick).SetAttr("role", o.Role));
            r.Result(query2);
            return;
        }
        r.Error(Errors.BadRequest, "ask for an affiliation or a role");
    }

    /// <summary>Every item is checked before any is carried out: the request changes all or nothing.</summary>
    private void Administer(Turn r, Occupant? sender, Element query)
    {
        var items = query.Elements("item", MucNs.Admin).ToArray();
        if (items.Length == 0)
        {
            r.Error(Errors.BadRequest);
            return;
        }
        foreach (var item in items)
        {
            if (Check(r, sender, item) is { } error)
            {
                r.Error(error.Condition, error.Text);
                return;
            }
        }
        r.Result();
        foreach (var item in items)
        {
            var reason = item.ChildText("reason", MucNs.Admin);
            if (item.Attr("role") is { } role) SetRole(r, r.Occupants.ByNick[item.Attr("nick")!], role, sender!, reason);
            else ChangeAffiliation(r, TargetOf(r, item)!, item.Attr("affiliation")!, sender, reason);
        }
    }

    private static string? TargetOf(Turn r, Element item)
    {
        if (Jid.TryParse(item.Attr("jid"), out var jid) && jid is not null) return jid.Bare.ToString();
        if (item.Attr("nick") is { } nick && r.Occupants.ByNick.TryGetValue(nick, out var o)) return o.Bare.ToString();
        return null;
    }

    private static (string Condition, string Text)? Check(Turn r, Occupant? sender, Element item)
    {
        var actor = r.State.AffiliationOf(r.From);
        var actorRank = MucAffiliations.Rank(actor);
        if (item.Attr("role") is not null && item.Attr("affiliation") is not null) // §18: one or the other
            return (Errors.BadRequest, "an item changes a role or an affiliation, not both");
        if (item.Attr("role") is { } role)
        {
            if (role is not (Roles.None or Roles.Visitor or Roles.Participant or Roles.Moderator)) return (Errors.BadRequest, "no such role");
            if (sender?.Role != Roles.Moderator) return (Errors.Forbidden, "only moderators may change roles"); // §8
            if (item.Attr("nick") is not { } nick || !r.Occupants.ByNick.TryGetValue(nick, out var target))
                return (Errors.ItemNotFound, "no occupant has that nickname");
            var targetRank = MucAffiliations.Rank(r.State.AffiliationOf(target.Jid));
            var adminRank = MucAffiliations.Rank(MucAffiliations.Admin);
            switch (role)
            {
                case Roles.None or Roles.Visitor when targetRank >= adminRank: // §8.2, §8.4: not an admin or owner
                    return (Errors.NotAllowed, "admins and owners cannot be kicked or silenced");
                case Roles.Moderator when actorRank < adminRank: // §9.6
                    return (Errors.Forbidden, "only admins may grant moderator status");
                case Roles.Visitor or Roles.Participant when target.Role == Roles.Moderator && actorRank < adminRank: // §9.7
                    return (Errors.NotAllowed, "only admins may revoke moderator status");
                case Roles.Participant when target.Role == Roles.Moderator && targetRank >= adminRank: // §9.7: admins stay moderators
                    return (Errors.NotAllowed, "an admin or owner is a moderator");
            }
            return null;
        }
        var affiliation = item.Attr("affiliation");
        if (!MucAffiliations.IsValid(affiliation)) return (Errors.BadRequest, "no such affiliation");
        var jid = TargetOf(r, item);
        if (jid is null) return (Errors.BadRequest, "an affiliation change names a JID");
        if (actorRank < MucAffiliations.Rank(MucAffiliations.Admin)) return (Errors.Forbidden, "only admins may change affiliations"); // §9
        var current = r.State.AffiliationOf(Jid.Parse(jid));
        var privileged = affiliation is MucAffiliations.Owner or MucAffiliations.Admin || current is MucAffiliations.Owner or MucAffiliations.Admin;
        if (privileged && actor != MucAffiliations.Owner)
            return current is MucAffiliations.Owner or MucAffiliations.Admin
                ? (Errors.NotAllowed, "an admin cannot change the affiliation of an admin or owner") // §9.1
                : (Errors.Forbidden, "only owners may grant admin or owner status"); // §10.3, §10.6
        if (current == MucAffiliations.Owner && affiliation != MucAffiliations.Owner && r.State.OwnerCount() == 1) // §10.5
            return (Errors.Conflict, "the last owner cannot give up ownership");
        return null;
    }

    /// <summary>§8.2 (kick: unavailable with 307), §8.3/§8.4 (voice), §9.6/§9.7 (moderator status): the new role to all.</summary>
    private static void SetRole(Turn r, Occupant target, string role, Occupant actor, string? reason)
    {
        Action<Element> detail = x =>
        {
            var item = x.FirstChild()!;
            if (reason is not null) item.Add(new Element("reason", MucNs.User).AddText(reason));
            item.Add(new Element("actor", MucNs.User).SetAttr("nick", actor.Nick));
        };
        if (role == Roles.None)
        {
            BroadcastPresence(r, target, "unavailable", detail, [StatusCodes.Kicked], [StatusCodes.Kicked, StatusCodes.SelfPresence]);
            Remove(r, target);
            return;
        }
        target.Role = role;
        BroadcastPresence(r, target, null, detail, [], [StatusCodes.SelfPresence]);
    }

    /// <summary>§9.1 (ban: an occupant leaves with 301), §9.3/§9.4 (member), §10.3–§10.7 (owner, admin); in a
    /// members-only room losing membership removes the occupant with 321 (§9.4); a user not in the room is told with
    /// status 101 (§18.1).</summary>
    private void ChangeAffiliation(Turn r, string jid, string affiliation, Occupant? actor, string? reason)
    {
        r.Persist(RoomEvents.Affiliation(jid, affiliation));
        var inRoom = false;
        foreach (var o in r.Occupants.All)
            if (o.Bare.ToString() == jid) inRoom = true;
        if (!inRoom) TellAffiliationOutOfRoom(r, jid, affiliation, reason);
        Action<Element> detail = x =>
        {
            var item = x.FirstChild()!;
            if (reason is not null) item.Add(new Element("reason", MucNs.User).AddText(reason));
            if (actor is not null) item.Add(new Element("actor", MucNs.User).SetAttr("nick", actor.Nick));
        };
        foreach (var o in r.Occupants.All.ToArray())
        {
            if (o.Bare.ToString() != jid) continue;
            if (affiliation == MucAffiliations.Outcast)
            {
                BroadcastPresence(r, o, "unavailable", detail, [StatusCodes.Banned], [StatusCodes.Banned, StatusCodes.SelfPresence]);
                Remove(r, o);
                continue;
            }
            if (affiliation == MucAffiliations.None && r.State.Config.MembersOnlyRoom)
            {
                BroadcastPresence(r, o, "unavailable", detail, [StatusCodes.AffiliationChanged], [StatusCodes.AffiliationChanged, StatusCodes.SelfPresence]);
                Remove(r, o);
                continue;
            }
            o.Role = RoleFor(r.State, affiliation);
            BroadcastPresence(r, o, null, detail, [], [StatusCodes.SelfPresence]);
        }
    }

    /// <summary>§18.1 (Implementation Notes, Services): "a MUC service MAY send an out-of-room &lt;message/&gt; if a
    /// user's affiliation changes while the user is not in the room; the message SHOULD be sent from the room to the
    /// user's bare JID, MAY contain a &lt;body/&gt; element describing the affiliation change, and MUST contain a status
    /// code of 101". A normal message, so that a user offline finds it later; not for a domain's affiliation (§9.1
    /// bans a server with a bare domain), which has no one to tell.</summary>
    private static void TellAffiliationOutOfRoom(Turn r, string jid, string affiliation, string? reason)
    {
        if (!Jid.TryParse(jid, out var user) || user is null || user.Local is null) return;
        var item = new Element("item", MucNs.User).SetAttr("jid", jid).SetAttr("affiliation", affiliation);
        if (reason is not null) item.Add(new Element("reason", MucNs.User).AddText(reason));
        r.Send(new Element("message", XNs.Client).SetAttr("from", r.RoomJid.ToString()).SetAttr("to", jid)
            .SetAttr("id", Guid.NewGuid().ToString("N"))
            .Add(new Element("body", XNs.Client).AddText($"Your affiliation with {r.RoomJid} is now {affiliation}."))
            .Add(new Element("x", MucNs.User).Add(item).Add(new Element("status", MucNs.User).SetAttr("code", StatusCodes.AffiliationChangedOutOfRoom))));
    }
}
