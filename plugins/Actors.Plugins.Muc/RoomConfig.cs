using System.Globalization;
using Actors.Xmpp;
using Actors.Xmpp.Xml;

namespace Actors.Plugins.Muc;

/// <summary>
/// A room's configuration: the muc#roomconfig form of XEP-0045 §10.2 / §15.5.3, field by field. The same form
/// (type 'submit', every field) is the journal's record of it, so one parser reads what owners send and what recovery
/// replays.
/// </summary>
internal sealed record RoomConfig
{
    public const string FormType = "FORM_TYPE";
    public const string RoomName = "muc#roomconfig_roomname";
    public const string RoomDesc = "muc#roomconfig_roomdesc";
    public const string Lang = "muc#roomconfig_lang";
    public const string EnableLogging = "muc#roomconfig_enablelogging";
    public const string ChangeSubject = "muc#roomconfig_changesubject";
    public const string AllowInvites = "muc#roomconfig_allowinvites";
    public const string AllowPm = "muc#roomconfig_allowpm";
    public const string MaxUsers = "muc#roomconfig_maxusers";
    public const string PresenceBroadcast = "muc#roomconfig_presencebroadcast";
    public const string GetMemberList = "muc#roomconfig_getmemberlist";
    public const string PublicRoom = "muc#roomconfig_publicroom";
    public const string PersistentRoom = "muc#roomconfig_persistentroom";
    public const string ModeratedRoom = "muc#roomconfig_moderatedroom";
    public const string MembersOnly = "muc#roomconfig_membersonly";
    public const string PasswordProtected = "muc#roomconfig_passwordprotectedroom";
    public const string RoomSecret = "muc#roomconfig_roomsecret";
    public const string Whois = "muc#roomconfig_whois";
    public const string MaxHistoryFetch = "muc#maxhistoryfetch";
    public const string RoomAdmins = "muc#roomconfig_roomadmins";
    public const string RoomOwners = "muc#roomconfig_roomowners";
    public const string PubSub = "muc#roomconfig_pubsub";
    public const string AllowVoiceRequests = "muc#roomconfig_allowvoicerequests";
    /// <summary>XEP-0313 archiving of the room (the field Prosody's mod_muc_mam offers).</summary>
    public const string EnableArchiving = "muc#roomconfig_enablearchiving";

    public const string WhoisModerators = "moderators";
    public const string WhoisAnyone = "anyone";
    public const string PmAnyone = "anyone";
    public const string PmParticipants = "participants";
    public const string PmModerators = "moderators";
    public const string PmNone = "none";

    public string Name { get; init; } = "";
    public string Description { get; init; } = "";
    public string Language { get; init; } = "";
    public bool Logging { get; init; }
    public bool OccupantsChangeSubject { get; init; }
    public bool Invites { get; init; }
    public string PrivateMessages { get; init; } = PmAnyone;
    /// <summary>0: no limit below the service's.</summary>
    public int MaxOccupants { get; init; }
    public string[] BroadcastRoles { get; init; } = [Roles.Moderator, Roles.Participant, Roles.Visitor];
    public string[] MemberListRoles { get; init; } = [Roles.Moderator, Roles.Participant, Roles.Visitor];
    public bool Public { get; init; } = true;
    public bool Persistent { get; init; }
    public bool Moderated { get; init; }
    public bool MembersOnlyRoom { get; init; }
    public bool PasswordProtectedRoom { get; init; }
    public string Password { get; init; } = "";
    public string WhoCanSeeJids { get; init; } = WhoisModerators;
    public int HistoryFetch { get; init; }
    public string PubSubNode { get; init; } = "";
    public bool VoiceRequests { get; init; } = true;
    /// <summary>XEP-0313: the room archives its messages and answers archive queries.</summary>
    public bool Archiving { get; init; }

    public bool NonAnonymous => WhoCanSeeJids == WhoisAnyone;

    public static RoomConfig Defaults(int historySize, bool archiving) => new() { HistoryFetch = historySize, Archiving = archiving };

