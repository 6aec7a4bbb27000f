namespace Actors.Plugins.Muc;

/// <summary>The namespaces and protocol values of XEP-0045 and the XEPs that extend it.</summary>
internal static class MucNs
{
    public const string Muc = "http://jabber.org/protocol/muc";
    public const string User = "http://jabber.org/protocol/muc#user";
    public const string Admin = "http://jabber.org/protocol/muc#admin";
    public const string Owner = "http://jabber.org/protocol/muc#owner";
    public const string RoomConfig = "http://jabber.org/protocol/muc#roomconfig";
    public const string RoomInfo = "http://jabber.org/protocol/muc#roominfo";
    public const string Request = "http://jabber.org/protocol/muc#request";
    public const string Register = "http://jabber.org/protocol/muc#register";
    /// <summary>§7.4 (since 1.31): the room reflects the sender's message id.</summary>
    public const string StableId = "http://jabber.org/protocol/muc#stable_id";
    /// <summary>XEP-0421.</summary>
    public const string OccupantId = "urn:xmpp:occupant-id:0";
    /// <summary>XEP-0249.</summary>
    public const string DirectInvite = "jabber:x:conference";
    /// <summary>XEP-0410 (its feature; the ping itself is XEP-0199's).</summary>
    public const string SelfPing = "http://jabber.org/protocol/muc#self-ping-optimization";
    /// <summary>XEP-0313 (the rooms' archives).</summary>
    public const string Mam = Actors.Xmpp.Plugins.ArchiveQueries.Namespace;
    /// <summary>XEP-0359: the archive id the room adds to what it archives.</summary>
    public const string StanzaId = "urn:xmpp:sid:0";
    /// <summary>The room's own commands and events (the journal's XML; never on the wire).</summary>
    public const string Internal = "urn:actors:muc:0";
}

/// <summary>XEP-0045 §5.1 roles.</summary>
internal static class Roles
{
    public const string Moderator = "moderator";
    public const string Participant = "participant";
    public const string Visitor = "visitor";
    public const string None = "none";

    public static int Rank(string role) => role switch { Moderator => 3, Participant => 2, Visitor => 1, _ => 0 };
}

/// <summary>XEP-0045 §5.2 affiliations.</summary>
internal static class MucAffiliations
{
    public const string Owner = "owner";
    public const string Admin = "admin";
    public const string Member = "member";
    public const string None = "none";
    public const string Outcast = "outcast";

    public static int Rank(string affiliation) => affiliation switch { Owner => 4, Admin => 3, Member => 2, None => 1, _ => 0 };
    public static bool IsValid(string? a) => a is Owner or Admin or Member or None or Outcast;
}

/// <summary>XEP-0045 §12 / §15.6.2 status codes used here.</summary>
internal static class StatusCodes
{
    public const string NonAnonymous = "100";
    /// <summary>§18.1: the out-of-room message to a user whose affiliation changed while not in the room.</summary>
    public const string AffiliationChangedOutOfRoom = "101";
    public const string SelfPresence = "110";
    public const string Logged = "170";
    public const string ConfigChanged = "104";
    public const string Created = "201";
    public const string Banned = "301";
    public const string NickChanged = "303";
    public const string Kicked = "307";
    public const string TechnicalKick = "333";
    /// <summary>§11.2: removed because the service shuts down.</summary>
    public const string ServiceShutdown = "332";
    public const string NickModified = "210";
    public const string AffiliationChanged = "321";
    public const string MembersOnlyRemoved = "322";
    public const string NowNonAnonymous = "172";
    public const string NowSemiAnonymous = "173";
    public const string LoggingOn = "170";
    public const string LoggingOff = "171";
}

/// <summary>Stanza error conditions (RFC 6120 §8.3.3) the MUC service answers with.</summary>
internal static class Errors
{
    public const string BadRequest = "bad-request";
    public const string Conflict = "conflict";
    public const string Forbidden = "forbidden";
    public const string ItemNotFound = "item-not-found";
    public const string NotAcceptable = "not-acceptable";
    public const string NotAllowed = "not-allowed";
    public const string NotAuthorized = "not-authorized";
    public const string RegistrationRequired = "registration-required";
    public const string ServiceUnavailable = "service-unavailable";
    public const string FeatureNotImplemented = "feature-not-implemented";
    public const string JidMalformed = "jid-malformed";
    public const string ResourceConstraint = "resource-constraint";
    public const string PolicyViolation = "policy-violation";
}
