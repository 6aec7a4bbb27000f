using System.Net;
using System.Text;
using Actors.Xmpp.Plugins;
using Actors.Xmpp.Server;
using Actors.Xmpp.Server.Sasl;

namespace Actors.Xmpp.PluginHost;

/// <summary><see cref="IAuthentication"/>: a password checked exactly as SASL PLAIN checks it on a client stream (the
/// same mechanism class, so the same PRECIS preparation, stored SCRAM verifier and equal work for unknown accounts), and
/// the server's limit of failed logins per address.</summary>
internal sealed class HostAuthentication(ServerContext server) : IAuthentication
{
    public async Task<bool> CheckPasswordAsync(Jid account, string password, EndPoint? remote)
    {
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(password);
        // counted as a SASL exchange is: from its start (parallel guesses count), a failure towards the address's ban
        if (!server.LoginLimiter.Begin(remote).Allowed) return false;
        var ok = false;
        try
        {
            ok = account.Local is not null && account.Resource is null && server.Serves(account.Domain)
                && await CheckAsync(account, password).ConfigureAwait(false);
        }
        finally
        {
            server.LoginLimiter.End(remote, failedCheck: !ok);
        }
        Actors.Xmpp.Server.Diagnostics.XmppMetrics.Login(ok);
        return ok;
    }

    private async Task<bool> CheckAsync(Jid account, string password)
    {
        var plain = new PlainServerMechanism(account.Domain, server.Sasl.Options);
        var message = Encoding.UTF8.GetBytes("\0" + account.Local + "\0" + password);
        if (plain.Start(message) is not SaslResult.NeedCredentials need) return false;
        var credentials = Jid.Create(need.Username, account.Domain) is var user && user.Equals(account)
            ? await server.Accounts.FindAsync(user).ConfigureAwait(false) : null;
        return plain.Continue(credentials) is SaslResult.Success;
    }
}
