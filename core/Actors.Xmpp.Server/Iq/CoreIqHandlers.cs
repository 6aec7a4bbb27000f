using Actors.Xmpp.Plugins;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Server.Iq;

/// <summary>
/// The IQs of the RFCs themselves, answered with or without plugins: the roster get of RFC 6121 §2.1.3.
/// Everything from XEPs (disco, ping, version, time, ...) lives in plugins under plugins/.
/// </summary>
public static class CoreIqHandlers
{
    public static void Register(IqHandlers iq)
    {
        // RFC 6121 §2.1.3: the roster of the requesting account. Roster items arrive with the roster issue (#3);
        // until then every account's roster is empty and roster changes are refused, not faked.
        iq.Register("get", IqScope.Account, Ns.Roster, "query", r =>
            ValueTask.FromResult(r.From.Bare.Equals(r.To)
                ? r.Result(new Element("query", Ns.Roster))
                : r.Error("forbidden", "a roster can only be read by its owner")));
        iq.Register("set", IqScope.Account, Ns.Roster, "query", r =>
            ValueTask.FromResult(r.Error("feature-not-implemented", "roster changes are not supported yet")));
    }
}
