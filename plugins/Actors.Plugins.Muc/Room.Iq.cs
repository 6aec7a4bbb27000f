using System.Globalization;
using Actors.Xmpp;
using Actors.Xmpp.Xml;
using XNs = Actors.Xmpp.Ns;

namespace Actors.Plugins.Muc;

/// <summary>IQs to the room: disco (§6.4, §6.5), ownership (§10: configuration, instant rooms, destruction), the
/// admin namespace (§8, §9, §10: roles and affiliations, their lists), nick registration (§7.10) and, to an occupant,
/// XEP-0410 self-pings.</summary>
internal sealed partial class Room
{
    private void Iq(Turn r)
    {
        if (r.Stanza.Type is not ("get" or "set"))
        {
            if (r.To.Resource is { } asker) ForwardIqResponse(r, asker);
            return;
        }
        var payload = r.Stanza.FirstChild();
        if (payload is null)
        {
            r.Error(Errors.BadRequest);
            return;
        }
        r.Occupants.ByJid.TryGetValue(r.From, out var sender);
        if (r.To.Resource is { } nick)
        {
            OccupantIq(r, sender, nick, payload);
            return;
        }
        if (!r.State.Exists || (r.State.Locked && r.State.AffiliationOf(r.From) != MucAffiliations.Owner))
        {
            r.Error(Errors.ItemNotFound, "no such room");
            return;
        }
        switch (r.Stanza.Type, payload.Namespace, payload.Name)
        {
            case ("get", XNs.DiscoInfo, "query") when payload.Attr("node") is null: r.Result(DiscoInfo(r)); return;
            case ("get", XNs.DiscoInfo, "query") when payload.Attr("node") == ReservedNickNode: r.Result(ReservedNick(r)); return;
            case ("get", XNs.DiscoItems, "query") when payload.Attr("node") is null: r.Result(DiscoItems(r, sender)); return;
            case ("get", XNs.DiscoInfo or XNs.DiscoItems, "query"): r.Error(Errors.ItemNotFound, "no such node"); return; // XEP-0030 §3.1
            case ("get", MucNs.Owner, "query"): ConfigurationForm(r); return;
            case ("set", MucNs.Owner, "query"): Own(r, payload); return;
            case ("get", MucNs.Admin, "query"): List(r, sender, payload); return;
            case ("set", MucNs.Admin, "query"): Administer(r, sender, payload); return;
            case ("get", MucNs.Register, "query"): RegistrationForm(r); return;
            case ("set", MucNs.Register, "query"): Register(r, payload); return;
            case ("get", XNs.Ping, "ping"): r.Result(); return; // the room answers pings itself (XEP-0199 §4.2)
            case ("get" or "set", MucNs.Mam, "query") or ("get", MucNs.Mam, "metadata"): ArchiveAccess(r, sender); return;
            default: r.Error(Errors.ServiceUnavailable); return;
        }
    }

    private const string ReservedNickNode = "x-roomuser-item";

    /// <summary>IQs one session may have forwarded to other occupants and not yet seen answered.</summary>
    private const int MaxPendingIqs = 64;

    /// <summary>§7.12: the asker's registered nickname as the name of a conference identity; an empty query when none.</summary>
    private static Element ReservedNick(Turn r)
    {
        var q = new Element("query", XNs.DiscoInfo).SetAttr("node", ReservedNickNode);
        if (r.State.RegisteredNicks.TryGetValue(r.From.Bare.ToString(), out var nick))
            q.Add(new Element("identity", XNs.DiscoInfo).SetAttr("category", "conference").SetAttr("type", "text").SetAttr("name", nick));
        return q;
    }

