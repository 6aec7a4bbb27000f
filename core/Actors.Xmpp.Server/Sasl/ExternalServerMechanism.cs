using System.Text;

namespace Actors.Xmpp.Server.Sasl;

/// <summary>
/// SASL EXTERNAL on a client stream (RFC 4422 Appendix A, XEP-0178 §3): the account is the one the client's TLS
/// certificate names (its id-on-xmppAddr JIDs at this domain, the certificate already verified against the
/// configured authorities). With one such JID the client may send an empty authorization identity ("="); with several
/// it must name one of them (RFC 6120 §6.3.8: otherwise &lt;invalid-authzid/&gt;). The account must exist.
/// </summary>
public sealed class ExternalServerMechanism(string domain, IReadOnlyList<Jid> certificateJids) : ISaslMechanism
{
    public const string MechanismName = "EXTERNAL";
    private Jid? _account;

    public string Name => MechanismName;

    /// <summary>No initial response at all: the empty challenge asks for the authorization identity (RFC 4422 §5, 3a).</summary>
    public SaslResult Start(byte[]? initialResponse) =>
        initialResponse is null ? new SaslResult.Challenge([]) : Authorize(initialResponse);

    public SaslResult Step(byte[] response) => _account is null
        ? Authorize(response)
        : new SaslResult.Failure(SaslConditions.MalformedRequest, "EXTERNAL has one step");

    private SaslResult Authorize(byte[] authzid)
    {
        if (authzid.Length == 0)
        {
            if (certificateJids.Count != 1)
                return new SaslResult.Failure(SaslConditions.InvalidAuthzid,
                    "the certificate names several accounts: give the one to authenticate as");
            _account = certificateJids[0];
        }
        else
        {
            string text;
            try { text = new UTF8Encoding(false, true).GetString(authzid); }
            catch (DecoderFallbackException) { return new SaslResult.Failure(SaslConditions.MalformedRequest, "the authorization identity is not UTF-8"); }
            if (!Jid.TryParse(text, out var requested) || requested is null || !requested.IsBare || requested.Local is null || requested.Domain != domain)
                return new SaslResult.Failure(SaslConditions.InvalidAuthzid, "the authorization identity is not an account of this domain");
            _account = null;
            foreach (var jid in certificateJids)
                if (jid.Equals(requested)) _account = jid;
            if (_account is null) return new SaslResult.Failure(SaslConditions.InvalidAuthzid, "the certificate does not name that account");
        }
        return new SaslResult.NeedCredentials(_account.Local!);
    }

    /// <summary>The account must exist; its password plays no part.</summary>
    public SaslResult Continue(UserCredentials? creds) => creds is null || _account is null
        ? new SaslResult.Failure(SaslConditions.NotAuthorized, null)
        : new SaslResult.Success(null, creds.Username, null);
}
