using Actors.Xmpp.Server.Accounts;
using Actors.Xmpp.Server.C2s;
using Actors.Xmpp.Server.Iq;
using Actors.Xmpp.Server.Routing;
using Actors.Xmpp.Server.Sasl;
using Actors.Xmpp.Server.Security;

namespace Actors.Xmpp.Server;

/// <summary>The shared, thread-safe services every connection and session actor uses (one instance per server).</summary>
public sealed record ServerContext(
    XmppServerOptions Options,
    IReadOnlyList<string> Domains,
    IAccountStore Accounts,
    ISessionRegistry Sessions,
    StanzaRouter Router,
    IqHandlers Iq,
    SaslMechanisms Sasl,
    LoginRateLimiter LoginLimiter)
{
    /// <summary>Removal and password change of accounts (<see cref="Accounts.AccountLifecycle"/>).</summary>
    public AccountLifecycle AccountLifecycle { get; init; } = new(Accounts, Router.Users);
    /// <summary>The wheel every connection and session schedules its deadlines on (one per server).</summary>
    public TimerWheel Timers { get; init; } = TimerWheel.Default;
    /// <summary>The read shapers of account classes (applied to a connection once it authenticates).</summary>
    public Security.AccountShapers Shapers { get; init; } = Security.AccountShapers.None;
    /// <summary>The stream features and pre-authentication IQ handlers plugins add to client streams.</summary>
    public StreamNegotiation Negotiation { get; init; } = new();
    /// <summary>The path prefixes plugins serve on the HTTP host, and its public base URL.</summary>
    public Http.HttpRoutes HttpRoutes { get; init; } = new();
    /// <summary>The message archive table plugins archive into (<c>IMessageArchive</c>); null without a database.</summary>
    public Archive.MessageArchive? MessageArchive { get; init; }
    /// <summary>The bound sessions plugins see (<c>ISessions</c>): this node's, and on a clustered node every other
    /// member's too, with the flags plugins set on them (<see cref="Cluster.SessionView"/>).</summary>
    public Cluster.SessionView SessionView { get; init; } = new(Sessions);
    /// <summary>The plugins' shares of account data in XEP-0227 export and import.</summary>
    public Portability.PortableDataRegistry PortableData { get; init; } = new();

    public bool Serves(string domain)
    {
        for (var i = 0; i < Domains.Count; i++)
            if (Domains[i] == domain) return true;
        return false;
    }
}