    /// <summary>XEP-0410 §3: a ping to one's own occupant JID is answered by the room (joined); a stanza to an occupant
    /// from someone not in the room is refused with &lt;not-acceptable/&gt;.</summary>
    private static void OccupantIq(Turn r, Occupant? sender, string nick, Element payload)
    {
        if (sender is null)
        {
            r.Error(Errors.NotAcceptable, "you are not an occupant of this room");
            return;
        }
        if (!r.Occupants.ByNick.TryGetValue(nick, out _))
        {
            r.Error(Errors.ItemNotFound, "no occupant has that nickname");
            return;
        }
        if (sender.Nick == nick && r.Stanza.Type == "get" && payload.Is("ping", XNs.Ping))
        {
            r.Result();
            return;
        }
        // §18 (business rules): in a semi-anonymous room an IQ to an occupant JID goes on to the occupant's real JID,
        // from the sender's occupant JID, so neither learns the other's real JID; the answer comes back the same way
        var target = r.Occupants.ByNick[nick];
        if (sender.Sessions.Count > 1 && r.Stanza.Id is { } id && sender.SessionOf(r.From) is { } asking)
        {
            asking.PendingIqs ??= new HashSet<string>(StringComparer.Ordinal);
            if (asking.PendingIqs.Count >= MaxPendingIqs) asking.PendingIqs.Clear(); // answers that never came
            asking.PendingIqs.Add(id);
        }
        var forwarded = new Element("iq", XNs.Client).SetAttr("from", r.RoomJid.WithResource(sender.Nick).ToString())
            .SetAttr("to", target.Jid.ToString()).SetAttr("type", r.Stanza.Type).SetAttr("id", r.Stanza.Id).Add(payload.Clone());
        r.Send(forwarded);
    }

    /// <summary>An occupant's answer to a forwarded IQ (sent to the asker's occupant JID): on to the asker, from the
    /// answering occupant's JID.</summary>
    private static void ForwardIqResponse(Turn r, string askerNick)
    {
        if (!r.Occupants.ByJid.TryGetValue(r.From, out var answering) || !r.Occupants.ByNick.TryGetValue(askerNick, out var asker)) return;
        var to = asker.Jid; // the primary session, unless another of the asker's sessions sent the request
        foreach (var session in asker.Sessions)
            if (r.Stanza.Id is { } id && session.PendingIqs?.Remove(id) == true) to = session.Jid;
        var response = new Element("iq", XNs.Client).SetAttr("from", r.RoomJid.WithResource(answering.Nick).ToString())
            .SetAttr("to", to.ToString()).SetAttr("type", r.Stanza.Type).SetAttr("id", r.Stanza.Id);
        foreach (var node in r.Stanza.Nodes)
            if (node is Element child) response.Add(child.Clone());
        r.Send(response);
    }

    /// <summary>§6.4: identity, features that say what kind of room it is, and the muc#roominfo form.</summary>
    private Element DiscoInfo(Turn r)
    {
        var c = r.State.Config;
        var q = new Element("query", XNs.DiscoInfo);
        q.Add(new Element("identity", XNs.DiscoInfo).SetAttr("category", "conference").SetAttr("type", "text")
            .SetAttr("name", c.Name.Length > 0 ? c.Name : r.RoomJid.Local));
        void Feature(string f) => q.Add(new Element("feature", XNs.DiscoInfo).SetAttr("var", f));
        Feature(MucNs.Muc);
        Feature(MucNs.StableId);
        Feature(XNs.DiscoInfo);
        Feature(MucNs.OccupantId);
        Feature(MucNs.SelfPing);
        if (r.State.Config.Archiving && archive is not null)
        {
            Feature(MucNs.Mam); // XEP-0313 §7: on the room's bare JID
            Feature(MucNs.StanzaId);
        }
        Feature(c.Public ? "muc_public" : "muc_hidden");
        Feature(c.Persistent ? "muc_persistent" : "muc_temporary");
        Feature(c.MembersOnlyRoom ? "muc_membersonly" : "muc_open");
        Feature(c.Moderated ? "muc_moderated" : "muc_unmoderated");
        Feature(c.NonAnonymous ? "muc_nonanonymous" : "muc_semianonymous");
        Feature(c.PasswordProtectedRoom ? "muc_passwordprotected" : "muc_unsecured");
        var info = new Element("x", XNs.DataForms).SetAttr("type", "result")
            .Add(FormField("FORM_TYPE", "hidden", null, MucNs.RoomInfo))
            .Add(FormField("muc#roominfo_description", "text-single", "Description", c.Description))
            .Add(FormField("muc#roominfo_occupants", "text-single", "Number of occupants", r.Occupants.Count.ToString(CultureInfo.InvariantCulture)))
            .Add(FormField("muc#roominfo_subject", "text-single", "Subject", r.State.Subject ?? ""))
            .Add(FormField("muc#roominfo_subjectmod", "boolean", "Occupants may change the subject", c.OccupantsChangeSubject ? "1" : "0"))
            .Add(FormField("muc#roominfo_lang", "text-single", "Language", c.Language))
            .Add(FormField("muc#maxhistoryfetch", "text-single", "Maximum Number of History Messages Returned by Room", c.HistoryFetch.ToString(CultureInfo.InvariantCulture)));
        q.Add(info);
        return q;
    }

