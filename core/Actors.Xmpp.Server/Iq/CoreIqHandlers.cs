using System.Globalization;
using System.Reflection;
using Actors.Xmpp.Xml;

namespace Actors.Xmpp.Server.Iq;

/// <summary>
/// The IQs every server answers before any plugin is loaded: XEP-0030 service discovery (fed by the registry),
/// XEP-0199 ping, XEP-0092 software version, and XEP-0202 entity time. The roster and the
/// other per-account IQs are answered by the user actors (<see cref="Users.UserIqHandlers"/>).
/// </summary>
public static class CoreIqHandlers
{
    public static void Register(IqHandlers iq)
    {
        iq.AddIdentity(IqScope.Server, "server", "im", "Actors");
        iq.AddIdentity(IqScope.Account, "account", "registered", null);

        iq.AddFeature(IqScope.Both, Ns.DiscoInfo);
        iq.AddFeature(IqScope.Both, Ns.DiscoItems);
        iq.Register("get", IqScope.Both, Ns.DiscoInfo, "query", r => ValueTask.FromResult(DiscoInfo(iq, r)));
        iq.Register("get", IqScope.Both, Ns.DiscoItems, "query", r =>
            ValueTask.FromResult(r.Result(new Element("query", Ns.DiscoItems).SetAttr("node", r.Payload.Attr("node")))));

        iq.AddFeature(IqScope.Both, Ns.Ping);
        iq.Register("get", IqScope.Both, Ns.Ping, "ping", r => ValueTask.FromResult(r.Result()));

        iq.AddFeature(IqScope.Server, Ns.Version);
        var version = typeof(CoreIqHandlers).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";
        var plus = version.IndexOf('+');
        if (plus > 0) version = version[..plus];
        iq.Register("get", IqScope.Server, Ns.Version, "query", r => ValueTask.FromResult(r.Result(
            new Element("query", Ns.Version, new Element("name", Ns.Version, "Actors"), new Element("version", Ns.Version, version)))));

        iq.AddFeature(IqScope.Server, Ns.Time);
        iq.Register("get", IqScope.Server, Ns.Time, "time", r =>
        {
            var now = DateTimeOffset.UtcNow;
            return ValueTask.FromResult(r.Result(new Element("time", Ns.Time,
                new Element("tzo", Ns.Time, "+00:00"),
                new Element("utc", Ns.Time, now.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)))));
        });
    }

    private static Element DiscoInfo(IqHandlers iq, IqRequest r)
    {
        var scope = r.To.IsDomain ? IqScope.Server : IqScope.Account;
        if (r.Payload.Attr("node") is { } node)
            return r.Error("item-not-found", $"no node '{node}'");
        var query = new Element("query", Ns.DiscoInfo);
        foreach (var (category, type, name) in iq.Identities(scope))
            query.Add(new Element("identity", Ns.DiscoInfo).SetAttr("category", category).SetAttr("type", type).SetAttr("name", name));
        foreach (var feature in iq.Features(scope))
            query.Add(new Element("feature", Ns.DiscoInfo).SetAttr("var", feature));
        return r.Result(query);
    }
}