    /// <summary>The configuration form (§10.2, Example 163): type 'form' to fill in, or 'submit' for the journal
    /// (with the owners and admins when given).</summary>
    public Element ToForm(string type, IEnumerable<string>? owners = null, IEnumerable<string>? admins = null)
    {
        var x = new Element("x", Ns.DataForms).SetAttr("type", type);
        if (type == "form") x.Add(new Element("title", Ns.DataForms).AddText("Configuration of the room"));
        Field(x, FormType, "hidden", null, MucNs.RoomConfig);
        Field(x, RoomName, "text-single", "Natural-Language Room Name", Name);
        Field(x, RoomDesc, "text-single", "Short Description of Room", Description);
        Field(x, Lang, "text-single", "Natural Language for Room Discussions", Language);
        Field(x, EnableLogging, "boolean", "Enable Public Logging?", Bool(Logging));
        Field(x, ChangeSubject, "boolean", "Allow Occupants to Change Subject?", Bool(OccupantsChangeSubject));
        Field(x, AllowInvites, "boolean", "Allow Occupants to Invite Others?", Bool(Invites));
        Options(Field(x, AllowPm, "list-single", "Who Can Send Private Messages?", PrivateMessages), type,
            (PmAnyone, "Anyone"), (PmParticipants, "Anyone with Voice"), (PmModerators, "Moderators Only"), (PmNone, "Nobody"));
        Options(Field(x, MaxUsers, "list-single", "Maximum Number of Occupants", MaxOccupants == 0 ? "none" : Int(MaxOccupants)), type,
            ("10", "10"), ("20", "20"), ("30", "30"), ("50", "50"), ("100", "100"), ("none", "None"));
        Options(Field(x, PresenceBroadcast, "list-multi", "Roles for which Presence is Broadcasted", BroadcastRoles), type,
            (Roles.Moderator, "Moderator"), (Roles.Participant, "Participant"), (Roles.Visitor, "Visitor"));
        Options(Field(x, GetMemberList, "list-multi", "Roles and Affiliations that May Retrieve Member List", MemberListRoles), type,
            (Roles.Moderator, "Moderator"), (Roles.Participant, "Participant"), (Roles.Visitor, "Visitor"));
        Field(x, PublicRoom, "boolean", "Make Room Publicly Searchable?", Bool(Public));
        Field(x, PersistentRoom, "boolean", "Make Room Persistent?", Bool(Persistent));
        Field(x, ModeratedRoom, "boolean", "Make Room Moderated?", Bool(Moderated));
        Field(x, MembersOnly, "boolean", "Make Room Members-Only?", Bool(MembersOnlyRoom));
        Field(x, PasswordProtected, "boolean", "Password Required to Enter?", Bool(PasswordProtectedRoom));
        Field(x, RoomSecret, "text-private", "Password", Password);
        Options(Field(x, Whois, "list-single", "Who May Discover Real JIDs?", WhoCanSeeJids), type,
            (WhoisModerators, "Moderators Only"), (WhoisAnyone, "Anyone"));
        Field(x, MaxHistoryFetch, "text-single", "Maximum Number of History Messages Returned by Room", Int(HistoryFetch));
        Field(x, PubSub, "text-single", "XMPP URI of Associated Publish-Subscribe Node", PubSubNode);
        Field(x, AllowVoiceRequests, "boolean", "Allow Visitors to Request Voice?", Bool(VoiceRequests));
        Field(x, EnableArchiving, "boolean", "Archive Messages of the Room (XEP-0313)?", Bool(Archiving));
        if (type == "form" || owners is not null) Field(x, RoomOwners, "jid-multi", "Room Owners", owners?.ToArray() ?? []);
        if (type == "form" || admins is not null) Field(x, RoomAdmins, "jid-multi", "Room Admins", admins?.ToArray() ?? []);
        return x;
    }