    /// <summary>
    /// XEP-0313 §6.1.2: who may read the room's archive is who may enter the room now: nobody when the room does not
    /// archive, not an outcast, in a members-only room only owners, admins and members, in a password-protected room only
    /// its occupants and affiliated users (who proved the password or need none). The room answers with the permission
    /// and whether the asker may see its occupants' real JIDs (a non-anonymous room, or an owner, admin or moderator,
    /// §6.1.2); the plugin then reads the archive (asynchronous, outside the room).
    /// </summary>
    private void ArchiveAccess(Turn r, Occupant? sender)
    {
        if (archive is null || !r.State.Config.Archiving)
        {
            r.Error(Errors.ServiceUnavailable, "this room keeps no archive");
            return;
        }
        var affiliation = r.State.AffiliationOf(r.From);
        if (affiliation == MucAffiliations.Outcast)
        {
            r.Error(Errors.Forbidden, "you are banned from this room");
            return;
        }
        var config = r.State.Config;
        if (affiliation == MucAffiliations.None && (config.MembersOnlyRoom || (config.PasswordProtectedRoom && sender is null)))
        {
            r.Error(Errors.Forbidden, config.MembersOnlyRoom ? "only members may read the archive of this room" : "only occupants may read the archive of this room");
            return;
        }
        var jids = config.NonAnonymous || MucAffiliations.Rank(affiliation) >= MucAffiliations.Rank(MucAffiliations.Admin) || sender?.Role == Roles.Moderator;
        r.Reply(new Element("archive", MucNs.Internal).SetAttr("jids", jids ? "1" : "0"));
    }

    /// <summary>§6.5: the occupants, to occupants only (a service MAY refuse others; we return none to them).</summary>
    private static Element DiscoItems(Turn r, Occupant? sender)
    {
        var q = new Element("query", XNs.DiscoItems);
        if (sender is null && !r.State.Config.Public) return q;
        foreach (var o in r.Occupants.ByNick.Values)
            q.Add(new Element("item", XNs.DiscoItems).SetAttr("jid", r.RoomJid.WithResource(o.Nick).ToString()));
        return q;
    }

    // ---- §10: ownership ----

    private static bool IsOwner(Turn r) => r.State.AffiliationOf(r.From) == MucAffiliations.Owner;

    private static IEnumerable<string> JidsWith(RoomState s, string affiliation)
    {
        foreach (var (jid, a) in s.Affiliations)
            if (a == affiliation) yield return jid;
    }

    /// <summary>§10.2: the configuration form, to owners only.</summary>
    private static void ConfigurationForm(Turn r)
    {
        if (!IsOwner(r))
        {
            r.Error(Errors.Forbidden, "only owners may configure the room");
            return;
        }
        r.Result(new Element("query", MucNs.Owner).Add(r.State.Config.ToForm("form", JidsWith(r.State, MucAffiliations.Owner), JidsWith(r.State, MucAffiliations.Admin))));
    }

