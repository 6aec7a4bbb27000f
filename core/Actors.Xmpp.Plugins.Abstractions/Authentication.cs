using System.Net;

namespace Actors.Xmpp.Plugins;

/// <summary>
/// The host's password check for logins that do not come over an XMPP stream (an MQTT bridge, a plugin's own
/// protocol): the same stored credentials and the same rules as SASL PLAIN on a client stream, and the same
/// per-address limit of failed logins (host-provided: ctx.Require&lt;IAuthentication&gt;()).
/// </summary>
public interface IAuthentication
{
    /// <summary>Whether <paramref name="password"/> is the password of the account <paramref name="account"/> (a bare
    /// JID of a served domain). False for an unknown account, a wrong password, or when <paramref name="remote"/> has
    /// failed too many logins in the last minute (then without checking); a false answer from a check counts as a
    /// failed login of <paramref name="remote"/>. The check costs what a SASL PLAIN login costs (a key derivation),
    /// on the caller's thread: call it from a task, never from an actor or a hook.</summary>
    Task<bool> CheckPasswordAsync(Jid account, string password, EndPoint? remote);
}
