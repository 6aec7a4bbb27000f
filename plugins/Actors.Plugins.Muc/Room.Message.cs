using Actors.Xmpp;
using Actors.Xmpp.Xml;
using XNs = Actors.Xmpp.Ns;

namespace Actors.Plugins.Muc;

/// <summary>Messages: to all occupants (§7.4), subject changes (§8.1), private messages (§7.5), mediated invitations
/// and declines (§7.8.2, §7.8.1 as mediated), voice requests and their approval (§8.6).</summary>
internal sealed partial class Room
{
    private void Message(Turn r)
    {
        if (r.Stanza.Type == "error")
        {
            // §11.1: an occupant whose client bounces what the room sent it is removed (333)
            if (r.Occupants.ByJid.TryGetValue(r.From, out var bouncing)) RemoveBroken(r, bouncing, bouncing.SessionOf(r.From)!);
            return;
        }
        if (!r.State.Exists || r.State.Locked)
        {
            r.Error(Errors.ItemNotFound, "no such room");
            return;
        }
        r.Occupants.ByJid.TryGetValue(r.From, out var sender);
        if (r.To.Resource is { } nick)
        {
            Private(r, sender, nick);
            return;
        }
        if (r.Stanza.Type == "groupchat")
        {
            Groupchat(r, sender);
            return;
        }
        if (r.Stanza.Child("x", MucNs.User) is { } x)
        {
            if (x.Child("invite", MucNs.User) is { } invite) Invite(r, sender, invite);
            else if (x.Child("decline", MucNs.User) is { } decline) Decline(r, decline);
            else r.Error(Errors.BadRequest);
            return;
        }
        if (r.Stanza.Child("x", XNs.DataForms) is { } form && FormTypeOf(form) == MucNs.Request)
        {
            VoiceRequest(r, sender, form);
            return;
        }
        r.Error(Errors.NotAcceptable, "only groupchat messages go to the room");
    }

    /// <summary>§7.4: from an occupant with voice, to every occupant (the sender included) from room/nick.</summary>
    private void Groupchat(Turn r, Occupant? sender)
    {
        if (sender is null) // §7.4: not an occupant
        {
            r.Error(Errors.NotAcceptable, "only occupants may send messages to the room");
            return;
        }
        var subject = r.Stanza.Child("subject", XNs.Client);
        var body = r.Stanza.Child("body", XNs.Client);
        if (subject is not null && body is null)
        {
            ChangeSubject(r, sender, subject.Text);
            return;
        }
        if (sender.Role == Roles.Visitor) // §7.4: a visitor in a moderated room has no voice
        {
            r.Error(Errors.Forbidden, "you have no voice in this room");
            return;
        }
        // §7.4: reflected with the sender's id (one generated for all copies when it has none)
        var message = new Element("message", XNs.Client).SetAttr("from", r.RoomJid.WithResource(sender.Nick).ToString())
            .SetAttr("type", "groupchat").SetAttr("id", r.Stanza.Id ?? Guid.NewGuid().ToString("N")).SetAttr("xml:lang", r.Stanza.Lang);
        foreach (var node in r.Stanza.Nodes)
            if (node is Element child && IsReflected(r, child)) message.Add(child.Clone());
        message.Add(new Element("occupant-id", MucNs.OccupantId).SetAttr("id", sender.OccupantId));
        if (body is not null) Archive(r, sender, message); // XEP-0313 §6.1.2: messages with a body
        if (body is not null && r.State.HistoryCapacity > 0)
            KeepHistory(r, new HistoryEntry(DateTimeOffset.UtcNow, sender.Nick, sender.Jid.Bare.ToString(), message));
        Broadcast(r, message);
    }

    /// <summary>What of an occupant's message the room passes on: not an occupant id (XEP-0421 §4: the room's replaces
    /// it), not a muc#user &lt;x/&gt; (XEP-0313 §8.4: an occupant could forge the real JID a result shows) and not a
    /// stanza id claiming to be the room's (XEP-0359 §3.1).</summary>
    private static bool IsReflected(Turn r, Element child) => child.Namespace switch
    {
        MucNs.OccupantId or MucNs.User => false,
        MucNs.StanzaId => child.Attr("by") is not { } by || !Jid.TryParse(by, out var byJid) || byJid is null || !byJid.Equals(r.RoomJid),
        _ => true,
    };