    /// <summary>§10.1.2 (instant room: an empty submit), §10.1.3/§10.2 (a submitted form), §10.2.1 (cancel), §10.9
    /// (destroy).</summary>
    private void Own(Turn r, Element query)
    {
        if (!IsOwner(r))
        {
            r.Error(Errors.Forbidden, "only owners may do that");
            return;
        }
        if (query.Child("destroy", MucNs.Owner) is { } destroy)
        {
            Destroy(r, destroy);
            return;
        }
        var form = query.Child("x", XNs.DataForms);
        if (form is null)
        {
            r.Error(Errors.BadRequest);
            return;
        }
        switch (form.Attr("type"))
        {
            case "cancel":
                // §10.1.3: cancelling the initial configuration destroys the new room; §10.2.1: otherwise nothing changes
                if (r.State.Locked)
                {
                    r.Result();
                    DestroyRoom(r, null, null);
                    return;
                }
                r.Result();
                return;
            case "submit":
                var (config, error) = r.State.Config.Submit(form, options.MaxOccupants);
                if (config is null)
                {
                    r.Error(error!, "the configuration is not acceptable");
                    return;
                }
                var owners = RoomConfig.Jids(form, RoomConfig.RoomOwners);
                if (owners is { Length: 0 }) // §10.2: the room must keep an owner
                {
                    r.Error(Errors.NotAcceptable, "a room needs an owner");
                    return;
                }
                Configure(r, config, owners, RoomConfig.Jids(form, RoomConfig.RoomAdmins));
                return;
            default:
                r.Error(Errors.BadRequest);
                return;
        }
    }

    private void Configure(Turn r, RoomConfig config, string[]? owners, string[]? admins)
    {
        var before = r.State.Config;
        var wasLocked = r.State.Locked;
        r.Persist(RoomEvents.Configured(config));
        if (owners is not null) Reaffiliate(r, MucAffiliations.Owner, owners);
        if (admins is not null) Reaffiliate(r, MucAffiliations.Admin, admins);
        r.ListingChanged = true;
        r.Result();
        if (wasLocked) return;
        // §10.2.1: the occupants are told what changed in the room's privacy (104; 172/173 for whois; 170/171 logging)
        var codes = new List<string>(3) { StatusCodes.ConfigChanged };
        if (before.NonAnonymous != config.NonAnonymous) codes.Add(config.NonAnonymous ? StatusCodes.NowNonAnonymous : StatusCodes.NowSemiAnonymous);
        if (before.Logging != config.Logging) codes.Add(config.Logging ? StatusCodes.LoggingOn : StatusCodes.LoggingOff);
        var x = new Element("x", MucNs.User);
        foreach (var code in codes) x.Add(new Element("status", MucNs.User).SetAttr("code", code));
        Broadcast(r, new Element("message", XNs.Client).SetAttr("from", r.RoomJid.ToString()).SetAttr("type", "groupchat")
            .SetAttr("id", Guid.NewGuid().ToString("N")).Add(x));
        if (config.MembersOnlyRoom && !before.MembersOnlyRoom) RemoveNonMembers(r);
        if (config.Moderated != before.Moderated) Remoderate(r);
    }

    /// <summary>The affiliation list of a form's roomowners/roomadmins field: who is named has it, who is not loses it.</summary>
    private void Reaffiliate(Turn r, string affiliation, string[] jids)
    {
        foreach (var jid in JidsWith(r.State, affiliation).ToArray())
            if (Array.IndexOf(jids, jid) < 0) ChangeAffiliation(r, jid, MucAffiliations.None, null, null);
        foreach (var jid in jids)
            if (r.State.AffiliationOf(Jid.Parse(jid)) != affiliation) ChangeAffiliation(r, jid, affiliation, null, null);
    }

    /// <summary>§9.9 (as §10.2.1): when a room becomes members-only, occupants who are not members leave with 322.</summary>
    private static void RemoveNonMembers(Turn r)
    {
        foreach (var o in r.Occupants.All.ToArray())
        {
            if (r.State.AffiliationOf(o.Bare) != MucAffiliations.None) continue;
            BroadcastPresence(r, o, "unavailable", null, [StatusCodes.MembersOnlyRemoved], [StatusCodes.MembersOnlyRemoved, StatusCodes.SelfPresence]);
            r.Occupants.Remove(o);
        }
    }

    /// <summary>A room that became unmoderated has no visitors: they become participants (voice is what a moderated
    /// room grants, §8.3). A room that became moderated keeps its occupants' roles; newcomers enter as visitors.</summary>
    private static void Remoderate(Turn r)
    {
        if (r.State.Config.Moderated) return;
        foreach (var o in r.Occupants.All.ToArray())
        {
            if (o.Role != Roles.Visitor) continue;
            o.Role = Roles.Participant;
            BroadcastPresence(r, o, null, null, [], [StatusCodes.SelfPresence]);
        }
    }

