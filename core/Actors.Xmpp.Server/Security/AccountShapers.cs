using Actors.Xmpp.Transport.Admission;

namespace Actors.Xmpp.Server.Security;

/// <summary>
/// The read shaper of an authenticated account's connections, by its class (<c>Xmpp:Limits:AccountClasses</c>), in
/// the manner of ejabberd's shaper rules by ACL: a bare JID listed in a class wins over its domain listed in one; an
/// account in no class keeps the client rates every connection starts with. Built once at start; read concurrently.
/// </summary>
public sealed class AccountShapers
{
    private readonly Dictionary<string, ShaperLimits> _byAccount = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ShaperLimits> _byDomain = new(StringComparer.Ordinal);

    public static readonly AccountShapers None = new(new Dictionary<string, XmppServerOptions.AccountClassOptions>(), ShaperLimits.None);

    /// <param name="classes">The classes by name.</param>
    /// <param name="client">The client rates (for the loopback exemption every class shares).</param>
    /// <exception cref="ArgumentException">A member that is neither a bare JID nor a domain, or listed in two classes.</exception>
    public AccountShapers(IReadOnlyDictionary<string, XmppServerOptions.AccountClassOptions> classes, ShaperLimits client)
    {
        foreach (var (name, c) in classes)
        {
            var limits = new ShaperLimits(Math.Max(0, c.BytesPerSecond), Math.Max(1, c.BurstBytes), client.ExemptLoopback,
                Math.Max(0, c.StanzasPerSecond), Math.Max(1, c.BurstStanzas));
            foreach (var member in c.Members)
            {
                if (!Jid.TryParse(member, out var jid) || jid is null || jid.Resource is not null)
                    throw new ArgumentException($"Xmpp:Limits:AccountClasses:{name}:Members: '{member}' is neither a bare JID nor a domain");
                var (table, key) = jid.Local is null ? (_byDomain, jid.Domain) : (_byAccount, jid.ToString());
                if (!table.TryAdd(key, limits))
                    throw new ArgumentException($"Xmpp:Limits:AccountClasses:{name}:Members: '{member}' is in another class already");
            }
        }
    }

    public bool IsEmpty => _byAccount.Count == 0 && _byDomain.Count == 0;

    /// <summary>The shaper of <paramref name="account"/>'s class, or null when it is in none (it keeps the client rates).</summary>
    public ShaperLimits? For(Jid account) =>
        _byAccount.TryGetValue(account.Bare.ToString(), out var limits) ? limits
        : _byDomain.TryGetValue(account.Domain, out limits) ? limits
        : null;
}