    /// <summary>XEP-0313 §6.1.2: a room that archives stores each message once, as broadcast (without 'to'), with its
    /// sender's real JID as the archive's 'with' (§4.1.1: the publisher), and marks every copy with the archive id
    /// (§3.5, XEP-0359: by the room's bare JID). The write is batched off this path.</summary>
    private void Archive(Turn r, Occupant sender, Element message)
    {
        if (archive is null || !r.State.Config.Archiving) return;
        var id = archive.Append(MucPlugin.ArchiveKind, r.RoomJid, sender.SessionOf(r.From)?.Jid ?? sender.Jid, message);
        message.Add(new Element("stanza-id", MucNs.StanzaId).SetAttr("id", id).SetAttr("by", r.RoomJid.ToString()));
    }

    /// <summary>One copy per session of every occupant, addressed to its real JID (§7.2.8: to all of a user's
    /// resources).</summary>
    private static void Broadcast(Turn r, Element message)
    {
        foreach (var o in r.Occupants.All)
            foreach (var session in o.Sessions)
                r.Send(message.Clone().SetAttr("to", session.Jid.ToString()));
    }

    /// <summary>§8.1: moderators may change the subject; participants too when muc#roomconfig_changesubject allows.</summary>
    private void ChangeSubject(Turn r, Occupant sender, string text)
    {
        var allowed = sender.Role == Roles.Moderator || (sender.Role == Roles.Participant && r.State.Config.OccupantsChangeSubject);
        if (!allowed)
        {
            r.Error(Errors.Forbidden, "you may not change the subject");
            return;
        }
        r.Persist(RoomEvents.Subject(sender.Nick, text));
        var message = new Element("message", XNs.Client).SetAttr("from", r.RoomJid.WithResource(sender.Nick).ToString())
            .SetAttr("type", "groupchat").SetAttr("id", r.Stanza.Id ?? Guid.NewGuid().ToString("N"));
        var subject = new Element("subject", XNs.Client);
        if (text.Length > 0) subject.AddText(text);
        message.Add(subject);
        message.Add(new Element("occupant-id", MucNs.OccupantId).SetAttr("id", sender.OccupantId));
        Archive(r, sender, message); // XEP-0313 §6.1.2: subject changes are archived too
        Broadcast(r, message);
    }

    /// <summary>§7.5: a private message from one occupant to another (type chat or normal, never groupchat).</summary>
    private static void Private(Turn r, Occupant? sender, string nick)
    {
        if (sender is null)
        {
            r.Error(Errors.NotAcceptable, "only occupants may send private messages");
            return;
        }
        if (r.Stanza.Type == "groupchat") // §7.5
        {
            r.Error(Errors.BadRequest, "a private message is not of type groupchat");
            return;
        }
        if (!r.Occupants.ByNick.TryGetValue(nick, out var recipient)) // §7.5
        {
            r.Error(Errors.ItemNotFound, "no occupant has that nickname");
            return;
        }
        var allowed = r.State.Config.PrivateMessages switch
        {
            RoomConfig.PmAnyone => true,
            RoomConfig.PmParticipants => sender.Role != Roles.Visitor,
            RoomConfig.PmModerators => sender.Role == Roles.Moderator,
            _ => false,
        };
        if (!allowed)
        {
            r.Error(Errors.Forbidden, "private messages are not allowed in this room");
            return;
        }
        var pm = new Element("message", XNs.Client).SetAttr("from", r.RoomJid.WithResource(sender.Nick).ToString())
            .SetAttr("type", r.Stanza.Type).SetAttr("id", r.Stanza.Id).SetAttr("xml:lang", r.Stanza.Lang);
        foreach (var node in r.Stanza.Nodes)
            if (node is Element child && child.Namespace is not (MucNs.OccupantId or MucNs.User)) pm.Add(child.Clone());
        pm.Add(new Element("x", MucNs.User)); // §7.5: marks it as a private message through the room
        pm.Add(new Element("occupant-id", MucNs.OccupantId).SetAttr("id", sender.OccupantId));
        SendTo(r, recipient, pm); // §7.2.8: RECOMMENDED to all of the recipient's resources
    }