    /// <summary>The configuration a submitted form asks for (fields not given keep their values), or the reason it is
    /// refused (§10.2: a field with an invalid value is a &lt;not-acceptable/&gt;, an unknown FORM_TYPE a &lt;bad-request/&gt;).</summary>
    public (RoomConfig? Config, string? Error) Submit(Element form, int serviceMaxOccupants)
    {
        var config = this;
        foreach (var field in form.Elements("field", Ns.DataForms))
        {
            var name = field.Attr("var");
            var values = Values(field);
            var value = values.Length > 0 ? values[0] : "";
            switch (name)
            {
                case FormType:
                    if (value != MucNs.RoomConfig) return (null, Errors.BadRequest);
                    break;
                case RoomName: config = config with { Name = value }; break;
                case RoomDesc: config = config with { Description = value }; break;
                case Lang: config = config with { Language = value }; break;
                case RoomSecret: config = config with { Password = value }; break;
                case PubSub: config = config with { PubSubNode = value }; break;
                case EnableLogging or ChangeSubject or AllowInvites or PublicRoom or PersistentRoom or ModeratedRoom or MembersOnly
                    or PasswordProtected or AllowVoiceRequests or EnableArchiving:
                    if (ParseBool(value) is not { } b) return (null, Errors.NotAcceptable);
                    config = name switch
                    {
                        EnableLogging => config with { Logging = b },
                        ChangeSubject => config with { OccupantsChangeSubject = b },
                        AllowInvites => config with { Invites = b },
                        PublicRoom => config with { Public = b },
                        PersistentRoom => config with { Persistent = b },
                        ModeratedRoom => config with { Moderated = b },
                        MembersOnly => config with { MembersOnlyRoom = b },
                        PasswordProtected => config with { PasswordProtectedRoom = b },
                        EnableArchiving => config with { Archiving = b },
                        _ => config with { VoiceRequests = b },
                    };
                    break;
                case AllowPm:
                    if (value is not (PmAnyone or PmParticipants or PmModerators or PmNone)) return (null, Errors.NotAcceptable);
                    config = config with { PrivateMessages = value };
                    break;
                case Whois:
                    if (value is not (WhoisModerators or WhoisAnyone)) return (null, Errors.NotAcceptable);
                    config = config with { WhoCanSeeJids = value };
                    break;
                case MaxUsers:
                    if (value is "none" or "") config = config with { MaxOccupants = 0 };
                    else if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var max) && max > 0
                             && (serviceMaxOccupants == 0 || max <= serviceMaxOccupants))
                        config = config with { MaxOccupants = max };
                    else return (null, Errors.NotAcceptable);
                    break;
                case MaxHistoryFetch:
                    if (value == "") config = config with { HistoryFetch = 0 };
                    else if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var fetch)) config = config with { HistoryFetch = fetch };
                    else return (null, Errors.NotAcceptable);
                    break;
                case PresenceBroadcast or GetMemberList:
                    foreach (var role in values)
                        if (role is not (Roles.Moderator or Roles.Participant or Roles.Visitor)) return (null, Errors.NotAcceptable);
                    config = name == PresenceBroadcast ? config with { BroadcastRoles = values } : config with { MemberListRoles = values };
                    break;
                case RoomOwners or RoomAdmins:
                    foreach (var jid in values)
                        if (!Jid.TryParse(jid, out _)) return (null, Errors.NotAcceptable);
                    break;
            }
        }
        if (config.PasswordProtectedRoom && config.Password.Length == 0) return (null, Errors.NotAcceptable);
        return (config, null);
    }

    /// <summary>The bare JIDs a submitted form names in <paramref name="field"/> (roomowners, roomadmins), or null
    /// when the field is absent.</summary>
    public static string[]? Jids(Element form, string field)
    {
        foreach (var f in form.Elements("field", Ns.DataForms))
        {
            if (f.Attr("var") != field) continue;
            var values = Values(f);
            for (var i = 0; i < values.Length; i++) values[i] = Jid.Parse(values[i]).Bare.ToString();
            return values;
        }
        return null;
    }

    private static string[] Values(Element field)
    {
        var list = new List<string>(1);
        foreach (var v in field.Elements("value", Ns.DataForms)) list.Add(v.Text.Trim());
        return list.ToArray();
    }

    private static bool? ParseBool(string value) => value switch { "1" or "true" => true, "0" or "false" => false, _ => null };
    private static string Bool(bool b) => b ? "1" : "0";
    private static string Int(int i) => i.ToString(CultureInfo.InvariantCulture);

    private static Element Field(Element x, string name, string type, string? label, params string[] values)
    {
        var field = new Element("field", Ns.DataForms).SetAttr("var", name).SetAttr("type", type);
        if (label is not null) field.SetAttr("label", label);
        foreach (var v in values) field.Add(new Element("value", Ns.DataForms).AddText(v));
        x.Add(field);
        return field;
    }

    private static void Options(Element field, string type, params (string Value, string Label)[] options)
    {
        if (type != "form") return;
        foreach (var (value, label) in options)
            field.Add(new Element("option", Ns.DataForms).SetAttr("label", label).Add(new Element("value", Ns.DataForms).AddText(value)));
    }
}
