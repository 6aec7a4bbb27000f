using System.ComponentModel.DataAnnotations;

namespace Actors.Plugins.Muc;

/// <summary>Options (section <c>Xmpp:Muc</c>).</summary>
public sealed class MucOptions : IValidatableObject
{
    public const string CreateAnyone = "anyone";
    public const string CreateLocal = "local";
    public const string CreateAdmins = "admins";

    /// <summary>The service is &lt;Subdomain&gt;.&lt;domain&gt;.</summary>
    [Required, RegularExpression("^[a-z0-9][a-z0-9-]*$")]
    public string Subdomain { get; set; } = "conference";

    /// <summary>The service's name in disco.</summary>
    public string Name { get; set; } = "Chatrooms";

    /// <summary>Who may create rooms: anyone, local (accounts of this server), admins (<see cref="Admins"/>).</summary>
    [Required, RegularExpression("^(anyone|local|admins)$")]
    public string Create { get; set; } = CreateLocal;

    /// <summary>Bare JIDs that may create rooms when <see cref="Create"/> is admins (and always may).</summary>
    public string[] Admins { get; set; } = [];

    /// <summary>Rooms one user may have created and still own (0: no limit).</summary>
    [Range(0, 100000)]
    public int MaxRoomsPerUser { get; set; } = 0;

    /// <summary>Occupants per room (0: no limit); a room's muc#roomconfig_maxusers may only lower it.</summary>
    [Range(0, 100000)]
    public int MaxOccupants { get; set; } = 200;

    /// <summary>Messages of discussion history a room keeps (and sends on entry by default, §7.2.14).</summary>
    [Range(0, 1000)]
    public int HistorySize { get; set; } = 20;

    /// <summary>Whether a new room archives its messages (XEP-0313; muc#roomconfig_enablearchiving changes it per room).
    /// Needs the server's message archive (a database).</summary>
    public bool Archive { get; set; } = true;

    /// <summary>The most results one archive query returns (a larger or missing XEP-0059 &lt;max/&gt; is cut to it).</summary>
    [Range(1, 1000)]
    public int ArchiveMaxPageSize { get; set; } = 50;

    /// <summary>A room nobody used for this long leaves memory (its occupants and journal stay).</summary>
    [Range(1, 86400)]
    public int IdleSeconds { get; set; } = 300;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        for (var i = 0; i < Admins.Length; i++)
            if (!Actors.Xmpp.Jid.TryParse(Admins[i], out var jid) || jid is null || !jid.IsBare)
                yield return new ValidationResult("not a bare JID", [$"Admins:{i}"]);
    }
}