    /// <summary>§7.8.2: the room sends the invitation on, from itself, naming the inviter (and the password).</summary>
    private static void Invite(Turn r, Occupant? sender, Element invite)
    {
        if (sender is null)
        {
            r.Error(Errors.NotAcceptable, "only occupants may invite");
            return;
        }
        var affiliation = r.State.AffiliationOf(r.From);
        var admin = MucAffiliations.Rank(affiliation) >= MucAffiliations.Rank(MucAffiliations.Admin);
        if (r.State.Config.MembersOnlyRoom && !r.State.Config.Invites && !admin) // §7.8.2: only admins invite then
        {
            r.Error(Errors.Forbidden, "only admins may invite to this members-only room");
            return;
        }
        if (!Jid.TryParse(invite.Attr("to"), out var invitee) || invitee is null)
        {
            r.Error(Errors.JidMalformed, "the invitee's address is not valid");
            return;
        }
        if (r.State.Config.MembersOnlyRoom && admin && r.State.AffiliationOf(invitee) == MucAffiliations.None)
            r.Persist(RoomEvents.Affiliation(invitee.Bare.ToString(), MucAffiliations.Member)); // §7.8.2: MAY add the invitee as a member
        var forwarded = new Element("invite", MucNs.User).SetAttr("from", r.From.ToString());
        if (invite.Child("reason", MucNs.User) is { } reason) forwarded.Add(reason.Clone());
        if (invite.Child("continue", MucNs.User) is { } cont) forwarded.Add(cont.Clone());
        var payload = new Element("x", MucNs.User).Add(forwarded);
        if (r.State.Config.PasswordProtectedRoom) payload.Add(new Element("password", MucNs.User).AddText(r.State.Config.Password));
        r.Send(new Element("message", XNs.Client).SetAttr("from", r.RoomJid.ToString()).SetAttr("to", invitee.ToString())
            .SetAttr("id", r.Stanza.Id).Add(payload));
    }

    /// <summary>§7.8.1 (mediated): the invitee's decline goes on to the inviter, from the room.</summary>
    private static void Decline(Turn r, Element decline)
    {
        if (!Jid.TryParse(decline.Attr("to"), out var inviter) || inviter is null)
        {
            r.Error(Errors.JidMalformed, "the inviter's address is not valid");
            return;
        }
        var forwarded = new Element("decline", MucNs.User).SetAttr("from", r.From.Bare.ToString());
        if (decline.Child("reason", MucNs.User) is { } reason) forwarded.Add(reason.Clone());
        r.Send(new Element("message", XNs.Client).SetAttr("from", r.RoomJid.ToString()).SetAttr("to", inviter.ToString())
            .SetAttr("id", r.Stanza.Id).Add(new Element("x", MucNs.User).Add(forwarded)));
    }

    private static string? FormTypeOf(Element form)
    {
        foreach (var f in form.Elements("field", XNs.DataForms))
            if (f.Attr("var") == RoomConfig.FormType) return f.ChildText("value", XNs.DataForms);
        return null;
    }

    private static string? FieldOf(Element form, string name)
    {
        foreach (var f in form.Elements("field", XNs.DataForms))
            if (f.Attr("var") == name) return f.ChildText("value", XNs.DataForms);
        return null;
    }

    /// <summary>§8.6: a visitor asks for voice (the form goes to every moderator); a moderator's submitted form with
    /// muc#request_allow true grants it (§8.6, as §8.3).</summary>
    private void VoiceRequest(Turn r, Occupant? sender, Element form)
    {
        if (sender is null)
        {
            r.Error(Errors.NotAcceptable, "only occupants may request voice");
            return;
        }
        if (sender.Role == Roles.Moderator && form.Attr("type") == "submit" && FieldOf(form, "muc#roomnick") is { } nick)
        {
            var allow = FieldOf(form, "muc#request_allow") is "1" or "true";
            if (allow && r.Occupants.ByNick.TryGetValue(nick, out var visitor) && visitor.Role == Roles.Visitor)
                SetRole(r, visitor, Roles.Participant, sender, null);
            return;
        }
        if (sender.Role != Roles.Visitor || !r.State.Config.VoiceRequests)
        {
            r.Error(Errors.NotAllowed, "voice requests are not accepted here");
            return;
        }
        foreach (var moderator in r.Occupants.All)
        {
            if (moderator.Role != Roles.Moderator) continue;
            var approval = new Element("x", XNs.DataForms).SetAttr("type", "form")
                .Add(new Element("title", XNs.DataForms).AddText("Voice request"))
                .Add(new Element("instructions", XNs.DataForms).AddText("To approve this request for voice, select the \"Grant voice to this person?\" checkbox and click OK. To skip this request, click the cancel button."))
                .Add(FormField("FORM_TYPE", "hidden", null, MucNs.Request))
                .Add(FormField("muc#role", "list-single", "Requested role", Roles.Participant))
                .Add(FormField("muc#jid", "jid-single", "User ID", sender.Jid.ToString()))
                .Add(FormField("muc#roomnick", "text-single", "Room Nickname", sender.Nick))
                .Add(FormField("muc#request_allow", "boolean", "Grant voice to this person?", "false"));
            SendTo(r, moderator, new Element("message", XNs.Client).SetAttr("from", r.RoomJid.ToString())
                .SetAttr("id", Guid.NewGuid().ToString("N")).Add(approval));
        }
    }

    private static Element FormField(string name, string type, string? label, string value) =>
        new Element("field", XNs.DataForms).SetAttr("var", name).SetAttr("type", type).SetAttr("label", label)
            .Add(new Element("value", XNs.DataForms).AddText(value));
}