    /// <summary>§10.9: every occupant gets unavailable with &lt;destroy/&gt; (and the alternate venue); the room is
    /// gone.</summary>
    private static void Destroy(Turn r, Element destroy)
    {
        r.Result();
        DestroyRoom(r, destroy.Attr("jid"), destroy);
    }

    private static void DestroyRoom(Turn r, string? venue, Element? destroy)
    {
        foreach (var o in r.Occupants.All)
        {
            var d = new Element("destroy", MucNs.User).SetAttr("jid", venue);
            if (destroy?.ChildText("reason", MucNs.Owner) is { } reason) d.Add(new Element("reason", MucNs.User).AddText(reason));
            if (destroy?.ChildText("password", MucNs.Owner) is { } password) d.Add(new Element("password", MucNs.User).AddText(password));
            var p = new Element("presence", XNs.Client).SetAttr("from", r.RoomJid.WithResource(o.Nick).ToString())
                .SetAttr("type", "unavailable")
                .Add(new Element("x", MucNs.User).Add(new Element("item", MucNs.User).SetAttr("affiliation", MucAffiliations.None).SetAttr("role", Roles.None)).Add(d));
            SendTo(r, o, p);
        }
        r.Occupants.Clear();
        r.Persist(RoomEvents.Destroyed());
        r.ListingChanged = true;
    }

    // ---- §7.10: nick registration ----

    private static void RegistrationForm(Turn r)
    {
        var bare = r.From.Bare.ToString();
        var q = new Element("query", MucNs.Register);
        if (r.State.RegisteredNicks.TryGetValue(bare, out var nick)) // §7.10: already registered
        {
            q.Add(new Element("registered", MucNs.Register));
            q.Add(new Element("username", MucNs.Register).AddText(nick));
            r.Result(q);
            return;
        }
        if (r.State.Config.MembersOnlyRoom && r.State.AffiliationOf(r.From) == MucAffiliations.None)
        {
            r.Error(Errors.RegistrationRequired, "only members may register a nickname here");
            return;
        }
        q.Add(new Element("instructions", MucNs.Register).AddText("Register a nickname in this room."));
        q.Add(new Element("x", XNs.DataForms).SetAttr("type", "form")
            .Add(new Element("title", XNs.DataForms).AddText("Nickname registration"))
            .Add(FormField("FORM_TYPE", "hidden", null, MucNs.Register))
            .Add(new Element("field", XNs.DataForms).SetAttr("var", "muc#register_roomnick").SetAttr("type", "text-single")
                .SetAttr("label", "Desired Nickname").Add(new Element("required", XNs.DataForms))));
        r.Result(q);
    }

    private static void Register(Turn r, Element query)
    {
        var bare = r.From.Bare.ToString();
        if (query.Child("remove", MucNs.Register) is not null)
        {
            r.Persist(RoomEvents.Registered(bare, null));
            r.Result();
            return;
        }
        var form = query.Child("x", XNs.DataForms);
        if (form?.Attr("type") == "cancel")
        {
            r.Result();
            return;
        }
        var nick = form is null ? null : FieldOf(form, "muc#register_roomnick")?.Trim();
        if (form is null || FormTypeOf(form) != MucNs.Register || string.IsNullOrEmpty(nick))
        {
            r.Error(Errors.BadRequest, "the form needs muc#register_roomnick");
            return;
        }
        if (r.State.Config.MembersOnlyRoom && r.State.AffiliationOf(r.From) == MucAffiliations.None)
        {
            r.Error(Errors.RegistrationRequired, "only members may register a nickname here");
            return;
        }
        if (r.State.RegisteredOwnerOf(nick) is { } owner && owner != bare) // §7.10: reserved by someone else
        {
            r.Error(Errors.Conflict, "that nickname is registered by another person");
            return;
        }
        r.Persist(RoomEvents.Registered(bare, nick));
        if (r.State.AffiliationOf(r.From) == MucAffiliations.None) r.Persist(RoomEvents.Affiliation(bare, MucAffiliations.Member)); // §7.10: registered means member
        r.Result();
    }
}
